//! The SQLite migrations, run through rusqlite (no second SQLite driver).
//!
//! The record of applied migrations is the table sqlx's migrator kept,
//! `_sqlx_migrations`, with the same columns and the same checksum (the
//! SHA-384 of the SQL text), so a store created by an older otpgate (which
//! migrated SQLite through sqlx) upgrades in place, and a store migrated
//! here still reads as up to date to that older code. As sqlx did, each
//! migration and its record commit in one transaction; a record marked
//! failed, a changed migration (checksum) or an applied version this
//! binary does not know (a store of a newer otpgate) stops the opening.

use std::path::Path;
use std::time::{Duration, Instant};

use otpgate_core::StoreError;
use rusqlite::{Connection, OpenFlags, params};
use sha2::{Digest, Sha384};

use crate::migrations::Embedded;

const CREATE_RECORD: &str = "CREATE TABLE IF NOT EXISTS _sqlx_migrations (
    version BIGINT PRIMARY KEY,
    description TEXT NOT NULL,
    installed_on TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
    success BOOLEAN NOT NULL,
    checksum BLOB NOT NULL,
    execution_time BIGINT NOT NULL
)";

/// The checksum recorded for a migration: SHA-384 of its SQL, as sqlx.
pub(crate) fn checksum(sql: &str) -> Vec<u8> {
    Sha384::digest(sql.as_bytes()).to_vec()
}

/// Brings the database at `path` up to date with `list` (oldest first).
/// The caller holds the migration lock (see `SqliteStore::open`).
pub(crate) fn run(
    path: &Path,
    busy_timeout: Duration,
    list: &[Embedded],
) -> Result<(), StoreError> {
    let open_err = |e: rusqlite::Error| {
        StoreError::Unavailable(format!("cannot open {}: {e}", path.display()))
    };
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
        | OpenFlags::SQLITE_OPEN_CREATE
        | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let mut conn = Connection::open_with_flags(path, flags).map_err(open_err)?;
    conn.busy_timeout(busy_timeout).map_err(open_err)?;
    conn.pragma_update(None, "journal_mode", "WAL")
        .map_err(open_err)?;
    conn.pragma_update(None, "foreign_keys", "ON")
        .map_err(open_err)?;
    apply_pending(&mut conn, list)
}

fn failed(e: impl std::fmt::Display) -> StoreError {
    StoreError::Other(format!("migrations: {e}"))
}

fn apply_pending(conn: &mut Connection, list: &[Embedded]) -> Result<(), StoreError> {
    conn.execute_batch(CREATE_RECORD).map_err(failed)?;
    let dirty: Option<i64> = conn
        .query_row(
            "SELECT version FROM _sqlx_migrations WHERE success = false ORDER BY version LIMIT 1",
            [],
            |r| r.get(0),
        )
        .map(Some)
        .or_else(|e| match e {
            rusqlite::Error::QueryReturnedNoRows => Ok(None),
            e => Err(e),
        })
        .map_err(failed)?;
    if let Some(version) = dirty {
        return Err(failed(format!(
            "migration {version} is partially applied; fix and remove it from _sqlx_migrations"
        )));
    }
    let applied = applied(conn)?;
    for (version, _) in &applied {
        if !list.iter().any(|(v, _, _)| v == version) {
            return Err(failed(format!(
                "migration {version} was applied but is unknown to this otpgate \
                 (the store was used by a newer version)"
            )));
        }
    }
    for (version, description, sql) in list {
        let sum = checksum(sql);
        match applied.iter().find(|(v, _)| v == version) {
            Some((_, recorded)) if *recorded == sum => {}
            Some(_) => {
                return Err(failed(format!(
                    "migration {version} was changed after it was applied (checksum differs)"
                )));
            }
            None => apply(conn, *version, description, sql, &sum)?,
        }
    }
    Ok(())
}

/// The applied versions and their checksums, oldest first.
fn applied(conn: &Connection) -> Result<Vec<(i64, Vec<u8>)>, StoreError> {
    let mut stmt = conn
        .prepare("SELECT version, checksum FROM _sqlx_migrations ORDER BY version")
        .map_err(failed)?;
    let rows = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .map_err(failed)?;
    rows.collect::<Result<_, _>>().map_err(failed)
}

/// One migration and its record in one transaction (a crash leaves either
/// both or neither), then the time it took, as sqlx recorded it.
fn apply(
    conn: &mut Connection,
    version: i64,
    description: &str,
    sql: &str,
    sum: &[u8],
) -> Result<(), StoreError> {
    let start = Instant::now();
    let tx = conn.transaction().map_err(failed)?;
    tx.execute_batch(sql)
        .map_err(|e| failed(format!("migration {version} failed: {e}")))?;
    tx.execute(
        "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) \
         VALUES (?1, ?2, TRUE, ?3, -1)",
        params![version, description, sum],
    )
    .map_err(failed)?;
    tx.commit().map_err(failed)?;
    let nanos = i64::try_from(start.elapsed().as_nanos()).unwrap_or(i64::MAX);
    conn.execute(
        "UPDATE _sqlx_migrations SET execution_time = ?1 WHERE version = ?2",
        params![nanos, version],
    )
    .map_err(failed)?;
    Ok(())
}

#[cfg(test)]
#[path = "migrate_tests.rs"]
mod tests;
