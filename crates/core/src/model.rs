//! The domain records the use cases and the stores exchange.

use serde::Serialize;

/// Where a user's TOTP enrolment stands. Secrets are sealed (AES-256-GCM)
/// bytes; only [`crate::crypto::cipher::SecretCipher`] opens them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TotpState {
    /// No secret at all.
    Off,
    /// A secret was handed out by qr-code but not yet confirmed.
    Pending(Vec<u8>),
    /// 2FA is on with this secret.
    Enabled(Vec<u8>),
}

impl TotpState {
    /// Whether 2FA is on.
    pub fn is_enabled(&self) -> bool {
        matches!(self, Self::Enabled(_))
    }
}

/// A stored user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    /// Store-assigned id.
    pub id: i64,
    /// Canonical (lower-case) username.
    pub username: String,
    /// Name for display.
    pub display_name: String,
    /// E-mail address, if known.
    pub email: Option<String>,
    /// Phone number, if known.
    pub phone: Option<String>,
    /// Identifier in another system, if any.
    pub external_id: Option<String>,
    /// Free-form role (e.g. `admin`, `user`).
    pub role: String,
    /// Argon2id PHC string.
    pub password_hash: String,
    /// TOTP enrolment.
    pub totp: TotpState,
    /// Last TOTP step accepted (replay protection).
    pub totp_last_step: Option<i64>,
    /// Tokens with `iat` before this (unix seconds) are refused.
    pub tokens_valid_after: i64,
    /// Creation time (unix seconds).
    pub created_at: i64,
    /// The operator's per-user override of `two_factor.required`
    /// (`otpgate user require-2fa`): `None` follows the setting.
    pub require_two_factor: Option<bool>,
    /// The password backend the user belongs to (`local`, `nethcti`;
    /// see [`crate::password_backend`]). A user of another backend than
    /// `local` has an empty `password_hash`.
    pub backend: String,
    /// The user's session at the password backend (the CTI server's
    /// token), sealed like the TOTP secret; never shown.
    pub upstream_session: Option<Vec<u8>>,
}

/// What is needed to create a user.
#[derive(Debug, Clone)]
pub struct NewUser {
    /// Canonical username (already normalised and validated).
    pub username: String,
    /// Name for display.
    pub display_name: String,
    /// E-mail address.
    pub email: Option<String>,
    /// Phone number.
    pub phone: Option<String>,
    /// External identifier.
    pub external_id: Option<String>,
    /// Role.
    pub role: String,
    /// Argon2id PHC string (empty for a user of another backend).
    pub password_hash: String,
    /// The password backend the user belongs to (`local`, `nethcti`).
    pub backend: String,
    /// Revocation cut-off at creation (the creation time).
    pub tokens_valid_after: i64,
    /// Creation time.
    pub created_at: i64,
}

/// Changes to a user's profile (`otpgate user set`). `None` leaves a
/// field as it is; for the optional fields, `Some(None)` clears it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProfileChange {
    /// New display name.
    pub display_name: Option<String>,
    /// New e-mail address, or cleared.
    pub email: Option<Option<String>>,
    /// New phone number, or cleared.
    pub phone: Option<Option<String>>,
    /// New external identifier, or cleared.
    pub external_id: Option<Option<String>>,
    /// New role.
    pub role: Option<String>,
}

impl ProfileChange {
    /// Whether nothing would change.
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }
}

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
    pub user_id: i64,
    /// `phone-island`, `mobile-app` or `nethlink`.
    pub audience: String,
    /// The token's id (`jti`).
    pub jti: String,
    /// Its `iat` (unix seconds).
    pub issued_at: i64,
    /// Its `exp` (unix seconds).
    pub expires_at: i64,
}

