//! The deprecated legacy challenge login of the CTI server (API.md §2):
//! `/webrest/authentication/login` answers 401 with
//! `WWW-Authenticate: Digest <nonce>`, and `Authorization: user:token`
//! authenticates `/webrest/...` requests. The rules (sunset, 2FA refusal,
//! single-use nonce, revocation) are the core's; this file translates.
//!
//! The gate on every legacy path (`/webrest`, `/socket.io`): past the
//! sunset it answers 410 ([`gate_refusal`]); before, it adds the
//! `Deprecation` (RFC 9745), `Sunset` (RFC 8594) and
//! `Link: <docs>; rel="deprecation"` headers ([`gate_answer`]).

use axum::Json;
use axum::body::Body;
use axum::extract::{FromRequestParts, Request, State};
use axum::http::header::{AUTHORIZATION, CONTENT_TYPE, WWW_AUTHENTICATE};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use otpgate_core::AuthError;
use otpgate_core::error::TokenProblem;
use otpgate_core::model::Principal;
use otpgate_core::secret::SecretString;
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::macros::format_description;

use crate::client_ip::client_ip_of;
use crate::error::{AppError, AppResult};
use crate::extract::{Body as JsonBody, CallerInfo};
use crate::routes::native::{LoginBody, ProfileBody};
use crate::state::AppState;

/// Where the legacy REST API lives.
pub const WEBREST: &str = "/webrest";
/// Where the legacy Socket.IO lives.
pub const LEGACY_SOCKET_IO: &str = "/socket.io";

/// Whether `path` belongs to the legacy method.
pub fn is_legacy_path(path: &str) -> bool {
    [WEBREST, LEGACY_SOCKET_IO].iter().any(|p| {
        path.strip_prefix(p)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
    })
}

/// An IMF-fixdate (RFC 9110 §5.6.7), as `Sunset` carries it.
pub fn http_date(unix_secs: i64) -> String {
    let fmt = format_description!(
        "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT"
    );
    OffsetDateTime::from_unix_timestamp(unix_secs)
        .ok()
        .and_then(|t| t.format(&fmt).ok())
        .unwrap_or_default()
}

fn deprecation_headers(state: &AppState, resp: &mut Response) {
    let legacy = state.auth.legacy_policy();
    let h = resp.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&format!("@{}", legacy.deprecated_since)) {
        h.insert("deprecation", v);
    }
    if let Ok(v) = HeaderValue::from_str(&http_date(legacy.sunset)) {
        h.insert("sunset", v);
    }
    let link = format!("<{}>; rel=\"deprecation\"", state.settings.legacy_docs_url);
    if let Ok(v) = HeaderValue::from_str(&link) {
        h.append("link", v);
    }
}

/// The gate's answer to a request on a legacy path after the sunset:
/// 410, with the deprecation headers. (The shared layers,
/// [`crate::layers`], run the gate on every path [`is_legacy_path`]
/// accepts: this after the sunset, [`gate_answer`] before it.)
pub fn gate_refusal(state: &AppState) -> Response {
    let mut resp = AppError::Auth(AuthError::LegacyDisabled).into_response();
    resp.headers_mut().remove(WWW_AUTHENTICATE);
    deprecation_headers(state, &mut resp);
    resp
}

/// The gate on a legacy answer before the sunset: the deprecation
/// headers, and no Bearer challenge.
pub fn gate_answer(state: &AppState, resp: &mut Response) {
    // A legacy client reads any WWW-Authenticate on a 401 as a
    // challenge ("Digest <nonce>"); never hand it our Bearer one.
    if resp
        .headers()
        .get(WWW_AUTHENTICATE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("Bearer"))
    {
        resp.headers_mut().remove(WWW_AUTHENTICATE);
    }
    deprecation_headers(state, resp);
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
pub async fn login(
    State(s): State<AppState>,
    CallerInfo(caller): CallerInfo,
    JsonBody(b): JsonBody<LoginBody>,
) -> AppResult<Response> {
    let nonce = s
        .auth
        .legacy_challenge(&b.username, &SecretString::new(b.password), &caller)
        .await?;
    let body = json!({
        "code": 401,
        "message": "challenge",
        "error": "send Authorization: <username>:hex(HMAC-SHA1(password, \"<username>:<password>:<nonce>\"))",
    });
    let mut resp = (StatusCode::UNAUTHORIZED, Json(body)).into_response();
    let v = HeaderValue::from_str(&format!("Digest {nonce}"))
        .map_err(|_| AppError::Auth(AuthError::Internal("nonce header".into())))?;
    resp.headers_mut().insert(WWW_AUTHENTICATE, v);
    Ok(resp)
}

/// `POST /webrest/authentication/logout`: ends this legacy credential.
pub async fn logout(
    State(s): State<AppState>,
    CallerInfo(caller): CallerInfo,
    LegacyUser(who): LegacyUser,
) -> AppResult<Json<Value>> {
    s.auth.legacy_logout(&who, &caller).await?;
    Ok(Json(
        json!({"code": 200, "message": "logged out", "data": null}),
    ))
}

/// `GET /webrest/user/me`: the same profile as `/api/user/me`.
pub async fn me(
    State(s): State<AppState>,
    LegacyUser(who): LegacyUser,
) -> AppResult<Json<ProfileBody>> {
    let profile = s.auth.profile(&who).await?;
    Ok(Json(ProfileBody(profile)))
}

/// Any other `/webrest/...`: forwarded to the upstream application for a
/// valid legacy credential, else JSON 404.
pub async fn forward(state: &AppState, req: Request) -> Response {
    let Some(up) = state.upstream.clone() else {
        return AppError::NotFound.into_response();
    };
    let (mut parts, body) = req.into_parts();
    let who = match LegacyUser::from_request_parts(&mut parts, state).await {
        Ok(LegacyUser(who)) => who,
        Err(e) => return e.into_response(),
    };
    let ip = client_ip_of(&parts, state);
    up.forward(parts, body, &who.username, ip, state.settings.body_limit)
        .await
}

/// `GET /docs/legacy-migration`: how to move off the legacy method (the
/// default target of the `Link` header).
pub async fn migration_docs() -> Response {
    (
        [(CONTENT_TYPE, "text/markdown; charset=utf-8")],
        Body::from(include_str!("../../../../docs/legacy-migration.md")),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sunset_is_an_imf_fixdate() {
        assert_eq!(http_date(1_780_272_000), "Mon, 01 Jun 2026 00:00:00 GMT");
        assert_eq!(http_date(0), "Thu, 01 Jan 1970 00:00:00 GMT");
    }

    #[test]
    fn legacy_paths_are_matched_by_segment() {
        assert!(is_legacy_path("/webrest"));
        assert!(is_legacy_path("/webrest/user/me"));
        assert!(is_legacy_path("/socket.io/"));
        assert!(!is_legacy_path("/webresting"));
        assert!(!is_legacy_path("/api/webrest"));
    }
}
