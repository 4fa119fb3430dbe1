//! The one error type of the HTTP layer and its JSON envelope.
//!
//! `{"code": <status>, "message": "<stable snake_case>", "error": "<detail>"}`
//! with `code` always equal to the HTTP status. The client gets a stable
//! message; internal details go to the log only.

use std::marker::PhantomData;

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use otpgate_core::error::TokenProblem;
use otpgate_core::{AuthError, StoreError};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// A marker a response carries when a store failure produced it (set by
/// the error types, counted by the metrics layer).
#[derive(Debug, Clone, Copy)]
pub struct StoreFailure;

/// An error answered to an HTTP client.
#[derive(Debug)]
pub enum AppError {
    /// A use case refused.
    Auth(AuthError),
    /// Body over the limit.
    PayloadTooLarge(usize),
    /// A content type the endpoint does not take.
    UnsupportedMediaType(String),
    /// The body could not be parsed.
    BadBody(String),
    /// No such route.
    NotFound,
    /// Route exists, method does not.
    MethodNotAllowed,
    /// The global per-IP rate limit.
    RateLimited {
        /// Seconds until a request is accepted again.
        retry_after_secs: u64,
    },
    /// A path otpgate will not forward: a dot segment or an encoded `/`
    /// or `\` (it could resolve outside what the prefix exposes).
    InvalidPath,
    /// The upstream application could not be reached (reverse proxy).
    BadGateway,
    /// The upstream application did not answer in time (reverse proxy).
    GatewayTimeout,
    /// `nethcti` mode: the CTI server could not be reached (forwarding).
    CtiUnavailable,
    /// `nethcti` mode: no CTI session for the user, or the CTI server
    /// refused it (forwarding): log in again.
    UpstreamSessionExpired,
    /// Capillary: an `identifierType` it does not know.
    InvalidIdentifierType,
    /// A pre-OTP token on a route that needs a verified one; holds the
    /// configured API prefix, so the hint names the real verify path.
    OtpVerificationRequired {
        /// `api_prefix` without its trailing `/`.
        prefix: String,
    },
}

impl From<AuthError> for AppError {
    fn from(e: AuthError) -> Self {
        Self::Auth(e)
    }
}

/// Status, stable message, human detail, and an optional Retry-After.
pub struct Parts {
    /// HTTP status.
    pub status: StatusCode,
    /// Stable snake_case message.
    pub message: &'static str,
    /// Human-readable detail.
    pub detail: String,
    /// Retry-After seconds, for 429 and 503.
    pub retry_after: Option<u64>,
}

fn parts(status: StatusCode, message: &'static str, detail: impl Into<String>) -> Parts {
    Parts {
        status,
        message,
        detail: detail.into(),
        retry_after: None,
    }
}

