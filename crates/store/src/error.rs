//! Mapping of PostgreSQL (sqlx) errors onto the core's [`StoreError`].
//! (The SQLite engine classifies its own errors, in `sqlite::engine`.)

use otpgate_core::StoreError;

/// Classifies a sqlx error: unreachable or busy (retryable), a uniqueness
/// conflict, or anything else.
pub(crate) fn map(e: sqlx::Error) -> StoreError {
    match &e {
        sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_) => {
            StoreError::Unavailable(e.to_string())
        }
        sqlx::Error::Database(db) => {
            if db.is_unique_violation() {
                return StoreError::Conflict(db.message().to_owned());
            }
            // Connection and shutdown classes, deadlock, serialization
            // failure, too many connections: all of them worth retrying,
            // none of them the client's fault.
            let code = db.code().map(|c| c.into_owned()).unwrap_or_default();
            if matches!(code.as_str(), "40001" | "40P01" | "53300")
                || code.starts_with("08")
                || code.starts_with("57P")
            {
                StoreError::Unavailable(e.to_string())
            } else {
                StoreError::Other(e.to_string())
            }
        }
        _ => StoreError::Other(e.to_string()),
    }
}
