//! Which store a command works on, and whether it exists.
//!
//! Only `otpgate serve` and `otpgate migrate` may create a store (the data
//! directory, its key files and the SQLite file). Every other command
//! refuses a store that is not there: run from the wrong directory, it
//! would otherwise make a new, empty store with new keys and "succeed"
//! on it while the server goes on with the real one. When SQLite cannot
//! open its file, [`explain_sqlite_failure`] says why in words.

use std::io::ErrorKind;
use std::path::{Path, PathBuf};

use otpgate_core::keys::{AT_REST_KEY_FILE, JWT_KEY_FILE};

use crate::config::Config;
use crate::redact::redact_url;

/// The SQLite file named by a database URL; `None` for PostgreSQL.
pub fn sqlite_file(url: &str) -> Option<PathBuf> {
    let url = url.trim();
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        return None;
    }
    let path = url
        .trim_start_matches("sqlite://")
        .trim_start_matches("sqlite:")
        .split('?')
        .next()
        .unwrap_or("");
    Some(PathBuf::from(path))
}

/// `path` made absolute against the working directory (for messages: a
/// relative path hides which directory was meant).
pub fn absolute(path: &Path) -> PathBuf {
    std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf())
}

/// One line naming the store `config` points at: the database and the
/// directory of the key files.
pub fn describe(config: &Config) -> String {
    let keys = absolute(&config.data_dir);
    match sqlite_file(&config.store.url) {
        Some(db) => format!(
            "{} (SQLite; keys in {})",
            absolute(&db).display(),
            keys.display()
        ),
        None => format!(
            "{} (PostgreSQL; keys in {})",
            redact_url(&config.store.url),
            keys.display()
        ),
    }
}

/// Whether a file exists; an error other than "not found" (a directory
/// this user may not enter) is reported as such.
fn file_exists(path: &Path) -> Result<bool, String> {
    match std::fs::metadata(path) {
        Ok(m) => Ok(m.is_file()),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(false),
        Err(e) => Err(format!(
            "cannot read {}: {e}{}",
            absolute(path).display(),
            permission_hint(&e)
        )),
    }
}

fn permission_hint(e: &std::io::Error) -> &'static str {
    if e.kind() == ErrorKind::PermissionDenied {
        " (run otpgate as the user that owns the store, e.g. `sudo -u otpgate`)"
    } else {
        ""
    }
}

/// `Ok` when the store of `config` exists: both key files in the data
/// directory and, for SQLite, the database file. Otherwise the one-line
/// refusal, naming the path that is missing.
pub fn require_existing(config: &Config) -> Result<(), String> {
    let missing = |path: &Path| {
        format!(
            "no otpgate store at {}; run from the server's directory or set \
             OTPGATE_DATA_DIR / --config",
            absolute(path).display()
        )
    };
    for key in [JWT_KEY_FILE, AT_REST_KEY_FILE] {
        if !file_exists(&config.data_dir.join(key))? {
            return Err(missing(&config.data_dir));
        }
    }
    if let Some(db) = sqlite_file(&config.store.url)
        && !file_exists(&db)?
    {
        return Err(missing(&db));
    }
    Ok(())
}

/// A message for a SQLite file that could not be opened: the path and the
/// likely cause (missing, not writable by this user, or its directory not
/// writable: SQLite creates its `-wal` and `-shm` files beside it), in
/// place of SQLite's "unable to open database file". `None` when no cause
/// is found (the original error is then the best there is).
pub fn explain_sqlite_failure(url: &str) -> Option<String> {
    let db = absolute(&sqlite_file(url)?);
    let cause = match std::fs::OpenOptions::new().write(true).open(&db) {
        Err(e) if e.kind() == ErrorKind::NotFound => match db.parent() {
            Some(dir) if !dir.is_dir() => format!("its directory {} does not exist", dir.display()),
            _ => "the file does not exist and cannot be created here".to_owned(),
        },
        Err(e) if e.kind() == ErrorKind::PermissionDenied => {
            "the file is read-only for this user; run otpgate as the user that owns it \
             (e.g. `sudo -u otpgate`) or fix its permissions"
                .to_owned()
        }
        Err(e) => format!("{e}"),
        Ok(_) => {
            let dir = db.parent()?;
            if dir_is_writable(dir) {
                return None;
            }
            format!(
                "its directory {} is not writable by this user (SQLite creates the -wal and \
                 -shm files there); run otpgate as the user that owns it or fix its permissions",
                dir.display()
            )
        }
    };
    Some(format!(
        "cannot open the database {}: {cause}",
        db.display()
    ))
}

/// Whether a file can be created in `dir` (tried with a probe file that
/// is removed at once).
fn dir_is_writable(dir: &Path) -> bool {
    let probe = dir.join(format!(".otpgate-write-probe-{}", std::process::id()));
    match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&probe)
    {
        Ok(_) => {
            let _ = std::fs::remove_file(&probe);
            true
        }
        Err(e) => e.kind() == ErrorKind::AlreadyExists,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_urls_name_their_file_and_postgres_urls_none() {
        assert_eq!(
            sqlite_file("sqlite://./otpgate-data/otpgate.db"),
            Some(PathBuf::from("./otpgate-data/otpgate.db"))
        );
        assert_eq!(
            sqlite_file("sqlite:/var/lib/x.db?mode=rwc"),
            Some(PathBuf::from("/var/lib/x.db"))
        );
        assert_eq!(sqlite_file("postgres://u@h/db"), None);
    }
}
