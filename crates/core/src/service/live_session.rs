//! What a live (logged-in Socket.IO) session is, and what a check says
//! about it: the types the watcher ([`super::live`]), the token swaps and
//! the socket login share. A leaf, so that the swaps the service holds can
//! name a session without naming the check that uses them.

use crate::model::{Principal, UserId};

/// What a live socket logged in with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LiveCredential {
    /// A JWT, by its `jti`.
    Jwt(String),
    /// A legacy grant, by its token hash.
    Legacy(String),
}

/// A logged-in socket's session, as the watcher keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveSession {
    /// The user's id.
    pub user_id: UserId,
    /// The credential it logged in with.
    pub credential: LiveCredential,
    /// When that credential was issued.
    pub issued_at: i64,
    /// When it expires.
    pub expires_at: i64,
    /// The user's 2FA state as last told to the client.
    pub two_factor: bool,
}

impl LiveSession {
    /// The session of a socket that logged in with a JWT as `who`, whose
    /// user's 2FA is `two_factor` now.
    pub fn jwt(who: &Principal, two_factor: bool) -> Self {
        Self {
            user_id: who.user_id,
            credential: LiveCredential::Jwt(who.jti.clone()),
            issued_at: who.issued_at,
            expires_at: who.expires_at,
            two_factor,
        }
    }

    /// The session of a socket that logged in with a legacy credential.
    pub fn legacy(who: &Principal) -> Self {
        Self {
            user_id: who.user_id,
            credential: LiveCredential::Legacy(who.jti.clone()),
            issued_at: who.issued_at,
            expires_at: who.expires_at,
            two_factor: false,
        }
    }
}

/// Why a live session ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndReason {
    /// That token (or legacy grant) was logged out.
    Logout,
    /// Every token of the user was revoked (password change, 2FA change,
    /// revoke-all) or the user was deleted.
    Revoked,
    /// The token expired.
    Expired,
}

impl EndReason {
    /// A stable name for clients and logs.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Logout => "logout",
            Self::Revoked => "revoked",
            Self::Expired => "expired",
        }
    }
}

/// The verdict on one live session.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LiveVerdict {
    /// The user's 2FA state, when it differs from the session's.
    pub two_factor_changed: Option<bool>,
    /// Set when the session must end.
    pub ended: Option<EndReason>,
    /// The session's token was swapped by `verify-otp`: the socket goes on
    /// as this session (API.md §3).
    pub rebound: Option<LiveSession>,
}