impl AppError {
    /// The response parts of this error (shared by dialects that shape
    /// their errors differently).
    pub fn parts(&self) -> Parts {
        use StatusCode as S;
        match self {
            Self::Auth(e) => match e {
                AuthError::InvalidRequest(d) => parts(S::BAD_REQUEST, "invalid_request", d.clone()),
                AuthError::InvalidCredentials => parts(
                    S::UNAUTHORIZED,
                    "invalid_credentials",
                    "incorrect username or password",
                ),
                AuthError::Token(TokenProblem::Missing) => parts(
                    S::UNAUTHORIZED,
                    "missing_token",
                    "send the token as Authorization: Bearer <token>",
                ),
                AuthError::Token(TokenProblem::Invalid) => parts(
                    S::UNAUTHORIZED,
                    "invalid_token",
                    "the token is malformed or its signature is invalid",
                ),
                AuthError::Token(TokenProblem::Expired) => parts(
                    S::UNAUTHORIZED,
                    "token_expired",
                    "the token has expired; log in again",
                ),
                AuthError::Token(TokenProblem::Revoked) => parts(
                    S::UNAUTHORIZED,
                    "token_revoked",
                    "the token has been revoked; log in again",
                ),
                AuthError::OtpVerificationRequired => parts(
                    S::FORBIDDEN,
                    "otp_verification_required",
                    "verify an OTP with POST /2fa/verify-otp first",
                ),
                AuthError::TwoFactorSetupRequired => parts(
                    S::FORBIDDEN,
                    "2fa_setup_required",
                    "2FA is required: enrol with GET /2fa/qr-code and POST /2fa/verify-otp first",
                ),
                AuthError::TwoFactorRequiredByPolicy => parts(
                    S::FORBIDDEN,
                    "2fa_required_by_policy",
                    "2FA is required for this user and cannot be turned off",
                ),
                AuthError::TokenAudienceMismatch => parts(
                    S::FORBIDDEN,
                    "token_audience_mismatch",
                    "this token belongs to an application; log in with POST /api/login",
                ),
                AuthError::MissingAudience => parts(
                    S::BAD_REQUEST,
                    "missing audience",
                    "name the audience: phone-island, mobile-app or nethlink",
                ),
                AuthError::InvalidAudience => parts(
                    S::BAD_REQUEST,
                    "invalid audience",
                    "the audience must be phone-island, mobile-app or nethlink",
                ),
                AuthError::InvalidUsername(d) => {
                    parts(S::BAD_REQUEST, "invalid_username", d.clone())
                }
                AuthError::UsernameMismatch => parts(
                    S::FORBIDDEN,
                    "username_mismatch",
                    "username does not match the token",
                ),
                AuthError::InvalidOtp => parts(
                    S::BAD_REQUEST,
                    "invalid_otp",
                    "the code is wrong, already used or malformed",
                ),
                AuthError::SecretNotFound => parts(
                    S::NOT_FOUND,
                    "user_secret_not_found",
                    "no 2FA secret: call GET /2fa/qr-code to enrol",
                ),
                AuthError::TwoFactorAlreadyEnabled => parts(
                    S::CONFLICT,
                    "2fa_already_enabled",
                    "2FA is on; the secret is never shown again (disable and enrol again)",
                ),
                AuthError::TwoFactorNotEnabled => {
                    parts(S::CONFLICT, "2fa_not_enabled", "2FA is not enabled")
                }
                AuthError::InvalidPassword => {
                    parts(S::UNAUTHORIZED, "invalid_password", "the password is wrong")
                }
                AuthError::Throttled { retry_after_secs } => Parts {
                    retry_after: Some(u64::try_from(*retry_after_secs).unwrap_or(1).max(1)),
                    ..parts(
                        S::TOO_MANY_REQUESTS,
                        "too_many_attempts",
                        "too many failed attempts; retry later",
                    )
                },
                AuthError::UserNotFound => parts(S::NOT_FOUND, "user_not_found", "no such user"),
                AuthError::UserExists => {
                    parts(S::CONFLICT, "user_exists", "the user already exists")
                }
                AuthError::Busy { retry_after_secs } => Parts {
                    retry_after: Some(u64::try_from(*retry_after_secs).unwrap_or(1).max(1)),
                    ..parts(
                        S::SERVICE_UNAVAILABLE,
                        "server_busy",
                        "too many logins in progress; retry shortly",
                    )
                },
                AuthError::ApiKeyNotAccepted => parts(
                    S::FORBIDDEN,
                    "api_key_not_supported",
                    "API keys are not supported for this endpoint",
                ),
                AuthError::MissingApiKey => parts(
                    S::UNAUTHORIZED,
                    "missing_api_key",
                    "send the application's API key as X-API-Key",
                ),
                AuthError::InvalidApiKey => parts(
                    S::UNAUTHORIZED,
                    "invalid_api_key",
                    "the API key is malformed, unknown or revoked",
                ),
                AuthError::ApplicationMismatch => parts(
                    S::FORBIDDEN,
                    "application_mismatch",
                    "the application named in the request is not the API key's",
                ),
                AuthError::ApplicationNotFound => {
                    parts(S::NOT_FOUND, "application_not_found", "no such application")
                }
                AuthError::ApplicationExists => parts(
                    S::CONFLICT,
                    "application_exists",
                    "the application already exists",
                ),
                AuthError::NoDeliveryChannel => parts(
                    S::CONFLICT,
                    "no_delivery_channel",
                    "the user has no e-mail address or phone number to send a code to",
                ),
                AuthError::DeliveryFailed(_) => parts(
                    S::BAD_GATEWAY,
                    "delivery_failed",
                    "the code could not be delivered; try again later",
                ),
                AuthError::InvalidSession => parts(
                    S::UNAUTHORIZED,
                    "invalid_session",
                    "the MFA session is unknown, expired, already used, or from another device",
                ),
                AuthError::OtpStatusRequired => parts(
                    S::FORBIDDEN,
                    "otp_status_required",
                    "ask otpstatus for this user and application first (valid 5 minutes)",
                ),
                AuthError::LegacyDisabled => parts(
                    S::GONE,
                    "legacy_login_disabled",
                    "the legacy login method has reached its sunset; use POST /api/login and Bearer tokens",
                ),
                AuthError::TwoFactorRequiresJwt => parts(
                    S::FORBIDDEN,
                    "2fa_requires_jwt_login",
                    "this user has (or must set up) 2FA: log in with POST /api/login and verify an OTP",
                ),
                AuthError::UpstreamUnavailable(_) => Parts {
                    retry_after: Some(5),
                    ..parts(
                        S::SERVICE_UNAVAILABLE,
                        "upstream_unavailable",
                        "the password authority (the CTI server or the LDAP directory) could not check the password; retry shortly",
                    )
                },
                AuthError::Store(StoreError::Unavailable(_)) => Parts {
                    retry_after: Some(1),
                    ..parts(
                        S::SERVICE_UNAVAILABLE,
                        "store_unavailable",
                        "the database is unavailable; retry shortly",
                    )
                },
                AuthError::Store(_) | AuthError::Internal(_) => {
                    parts(S::INTERNAL_SERVER_ERROR, "internal_error", "internal error")
                }
            },
            Self::PayloadTooLarge(limit) => parts(
                S::PAYLOAD_TOO_LARGE,
                "payload_too_large",
                format!("request bodies are limited to {limit} bytes"),
            ),
            Self::UnsupportedMediaType(ct) => parts(
                S::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                format!("content type {ct:?} is not accepted; send JSON"),
            ),
            Self::BadBody(d) => parts(S::BAD_REQUEST, "invalid_request", d.clone()),
            Self::NotFound => parts(S::NOT_FOUND, "not_found", "no such route"),
            Self::InvalidIdentifierType => parts(
                S::BAD_REQUEST,
                "invalid_identifier_type",
                "identifierType is MOBILE, EMAIL, USERNAME or EXTERNALID",
            ),
            Self::MethodNotAllowed => parts(
                S::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                "method not allowed on this route",
            ),
            Self::RateLimited { retry_after_secs } => Parts {
                retry_after: Some((*retry_after_secs).max(1)),
                ..parts(
                    S::TOO_MANY_REQUESTS,
                    "too_many_requests",
                    "request rate limit exceeded",
                )
            },
            Self::InvalidPath => parts(
                S::BAD_REQUEST,
                "invalid_path",
                "the path has a dot segment or an encoded slash or backslash; it is not forwarded",
            ),
            Self::OtpVerificationRequired { prefix } => parts(
                S::FORBIDDEN,
                "otp_verification_required",
                format!("verify an OTP with POST {prefix}/2fa/verify-otp first"),
            ),
            Self::BadGateway => parts(
                S::BAD_GATEWAY,
                "upstream_unavailable",
                "the application behind otpgate could not be reached",
            ),
            Self::CtiUnavailable => Parts {
                retry_after: Some(5),
                ..parts(
                    S::SERVICE_UNAVAILABLE,
                    "upstream_unavailable",
                    "the CTI server could not be reached; retry shortly",
                )
            },
            Self::UpstreamSessionExpired => parts(
                S::UNAUTHORIZED,
                "upstream_session_expired",
                "the CTI server's session has ended; log in again",
            ),
            Self::GatewayTimeout => parts(
                S::GATEWAY_TIMEOUT,
                "upstream_timeout",
                "the application behind otpgate did not answer in time",
            ),
        }
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        respond::<Native>(self)
    }
}

