//! The one error type of the core, and the store's error.
//!
//! Each variant is a domain outcome a dialect maps to its own response
//! shape; the HTTP layer turns them into the JSON envelope of API.md.
//! Variants carry no secret: only what the client may be told, plus a
//! detail for the log where useful.

use thiserror::Error;

/// Why a presented token was refused (all of them are 401s).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenProblem {
    /// No token was presented.
    Missing,
    /// Not a well-formed HS256 JWT of ours, or a bad signature.
    Invalid,
    /// Past its `exp`.
    Expired,
    /// Logged out, or issued before the user's revocation cut-off, or the
    /// user no longer exists.
    Revoked,
}

/// A failure of a storage backend (cloned when one failure answers
/// several callers, as a grouped write or read does).
#[derive(Debug, Clone, Error)]
pub enum StoreError {
    /// The database cannot be reached or timed out; worth retrying.
    #[error("store unavailable: {0}")]
    Unavailable(String),
    /// A uniqueness rule was violated (e.g. the username exists).
    #[error("conflict: {0}")]
    Conflict(String),
    /// Anything else the backend reported.
    #[error("store error: {0}")]
    Other(String),
}

/// Every outcome of a use case that is not a success.
#[derive(Debug, Error)]
pub enum AuthError {
    /// The request is malformed (missing field, bad value).
    #[error("invalid request: {0}")]
    InvalidRequest(String),
    /// Wrong username or password at login.
    #[error("incorrect username or password")]
    InvalidCredentials,
    /// The token was refused.
    #[error("token refused: {0:?}")]
    Token(TokenProblem),
    /// A pre-OTP token on a route that needs a verified one.
    #[error("OTP verification required")]
    OtpVerificationRequired,
    /// A set-up token (the user must enrol 2FA first, API.md §11) on a
    /// route other than the enrolment routes.
    #[error("2FA set-up required")]
    TwoFactorSetupRequired,
    /// 2FA cannot be turned off: the policy requires it for this user.
    #[error("2FA is required by policy")]
    TwoFactorRequiredByPolicy,
    /// A token minted for an application (`aud`) on a route or transport
    /// that accepts only a person's token.
    #[error("the token belongs to an application")]
    TokenAudienceMismatch,
    /// A persistent-token route without an audience (API.md §10).
    #[error("missing audience")]
    MissingAudience,
    /// A persistent-token route with an audience that is not one of
    /// `phone-island`, `mobile-app`, `nethlink` (API.md §10).
    #[error("invalid audience")]
    InvalidAudience,
    /// A username that is refused by the rules of [`crate::username`]
    /// (control, format or white-space characters, confusable scripts).
    #[error("invalid username: {0}")]
    InvalidUsername(String),
    /// The body's username is not the token's subject.
    #[error("username does not match the token")]
    UsernameMismatch,
    /// Wrong, reused or malformed OTP / recovery code.
    #[error("invalid OTP")]
    InvalidOtp,
    /// verify-otp with neither an enabled nor a pending secret.
    #[error("user secret not found")]
    SecretNotFound,
    /// The secret of an enabled 2FA is never shown again.
    #[error("2FA is already enabled")]
    TwoFactorAlreadyEnabled,
    /// The operation needs 2FA on.
    #[error("2FA is not enabled")]
    TwoFactorNotEnabled,
    /// Wrong password on a re-authentication (recovery codes, disable).
    #[error("invalid password")]
    InvalidPassword,
    /// Locked out or throttled; retry after that many seconds.
    #[error("too many attempts, retry in {retry_after_secs} s")]
    Throttled {
        /// Seconds until an attempt is considered again.
        retry_after_secs: i64,
    },
    /// The named user does not exist (CLI).
    #[error("user not found")]
    UserNotFound,
    /// The user exists already (CLI).
    #[error("user already exists")]
    UserExists,
    /// Too many password hashes queued; shed instead of queueing forever.
    #[error("server busy, retry in {retry_after_secs} s")]
    Busy {
        /// Seconds to wait before retrying.
        retry_after_secs: i64,
    },
    /// A JWT-only endpoint was called with an API key.
    #[error("API keys are not supported for this endpoint")]
    ApiKeyNotAccepted,
    /// An application endpoint was called without `X-API-Key`.
    #[error("missing API key")]
    MissingApiKey,
    /// The API key is malformed, unknown or revoked.
    #[error("invalid API key")]
    InvalidApiKey,
    /// The application named in the request is not the caller's (or, for
    /// a call without a key, not a registered application).
    #[error("application does not match the API key")]
    ApplicationMismatch,
    /// The named application does not exist (CLI).
    #[error("application not found")]
    ApplicationNotFound,
    /// The application exists already (CLI).
    #[error("application already exists")]
    ApplicationExists,
    /// The user has no address for the channel an out-of-band code needs.
    #[error("no e-mail address or phone number to send a code to")]
    NoDeliveryChannel,
    /// The notifier could not deliver a code; nothing usable was kept.
    #[error("the code could not be delivered: {0}")]
    DeliveryFailed(String),
    /// An MFA session is unknown, expired, used, or presented from another
    /// device, application or user.
    #[error("invalid or expired MFA session")]
    InvalidSession,
    /// An application checked a code without asking the OTP status first
    /// (within its validity).
    #[error("OTP status was not requested for this user and application")]
    OtpStatusRequired,
    /// The legacy challenge login is past its sunset (or turned off).
    #[error("the legacy login method is no longer available")]
    LegacyDisabled,
    /// A user with 2FA on tried the legacy login, which has no OTP step.
    #[error("users with 2FA must log in with the JWT method")]
    TwoFactorRequiresJwt,
    /// The password backend (the CTI server, the LDAP directory) could not
    /// check the password:
    /// unreachable, timed out, or answered 5xx or nonsense. Never counted
    /// as a wrong password. The detail goes to the log only.
    #[error("password backend unavailable: {0}")]
    UpstreamUnavailable(String),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A bug or an impossible state; the detail goes to the log only.
    #[error("internal error: {0}")]
    Internal(String),
}

impl AuthError {
    /// An [`AuthError::InvalidRequest`] with that detail.
    pub fn invalid(detail: impl Into<String>) -> Self {
        Self::InvalidRequest(detail.into())
    }
}
