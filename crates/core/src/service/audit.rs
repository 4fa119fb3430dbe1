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

/// Writes the line for `event` of `user` from `caller`.
pub fn record(event: AuthEvent, user: &str, caller: &Caller) {
    write(event, user, caller, "");
}

/// Writes the line for `event` of `user` from `caller` on behalf of the
/// application `app`, with the end user's IP as the application reported
/// it: `otpgate auth event=otp_status user=alice ip=10.0.0.5 app=shop
/// enduserip=203.0.113.9` (`-` when not reported).
pub fn record_app(
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
    write(event, user, caller, &extra);
}

fn write(event: AuthEvent, user: &str, caller: &Caller, extra: &str) {
    let ip = caller.ip_text();
    let user = field(user);
    if event.is_failure() {
        tracing::warn!(target: "otpgate::auth", "otpgate auth event={} user={} ip={}{}", event.as_str(), user, ip, extra);
    } else {
        tracing::info!(target: "otpgate::auth", "otpgate auth event={} user={} ip={}{}", event.as_str(), user, ip, extra);
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
}
