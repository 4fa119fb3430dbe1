//! The two key files of a data directory: the JWT signing key and the
//! at-rest encryption key.
//!
//! Created on first use with mode 0600 (the directory 0700), never
//! overwritten. Instances that share one PostgreSQL must share these files.
//! Stored as lower-case hex so they can be copied into a secret manager.

use std::fs::{self, OpenOptions};
use std::io::{ErrorKind, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use data_encoding::HEXLOWER_PERMISSIVE;

use crate::crypto::codes::random_bytes;
use crate::error::AuthError;
use crate::secret::SecretBytes;

/// File name of the JWT signing key.
pub const JWT_KEY_FILE: &str = "jwt.key";
/// File name of the at-rest encryption key.
pub const AT_REST_KEY_FILE: &str = "secret.key";

/// The keys of a data directory.
#[derive(Debug, Clone)]
pub struct KeyFiles {
    /// HMAC-SHA256 key for tokens (64 bytes).
    pub jwt: SecretBytes,
    /// AES-256-GCM key for TOTP secrets (32 bytes).
    pub at_rest: SecretBytes,
}

impl KeyFiles {
    /// Loads both keys from `dir`, creating the directory and any missing
    /// key. Returns the keys and the paths of files created now.
    pub fn load_or_create(dir: &Path) -> Result<(Self, Vec<PathBuf>), AuthError> {
        ensure_dir(dir)?;
        let mut created = Vec::new();
        let jwt = load_or_create_key(&dir.join(JWT_KEY_FILE), 64, &mut created)?;
        let at_rest = load_or_create_key(&dir.join(AT_REST_KEY_FILE), 32, &mut created)?;
        Ok((Self { jwt, at_rest }, created))
    }
}

fn io_err(path: &Path, e: std::io::Error) -> AuthError {
    AuthError::Internal(format!("{}: {e}", path.display()))
}

/// Creates `dir` (mode 0700) if it does not exist.
pub fn ensure_dir(dir: &Path) -> Result<(), AuthError> {
    if dir.is_dir() {
        return Ok(());
    }
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|e| io_err(dir, e))
}

fn load_or_create_key(
    path: &Path,
    len: usize,
    created: &mut Vec<PathBuf>,
) -> Result<SecretBytes, AuthError> {
    match OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
    {
        Ok(mut f) => {
            let key = random_bytes(len);
            let mut text = HEXLOWER_PERMISSIVE.encode(&key);
            text.push('\n');
            f.write_all(text.as_bytes()).map_err(|e| io_err(path, e))?;
            f.sync_all().map_err(|e| io_err(path, e))?;
            created.push(path.to_path_buf());
            Ok(SecretBytes::new(key))
        }
        Err(e) if e.kind() == ErrorKind::AlreadyExists => read_key(path, len),
        Err(e) => Err(io_err(path, e)),
    }
}

fn read_key(path: &Path, len: usize) -> Result<SecretBytes, AuthError> {
    let meta = fs::metadata(path).map_err(|e| io_err(path, e))?;
    if meta.permissions().mode() & 0o077 != 0 {
        tracing::warn!(path = %path.display(), "key file is readable by group or others; chmod 600 it");
    }
    let text = fs::read_to_string(path).map_err(|e| io_err(path, e))?;
    let key = HEXLOWER_PERMISSIVE
        .decode(text.trim().as_bytes())
        .map_err(|_| AuthError::Internal(format!("{}: not a hex key", path.display())))?;
    if key.len() != len {
        return Err(AuthError::Internal(format!(
            "{}: expected a {len}-byte key, found {} bytes",
            path.display(),
            key.len()
        )));
    }
    Ok(SecretBytes::new(key))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_created_once_with_mode_0600_and_reloaded() {
        let tmp = tempfile::tempdir().expect("tmp");
        let dir = tmp.path().join("data");
        let (a, created) = KeyFiles::load_or_create(&dir).expect("create");
        assert_eq!(created.len(), 2);
        for f in [JWT_KEY_FILE, AT_REST_KEY_FILE] {
            let mode = fs::metadata(dir.join(f))
                .expect("meta")
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600, "{f}");
        }
        assert_eq!(
            fs::metadata(&dir).expect("meta").permissions().mode() & 0o777,
            0o700
        );
        let (b, created) = KeyFiles::load_or_create(&dir).expect("load");
        assert!(created.is_empty());
        assert_eq!(a.jwt, b.jwt);
        assert_eq!(a.at_rest, b.at_rest);
        assert_eq!(a.jwt.expose().len(), 64);
        assert_eq!(a.at_rest.expose().len(), 32);
    }

    #[test]
    fn a_damaged_key_file_is_an_error() {
        let tmp = tempfile::tempdir().expect("tmp");
        fs::write(tmp.path().join(JWT_KEY_FILE), "zz").expect("write");
        assert!(KeyFiles::load_or_create(tmp.path()).is_err());
    }
}
