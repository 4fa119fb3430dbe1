//! Persistent tokens for integrations (API.md §10): the native
//! `/tokens/persistent/{audience}` routes and the legacy-compatible
//! `/authentication/*` ones the CTI clients still call. Each handler
//! checks the token (a verified one only), parses the audience, and calls
//! one core method ([`otpgate_core::service::persistent`]).
//!
//! The native routes answer errors in the native envelope (its `message`
//! is API.md's: `missing audience`, `invalid audience`); the
//! legacy-compatible ones answer `{"message": ...}` only, as the original
//! did, through [`MessageOnly`].

use axum::Json;
use axum::extract::rejection::PathRejection;
use axum::extract::{FromRequest, FromRequestParts, Path, Request, State};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use otpgate_core::AuthError;
use otpgate_core::model::Principal;
use otpgate_core::service::Access;
use otpgate_core::service::persistent::Audience;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::error::{AppError, AppResult, set_retry_after};
use crate::extract::{CallerInfo, Verified, body_kind, decode_body, principal, read_body};
use crate::state::AppState;

/// The native routes' path, below the API prefix.
pub const PATH: &str = "/tokens/persistent";
/// The legacy-compatible routes' folder, below the API prefix.
pub const LEGACY: &str = "/authentication";

/// The audience of a path, or the error API.md names (a segment that is
/// not text is an invalid audience).
fn audience_of(path: Result<Path<String>, PathRejection>) -> Result<Audience, AuthError> {
    match path {
        Ok(Path(raw)) => Audience::parse(&raw),
        Err(_) => Err(AuthError::InvalidAudience),
    }
}

/// `POST /tokens/persistent/{audience}`: a new token (the old one, if
/// any, revoked).
pub async fn mint(
    State(s): State<AppState>,
    CallerInfo(caller): CallerInfo,
    Verified(who): Verified,
    path: Result<Path<String>, PathRejection>,
) -> AppResult<Json<Value>> {
    let audience = audience_of(path)?;
    let t = s.auth.mint_persistent(&who, audience, &caller).await?;
    Ok(Json(json!({"token": t.token})))
}

/// `GET /tokens/persistent/{audience}`: whether a live one exists.
pub async fn check(
    State(s): State<AppState>,
    Verified(who): Verified,
    path: Result<Path<String>, PathRejection>,
) -> AppResult<Json<Value>> {
    let audience = audience_of(path)?;
    let exists = s.auth.persistent_exists(&who, audience).await?;
    Ok(Json(json!({"exists": exists})))
}

/// `DELETE /tokens/persistent/{audience}`: revokes it; 204 either way.
pub async fn remove(
    State(s): State<AppState>,
    CallerInfo(caller): CallerInfo,
    Verified(who): Verified,
    path: Result<Path<String>, PathRejection>,
) -> AppResult<StatusCode> {
    let audience = audience_of(path)?;
    s.auth.remove_persistent(&who, audience, &caller).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// An error of the legacy-compatible routes: `{"message": ...}` only.
#[derive(Debug)]
pub struct MessageOnly(pub AppError);

impl<E: Into<AppError>> From<E> for MessageOnly {
    fn from(e: E) -> Self {
        Self(e.into())
    }
}

impl IntoResponse for MessageOnly {
    fn into_response(self) -> Response {
        self.0.log_if_internal();
        let p = self.0.parts();
        let mut resp = (p.status, Json(json!({"message": p.message}))).into_response();
        self.0.mark(&mut resp);
        set_retry_after(&mut resp, p.retry_after);
        resp
    }
}

/// A verified caller, or the legacy-compatible error.
#[derive(Debug)]
pub struct LegacyVerified(pub Principal);

impl FromRequestParts<AppState> for LegacyVerified {
    type Rejection = MessageOnly;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        Ok(Self(principal(parts, state, Access::Verified).await?))
    }
}

/// The legacy-compatible bodies: `subtype` (and `type`, which is read and
/// ignored). A missing or empty body is `{}`; a field of the wrong type
/// or a body that is not JSON is a 400.
#[derive(Debug, Default, Deserialize)]
pub struct SubtypeBody {
    subtype: Option<String>,
    /// Read (so a non-string is refused) and ignored.
    #[serde(rename = "type")]
    _kind: Option<String>,
}

/// A [`SubtypeBody`] (an empty body is an empty object), or the
/// legacy-compatible error.
#[derive(Debug)]
pub struct Subtype(pub Audience);

impl FromRequest<AppState> for Subtype {
    type Rejection = MessageOnly;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        let kind = body_kind(req.headers())?;
        let bytes = read_body(req, state).await?;
        let body: SubtypeBody = if bytes.iter().all(u8::is_ascii_whitespace) {
            SubtypeBody::default()
        } else {
            decode_body(kind, &bytes)?
        };
        Ok(Self(Audience::from_subtype(body.subtype.as_deref())))
    }
}

/// `POST /authentication/phone_island_token_login` `{"subtype"}`:
/// `nethlink` mints a NethLink token, anything else a phone-island one.
pub async fn legacy_login(
    State(s): State<AppState>,
    CallerInfo(caller): CallerInfo,
    LegacyVerified(who): LegacyVerified,
    Subtype(audience): Subtype,
) -> Result<Json<Value>, MessageOnly> {
    let t = s.auth.mint_persistent(&who, audience, &caller).await?;
    Ok(Json(json!({"token": t.token})))
}

/// `POST /authentication/persistent_token_remove` `{"type","subtype"}`:
/// 204.
pub async fn legacy_remove(
    State(s): State<AppState>,
    CallerInfo(caller): CallerInfo,
    LegacyVerified(who): LegacyVerified,
    Subtype(audience): Subtype,
) -> Result<StatusCode, MessageOnly> {
    s.auth.remove_persistent(&who, audience, &caller).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /authentication/phone_island_token_check/{subtype}` (and without
/// a subtype: phone-island): `{"exists": bool}`.
pub async fn legacy_check(
    State(s): State<AppState>,
    LegacyVerified(who): LegacyVerified,
    path: Result<Path<String>, PathRejection>,
) -> Result<Json<Value>, MessageOnly> {
    let subtype = path.ok().map(|Path(p)| p);
    let audience = Audience::from_subtype(subtype.as_deref());
    let exists = s.auth.persistent_exists(&who, audience).await?;
    Ok(Json(json!({"exists": exists})))
}

/// Whether `rest` (a path below the API prefix) is a legacy-compatible
/// route's: its framework errors (405, 413, ...) are `{"message"}` too.
pub fn is_legacy_compatible(rest: &str) -> bool {
    rest.strip_prefix(LEGACY).is_some_and(|r| {
        r.starts_with("/phone_island_token_login")
            || r.starts_with("/persistent_token_remove")
            || r.starts_with("/phone_island_token_check")
    })
}
