//! The audit trail of authentication events: one fixed-format log line
//! per event, a record kept in the store, and the counters `/metrics`
//! shows.
//!
//! The line never contains a password, code, token or secret; it carries
//! the event, the user, the client IP, the dialect and the server time, so
//! that an operator's fail2ban can match failures, e.g.
//! `otpgate auth event=login_failed user=alice ip=203.0.113.9 dialect=native`.
//!
//! Store writes stay off the request's path: [`AuditLog::record`] only
//! pushes the record into a bounded in-process queue (no await, no I/O);
//! a background task ([`AuditLog::run_writer`]) drains it every ~100 ms in
//! one batched insert, and [`AuditLog::flush`] drains what is left on a
//! graceful shutdown. A SIGKILL loses at most the last ~100 ms of records
//! (the log lines are written at once either way). A full queue (the
//! store down for long) drops records, counted in
//! `otpgate_audit_dropped_total`, rather than slow logins down.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::sync::mpsc;

use crate::clock::Clock;
use crate::error::StoreError;
use crate::model::{AuditRecord, UnixMillis};
use crate::service::Caller;
pub use crate::service::caller::USER_AGENT_MAX;
use crate::store::Store;

/// An authentication event's stable name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthEvent {
    /// Password accepted.
    LoginOk,
    /// Password refused.
    LoginFailed,
    /// Login refused because of a lock.
    LoginThrottled,
    /// TOTP accepted.
    OtpOk,
    /// Wrong OTP.
    OtpFailed,
    /// A TOTP step already used.
    OtpReplayed,
    /// An OTP attempt during a lock.
    OtpLocked,
    /// A lock was set.
    Lockout,
    /// A recovery code was used.
    RecoveryCodeUsed,
    /// 2FA turned on.
    TwoFactorEnabled,
    /// 2FA turned off.
    TwoFactorDisabled,
    /// New recovery codes.
    RecoveryCodesRegenerated,
    /// A token was revoked (logout).
    TokenRevoked,
    /// All tokens of a user revoked.
    AllTokensRevoked,
    /// A wrong password on re-authentication.
    PasswordCheckFailed,
    /// A token was refused.
    TokenRefused,
    /// An out-of-band code was sent.
    OobSent,
    /// An out-of-band code could not be delivered.
    OobDeliveryFailed,
    /// Sending a code was refused by the per-user send limit.
    OobSendThrottled,
    /// An out-of-band code was accepted.
    OobOk,
    /// An application asked whether OTP is active for a user.
    OtpStatus,
    /// An application's code check succeeded.
    OtpValid,
    /// An application's code check failed.
    OtpInvalid,
    /// An MFA session was created (password accepted).
    MfaSessionCreated,
    /// An MFA session was refused (unknown, expired, used, other device).
    MfaSessionRefused,
    /// A call with a missing, malformed, unknown or revoked API key, or
    /// naming another application than the key's.
    ApiKeyRefused,
    /// An application was registered.
    ApplicationCreated,
    /// An application was revoked.
    ApplicationRevoked,
    /// A Socket.IO login was accepted (a refused one is `token_refused`).
    SocketLogin,
    /// A password login of a user who must enrol 2FA first: a set-up
    /// token was issued (API.md §11).
    TwoFactorSetupLogin,
    /// The operator set or removed a user's 2FA requirement override
    /// (`otpgate user require-2fa`).
    TwoFactorRequirementChanged,
}

impl AuthEvent {
    /// Every event, in declaration order (`ALL[e as usize] == e`).
    pub const ALL: [Self; 31] = [
        Self::LoginOk,
        Self::LoginFailed,
        Self::LoginThrottled,
        Self::OtpOk,
        Self::OtpFailed,
        Self::OtpReplayed,
        Self::OtpLocked,
        Self::Lockout,
        Self::RecoveryCodeUsed,
        Self::TwoFactorEnabled,
        Self::TwoFactorDisabled,
        Self::RecoveryCodesRegenerated,
        Self::TokenRevoked,
        Self::AllTokensRevoked,
        Self::PasswordCheckFailed,
        Self::TokenRefused,
        Self::OobSent,
        Self::OobDeliveryFailed,
        Self::OobSendThrottled,
        Self::OobOk,
        Self::OtpStatus,
        Self::OtpValid,
        Self::OtpInvalid,
        Self::MfaSessionCreated,
        Self::MfaSessionRefused,
        Self::ApiKeyRefused,
        Self::ApplicationCreated,
        Self::ApplicationRevoked,
        Self::SocketLogin,
        Self::TwoFactorSetupLogin,
        Self::TwoFactorRequirementChanged,
    ];

