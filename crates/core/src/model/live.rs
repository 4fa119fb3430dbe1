//! What the live-session watcher and the 2FA census read in one batch.

use super::ids::{UnixTime, UserId};

/// How many users are in one 2FA state ([`crate::store::UserStore::two_factor_census`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TwoFactorGroup {
    /// Whether their 2FA is on.
    pub enabled: bool,
    /// Their per-user override of `two_factor.required`.
    pub require_two_factor: Option<bool>,
    /// How many users.
    pub users: u64,
}

/// One user's state as the live-session watcher needs it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UserLiveState {
    /// The user's id.
    pub user_id: UserId,
    /// The user's revocation cut-off.
    pub tokens_valid_after: UnixTime,
    /// Whether 2FA is on now.
    pub two_factor: bool,
    /// The user's override of `two_factor.required`.
    pub require_two_factor: Option<bool>,
}

/// The answer of [`crate::store::Store::live_state`]: one batched read for
/// every logged-in socket of an instance.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LiveState {
    /// The users asked about that still exist.
    pub users: Vec<UserLiveState>,
    /// The token ids asked about that are revoked.
    pub revoked_jtis: Vec<String>,
    /// The legacy grants asked about that still exist and are unexpired.
    pub live_grants: Vec<String>,
}
