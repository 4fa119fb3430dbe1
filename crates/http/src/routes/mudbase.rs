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
use otpgate_core::model::Principal;
use otpgate_core::secret::SecretString;
use otpgate_core::service::Access;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use crate::error::AppError;
use crate::extract::{CallerInfo, body_kind, decode_body, principal, read_body, string_or_number};
use crate::state::AppState;

/// The route, under the native API's prefix.
pub const PATH: &str = "/users/2fa/verify";

/// An error in Mudbase's shape.
#[derive(Debug)]
pub struct MudbaseError(pub AppError);

impl<E: Into<AppError>> From<E> for MudbaseError {
    fn from(e: E) -> Self {
        Self(e.into())
    }
}

impl IntoResponse for MudbaseError {
    fn into_response(self) -> Response {
        let mut p = self.0.parts();
        // Nothing to verify is a bad request here (API.md §5 knows 400).
        if matches!(self.0, AppError::Auth(AuthError::SecretNotFound)) {
            p.status = StatusCode::BAD_REQUEST;
            p.detail = "no pending 2FA secret: call GET /2fa/qr-code first".into();
        }
        self.0.log_if_internal();
        let body = json!({
            "code": p.status.as_u16(),
            "message": p.detail,
            "error": p.message,
        });
        let mut resp = (p.status, Json(body)).into_response();
        self.0.mark(&mut resp);
        crate::error::set_retry_after(&mut resp, p.retry_after);
        resp
    }
}

/// A caller with a verified JWT (and no API key), or Mudbase's error.
#[derive(Debug)]
pub struct MudbaseJwt(pub Principal);

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
#[derive(Debug, Deserialize)]
pub struct VerifyBody {
    #[serde(deserialize_with = "string_or_number")]
    token: String,
}

/// `POST /users/2fa/verify`: 200 `{"message":"2FA enabled successfully"}`.
pub async fn verify(
    State(s): State<AppState>,
    CallerInfo(caller): CallerInfo,
    MudbaseJwt(who): MudbaseJwt,
    MudbaseBody(b): MudbaseBody<VerifyBody>,
) -> Result<Json<Value>, MudbaseError> {
    s.auth
        .confirm_enrolment(&who, &SecretString::new(b.token), &caller)
        .await?;
    Ok(Json(json!({"message": "2FA enabled successfully"})))
}
