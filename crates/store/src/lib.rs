//! Storage backends of otpgate: the [`Store`] trait of the core, for an
//! embedded SQLite file (the default) and, for several instances, for
//! PostgreSQL.
//!
//! [`open`] picks the backend from the database URL and runs the embedded
//! migrations of that backend.

mod error;
mod migrations;
pub mod sqlite;

use std::sync::Arc;

use otpgate_core::{Store, StoreError};

pub use sqlite::{SqliteOptions, SqliteStore};

/// How to reach the database, from the configuration.
#[derive(Debug, Clone)]
pub struct StoreOptions {
    /// `sqlite://PATH` (or a bare path).
    pub url: String,
    /// SQLite tuning.
    pub sqlite: SqliteOptions,
}

/// Opens the store named by `options.url` and brings its schema up to date.
pub async fn open(options: &StoreOptions) -> Result<Arc<dyn Store>, StoreError> {
    let url = options.url.trim();
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        return Err(StoreError::Other(
            "PostgreSQL support is not built into this version; use a sqlite:// URL".into(),
        ));
    }
    let store = SqliteStore::open(url, &options.sqlite).await?;
    Ok(Arc::new(store))
}

/// Runs the migrations only (the `otpgate migrate` command).
pub async fn migrate(options: &StoreOptions) -> Result<(), StoreError> {
    open(options).await.map(|_| ())
}