/// The proof of a second factor that a successful check records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecondFactorProof {
    /// A TOTP step of an enabled secret (accepted only if later than the
    /// last accepted step).
    TotpStep(i64),
    /// A TOTP step confirming the pending secret: 2FA is enabled, and the
    /// revocation cut-off moves to at least `cutoff`.
    Enable {
        /// The step that confirmed it.
        step: i64,
        /// The new cut-off (see `Store::revoke_all_tokens`).
        cutoff: i64,
    },
    /// A recovery code (its store id), consumed.
    RecoveryCode(i64),
}

/// A token to revoke in the same write as a second-factor success.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RevokeToken {
    /// The token's id.
    pub jti: String,
    /// Until when to remember it.
    pub expires_at: i64,
}

/// An application's OTP status to use up in the same write as a
/// second-factor success (the Single Connect `otpvalid`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OtpStatusUse {
    /// The application that asked for the status.
    pub app_id: i64,
    /// Now (unix seconds): the status must not have expired.
    pub now: i64,
}

/// How a second-factor write ended ([`crate::store::SecondFactorStore::complete_second_factor`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecondFactorWrite {
    /// The proof won; everything asked for was written.
    Recorded,
    /// The proof lost (a replayed step, an already enabled secret, a used
    /// code): nothing was written.
    ProofLost,
    /// The OTP status to use up was gone or expired: nothing was written.
    StatusGone,
    /// The attempt was not reserved ([`OtpCounter::Unreserved`]) and the
    /// user's OTP counter is locked until this unix second: nothing was
    /// written.
    Locked {
        /// The lock's end.
        until: i64,
    },
}

/// How a second-factor success write treats the user's OTP failure
/// counter ([`crate::store::SecondFactorStore::complete_second_factor`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OtpCounter {
    /// The attempt reserved its place on the counter beforehand: a success
    /// forgets the counter.
    Reserved,
    /// The attempt was not reserved (a code that matched the TOTP, checked
    /// without a store access): the write is refused with
    /// [`SecondFactorWrite::Locked`] while the counter is locked at `now`,
    /// so the outcome stays hidden from a locked caller; a success forgets
    /// the counter.
    Unreserved {
        /// The current unix second.
        now: i64,
    },
}

/// What reserving an attempt found ([`crate::store::ThrottleStore::reserve_attempt`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reservation {
    /// The attempt is counted and may be evaluated.
    Admitted {
        /// The count including this attempt.
        count: u32,
        /// Whether this reservation set (or extended) the lock: if the
        /// attempt then fails, it is the one that locked the key.
        locks: bool,
    },
    /// The key is locked until this unix second: nothing was written.
    Locked {
        /// The lock's end.
        until: i64,
    },
}

impl SecondFactorWrite {
    /// Whether the success was recorded.
    pub fn recorded(self) -> bool {
        self == Self::Recorded
    }
}

/// A stored recovery code: its id and argon2id hash.
#[derive(Debug, Clone)]
pub struct RecoveryCodeRecord {
    /// Store id, used to consume it atomically.
    pub id: i64,
    /// Argon2id PHC string of the code.
    pub hash: String,
}

/// Which failure counter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ThrottleKind {
    /// OTP / recovery-code failures of a user (key: user id).
    Otp,
    /// Password failures of a username (key: canonical username).
    LoginUser,
    /// Password failures from a client IP (key: the IP).
    LoginIp,
    /// Out-of-band codes sent to a user (key: user id), counted within a
    /// window: sending is rate-limited per user.
    OobSend,
}

impl ThrottleKind {
    /// The stable name stored in the database.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Otp => "otp",
            Self::LoginUser => "login_user",
            Self::LoginIp => "login_ip",
            Self::OobSend => "oob_send",
        }
    }
}

/// A failure counter as stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ThrottleState {
    /// Failures counted (consecutive, or within the window).
    pub failures: u32,
    /// Locked until this unix second (0: not locked).
    pub locked_until: i64,
}

/// The verified caller of an authenticated request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// Canonical username (the token's subject).
    pub username: String,
    /// The user's id.
    pub user_id: i64,
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