    /// The stable name written to the log.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::LoginOk => "login_ok",
            Self::LoginFailed => "login_failed",
            Self::LoginThrottled => "login_throttled",
            Self::OtpOk => "otp_ok",
            Self::OtpFailed => "otp_failed",
            Self::OtpReplayed => "otp_replayed",
            Self::OtpLocked => "otp_locked",
            Self::Lockout => "lockout",
            Self::RecoveryCodeUsed => "recovery_code_used",
            Self::TwoFactorEnabled => "2fa_enabled",
            Self::TwoFactorDisabled => "2fa_disabled",
            Self::RecoveryCodesRegenerated => "recovery_codes_regenerated",
            Self::TokenRevoked => "token_revoked",
            Self::AllTokensRevoked => "all_tokens_revoked",
            Self::PasswordCheckFailed => "password_check_failed",
            Self::TokenRefused => "token_refused",
            Self::OobSent => "oob_sent",
            Self::OobDeliveryFailed => "oob_delivery_failed",
            Self::OobSendThrottled => "oob_send_throttled",
            Self::OobOk => "oob_ok",
            Self::OtpStatus => "otp_status",
            Self::OtpValid => "otp_valid",
            Self::OtpInvalid => "otp_invalid",
            Self::MfaSessionCreated => "mfa_session_created",
            Self::MfaSessionRefused => "mfa_session_refused",
            Self::ApiKeyRefused => "api_key_refused",
            Self::ApplicationCreated => "application_created",
            Self::ApplicationRevoked => "application_revoked",
            Self::SocketLogin => "socket_login",
            Self::TwoFactorSetupLogin => "2fa_setup_login",
            Self::TwoFactorRequirementChanged => "2fa_requirement_changed",
        }
    }

    /// Whether the event is a failure (logged at WARN; fail2ban matches).
    pub fn is_failure(self) -> bool {
        matches!(
            self,
            Self::LoginFailed
                | Self::LoginThrottled
                | Self::OtpFailed
                | Self::OtpReplayed
                | Self::OtpLocked
                | Self::Lockout
                | Self::PasswordCheckFailed
                | Self::TokenRefused
                | Self::OobDeliveryFailed
                | Self::OobSendThrottled
                | Self::OtpInvalid
                | Self::MfaSessionRefused
                | Self::ApiKeyRefused
        )
    }
}

/// User input made safe for the line: one line, unambiguous, bounded.
fn field(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c.is_whitespace() || c.is_control() || c == '"' || c == '=' {
                '_'
            } else {
                c
            }
        })
        .take(64)
        .collect()
}

/// How many records may wait for the writer; beyond it they are dropped.
pub const QUEUE_CAPACITY: usize = 10_000;
/// How often the writer drains the queue.
pub const FLUSH_INTERVAL: Duration = Duration::from_millis(100);
/// Records written per store call at most.
const BATCH: usize = 500;

/// A factor whose check `/metrics` counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CheckFactor {
    /// A TOTP code (a code matching neither a TOTP step nor a recovery
    /// code is counted here).
    Totp = 0,
    /// A recovery code.
    RecoveryCode = 1,
    /// An out-of-band (e-mail, SMS) code.
    Oob = 2,
}

/// The outcome of a check `/metrics` counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CheckResult {
    /// Accepted.
    Ok = 0,
    /// Refused: wrong.
    Failed = 1,
    /// Refused: a TOTP step already used.
    Replayed = 2,
    /// Refused: the user or IP is locked out.
    Locked = 3,
}

impl CheckFactor {
    /// Every factor, in label order.
    pub const ALL: [Self; 3] = [Self::Totp, Self::RecoveryCode, Self::Oob];
    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Totp => "totp",
            Self::RecoveryCode => "recovery_code",
            Self::Oob => "oob",
        }
    }
}

