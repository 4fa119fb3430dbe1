//! Tokens as the checks see them: the verified caller, a freshly issued
//! token, a persistent token's record and the one-read token state.

use std::ops::Deref;
use std::sync::{Arc, OnceLock};

use bytes::Bytes;

use super::ids::{UnixTime, UserId};

use super::user::User;

/// What a token check needs from the store, in one read: the user (so the
/// request needs no second read) and whether the token's `jti` is revoked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenState {
    /// The token's user, as stored now.
    pub user: User,
    /// Whether this token's `jti` was revoked (logout).
    pub jti_revoked: bool,
}

/// A persistent (integration) token as the store records it (API.md §10):
/// never the token itself, only its id and times.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PersistentToken {
    /// The owner.
    pub user_id: UserId,
    /// `phone-island`, `mobile-app` or `nethlink`.
    pub audience: String,
    /// The token's id (`jti`).
    pub jti: String,
    /// Its `iat` (unix seconds).
    pub issued_at: UnixTime,
    /// Its `exp` (unix seconds).
    pub expires_at: UnixTime,
}

/// The verified caller of an authenticated request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// Canonical username (the token's subject).
    pub username: String,
    /// The user's id.
    pub user_id: UserId,
    /// This token's id.
    pub jti: String,
    /// This token's expiry (unix seconds).
    pub expires_at: i64,
    /// When this token (or legacy grant) was issued (unix seconds); the
    /// user's revocation cut-off is compared with it.
    pub issued_at: i64,
    /// The token's `2fa` claim.
    pub two_factor: bool,
    /// The token's `otp_verified` claim.
    pub otp_verified: bool,
    /// The token's `2fa_setup` claim: issued at login to a user who must
    /// enrol 2FA first (API.md §11).
    pub two_factor_setup: bool,
    /// The token's `aud` claim: `None` for a person's token, else the
    /// application (or integration) it was minted for.
    pub audience: Option<String>,
    /// The user as read by the token check (same request; decisions that
    /// must be atomic are still made by the store's conditional writes).
    pub user: User,
}

/// A verified caller as the token check answered it, shared rather than
/// copied: the token cache keeps one and every request it serves gets a
/// reference (an `Arc` clone). It reads as the [`Principal`] (`Deref`).
///
/// It also holds the caller's profile as the HTTP layer rendered it
/// ([`Self::profile_body`]), computed at most once per answer. That body
/// is a function of `user` alone (the user as the store reported it when
/// the answer was computed), so it lives and dies with the answer: the
/// cache drops both when the store's change stamp moves, and a fresh check
/// starts with an empty slot.
#[derive(Debug, Clone)]
pub struct Authenticated(Arc<Shared>);

#[derive(Debug)]
struct Shared {
    principal: Principal,
    profile_body: OnceLock<Bytes>,
}

impl Authenticated {
    /// A fresh answer for `principal` (nothing rendered yet).
    pub fn new(principal: Principal) -> Self {
        Self(Arc::new(Shared {
            principal,
            profile_body: OnceLock::new(),
        }))
    }

    /// The verified caller.
    pub fn principal(&self) -> &Principal {
        &self.0.principal
    }

    /// The profile body for this answer: `render`'s output the first time,
    /// the same bytes afterwards. `render` must depend on nothing but the
    /// principal's `user` (no time, nothing from the request).
    pub fn profile_body(&self, render: impl FnOnce(&Principal) -> Bytes) -> Bytes {
        self.0
            .profile_body
            .get_or_init(|| render(&self.0.principal))
            .clone()
    }
}

impl Deref for Authenticated {
    type Target = Principal;

    fn deref(&self) -> &Principal {
        &self.0.principal
    }
}

impl From<Principal> for Authenticated {
    fn from(principal: Principal) -> Self {
        Self::new(principal)
    }
}

/// A freshly issued token.
#[derive(Debug, Clone)]
pub struct IssuedToken {
    /// The compact JWT.
    pub token: String,
    /// Its expiry (unix seconds).
    pub expires_at: i64,
}
