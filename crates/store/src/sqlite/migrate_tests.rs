//! The rusqlite migrator against stores made by sqlx's migrator (a dump
//! of one, made by the code this replaced: tests/fixtures).

use super::*;
use crate::migrations::SQLITE;
use crate::sqlite::{SqliteOptions, SqliteStore};
use otpgate_core::store::UserStore;

const SQLX_STORE: &str = include_str!("../../tests/fixtures/sqlx-migrated-store.sql");
const TIMEOUT: Duration = Duration::from_secs(5);

/// `(version, description, success, checksum)` of every record.
type Record = (i64, String, bool, Vec<u8>);

fn records(path: &Path) -> Vec<Record> {
    let conn = Connection::open(path).unwrap();
    let mut stmt = conn
        .prepare(
            "SELECT version, description, success, checksum FROM _sqlx_migrations ORDER BY version",
        )
        .unwrap();
    stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

/// A database file holding the store sqlx's migrator made.
fn sqlx_store(dir: &tempfile::TempDir) -> std::path::PathBuf {
    let path = dir.path().join("otpgate.db");
    Connection::open(&path)
        .unwrap()
        .execute_batch(SQLX_STORE)
        .unwrap();
    path
}

fn sql(path: &Path, statement: &str) {
    Connection::open(path)
        .unwrap()
        .execute_batch(statement)
        .unwrap();
}

#[tokio::test]
async fn a_store_migrated_by_sqlx_opens_with_its_data_and_record_unchanged() {
    let dir = tempfile::tempdir().unwrap();
    let path = sqlx_store(&dir);
    let before = records(&path);
    // The fixture was made at migration 8; later ones are applied now.
    let newer = SQLITE.iter().filter(|(v, _, _)| *v > 8).count();
    assert_eq!(before.len() + newer, SQLITE.len());

    let store = SqliteStore::open(path.to_str().unwrap(), &SqliteOptions::default())
        .await
        .unwrap();
    let alice = store.user_by_name("alice").await.unwrap().unwrap();
    assert_eq!(alice.username, "alice");
    assert!(alice.password_hash.starts_with("$argon2id$"));
    store.close();
    let after = records(&path);
    assert_eq!(
        after.get(..before.len()),
        Some(before.as_slice()),
        "nothing re-applied or re-recorded"
    );
    assert_eq!(after.len(), SQLITE.len(), "the newer migrations applied");
}

#[test]
fn a_new_store_records_exactly_what_sqlx_recorded() {
    // So an older otpgate (sqlx's migrator) sees this store as up to date.
    let dir = tempfile::tempdir().unwrap();
    let theirs = records(&sqlx_store(&dir));
    let ours = dir.path().join("new.db");
    run(&ours, TIMEOUT, SQLITE).unwrap();
    // The fixture predates migrations after 8: the records up to it match.
    let ours = records(&ours);
    assert_eq!(ours.get(..theirs.len()), Some(theirs.as_slice()));
    for (version, _, _, sum) in &theirs {
        let (_, _, sql) = SQLITE.iter().find(|(v, _, _)| v == version).unwrap();
        assert_eq!(&checksum(sql), sum, "SHA-384 of migration {version}");
    }
}

#[test]
fn an_older_store_gets_only_the_missing_migrations() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("otpgate.db");
    let (old, _) = SQLITE.split_at(3);
    run(&path, TIMEOUT, old).unwrap();
    sql(
        &path,
        "INSERT INTO users (username, display_name, password_hash, tokens_valid_after, created_at) \
                VALUES ('bob', 'bob', 'x', 0, 0)",
    );
    run(&path, TIMEOUT, SQLITE).unwrap();
    let versions: Vec<i64> = records(&path).into_iter().map(|r| r.0).collect();
    let all: Vec<i64> = SQLITE.iter().map(|m| m.0).collect();
    assert_eq!(versions, all);
    let conn = Connection::open(&path).unwrap();
    let backend: Option<String> = conn
        .query_row(
            "SELECT backend FROM users WHERE username = 'bob'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(
        backend.as_deref(),
        Some("local"),
        "migration 8 ran on the old rows"
    );
}

#[test]
fn a_changed_migration_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = sqlx_store(&dir);
    sql(
        &path,
        "UPDATE _sqlx_migrations SET checksum = X'00' WHERE version = 4",
    );
    let err = run(&path, TIMEOUT, SQLITE).unwrap_err().to_string();
    assert!(err.contains("migration 4 was changed"), "{err}");
}

#[test]
fn a_store_of_a_newer_version_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = sqlx_store(&dir);
    sql(
        &path,
        "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) \
         VALUES (99, 'future', TRUE, X'00', 1)",
    );
    let err = run(&path, TIMEOUT, SQLITE).unwrap_err().to_string();
    assert!(
        err.contains("migration 99 was applied but is unknown"),
        "{err}"
    );
}

#[test]
fn a_migration_recorded_as_failed_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = sqlx_store(&dir);
    sql(
        &path,
        "UPDATE _sqlx_migrations SET success = FALSE WHERE version = 8",
    );
    let err = run(&path, TIMEOUT, SQLITE).unwrap_err().to_string();
    assert!(err.contains("migration 8 is partially applied"), "{err}");
}

#[test]
fn a_failing_migration_leaves_neither_its_changes_nor_its_record() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("otpgate.db");
    let broken: &[Embedded] = &[
        (1, "one", "CREATE TABLE a (x INTEGER);"),
        (2, "two", "CREATE TABLE b (x INTEGER); THIS IS NOT SQL;"),
    ];
    let err = run(&path, TIMEOUT, broken).unwrap_err().to_string();
    assert!(err.contains("migration 2 failed"), "{err}");
    assert_eq!(records(&path).len(), 1);
    let conn = Connection::open(&path).unwrap();
    let tables: i64 = conn
        .query_row(
            "SELECT count(*) FROM sqlite_master WHERE name = 'b'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(tables, 0, "the failed migration's table was rolled back");
}