/// How one dialect answers an error: the status, headers and body it
/// makes of an [`AppError`] and its [`Parts`]. The rest (logging an
/// internal cause, the store-failure mark, `Retry-After`) is the same for
/// every dialect and done once, by [`respond`].
pub trait ErrorShape {
    /// The answer to `err`, whose parts are `p`.
    fn answer(err: &AppError, p: Parts) -> Response;
}

/// `err` answered in the shape `S`: logged when internal, marked when a
/// store failure caused it, with `Retry-After` when there is a wait.
pub fn respond<S: ErrorShape>(err: AppError) -> Response {
    err.log_if_internal();
    let p = err.parts();
    let retry_after = p.retry_after;
    let mut resp = S::answer(&err, p);
    err.mark(&mut resp);
    set_retry_after(&mut resp, retry_after);
    resp
}

/// An error of a handler of the dialect whose shape is `S`.
pub struct DialectError<S>(pub AppError, PhantomData<fn() -> S>);

impl<S> std::fmt::Debug for DialectError<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("DialectError").field(&self.0).finish()
    }
}

impl<S, E: Into<AppError>> From<E> for DialectError<S> {
    fn from(e: E) -> Self {
        Self(e.into(), PhantomData)
    }
}

impl<S: ErrorShape> IntoResponse for DialectError<S> {
    fn into_response(self) -> Response {
        respond::<S>(self.0)
    }
}

