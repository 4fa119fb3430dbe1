//! Audit records and the query that selects them.

use super::ids::UnixMillis;

/// One authentication event as the audit log keeps it. Never holds a
/// password, code, token or secret: only who, from where, through what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditRecord {
    /// When, in unix milliseconds (server time).
    pub at_ms: UnixMillis,
    /// The event's stable name (`login_failed`, `otp_ok`, ...).
    pub event: String,
    /// The username as presented (canonical when known; `-` when none).
    pub username: String,
    /// The client IP, if known.
    pub ip: Option<String>,
    /// The client's `User-Agent`, bounded, if sent.
    pub user_agent: Option<String>,
    /// The dialect the event came through (`native`, `legacy`, `cli`, ...).
    pub dialect: String,
    /// The application, for application dialects' events.
    pub app: Option<String>,
}

/// Which audit records [`crate::store::Store::audit_records`] returns.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditQuery {
    /// Only this username's records.
    pub username: Option<String>,
    /// Only records at or after this unix millisecond.
    pub since_ms: Option<UnixMillis>,
    /// At most this many records (the newest ones), oldest first.
    pub limit: u32,
}
