//! The deprecated legacy challenge login of the CTI server (API.md §2):
//! `/webrest/authentication/login` answers 401 with
//! `WWW-Authenticate: Digest <nonce>`, and `Authorization: user:token`
//! authenticates `/webrest/...` requests. The rules (sunset, 2FA refusal,
//! single-use nonce, revocation) are the core's; this file translates.
//!
//! The gate on every legacy route (410 after the sunset, deprecation
//! headers before) is [`crate::gate`], which the shared layer runs on the
//! routes of this router's glue (and the legacy Socket.IO endpoint's).

use axum::Json;
use axum::body::Body;
use axum::extract::{FromRequestParts, Request, State};
use axum::http::header::{AUTHORIZATION, CONTENT_TYPE, WWW_AUTHENTICATE};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use otpgate_core::AuthError;
use otpgate_core::error::TokenProblem;
use otpgate_core::model::Principal;
use otpgate_core::secret::SecretString;
use otpgate_core::service::Dialect;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::client_ip::client_ip_behind;
use crate::dialect::Glue;
use crate::error::{AppError, AppResult, ErrorEnvelope, Native};
use crate::extract::{Body as JsonBody, CallerInfo};
use crate::openapi::{E400, E401, E403, E404, E410, E413, E415, E429, EDEFAULT};
use crate::routes::mount::Mount;
use crate::routes::native::{LoginBody, MessageResponse, ProfileResponse};
use crate::state::AppState;

/// Where the legacy REST API lives.
pub const WEBREST: &str = "/webrest";

/// The legacy routes (deprecated, behind the gate), the forwarding of any
/// other `/webrest/...`, and the migration guide (not gated).
pub fn router(state: &AppState, _: &str) -> OpenApiRouter<AppState> {
    let legacy = Mount::new(state, "", Glue::new::<Native>(Dialect::Legacy))
        .deprecated()
        .routes(routes!(login))
        .routes(routes!(logout))
        .routes(routes!(me))
        .catch_all(WEBREST, "fallback", any(forward))
        .finish();
    let guide = Mount::new(state, "", Glue::NATIVE)
        .deprecated()
        .routes(routes!(migration_docs))
        .finish();
    legacy.merge(guide)
}

/// A caller authenticated with a legacy `Authorization: user:token`.
#[derive(Debug, Clone)]
pub struct LegacyUser(pub Principal);

impl FromRequestParts<AppState> for LegacyUser {
    type Rejection = AppError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let value = match parts.headers.get(AUTHORIZATION) {
            None => return Err(AuthError::Token(TokenProblem::Missing).into()),
            Some(v) => v
                .to_str()
                .map_err(|_| AppError::Auth(AuthError::Token(TokenProblem::Invalid)))?,
        };
        Ok(Self(state.auth.legacy_authenticate(value).await?))
    }
}

/// `POST /webrest/authentication/login`: after the password check, 401
/// with `WWW-Authenticate: Digest <nonce>` (that is the legacy protocol's
/// way of saying "go on").
#[utoipa::path(post, path = "/webrest/authentication/login", tag = "legacy",
    summary = "Legacy challenge login: answers 401 with a nonce",
    security(()),
    request_body(content = LoginBody, content_type = "application/json"),
    responses(
        (status = 401, description = "The challenge: `WWW-Authenticate: Digest <nonce>` (or a wrong password)",
            body = ErrorEnvelope, headers(("WWW-Authenticate" = String))),
        (status = 400, description = E400, body = ErrorEnvelope),
        (status = 403, description = E403, body = ErrorEnvelope),
        (status = 410, description = E410, body = ErrorEnvelope),
        (status = 413, description = E413, body = ErrorEnvelope),
        (status = 415, description = E415, body = ErrorEnvelope),
        (status = 429, description = E429, body = ErrorEnvelope, headers(("Retry-After" = String, description = "Seconds to wait"))),
        (status = "default", description = EDEFAULT, body = ErrorEnvelope),
    ))]