impl CheckResult {
    /// Every result, in label order.
    pub const ALL: [Self; 4] = [Self::Ok, Self::Failed, Self::Replayed, Self::Locked];
    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::Failed => "failed",
            Self::Replayed => "replayed",
            Self::Locked => "locked",
        }
    }
}

/// The counters of authentication outcomes (lock-free, no allocation).
#[derive(Debug, Default)]
pub struct AuthCounters {
    events: [AtomicU64; AuthEvent::ALL.len()],
    logins: [AtomicU64; CheckResult::ALL.len()],
    otp: [[AtomicU64; CheckResult::ALL.len()]; CheckFactor::ALL.len()],
    audit_dropped: AtomicU64,
    audit_store_errors: AtomicU64,
}

impl AuthCounters {
    /// Events of that kind so far.
    pub fn event(&self, event: AuthEvent) -> u64 {
        self.events
            .get(event as usize)
            .map_or(0, |c| c.load(Ordering::Relaxed))
    }
    /// Password checks with that result so far.
    pub fn logins(&self, result: CheckResult) -> u64 {
        self.logins
            .get(result as usize)
            .map_or(0, |c| c.load(Ordering::Relaxed))
    }
    /// Second-factor checks of that factor with that result so far.
    pub fn otp_checks(&self, factor: CheckFactor, result: CheckResult) -> u64 {
        self.otp
            .get(factor as usize)
            .and_then(|row| row.get(result as usize))
            .map_or(0, |c| c.load(Ordering::Relaxed))
    }
    /// Audit records dropped because the queue was full.
    pub fn audit_dropped(&self) -> u64 {
        self.audit_dropped.load(Ordering::Relaxed)
    }
    /// Failed audit writes (the batch is kept and retried).
    pub fn audit_store_errors(&self) -> u64 {
        self.audit_store_errors.load(Ordering::Relaxed)
    }
    fn add_event(&self, event: AuthEvent) {
        if let Some(c) = self.events.get(event as usize) {
            c.fetch_add(1, Ordering::Relaxed);
        }
        let login = match event {
            AuthEvent::LoginOk => Some(CheckResult::Ok),
            AuthEvent::LoginFailed => Some(CheckResult::Failed),
            AuthEvent::LoginThrottled => Some(CheckResult::Locked),
            _ => None,
        };
        if let Some(c) = login.and_then(|r| self.logins.get(r as usize)) {
            c.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// Where authentication events go: the log line, the counters, and the
/// queue of the store writer.
pub struct AuditLog {
    tx: mpsc::Sender<AuditRecord>,
    drain: tokio::sync::Mutex<Drain>,
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    counters: AuthCounters,
}

struct Drain {
    rx: mpsc::Receiver<AuditRecord>,
    /// Records whose write failed, retried first (bounded by the queue's
    /// capacity).
    pending: Vec<AuditRecord>,
}

impl std::fmt::Debug for AuditLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuditLog").finish_non_exhaustive()
    }
}

impl AuditLog {
    /// An audit log writing into `store`, timed by `clock`.
    pub fn new(store: Arc<dyn Store>, clock: Arc<dyn Clock>) -> Self {
        let (tx, rx) = mpsc::channel(QUEUE_CAPACITY);
        Self {
            tx,
            drain: tokio::sync::Mutex::new(Drain {
                rx,
                pending: Vec::new(),
            }),
            store,
            clock,
            counters: AuthCounters::default(),
        }
    }

    /// The counters (for `/metrics`).
    pub fn counters(&self) -> &AuthCounters {
        &self.counters
    }

