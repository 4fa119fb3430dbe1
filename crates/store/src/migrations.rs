//! Migrations embedded in the binary: SQLite runs them through rusqlite
//! (`sqlite::migrate`), PostgreSQL through sqlx's migrator.
//!
//! The SQL files are compiled in with `include_str!`, so the binary needs
//! no migrations directory at run time; both record each applied version
//! (with a checksum) in `_sqlx_migrations`.

use std::borrow::Cow;
use std::future::Future;
use std::pin::Pin;

use otpgate_core::StoreError;
use sqlx::SqlSafeStr;
use sqlx::error::BoxDynError;
use sqlx::migrate::{Migration, MigrationSource, MigrationType, Migrator};

/// One embedded migration: version, description, SQL.
pub(crate) type Embedded = (i64, &'static str, &'static str);

/// The SQLite migrations, oldest first.
pub(crate) const SQLITE: &[Embedded] = &[
    (
        1,
        "init",
        include_str!("../migrations/sqlite/0001_init.sql"),
    ),
    (
        2,
        "legacy",
        include_str!("../migrations/sqlite/0002_legacy.sql"),
    ),
    (
        3,
        "applications",
        include_str!("../migrations/sqlite/0003_applications.sql"),
    ),
    (
        4,
        "audit",
        include_str!("../migrations/sqlite/0004_audit.sql"),
    ),
    (
        6,
        "require_two_factor",
        include_str!("../migrations/sqlite/0006_require_two_factor.sql"),
    ),
    (
        7,
        "persistent_tokens",
        include_str!("../migrations/sqlite/0007_persistent_tokens.sql"),
    ),
    (
        8,
        "password_backend",
        include_str!("../migrations/sqlite/0008_password_backend.sql"),
    ),
    (
        9,
        "login_tokens",
        include_str!("../migrations/sqlite/0009_login_tokens.sql"),
    ),
];

/// The PostgreSQL migrations, oldest first (same versions as SQLite up to
/// 8; 9 and 10 are what only PostgreSQL needs (the change feed, the
/// one-statement second-factor success); 11 is SQLite's 9, login tokens;
/// 12 the change-feed slot without collisions and second-factor successes
/// in batches).
pub(crate) const POSTGRES: &[Embedded] = &[
    (
        1,
        "init",
        include_str!("../migrations/postgres/0001_init.sql"),
    ),
    (
        2,
        "legacy",
        include_str!("../migrations/postgres/0002_legacy.sql"),
    ),
    (
        3,
        "applications",
        include_str!("../migrations/postgres/0003_applications.sql"),
    ),
    (
        4,
        "audit",
        include_str!("../migrations/postgres/0004_audit.sql"),
    ),
    (
        6,
        "require_two_factor",
        include_str!("../migrations/postgres/0006_require_two_factor.sql"),
    ),
    (
        7,
        "persistent_tokens",
        include_str!("../migrations/postgres/0007_persistent_tokens.sql"),
    ),
    (
        8,
        "password_backend",
        include_str!("../migrations/postgres/0008_password_backend.sql"),
    ),
    (
        9,
        "change_feed",
        include_str!("../migrations/postgres/0009_change_feed.sql"),
    ),
    (
        10,
        "complete_second_factor",
        include_str!("../migrations/postgres/0010_complete_second_factor.sql"),
    ),
    (
        11,
        "login_tokens",
        include_str!("../migrations/postgres/0011_login_tokens.sql"),
    ),
    (
        12,
        "second_factor_batch",
        include_str!("../migrations/postgres/0012_second_factor_batch.sql"),
    ),
    (
        13,
        "change_feed_when",
        include_str!("../migrations/postgres/0013_change_feed_when.sql"),
    ),
    (
        14,
        "second_factor_batch_set_writes",
        include_str!("../migrations/postgres/0014_second_factor_batch_set_writes.sql"),
    ),
];

#[derive(Debug)]
struct EmbeddedSource(&'static [Embedded]);

impl MigrationSource<'static> for EmbeddedSource {
    fn resolve(
        self,
    ) -> Pin<Box<dyn Future<Output = Result<Vec<Migration>, BoxDynError>> + Send + 'static>> {
        Box::pin(async move {
            Ok(self
                .0
                .iter()
                .map(|(version, description, sql)| {
                    Migration::new(
                        *version,
                        Cow::Borrowed(*description),
                        MigrationType::Simple,
                        sql.into_sql_str(),
                        false,
                    )
                })
                .collect())
        })
    }
}

/// A migrator over an embedded list.
pub(crate) async fn migrator(list: &'static [Embedded]) -> Result<Migrator, StoreError> {
    Migrator::new(EmbeddedSource(list))
        .await
        .map_err(|e| StoreError::Other(format!("migrations: {e}")))
}
