//! The Store trait: every piece of state the rules need, and nothing else.
//!
//! All security state lives behind it so that several instances sharing a
//! database enforce the same rules. Operations that must never succeed
//! twice ("accept this TOTP step", "use this recovery code", "enable this
//! pending secret") and the lockout's "reserve this attempt unless locked"
//! are single conditional writes: an implementation must make them atomic,
//! never read-then-write across calls.
//!
//! It is the union of one trait per capability (users, tokens, the second
//! factor, failure counters, applications, out-of-band codes, legacy
//! grants, audit, persistent tokens), so that each reads on its own;
//! anything implementing them all is a [`Store`], and `Arc<dyn Store>`
//! offers every method without importing the capability traits.

use async_trait::async_trait;

use crate::config::ThrottlePolicy;
use crate::error::StoreError;
use crate::model::{
    AppId, Application, AuditQuery, AuditRecord, ContactField, LegacyGrant, LegacyNonce, LiveState,
    MfaSession, NewApplication, NewOobCode, NewOutboxMessage, NewUser, OobClaim, OobCodeId,
    OtpCounter, OtpStatusRecord, OtpStatusUse, OutboxMessage, PersistentToken, ProfileChange,
    RecoveryCodeRecord, Reservation, RevokeToken, SecondFactorProof, SecondFactorWrite,
    ThrottleKind, ThrottleState, TokenState, TwoFactorGroup, UnixMillis, UnixTime, User, UserId,
};

/// What [`TokenStore::change_stamp`] returns: opaque, compared for equality.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChangeStamp(pub u128);

/// Users: accounts, their profile, password and 2FA override; and whether the
/// database answers.
#[async_trait]
pub trait UserStore: Send + Sync {
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
    async fn delete_user(&self, user_id: UserId) -> Result<bool, StoreError>;
    /// Replaces the password hash and moves the revocation cut-off (see
    /// [`TokenStore::revoke_all_tokens`]).
    async fn set_password(
        &self,
        user_id: UserId,
        password_hash: &str,
        valid_after: UnixTime,
    ) -> Result<(), StoreError>;
    /// Applies `change` to the user's profile fields in one write (fields
    /// it leaves out keep their value). False if the user does not exist.
    async fn update_profile(
        &self,
        user_id: UserId,
        change: &ProfileChange,
    ) -> Result<bool, StoreError>;
    /// Sets the user's override of `two_factor.required` (`None`: follow
    /// the setting). False if the user does not exist.
    async fn set_require_two_factor(
        &self,
        user_id: UserId,
        required: Option<bool>,
    ) -> Result<bool, StoreError>;
    /// Replaces (or with `None` forgets) the user's sealed session at the
    /// password backend (the CTI server's token, API.md §9). False if the
    /// user does not exist.
    async fn set_upstream_session(
        &self,
        user_id: UserId,
        sealed: Option<&[u8]>,
    ) -> Result<bool, StoreError>;
    /// Users counted by (2FA on, override), one group per combination
    /// present (`/metrics`).
    async fn two_factor_census(&self) -> Result<Vec<TwoFactorGroup>, StoreError>;
}

