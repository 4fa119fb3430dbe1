//! Persistent tokens for integrations (API.md §10): the native
//! `/tokens/persistent/{audience}` routes and the legacy-compatible
//! `/authentication/*` ones the CTI clients still call. Each handler
//! checks the token (a verified one only), parses the audience, and calls
//! one core method ([`otpgate_core::service::persistent`]).
//!
//! The native routes answer errors in the native envelope (its `message`
//! is API.md's: `missing audience`, `invalid audience`); the
//! legacy-compatible ones answer `{"message": ...}` only, as the original
//! did, through the [`MessageOnly`] shape; they are mounted as their own
//! router (same dialect for the audit, another error shape).

use axum::Json;
use axum::extract::rejection::PathRejection;
use axum::extract::{FromRequest, FromRequestParts, Path, Request, State};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use otpgate_core::AuthError;
use otpgate_core::model::{Authenticated, Principal};
use otpgate_core::service::Access;
use otpgate_core::service::Dialect;
use otpgate_core::service::persistent::Audience;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::dialect::Glue;
use crate::error::{AppError, AppResult, DialectError, ErrorEnvelope, ErrorShape};
use crate::extract::{CallerInfo, Verified, body_kind, decode_body, principal, read_body};
use crate::openapi::{E400, E401, E403, E413, E415, E429, EDEFAULT};
use crate::routes::mount::Mount;
use crate::state::AppState;

/// The native routes and the legacy-compatible ones (their own glue:
/// `{"message"}` errors), below the API prefix `p`.
pub fn router(state: &AppState, p: &str) -> OpenApiRouter<AppState> {
    let native = Mount::new(state, p, Glue::NATIVE)
        .routes(routes!(mint, check, remove))
        .finish();
    let legacy = Mount::new(state, p, Glue::new::<MessageOnly>(Dialect::Native))
        .routes(routes!(legacy_login))
        .routes(routes!(legacy_remove))
        .routes(routes!(legacy_check))
        .routes(routes!(legacy_check_default));
    // Without an upstream, other paths below these routes are 404s in
    // their shape too (with one, the fallback forwards them).
    let legacy = if state.upstream.is_none() {
        legacy.not_found_at(&[
            "/authentication/phone_island_token_login/",
            "/authentication/phone_island_token_login/{*rest}",
            "/authentication/persistent_token_remove/",
            "/authentication/persistent_token_remove/{*rest}",
            "/authentication/phone_island_token_check/",
            "/authentication/phone_island_token_check/{subtype}/",
            "/authentication/phone_island_token_check/{subtype}/{*rest}",
        ])
    } else {
        legacy
    };
    native.merge(legacy.finish())
}

/// A new persistent token (API.md §10).
#[derive(Debug, Serialize, ToSchema)]
pub struct PersistentTokenResponse {
    /// The JWT (`aud` = the audience).
    token: String,
}

/// Whether the caller holds a live persistent token for the audience.
#[derive(Debug, Serialize, ToSchema)]
pub struct ExistsResponse {
    exists: bool,
}

/// The error of the legacy-compatible routes: the stable reason only.
#[derive(Debug, Serialize, ToSchema)]
pub struct MessageError {
    /// A stable reason (e.g. `invalid_token`).
    message: &'static str,
}

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
#[utoipa::path(post, path = "/tokens/persistent/{audience}", tag = "persistent tokens",
    summary = "A persistent token for `audience` (phone-island, mobile-app, nethlink); the previous one is revoked. A verified token only. Errors: 400 `missing audience` / `invalid audience`",
    security(("bearerAuth" = [])),
    params(("audience" = String, Path)),
    responses(
        (status = 200, description = "The token", body = PersistentTokenResponse),
        (status = 400, description = E400, body = ErrorEnvelope),
        (status = 401, description = E401, body = ErrorEnvelope, headers(("WWW-Authenticate" = String))),
        (status = 403, description = E403, body = ErrorEnvelope),
        (status = 429, description = E429, body = ErrorEnvelope, headers(("Retry-After" = String, description = "Seconds to wait"))),
        (status = "default", description = EDEFAULT, body = ErrorEnvelope),
    ))]