    /// Counts one second-factor check.
    pub fn count_check(&self, factor: CheckFactor, result: CheckResult) {
        if let Some(c) = self
            .counters
            .otp
            .get(factor as usize)
            .and_then(|row| row.get(result as usize))
        {
            c.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Records `event` of `user` from `caller`: the line, the counter and
    /// the queued store record.
    pub fn record(&self, event: AuthEvent, user: &str, caller: &Caller) {
        self.write(event, user, caller, None, "");
    }

    /// Records `event` of `user` from `caller` on behalf of the
    /// application `app`, with the end user's IP as the application
    /// reported it: `otpgate auth event=otp_status user=alice ip=10.0.0.5
    /// app=shop enduserip=203.0.113.9 dialect=single_connect` (`-` when
    /// not reported). The dialect comes last, so the fields before it keep
    /// the positions they had before it was added.
    pub fn record_app(
        &self,
        event: AuthEvent,
        user: &str,
        caller: &Caller,
        app: &str,
        end_user_ip: Option<&str>,
    ) {
        let extra = format!(
            " app={} enduserip={}",
            field(app),
            end_user_ip
                .filter(|s| !s.trim().is_empty())
                .map_or_else(|| "-".to_owned(), |s| field(s.trim()))
        );
        self.write(event, user, caller, Some(app), &extra);
    }

    fn write(&self, event: AuthEvent, user: &str, caller: &Caller, app: Option<&str>, extra: &str) {
        let ip = caller.ip_text();
        let user = field(user);
        let dialect = caller.dialect.as_str();
        if event.is_failure() {
            tracing::warn!(target: "otpgate::auth", "otpgate auth event={} user={} ip={}{} dialect={}", event.as_str(), user, ip, extra, dialect);
        } else {
            tracing::info!(target: "otpgate::auth", "otpgate auth event={} user={} ip={}{} dialect={}", event.as_str(), user, ip, extra, dialect);
        }
        self.counters.add_event(event);
        let record = AuditRecord {
            at_ms: UnixMillis::new(self.clock.now_ms()),
            event: event.as_str().to_owned(),
            username: user,
            ip: caller.ip.map(|ip| ip.to_string()),
            user_agent: caller.user_agent.clone(),
            dialect: dialect.to_owned(),
            app: app.map(field).filter(|a| a != "-"),
        };
        if self.tx.try_send(record).is_err() {
            self.counters.audit_dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Writes every queued record to the store now; returns how many were
    /// written. On a store error the records are kept for the next call.
    pub async fn flush(&self) -> Result<usize, StoreError> {
        let mut drain = self.drain.lock().await;
        let Drain { rx, pending } = &mut *drain;
        while let Ok(r) = rx.try_recv() {
            pending.push(r);
        }
        let mut written = 0;
        while !pending.is_empty() {
            let n = pending.len().min(BATCH);
            let batch = pending.get(..n).unwrap_or_default();
            if let Err(e) = self.store.append_audit(batch).await {
                self.counters
                    .audit_store_errors
                    .fetch_add(1, Ordering::Relaxed);
                // Keep the newest records, within the queue's bound.
                let excess = pending.len().saturating_sub(QUEUE_CAPACITY);
                if excess > 0 {
                    pending.drain(..excess);
                    self.counters
                        .audit_dropped
                        .fetch_add(excess as u64, Ordering::Relaxed);
                }
                return Err(e);
            }
            pending.drain(..n);
            written += n;
        }
        Ok(written)
    }

    /// The writer: drains the queue every [`FLUSH_INTERVAL`] until
    /// `shutdown` turns true, then flushes a last time.
    pub async fn run_writer(self: Arc<Self>, mut shutdown: tokio::sync::watch::Receiver<bool>) {
        let mut tick = tokio::time::interval(FLUSH_INTERVAL);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = shutdown.changed() => break,
            }
            if *shutdown.borrow() {
                break;
            }
            if let Err(e) = self.flush().await {
                tracing::warn!(error = %e, "audit write failed; retrying");
            }
        }
        if let Err(e) = self.flush().await {
            tracing::warn!(error = %e, "last audit write failed");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_stay_on_one_line_and_cannot_forge_keys() {
        assert_eq!(field("alice bob\nip=1.2.3.4"), "alice_bob_ip_1.2.3.4");
        assert_eq!(field("a\"b"), "a_b");
        assert_eq!(field(&"x".repeat(100)).len(), 64);
    }

    #[test]
    fn all_lists_every_event_at_its_index() {
        for (i, e) in AuthEvent::ALL.iter().enumerate() {
            assert_eq!(*e as usize, i, "{}", e.as_str());
        }
    }
}
