//! The Mudbase-style enrolment check (API.md §5, seed 001):
//! `POST {api_prefix}/users/2fa/verify` with a JWT and `{"token":"123456"}`
//! confirms the pending TOTP secret and turns 2FA on.
//!
//! Translation only: the token check is the native one (an API key is
//! refused with 403), the code check is the core's
//! [`otpgate_core::AuthService::confirm_enrolment`]. Mudbase answers
//! `{"message": "..."}`, so its errors put the human text in `message`:
//! `{"code": 403, "message": "API keys are not supported for this
//! endpoint", "error": "api_key_not_supported"}`.

use axum::Json;
use axum::extract::{FromRequest, FromRequestParts, Request, State};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use otpgate_core::AuthError;
use otpgate_core::model::Authenticated;
use otpgate_core::secret::SecretString;
use otpgate_core::service::{Access, Dialect};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::dialect::Glue;
use crate::error::{self, AppError, DialectError, ErrorShape};
use crate::extract::{CallerInfo, body_kind, decode_body, principal, read_body, string_or_number};
use crate::openapi::{E400, E401, E403, E409, E413, E415, E429, EDEFAULT, StringOrNumber};
use crate::routes::mount::Mount;
use crate::state::AppState;

/// The route, below the API prefix `p`.
pub fn router(state: &AppState, p: &str) -> OpenApiRouter<AppState> {
    Mount::new(state, p, Glue::new::<Mudbase>(Dialect::Mudbase))
        .routes(routes!(verify))
        .finish()
}

/// Mudbase's error body: the human text in `message`.
#[derive(Debug, Serialize, ToSchema)]
pub struct MudbaseErrorBody {
    /// The HTTP status.
    code: u16,
    /// A stable snake_case reason.
    error: &'static str,
    /// Human detail.
    message: String,
}

/// Mudbase's error shape.
#[derive(Debug)]
pub struct Mudbase;

impl ErrorShape for Mudbase {
    fn answer(err: &AppError, mut p: error::Parts) -> Response {
        // Nothing to verify is a bad request here (API.md §5 knows 400).
        if matches!(err, AppError::Auth(AuthError::SecretNotFound)) {
            p.status = StatusCode::BAD_REQUEST;
            p.detail = "no pending 2FA secret: call GET /2fa/qr-code first".into();
        }
        let body = MudbaseErrorBody {
            code: p.status.as_u16(),
            error: p.message,
            message: p.detail,
        };
        (p.status, Json(body)).into_response()
    }
}

/// An error in Mudbase's shape.
pub type MudbaseError = DialectError<Mudbase>;

/// A caller with a verified JWT (and no API key), or Mudbase's error.
#[derive(Debug)]
pub struct MudbaseJwt(pub Authenticated);

impl FromRequestParts<AppState> for MudbaseJwt {
    type Rejection = MudbaseError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        Ok(Self(principal(parts, state, Access::Verified).await?))
    }
}

/// A JSON (or form) body, or Mudbase's error.
#[derive(Debug)]
pub struct MudbaseBody<T>(pub T);

impl<T: DeserializeOwned> FromRequest<AppState> for MudbaseBody<T> {
    type Rejection = MudbaseError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        let kind = body_kind(req.headers())?;
        let bytes = read_body(req, state).await?;
        Ok(Self(decode_body(kind, &bytes)?))
    }
}

/// `POST /users/2fa/verify` body.
#[derive(Debug, Deserialize, ToSchema)]
#[schema(as = MudbaseVerifyBody)]
pub struct VerifyBody {
    /// The TOTP.
    #[serde(deserialize_with = "string_or_number")]
    #[schema(value_type = StringOrNumber)]
    token: String,
}

/// Mudbase success.
#[derive(Debug, Serialize, ToSchema)]
pub struct MudbaseResponse {
    message: &'static str,
}

/// `POST /users/2fa/verify`: 200 `{"message":"2FA enabled successfully"}`.
#[utoipa::path(post, path = "/users/2fa/verify", tag = "mudbase",
    summary = "Mudbase: confirm the pending TOTP secret and enable 2FA",
    security(("bearerAuth" = [])),
    request_body(content = VerifyBody, content_type = "application/json"),
    responses(
        (status = 200, description = "2FA enabled", body = MudbaseResponse),
        (status = 400, description = E400, body = MudbaseErrorBody),
        (status = 401, description = E401, body = MudbaseErrorBody),
        (status = 403, description = E403, body = MudbaseErrorBody),
        (status = 409, description = E409, body = MudbaseErrorBody),
        (status = 413, description = E413, body = MudbaseErrorBody),
        (status = 415, description = E415, body = MudbaseErrorBody),
        (status = 429, description = E429, body = MudbaseErrorBody, headers(("Retry-After" = String, description = "Seconds to wait"))),
        (status = "default", description = EDEFAULT, body = MudbaseErrorBody),
    ))]
pub async fn verify(
    State(s): State<AppState>,
    CallerInfo(caller): CallerInfo,
    MudbaseJwt(who): MudbaseJwt,
    MudbaseBody(b): MudbaseBody<VerifyBody>,
) -> Result<Json<MudbaseResponse>, MudbaseError> {
    s.auth
        .confirm_enrolment(&who, &SecretString::new(b.token), &caller)
        .await?;
    Ok(Json(MudbaseResponse {
        message: "2FA enabled successfully",
    }))
}