pub async fn mint(
    State(s): State<AppState>,
    CallerInfo(caller): CallerInfo,
    Verified(who): Verified,
    path: Result<Path<String>, PathRejection>,
) -> AppResult<Json<PersistentTokenResponse>> {
    let audience = audience_of(path)?;
    let t = s.auth.mint_persistent(&who, audience, &caller).await?;
    Ok(Json(PersistentTokenResponse { token: t.token }))
}

/// `GET /tokens/persistent/{audience}`: whether a live one exists.
#[utoipa::path(get, path = "/tokens/persistent/{audience}", tag = "persistent tokens",
    summary = "Whether the caller holds a live persistent token for `audience`",
    security(("bearerAuth" = [])),
    params(("audience" = String, Path)),
    responses(
        (status = 200, description = "Whether it exists", body = ExistsResponse),
        (status = 400, description = E400, body = ErrorEnvelope),
        (status = 401, description = E401, body = ErrorEnvelope, headers(("WWW-Authenticate" = String))),
        (status = 403, description = E403, body = ErrorEnvelope),
        (status = 429, description = E429, body = ErrorEnvelope, headers(("Retry-After" = String, description = "Seconds to wait"))),
        (status = "default", description = EDEFAULT, body = ErrorEnvelope),
    ))]
pub async fn check(
    State(s): State<AppState>,
    Verified(who): Verified,
    path: Result<Path<String>, PathRejection>,
) -> AppResult<Json<ExistsResponse>> {
    let audience = audience_of(path)?;
    let exists = s.auth.persistent_exists(&who, audience).await?;
    Ok(Json(ExistsResponse { exists }))
}

/// `DELETE /tokens/persistent/{audience}`: revokes it; 204 either way.
#[utoipa::path(delete, path = "/tokens/persistent/{audience}", tag = "persistent tokens",
    summary = "Revoke the caller's persistent token for `audience` (204 also when there was none)",
    security(("bearerAuth" = [])),
    params(("audience" = String, Path)),
    responses(
        (status = 204, description = "Revoked"),
        (status = 400, description = E400, body = ErrorEnvelope),
        (status = 401, description = E401, body = ErrorEnvelope, headers(("WWW-Authenticate" = String))),
        (status = 403, description = E403, body = ErrorEnvelope),
        (status = 429, description = E429, body = ErrorEnvelope, headers(("Retry-After" = String, description = "Seconds to wait"))),
        (status = "default", description = EDEFAULT, body = ErrorEnvelope),
    ))]
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

/// The legacy-compatible routes' error shape: `{"message": ...}` only.
#[derive(Debug)]
pub struct MessageOnly;

impl ErrorShape for MessageOnly {
    fn answer(_: &AppError, p: crate::error::Parts) -> Response {
        (p.status, Json(MessageError { message: p.message })).into_response()
    }
}

/// An error of the legacy-compatible routes.
pub type MessageOnlyError = DialectError<MessageOnly>;

/// A verified caller, or the legacy-compatible error.
#[derive(Debug)]
pub struct LegacyVerified(pub Authenticated);

impl FromRequestParts<AppState> for LegacyVerified {
    type Rejection = MessageOnlyError;

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
#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct SubtypeBody {
    /// `nethlink` is NethLink; anything else (or nothing) phone-island.
    subtype: Option<String>,
    /// Read (so a non-string is refused) and ignored.
    #[serde(rename = "type")]
    #[schema(rename = "type")]
    _kind: Option<String>,
}

/// A [`SubtypeBody`] (an empty body is an empty object), or the
/// legacy-compatible error.
#[derive(Debug)]
pub struct Subtype(pub Audience);

impl FromRequest<AppState> for Subtype {
    type Rejection = MessageOnlyError;

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
#[utoipa::path(post, path = "/authentication/phone_island_token_login", tag = "persistent tokens",
    summary = "Legacy-compatible: a phone-island token (`subtype` `nethlink`: a NethLink token); errors are `{\"message\"}` only",
    security(("bearerAuth" = [])),
    request_body(content = SubtypeBody, content_type = "application/json"),
    responses(
        (status = 200, description = "The token", body = PersistentTokenResponse),
        (status = 400, description = E400, body = MessageError),
        (status = 401, description = E401, body = MessageError),
        (status = 403, description = E403, body = MessageError),
        (status = 413, description = E413, body = MessageError),
        (status = 415, description = E415, body = MessageError),
        (status = 429, description = E429, body = MessageError, headers(("Retry-After" = String, description = "Seconds to wait"))),
        (status = "default", description = EDEFAULT, body = MessageError),
    ))]
