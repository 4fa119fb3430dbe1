//! Registered applications and the state the application dialects keep
//! for them (MFA sessions, Single Connect OTP statuses).

use super::ids::{AppId, UnixTime, UserId};

/// A registered application (a caller of the application dialects). Its
/// API key is `<key_id>.<secret>`; only a SHA-256 of the secret is kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Application {
    /// Store-assigned id.
    pub id: AppId,
    /// Canonical (lower-case) name; Single Connect's `applicationname`
    /// and Capillary's `brand`.
    pub name: String,
    /// The public half of the key, used to find the application.
    pub key_id: String,
    /// Lower-case hex SHA-256 of the secret half.
    pub secret_hash: String,
    /// Creation time (unix seconds).
    pub created_at: UnixTime,
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
    pub created_at: UnixTime,
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

/// A Capillary-style MFA session: created by a password check, bound to
/// one user, application and device, used once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MfaSession {
    /// Hex SHA-256 of the session id handed to the client.
    pub id_hash: String,
    /// Whose session.
    pub user_id: UserId,
    /// The application (brand) it was created for.
    pub app_id: AppId,
    /// The device that created it.
    pub device_id: String,
    /// Creation time.
    pub created_at: UnixTime,
    /// Expiry (unix seconds).
    pub expires_at: UnixTime,
}

/// A Single Connect-style "OTP status was asked" record: otpvalid needs
/// one for the same user and application.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OtpStatusRecord {
    /// The user asked about.
    pub user_id: UserId,
    /// The asking application.
    pub app_id: AppId,
    /// The end user's IP as the application reported it (for the log).
    pub end_user_ip: Option<String>,
    /// Expiry (unix seconds).
    pub expires_at: UnixTime,
}
