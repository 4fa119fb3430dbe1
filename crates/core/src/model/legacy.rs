//! The legacy login's state: an issued challenge and the grant it becomes.

use super::ids::{UnixTime, UserId};

/// A legacy challenge handed out by the legacy login: the SHA-256 of the
/// token the client will compute, bound to the user and the nonce.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LegacyNonce {
    /// Hex SHA-256 of the expected token (never the token itself).
    pub token_hash: String,
    /// The nonce sent in `WWW-Authenticate: Digest <nonce>`.
    pub nonce: String,
    /// Whose password computed the token.
    pub user_id: UserId,
    /// When it was issued (at least the user's cut-off at that moment).
    pub issued_at: UnixTime,
    /// First use must come before this (unix seconds).
    pub expires_at: UnixTime,
}

/// A legacy credential in use: the redeemed form of a [`LegacyNonce`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LegacyGrant {
    /// Hex SHA-256 of the token.
    pub token_hash: String,
    /// Its user.
    pub user_id: UserId,
    /// Issue time: the nonce's; compared with the user's cut-off.
    pub issued_at: UnixTime,
    /// Refused from this unix second on.
    pub expires_at: UnixTime,
}