/// A freshly issued token.
#[derive(Debug, Clone)]
pub struct IssuedToken {
    /// The compact JWT.
    pub token: String,
    /// Its expiry (unix seconds).
    pub expires_at: i64,
}

/// The profile shown by `/api/user/me`.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Profile {
    /// Canonical username.
    pub username: String,
    /// Name for display.
    pub display_name: String,
    /// E-mail, or null.
    pub email: Option<String>,
    /// Phone, or null.
    pub phone: Option<String>,
    /// Whether 2FA is on.
    pub two_factor: bool,
    /// The user's role (e.g. `user`, `admin`).
    pub role: String,
    /// Identifier in another system, or null.
    pub external_id: Option<String>,
}

impl From<&User> for Profile {
    fn from(u: &User) -> Self {
        Self {
            username: u.username.clone(),
            display_name: u.display_name.clone(),
            email: u.email.clone(),
            phone: u.phone.clone(),
            two_factor: u.totp.is_enabled(),
            role: u.role.clone(),
            external_id: u.external_id.clone(),
        }
    }
}

// ---------------------------------------------------------------------------
// Applications, out-of-band codes and the application dialects' state.
// ---------------------------------------------------------------------------

/// A registered application (a caller of the application dialects). Its
/// API key is `<key_id>.<secret>`; only a SHA-256 of the secret is kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Application {
    /// Store-assigned id.
    pub id: i64,
    /// Canonical (lower-case) name; Single Connect's `applicationname`
    /// and Capillary's `brand`.
    pub name: String,
    /// The public half of the key, used to find the application.
    pub key_id: String,
    /// Lower-case hex SHA-256 of the secret half.
    pub secret_hash: String,
    /// Creation time (unix seconds).
    pub created_at: i64,
}

/// What is needed to register an application.
#[derive(Debug, Clone)]
pub struct NewApplication {
    /// Canonical name (already normalised and validated).
    pub name: String,
    /// Public key id.
    pub key_id: String,
    /// Hex SHA-256 of the secret.
    pub secret_hash: String,
    /// Creation time.
    pub created_at: i64,
}

/// A user attribute an application may name a user by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContactField {
    /// The e-mail address (matched case-insensitively).
    Email,
    /// The phone number (matched on its digits only: `+`, spaces, dashes,
    /// dots and parentheses are ignored on both sides).
    Phone,
    /// The identifier in another system (matched exactly).
    ExternalId,
}

/// How an out-of-band code travels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Channel {
    /// E-mail to the user's address.
    Email,
    /// SMS to the user's phone.
    Sms,
}

impl Channel {
    /// The stable name (`email`, `sms`), as stored and printed.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Email => "email",
            Self::Sms => "sms",
        }
    }

    /// The channel of a stable name.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "email" => Some(Self::Email),
            "sms" => Some(Self::Sms),
            _ => None,
        }
    }
}

/// An out-of-band code to store: only its keyed hash.
#[derive(Debug, Clone)]
pub struct NewOobCode {
    /// Whose code.
    pub user_id: i64,
    /// What it is for (an application's check, or one MFA session); a new
    /// code for the same user and binding replaces the old one.
    pub binding: String,
    /// Lower-case hex HMAC-SHA256 of the code (see `service::oob`).
    pub code_hash: String,
    /// Creation time.
    pub created_at: i64,
    /// Expiry (unix seconds).
    pub expires_at: i64,
}

/// One attempt claimed on a live code: the code to compare against.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OobClaim {
    /// Store id of the code.
    pub id: i64,
    /// Its hash.
    pub code_hash: String,
    /// Attempts used, this one included.
    pub attempts: u32,
}

/// A Capillary-style MFA session: created by a password check, bound to
/// one user, application and device, used once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MfaSession {
    /// Hex SHA-256 of the session id handed to the client.
    pub id_hash: String,
    /// Whose session.
    pub user_id: i64,
    /// The application (brand) it was created for.
    pub app_id: i64,
    /// The device that created it.
    pub device_id: String,
    /// Creation time.
    pub created_at: i64,
    /// Expiry (unix seconds).
    pub expires_at: i64,
}