/// Tokens: the token check's one read, revocation, login tokens, the
/// live-session watcher's batched read, and the change stamp that lets a
/// token check's answer be reused.
#[async_trait]
pub trait TokenStore: Send + Sync {
    /// A value that changes whenever anything is committed to the store,
    /// by this process or any other, read without a query; `None` when the
    /// store cannot tell cheaply (then nothing read from it is reused).
    /// Two equal stamps mean nothing was committed between the two calls,
    /// so an answer read after the first is still the store's answer.
    fn change_stamp(&self) -> Option<ChangeStamp> {
        None
    }
    /// One read for a token check: the user (by canonical name) and
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
        user_id: UserId,
        expires_at: UnixTime,
    ) -> Result<(), StoreError>;
    /// Moves the user's cut-off past every token issued so far: to
    /// `max(cut-off + 1, valid_after)`. Tokens are issued with an `iat` of
    /// at least the cut-off, so `+ 1` is what guarantees that a token
    /// issued in the same second as an earlier cut-off is refused too.
    /// Every method that "moves the cut-off" uses this same rule.
    async fn revoke_all_tokens(
        &self,
        user_id: UserId,
        valid_after: UnixTime,
    ) -> Result<(), StoreError>;
    /// Records a login token of the user by id and times (API.md §9: so
    /// that the user's last token going can end the backend's session);
    /// removed by [`TokenStore::purge_expired`] once expired.
    async fn record_login_token(
        &self,
        user_id: UserId,
        jti: &str,
        issued_at: UnixTime,
        expires_at: UnixTime,
    ) -> Result<(), StoreError>;
    /// Whether the user has a token left at `now`, in one read: a recorded
    /// login token or persistent token that is unexpired, not revoked by
    /// id and issued at or after the user's cut-off, or an unexpired legacy
    /// grant issued at or after it. False for an unknown user.
    async fn has_live_tokens(&self, user_id: UserId, now: UnixTime) -> Result<bool, StoreError>;
    /// One batched read for the live-session watcher: the state of these
    /// users, which of these token ids are revoked, and which of these
    /// legacy grants still exist unexpired at `now`. Unknown ids are
    /// simply absent from the answer.
    async fn live_state(
        &self,
        user_ids: &[UserId],
        jtis: &[String],
        grant_hashes: &[String],
        now: UnixTime,
    ) -> Result<LiveState, StoreError>;
    /// Deletes what has expired (revoked ids past their expiry, stale
    /// counters). Returns the number of rows removed.
    async fn purge_expired(&self, now: UnixTime) -> Result<u64, StoreError>;
}

/// The second factor: the pending and enabled TOTP secret, recovery codes,
/// and the one write recording a success.
#[async_trait]
pub trait SecondFactorStore: Send + Sync {
    /// Stores a pending secret if the user has neither a pending nor an
    /// enabled one. True if this call stored it.
    async fn set_pending_secret(&self, user_id: UserId, sealed: &[u8]) -> Result<bool, StoreError>;
    /// Forgets a pending (not yet confirmed) secret. True if there was
    /// one; an enabled secret is left alone (see [`SecondFactorStore::disable_totp`]).
    async fn clear_pending_secret(&self, user_id: UserId) -> Result<bool, StoreError>;
    /// Turns 2FA off: deletes the secrets, the last step and the recovery
    /// codes, and moves the cut-off. False if 2FA was not on.
    async fn disable_totp(
        &self,
        user_id: UserId,
        valid_after: UnixTime,
    ) -> Result<bool, StoreError>;
    /// Replaces all recovery codes of a user whose 2FA is on. False if 2FA
    /// is not on (nothing written).
    async fn replace_recovery_codes(
        &self,
        user_id: UserId,
        hashes: &[String],
    ) -> Result<bool, StoreError>;
    /// The user's unused recovery codes.
    async fn recovery_codes(&self, user_id: UserId) -> Result<Vec<RecoveryCodeRecord>, StoreError>;
    /// Records a second-factor success in ONE transaction: the proof's
    /// conditional write (accept a later TOTP step, enable the pending
    /// secret, or consume a recovery code); if it wins, also revokes
    /// `revoke`, uses up `otp_status` (the application's unexpired status
    /// for this user, which must exist) and forgets the user's OTP failure
    /// counter. With [`OtpCounter::Unreserved`] the same transaction first
    /// refuses while that counter is locked. Nothing is written unless all
    /// of it is: [`SecondFactorWrite::Locked`] for a locked counter,
    /// [`SecondFactorWrite::ProofLost`] for a replayed step, an already
    /// enabled secret or a used code, [`SecondFactorWrite::StatusGone`]
    /// for a missing status.
    async fn complete_second_factor(
        &self,
        user_id: UserId,
        proof: SecondFactorProof,
        revoke: Option<&RevokeToken>,
        otp_status: Option<OtpStatusUse>,
        otp_counter: OtpCounter,
    ) -> Result<SecondFactorWrite, StoreError>;
}

