//! What a route or transport requires of a token ([`Access`]) and the stage
//! a checked token is at ([`Stage`]): the 2FA gate's two sides, named once
//! for every dialect.

use crate::service::persistent;

/// What a route requires of a token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// A verified token: 2FA off, or the OTP proven.
    Verified,
    /// Also a set-up token (API.md §11): the enrolment routes (qr-code).
    AllowSetup,
    /// Any stage: also a pre-OTP or set-up token (only status, verify-otp
    /// and logout use this).
    AllowPendingOtp,
}

impl Access {
    /// Whether a token with audience `aud` may be used here. Every route
    /// and transport otpgate serves (the native API, Mudbase, the reverse
    /// proxy, Socket.IO) is a person's: it accepts a token without `aud`
    /// and a person's persistent token (`aud` = `phone-island`,
    /// `mobile-app` or `nethlink`, API.md §10). A token an application dialect minted (Capillary's
    /// `otp/validate`, `aud` = the brand) proves a second factor to that
    /// application only, so an e-mail or SMS code never becomes a session
    /// that could, say, turn a TOTP user's 2FA off (API.md §6b).
    pub fn accepts_audience(self, aud: Option<&str>) -> bool {
        match self {
            Self::Verified | Self::AllowSetup | Self::AllowPendingOtp => {
                aud.is_none_or(persistent::Audience::is_persistent)
            }
        }
    }
}

/// The stage a token is at, as the 2FA gate of
/// [`AuthService::authenticate`](super::AuthService::authenticate) sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// 2FA off (and not required), or the OTP proven.
    Verified,
    /// 2FA on, the OTP not proven yet.
    PendingOtp,
    /// The user must enrol 2FA first (API.md §11).
    Setup,
}