/// A Single Connect-style "OTP status was asked" record: otpvalid needs
/// one for the same user and application.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OtpStatusRecord {
    /// The user asked about.
    pub user_id: i64,
    /// The asking application.
    pub app_id: i64,
    /// The end user's IP as the application reported it (for the log).
    pub end_user_ip: Option<String>,
    /// Expiry (unix seconds).
    pub expires_at: i64,
}

/// A message kept by the outbox notifier (a spool for development and
/// tests: it carries the code, as an e-mail would).
#[derive(Debug, Clone)]
pub struct NewOutboxMessage {
    /// The recipient user.
    pub user_id: i64,
    /// E-mail or SMS.
    pub channel: Channel,
    /// Address or phone number.
    pub to: String,
    /// The code, as the message carries it.
    pub code: crate::secret::SecretString,
    /// Creation time.
    pub created_at: i64,
    /// When the code expires (the message is deleted then).
    pub expires_at: i64,
}

/// A stored outbox message.
#[derive(Debug, Clone)]
pub struct OutboxMessage {
    /// Store id (ordering).
    pub id: i64,
    /// Recipient's username.
    pub username: String,
    /// E-mail or SMS.
    pub channel: Channel,
    /// Address or phone number.
    pub to: String,
    /// The code.
    pub code: crate::secret::SecretString,
    /// Creation time.
    pub created_at: i64,
    /// Expiry.
    pub expires_at: i64,
}

/// A legacy challenge handed out by the legacy login: the SHA-256 of the
/// token the client will compute, bound to the user and the nonce.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LegacyNonce {
    /// Hex SHA-256 of the expected token (never the token itself).
    pub token_hash: String,
    /// The nonce sent in `WWW-Authenticate: Digest <nonce>`.
    pub nonce: String,
    /// Whose password computed the token.
    pub user_id: i64,
    /// When it was issued (at least the user's cut-off at that moment).
    pub issued_at: i64,
    /// First use must come before this (unix seconds).
    pub expires_at: i64,
}

/// A legacy credential in use: the redeemed form of a [`LegacyNonce`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LegacyGrant {
    /// Hex SHA-256 of the token.
    pub token_hash: String,
    /// Its user.
    pub user_id: i64,
    /// Issue time: the nonce's; compared with the user's cut-off.
    pub issued_at: i64,
    /// Refused from this unix second on.
    pub expires_at: i64,
}

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
    pub user_id: i64,
    /// The user's revocation cut-off.
    pub tokens_valid_after: i64,
    /// Whether 2FA is on now.
    pub two_factor: bool,
    /// The user's override of `two_factor.required`.
    pub require_two_factor: Option<bool>,
}

/// The answer of [`crate::store::TokenStore::live_state`]: one batched read for
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

/// One authentication event as the audit log keeps it. Never holds a
/// password, code, token or secret: only who, from where, through what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditRecord {
    /// When, in unix milliseconds (server time).
    pub at_ms: i64,
    /// The event's stable name (`login_failed`, `otp_ok`, ...).
    pub event: String,
    /// The username as presented (canonical when known; `-` when none).
    pub username: String,
    /// The client IP, if known.
    pub ip: Option<String>,
    /// The client's `User-Agent`, bounded, if sent.
    pub user_agent: Option<String>,
    /// The dialect the event came through (`native`, `legacy`, `cli`, ...).
    pub dialect: String,
    /// The application, for application dialects' events.
    pub app: Option<String>,
}

/// Which audit records [`crate::store::AuditStore::audit_records`] returns.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditQuery {
    /// Only this username's records.
    pub username: Option<String>,
    /// Only records at or after this unix millisecond.
    pub since_ms: Option<i64>,
    /// At most this many records (the newest ones), oldest first.
    pub limit: u32,
}
