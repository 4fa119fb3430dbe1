//! The Store trait: every piece of state the rules need, and nothing else.
//!
//! All security state lives behind it so that several instances sharing a
//! database enforce the same rules. Operations that must never succeed
//! twice ("accept this TOTP step", "use this recovery code", "enable this
//! pending secret") are single conditional writes: an implementation must
//! make them atomic, never read-then-write.

use async_trait::async_trait;

use crate::error::StoreError;
use crate::model::{
    LegacyGrant, LegacyNonce, LiveState, NewUser, RecoveryCodeRecord, ThrottleKind, ThrottleState,
    TokenState, User,
};

/// Persistent state of otpgate. Implemented for SQLite and PostgreSQL in
/// the `otpgate-store` crate; the contract tests there run against both.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Checks the database answers (readiness).
    async fn ping(&self) -> Result<(), StoreError>;

    /// Creates a user; [`StoreError::Conflict`] if the name is taken.
    async fn create_user(&self, user: &NewUser) -> Result<User, StoreError>;
    /// Finds a user by canonical name.
    async fn user_by_name(&self, username: &str) -> Result<Option<User>, StoreError>;
    /// All users, by name.
    async fn list_users(&self) -> Result<Vec<User>, StoreError>;
    /// Number of users.
    async fn count_users(&self) -> Result<u64, StoreError>;
    /// Deletes a user and everything of theirs; false if absent.
    async fn delete_user(&self, user_id: i64) -> Result<bool, StoreError>;
    /// Replaces the password hash and moves the revocation cut-off (see
    /// [`Store::revoke_all_tokens`]).
    async fn set_password(
        &self,
        user_id: i64,
        password_hash: &str,
        valid_after: i64,
    ) -> Result<(), StoreError>;

    /// One read for a token check: the user's cut-off, 2FA state, and
    /// whether `jti` is revoked. `None` if the user does not exist.
    async fn token_state(
        &self,
        username: &str,
        jti: &str,
    ) -> Result<Option<TokenState>, StoreError>;
    /// Revokes one token id until `expires_at`.
    async fn revoke_token(
        &self,
        jti: &str,
        user_id: i64,
        expires_at: i64,
    ) -> Result<(), StoreError>;
    /// Moves the user's cut-off past every token issued so far: to
    /// `max(cut-off + 1, valid_after)`. Tokens are issued with an `iat` of
    /// at least the cut-off, so `+ 1` is what guarantees that a token
    /// issued in the same second as an earlier cut-off is refused too.
    /// Every method that "moves the cut-off" uses this same rule.
    async fn revoke_all_tokens(&self, user_id: i64, valid_after: i64) -> Result<(), StoreError>;

    /// Stores a pending secret if the user has neither a pending nor an
    /// enabled one. True if this call stored it.
    async fn set_pending_secret(&self, user_id: i64, sealed: &[u8]) -> Result<bool, StoreError>;
    /// Atomically turns the pending secret into the enabled one, records
    /// `step` as the last accepted step and moves the cut-off (see
    /// [`Store::revoke_all_tokens`]). False if there was no pending secret.
    async fn enable_totp(
        &self,
        user_id: i64,
        step: i64,
        valid_after: i64,
    ) -> Result<bool, StoreError>;
    /// Atomically records `step` as accepted if it is later than the last
    /// accepted one and 2FA is on. False means replay (or 2FA off).
    async fn accept_totp_step(&self, user_id: i64, step: i64) -> Result<bool, StoreError>;
    /// Turns 2FA off: deletes the secrets, the last step and the recovery
    /// codes, and moves the cut-off. False if 2FA was not on.
    async fn disable_totp(&self, user_id: i64, valid_after: i64) -> Result<bool, StoreError>;

    /// Replaces all recovery codes of a user whose 2FA is on. False if 2FA
    /// is not on (nothing written).
    async fn replace_recovery_codes(
        &self,
        user_id: i64,
        hashes: &[String],
    ) -> Result<bool, StoreError>;
    /// The user's unused recovery codes.
    async fn recovery_codes(&self, user_id: i64) -> Result<Vec<RecoveryCodeRecord>, StoreError>;
    /// Deletes one code; true only for the one caller that deleted it.
    async fn consume_recovery_code(&self, code_id: i64) -> Result<bool, StoreError>;

    /// A failure counter, if any.
    async fn throttle(
        &self,
        kind: ThrottleKind,
        key: &str,
    ) -> Result<Option<ThrottleState>, StoreError>;
    /// Counts one failure atomically and returns the new count. With a
    /// window, a count older than `window_secs` restarts at 1.
    async fn record_failure(
        &self,
        kind: ThrottleKind,
        key: &str,
        now: i64,
        window_secs: Option<i64>,
    ) -> Result<u32, StoreError>;
    /// Extends a lock to at least `until` (never shortens it).
    async fn extend_lock(
        &self,
        kind: ThrottleKind,
        key: &str,
        until: i64,
    ) -> Result<(), StoreError>;
    /// Forgets a failure counter (after a success).
    async fn clear_throttle(&self, kind: ThrottleKind, key: &str) -> Result<(), StoreError>;

    /// Deletes what has expired (revoked ids past their expiry, stale
    /// counters). Returns the number of rows removed.
    async fn purge_expired(&self, now: i64) -> Result<u64, StoreError>;

    /// Stores a legacy challenge (legacy login). Its `token_hash` is the
    /// key: it binds user, password and nonce.
    async fn create_legacy_nonce(&self, nonce: &LegacyNonce) -> Result<(), StoreError>;
    /// Consumes the unexpired (at `now`) challenge whose token hash is
    /// `token_hash` and turns it into a grant valid until
    /// `grant_expires_at`, atomically: of concurrent callers exactly one
    /// gets the grant. `None` if there is no such challenge (never issued,
    /// expired, or already used).
    async fn redeem_legacy_nonce(
        &self,
        token_hash: &str,
        now: i64,
        grant_expires_at: i64,
    ) -> Result<Option<LegacyGrant>, StoreError>;
    /// The legacy grant with that token hash, expired or not.
    async fn legacy_grant(&self, token_hash: &str) -> Result<Option<LegacyGrant>, StoreError>;
    /// Deletes a legacy grant (legacy logout); true if it existed.
    async fn delete_legacy_grant(&self, token_hash: &str) -> Result<bool, StoreError>;
    /// Deletes expired legacy challenges and grants; returns the rows removed.
    async fn purge_expired_legacy(&self, now: i64) -> Result<u64, StoreError>;
    /// One batched read for the live-session watcher: the state of these
    /// users, which of these token ids are revoked, and which of these
    /// legacy grants still exist unexpired at `now`. Unknown ids are
    /// simply absent from the answer.
    async fn live_state(
        &self,
        user_ids: &[i64],
        jtis: &[String],
        grant_hashes: &[String],
        now: i64,
    ) -> Result<LiveState, StoreError>;
}