pub async fn legacy_login(
    State(s): State<AppState>,
    CallerInfo(caller): CallerInfo,
    LegacyVerified(who): LegacyVerified,
    Subtype(audience): Subtype,
) -> Result<Json<PersistentTokenResponse>, MessageOnlyError> {
    let t = s.auth.mint_persistent(&who, audience, &caller).await?;
    Ok(Json(PersistentTokenResponse { token: t.token }))
}

/// `POST /authentication/persistent_token_remove` `{"type","subtype"}`:
/// 204.
#[utoipa::path(post, path = "/authentication/persistent_token_remove", tag = "persistent tokens",
    summary = "Legacy-compatible: revoke the phone-island (`subtype` `nethlink`: NethLink) token",
    security(("bearerAuth" = [])),
    request_body(content = SubtypeBody, content_type = "application/json"),
    responses(
        (status = 204, description = "Revoked"),
        (status = 400, description = E400, body = MessageError),
        (status = 401, description = E401, body = MessageError),
        (status = 403, description = E403, body = MessageError),
        (status = 413, description = E413, body = MessageError),
        (status = 415, description = E415, body = MessageError),
        (status = 429, description = E429, body = MessageError, headers(("Retry-After" = String, description = "Seconds to wait"))),
        (status = "default", description = EDEFAULT, body = MessageError),
    ))]
pub async fn legacy_remove(
    State(s): State<AppState>,
    CallerInfo(caller): CallerInfo,
    LegacyVerified(who): LegacyVerified,
    Subtype(audience): Subtype,
) -> Result<StatusCode, MessageOnlyError> {
    s.auth.remove_persistent(&who, audience, &caller).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /authentication/phone_island_token_check/{subtype}`:
/// `{"exists": bool}`.
#[utoipa::path(get, path = "/authentication/phone_island_token_check/{subtype}", tag = "persistent tokens",
    summary = "Legacy-compatible: whether the phone-island (`nethlink`: NethLink) token exists",
    security(("bearerAuth" = [])),
    params(("subtype" = String, Path)),
    responses(
        (status = 200, description = "Whether it exists", body = ExistsResponse),
        (status = 401, description = E401, body = MessageError),
        (status = 403, description = E403, body = MessageError),
        (status = 429, description = E429, body = MessageError, headers(("Retry-After" = String, description = "Seconds to wait"))),
        (status = "default", description = EDEFAULT, body = MessageError),
    ))]
pub async fn legacy_check(
    State(s): State<AppState>,
    LegacyVerified(who): LegacyVerified,
    path: Result<Path<String>, PathRejection>,
) -> Result<Json<ExistsResponse>, MessageOnlyError> {
    let subtype = path.ok().map(|Path(p)| p);
    exists(&s, &who, subtype.as_deref()).await
}

/// `GET /authentication/phone_island_token_check` (no subtype:
/// phone-island).
#[utoipa::path(get, path = "/authentication/phone_island_token_check", tag = "persistent tokens",
    summary = "Legacy-compatible: whether the phone-island token exists (no subtype)",
    security(("bearerAuth" = [])),
    responses(
        (status = 200, description = "Whether it exists", body = ExistsResponse),
        (status = 401, description = E401, body = MessageError),
        (status = 403, description = E403, body = MessageError),
        (status = 429, description = E429, body = MessageError, headers(("Retry-After" = String, description = "Seconds to wait"))),
        (status = "default", description = EDEFAULT, body = MessageError),
    ))]
pub async fn legacy_check_default(
    State(s): State<AppState>,
    LegacyVerified(who): LegacyVerified,
) -> Result<Json<ExistsResponse>, MessageOnlyError> {
    exists(&s, &who, None).await
}

async fn exists(
    s: &AppState,
    who: &Principal,
    subtype: Option<&str>,
) -> Result<Json<ExistsResponse>, MessageOnlyError> {
    let audience = Audience::from_subtype(subtype);
    let exists = s.auth.persistent_exists(who, audience).await?;
    Ok(Json(ExistsResponse { exists }))
}
