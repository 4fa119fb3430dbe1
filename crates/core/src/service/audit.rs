//! One fixed-format log line per authentication event.
//!
//! The line never contains a password, code, token or secret; it carries
//! the event, the user, the client IP and the server time, so that an
//! operator's fail2ban can match failures, e.g.
//! `otpgate auth event=login_failed user=alice ip=203.0.113.9`.

use crate::service::Caller;

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
}

impl AuthEvent {
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
        }
    }

    fn is_failure(self) -> bool {
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
        )
    }
}

/// Writes the line for `event` of `user` from `caller`.
pub fn record(event: AuthEvent, user: &str, caller: &Caller) {
    let ip = caller.ip_text();
    // The username is user input: keep the line one line and unambiguous.
    let user: String = user
        .chars()
        .map(|c| {
            if c.is_whitespace() || c.is_control() || c == '"' {
                '_'
            } else {
                c
            }
        })
        .take(64)
        .collect();
    if event.is_failure() {
        tracing::warn!(target: "otpgate::auth", "otpgate auth event={} user={} ip={}", event.as_str(), user, ip);
    } else {
        tracing::info!(target: "otpgate::auth", "otpgate auth event={} user={} ip={}", event.as_str(), user, ip);
    }
}