/// Failure counters and lockouts.
#[async_trait]
pub trait ThrottleStore: Send + Sync {
    /// A failure counter, if any.
    async fn throttle(
        &self,
        kind: ThrottleKind,
        key: &str,
    ) -> Result<Option<ThrottleState>, StoreError>;
    /// Reserves one attempt on a counter in ONE conditional write (atomic
    /// across instances): while the key is locked at `now`, nothing is
    /// written and [`Reservation::Locked`] says until when; otherwise the
    /// attempt is counted (with a window, a count older than
    /// `policy.window_secs` restarts at 1) and, when the count reaches
    /// `policy.max_failures`, the same write locks the key until `now +
    /// policy.lock_secs(count)` (never shortening a lock).
    async fn reserve_attempt(
        &self,
        kind: ThrottleKind,
        key: &str,
        now: UnixTime,
        policy: &ThrottlePolicy,
    ) -> Result<Reservation, StoreError>;
    /// Gives one reserved attempt back (a success under a windowed
    /// counter): the count drops by one, and the lock is lifted when the
    /// count falls below `max_failures`.
    async fn return_attempt(
        &self,
        kind: ThrottleKind,
        key: &str,
        max_failures: u32,
    ) -> Result<(), StoreError>;
    /// Forgets a failure counter (after a success).
    async fn clear_throttle(&self, kind: ThrottleKind, key: &str) -> Result<(), StoreError>;
}

/// Applications (the dialects' API keys) and the users they look up by
/// contact.
#[async_trait]
pub trait ApplicationStore: Send + Sync {
    /// Registers an application; [`StoreError::Conflict`] if the name or
    /// key id is taken.
    async fn create_application(&self, app: &NewApplication) -> Result<Application, StoreError>;
    /// Finds an application by the public half of its key.
    async fn application_by_key_id(&self, key_id: &str) -> Result<Option<Application>, StoreError>;
    /// Finds an application by canonical name.
    async fn application_by_name(&self, name: &str) -> Result<Option<Application>, StoreError>;
    /// All applications, by name.
    async fn list_applications(&self) -> Result<Vec<Application>, StoreError>;
    /// Deletes an application (its key stops working at once; its MFA
    /// sessions and OTP status records go with it). False if absent.
    async fn delete_application(&self, name: &str) -> Result<bool, StoreError>;
    /// Users whose `field` matches `value` (see [`ContactField`] for how),
    /// at most two: the caller needs to know only "one" or "not one".
    async fn users_by_contact(
        &self,
        field: ContactField,
        value: &str,
    ) -> Result<Vec<User>, StoreError>;
}

/// Out-of-band codes, MFA sessions, OTP status records and the outbox.
#[async_trait]
pub trait OutOfBandStore: Send + Sync {
    /// Stores a code for `(user_id, binding)`, replacing any earlier one
    /// (with its attempts).
    async fn put_oob_code(&self, code: &NewOobCode) -> Result<(), StoreError>;
    /// Atomically uses up one attempt of the live code of
    /// `(user_id, binding)`: one conditional write that succeeds only while
    /// the code is unexpired at `now` and fewer than `max_attempts` were
    /// used. `None`: no code left to try.
    async fn claim_oob_attempt(
        &self,
        user_id: UserId,
        binding: &str,
        now: UnixTime,
        max_attempts: u32,
    ) -> Result<Option<OobClaim>, StoreError>;
    /// Deletes the code `id` if it still has hash `code_hash` (it was not
    /// replaced meanwhile); true only for the one caller that deleted it.
    async fn consume_oob_code(&self, id: OobCodeId, code_hash: &str) -> Result<bool, StoreError>;
    /// Deletes the code of `(user_id, binding)`, if any (a delivery failed).
    async fn delete_oob_code(&self, user_id: UserId, binding: &str) -> Result<(), StoreError>;
    /// Stores a new MFA session.
    async fn create_mfa_session(&self, session: &MfaSession) -> Result<(), StoreError>;
    /// The MFA session with that id hash, if unexpired at `now`.
    async fn mfa_session(
        &self,
        id_hash: &str,
        now: UnixTime,
    ) -> Result<Option<MfaSession>, StoreError>;
    /// Deletes the session if it is unexpired at `now` and belongs to that
    /// user, application and device: one conditional write, true only for
    /// the one caller that used it.
    async fn consume_mfa_session(
        &self,
        id_hash: &str,
        user_id: UserId,
        app_id: AppId,
        device_id: &str,
        now: UnixTime,
    ) -> Result<bool, StoreError>;
    /// Records (or renews) that an application asked for a user's OTP
    /// status.
    async fn put_otp_status(&self, record: &OtpStatusRecord) -> Result<(), StoreError>;
    /// The unexpired status record of that user and application.
    async fn otp_status(
        &self,
        user_id: UserId,
        app_id: AppId,
        now: UnixTime,
    ) -> Result<Option<OtpStatusRecord>, StoreError>;
    /// Deletes that record if unexpired; true only for the one caller that
    /// deleted it.
    async fn consume_otp_status(
        &self,
        user_id: UserId,
        app_id: AppId,
        now: UnixTime,
    ) -> Result<bool, StoreError>;
    /// Keeps a message in the outbox.
    async fn put_outbox_message(&self, message: &NewOutboxMessage) -> Result<(), StoreError>;
    /// The unexpired outbox messages, oldest first; of one user if given.
    async fn outbox_messages(
        &self,
        user_id: Option<UserId>,
        now: UnixTime,
    ) -> Result<Vec<OutboxMessage>, StoreError>;
    /// Deletes expired codes, MFA sessions, status records and outbox
    /// messages. Returns the number of rows removed.
    async fn purge_expired_oob(&self, now: UnixTime) -> Result<u64, StoreError>;
}

