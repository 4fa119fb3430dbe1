//! Users and what changes them: the stored record, its TOTP state, the
//! profile a user is shown as.

use super::ids::{UnixTime, UserId};

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
    pub id: UserId,
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
    pub tokens_valid_after: UnixTime,
    /// Creation time (unix seconds).
    pub created_at: UnixTime,
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
    pub tokens_valid_after: UnixTime,
    /// Creation time.
    pub created_at: UnixTime,
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