pub async fn login(
    State(s): State<AppState>,
    CallerInfo(caller): CallerInfo,
    JsonBody(b): JsonBody<LoginBody>,
) -> AppResult<Response> {
    let nonce = s
        .auth
        .legacy_challenge(&b.username, &SecretString::new(b.password), &caller)
        .await?;
    let body = ErrorEnvelope {
        code: 401,
        error: "send Authorization: <username>:hex(HMAC-SHA1(password, \"<username>:<password>:<nonce>\"))"
            .into(),
        message: "challenge".into(),
    };
    let mut resp = (StatusCode::UNAUTHORIZED, Json(body)).into_response();
    let v = HeaderValue::from_str(&format!("Digest {nonce}"))
        .map_err(|_| AppError::Auth(AuthError::Internal("nonce header".into())))?;
    resp.headers_mut().insert(WWW_AUTHENTICATE, v);
    Ok(resp)
}

/// `POST /webrest/authentication/logout`: ends this legacy credential.
#[utoipa::path(post, path = "/webrest/authentication/logout", tag = "legacy",
    summary = "Legacy logout",
    security(("legacyAuth" = [])),
    responses(
        (status = 200, description = "Logged out", body = MessageResponse),
        (status = 401, description = E401, body = ErrorEnvelope),
        (status = 410, description = E410, body = ErrorEnvelope),
        (status = 429, description = E429, body = ErrorEnvelope, headers(("Retry-After" = String, description = "Seconds to wait"))),
        (status = "default", description = EDEFAULT, body = ErrorEnvelope),
    ))]
pub async fn logout(
    State(s): State<AppState>,
    CallerInfo(caller): CallerInfo,
    LegacyUser(who): LegacyUser,
) -> AppResult<Json<MessageResponse>> {
    s.auth.legacy_logout(&who, &caller).await?;
    Ok(Json(MessageResponse::ok("logged out")))
}

/// `GET /webrest/user/me`: the same profile as `/api/user/me`.
#[utoipa::path(get, path = "/webrest/user/me", tag = "legacy",
    summary = "Legacy profile",
    security(("legacyAuth" = [])),
    responses(
        (status = 200, description = "The profile", body = ProfileResponse),
        (status = 401, description = E401, body = ErrorEnvelope),
        (status = 403, description = E403, body = ErrorEnvelope),
        (status = 404, description = E404, body = ErrorEnvelope),
        (status = 410, description = E410, body = ErrorEnvelope),
        (status = 429, description = E429, body = ErrorEnvelope, headers(("Retry-After" = String, description = "Seconds to wait"))),
        (status = "default", description = EDEFAULT, body = ErrorEnvelope),
    ))]
pub async fn me(State(s): State<AppState>, LegacyUser(who): LegacyUser) -> AppResult<Response> {
    let profile = s.auth.profile(&who).await?;
    Ok(ProfileResponse::response(ProfileResponse::render(&profile)))
}

/// Any other `/webrest/...`: forwarded to the upstream application for a
/// valid legacy credential, else JSON 404.
async fn forward(State(state): State<AppState>, req: Request) -> Response {
    let Some(up) = state.upstream.clone() else {
        return AppError::NotFound.into_response();
    };
    let (mut parts, body) = req.into_parts();
    let who = match LegacyUser::from_request_parts(&mut parts, &state).await {
        Ok(LegacyUser(who)) => who,
        Err(e) => return e.into_response(),
    };
    let ip = client_ip_behind(&parts, &state.settings.trusted_proxies);
    up.forward(parts, body, &who.username, ip, state.settings.body_limit)
        .await
}

/// `GET /docs/legacy-migration`: how to move off the legacy method (the
/// default target of the `Link` header).
#[utoipa::path(get, path = "/docs/legacy-migration", tag = "legacy",
    summary = "How to move off the legacy login (Markdown)",
    security(()),
    responses((status = 200, description = "The guide", content_type = "text/markdown", body = String)))]
pub async fn migration_docs() -> Response {
    (
        [(CONTENT_TYPE, "text/markdown; charset=utf-8")],
        Body::from(include_str!("../../../../docs/legacy-migration.md")),
    )
        .into_response()
}