/// The legacy login's challenges and grants.
#[async_trait]
pub trait LegacyStore: Send + Sync {
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
        now: UnixTime,
        grant_expires_at: UnixTime,
    ) -> Result<Option<LegacyGrant>, StoreError>;
    /// The legacy grant with that token hash, expired or not.
    async fn legacy_grant(&self, token_hash: &str) -> Result<Option<LegacyGrant>, StoreError>;
    /// Deletes a legacy grant (legacy logout); true if it existed.
    async fn delete_legacy_grant(&self, token_hash: &str) -> Result<bool, StoreError>;
    /// Deletes expired legacy challenges and grants; returns the rows removed.
    async fn purge_expired_legacy(&self, now: UnixTime) -> Result<u64, StoreError>;
}

/// The audit log.
#[async_trait]
pub trait AuditStore: Send + Sync {
    /// Appends audit records (one batch, one transaction).
    async fn append_audit(&self, records: &[AuditRecord]) -> Result<(), StoreError>;
    /// The newest `query.limit` records matching `query`, oldest first.
    async fn audit_records(&self, query: &AuditQuery) -> Result<Vec<AuditRecord>, StoreError>;
    /// Deletes audit records older than `before_ms`; returns the rows removed.
    async fn purge_audit(&self, before_ms: UnixMillis) -> Result<u64, StoreError>;
}

/// Persistent (integration) tokens.
#[async_trait]
pub trait PersistentTokenStore: Send + Sync {
    /// Records `token` as its user's persistent token for its audience
    /// and, in the same transaction, revokes the one it replaces (its
    /// `jti` until its expiry), which it returns: at most one per user and
    /// audience, even under concurrent calls.
    async fn replace_persistent_token(
        &self,
        token: &PersistentToken,
    ) -> Result<Option<PersistentToken>, StoreError>;
    /// Forgets the user's persistent token for `audience` and, in the same
    /// transaction, revokes it; returns it (`None`: there was none).
    async fn remove_persistent_token(
        &self,
        user_id: UserId,
        audience: &str,
    ) -> Result<Option<PersistentToken>, StoreError>;
    /// The user's recorded persistent tokens, by audience (including ones
    /// since revoked by a cut-off or expired: the caller filters).
    async fn persistent_tokens(&self, user_id: UserId) -> Result<Vec<PersistentToken>, StoreError>;
}

/// Persistent state of otpgate: every capability above, as one trait
/// (`Arc<dyn Store>` is what the service holds). Implemented for SQLite
/// and PostgreSQL in the `otpgate-store` crate; the contract tests there
/// run against both. Anything implementing all the capabilities is a
/// `Store`.
pub trait Store:
    UserStore
    + TokenStore
    + SecondFactorStore
    + ThrottleStore
    + ApplicationStore
    + OutOfBandStore
    + LegacyStore
    + AuditStore
    + PersistentTokenStore
    + 'static
{
}

impl<T> Store for T where
    T: ?Sized
        + UserStore
        + TokenStore
        + SecondFactorStore
        + ThrottleStore
        + ApplicationStore
        + OutOfBandStore
        + LegacyStore
        + AuditStore
        + PersistentTokenStore
        + 'static
{
}
