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
#[derive(Debug, Clone)]
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
    /// Argon2id PHC string.
    pub password_hash: String,
    /// Revocation cut-off at creation (the creation time).
    pub tokens_valid_after: i64,
    /// Creation time.
    pub created_at: i64,
}

/// What a token check needs from the store, in one read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TokenState {
    /// The user's id.
    pub user_id: i64,
    /// The user's revocation cut-off (unix seconds).
    pub tokens_valid_after: i64,
    /// Whether this token's `jti` was revoked (logout).
    pub jti_revoked: bool,
    /// Whether 2FA is on now.
    pub two_factor: bool,
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
}

impl ThrottleKind {
    /// The stable name stored in the database.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Otp => "otp",
            Self::LoginUser => "login_user",
            Self::LoginIp => "login_ip",
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
}

impl From<&User> for Profile {
    fn from(u: &User) -> Self {
        Self {
            username: u.username.clone(),
            display_name: u.display_name.clone(),
            email: u.email.clone(),
            phone: u.phone.clone(),
            two_factor: u.totp.is_enabled(),
        }
    }
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

/// One user's state as the live-session watcher needs it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UserLiveState {
    /// The user's id.
    pub user_id: i64,
    /// The user's revocation cut-off.
    pub tokens_valid_after: i64,
    /// Whether 2FA is on now.
    pub two_factor: bool,
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