/// The native envelope: `code` always equals the HTTP status.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ErrorEnvelope {
    /// The HTTP status.
    pub code: u16,
    /// Human detail.
    pub error: String,
    /// A stable snake_case reason (e.g. `invalid_otp`).
    pub message: String,
}

/// The native shape ([`ErrorEnvelope`]); a 401 about the bearer token or
/// the login also carries `WWW-Authenticate: Bearer`.
#[derive(Debug)]
pub struct Native;

impl ErrorShape for Native {
    fn answer(err: &AppError, p: Parts) -> Response {
        let body = ErrorEnvelope {
            code: p.status.as_u16(),
            error: p.detail,
            message: p.message.to_owned(),
        };
        let mut resp = (p.status, Json(body)).into_response();
        if p.status == StatusCode::UNAUTHORIZED && err.is_bearer_problem() {
            resp.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"otpgate\""),
            );
        }
        resp
    }
}

impl AppError {
    /// Whether a store failure caused this error.
    pub fn is_store_failure(&self) -> bool {
        matches!(self, Self::Auth(AuthError::Store(_)))
    }

    /// Marks `resp` as produced by a store failure (counted by `/metrics`)
    /// when it was.
    pub fn mark(&self, resp: &mut Response) {
        if self.is_store_failure() {
            resp.extensions_mut().insert(StoreFailure);
        }
    }

    /// Logs the detail of a store failure or internal error (the client
    /// gets only the stable message); for dialects with their own shape.
    pub fn log_if_internal(&self) {
        match self {
            Self::Auth(AuthError::Store(e)) => tracing::error!(error = %e, "store failure"),
            Self::Auth(AuthError::Internal(e)) => tracing::error!(error = %e, "internal error"),
            _ => {}
        }
    }

    /// Whether a 401 is about the bearer token or the login (answered with
    /// `WWW-Authenticate: Bearer`), rather than an API key or MFA session.
    fn is_bearer_problem(&self) -> bool {
        !matches!(
            self,
            Self::Auth(
                AuthError::MissingApiKey | AuthError::InvalidApiKey | AuthError::InvalidSession
            )
        )
    }
}

/// Result of a handler.
pub type AppResult<T> = Result<T, AppError>;

/// Adds `Retry-After: <secs>` when there is a wait to announce (every
/// error shape, the native envelope and the dialects', uses this).
pub fn set_retry_after(resp: &mut Response, secs: Option<u64>) {
    if let Some(secs) = secs {
        resp.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(secs));
    }
}
