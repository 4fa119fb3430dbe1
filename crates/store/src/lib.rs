//! Storage backends of otpgate: the [`Store`] trait of the core, for an
//! embedded SQLite file (the default) and, for several instances, for
//! PostgreSQL.
//!
//! [`open`] picks the backend from the database URL (`postgres://` or
//! `postgresql://` for PostgreSQL, anything else for SQLite) and runs the
//! embedded migrations of that backend.

mod error;
mod migrations;
mod pg_feed;
mod pg_lanes;
mod pg_reads;
mod pg_second_factor;
pub mod postgres;
mod rows;
mod sql;
pub mod sqlite;
mod statements;
#[cfg(feature = "test-support")]
mod test_support;

use std::sync::Arc;

use otpgate_core::{Store, StoreError};

/// The grouped form of a point read on PostgreSQL (src/pg_reads.rs), for
/// the tests that read its plan.
#[cfg(feature = "test-support")]
pub use pg_reads::lateral as pg_grouped_read;
pub use postgres::{PostgresOptions, PostgresStore};
pub use sqlite::{SqliteOptions, SqliteStore};
#[cfg(feature = "test-support")]
pub use test_support::TestStore;

/// How to reach the database, from the configuration.
#[derive(Debug, Clone)]
pub struct StoreOptions {
    /// `sqlite://PATH` (or a bare path), or
    /// `postgres://USER:PASSWORD@HOST:PORT/DATABASE`.
    pub url: String,
    /// SQLite tuning.
    pub sqlite: SqliteOptions,
    /// PostgreSQL tuning.
    pub postgres: PostgresOptions,
}

/// Opens the store named by `options.url` and brings its schema up to date.
///
/// A database that cannot be reached gives [`StoreError::Unavailable`]
/// with a one-line message.
pub async fn open(options: &StoreOptions) -> Result<Arc<dyn Store>, StoreError> {
    Ok(match open_backend(options).await? {
        Opened::Sqlite(store) => Arc::new(store),
        Opened::Postgres(store) => Arc::new(store),
    })
}

/// Runs the migrations only (the `otpgate migrate` command).
pub async fn migrate(options: &StoreOptions) -> Result<(), StoreError> {
    open(options).await.map(|_| ())
}

/// [`open`] for the tests and the bench: the store with the operations
/// only they use ([`TestStore`]).
#[cfg(feature = "test-support")]
pub async fn open_for_tests(options: &StoreOptions) -> Result<Arc<dyn TestStore>, StoreError> {
    Ok(match open_backend(options).await? {
        Opened::Sqlite(store) => Arc::new(store),
        Opened::Postgres(store) => Arc::new(store),
    })
}

/// The backend a URL names, opened.
enum Opened {
    Sqlite(SqliteStore),
    Postgres(PostgresStore),
}

/// Picks the backend from the URL: `postgres://` or `postgresql://` for
/// PostgreSQL, anything else for SQLite.
async fn open_backend(options: &StoreOptions) -> Result<Opened, StoreError> {
    let url = options.url.trim();
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        return Ok(Opened::Postgres(
            PostgresStore::open(url, &options.postgres).await?,
        ));
    }
    Ok(Opened::Sqlite(
        SqliteStore::open(url, &options.sqlite).await?,
    ))
}
