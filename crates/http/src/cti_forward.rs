//! Forwarding to the CTI server in `nethcti` mode (API.md §9
//! "Forwarding"): the rules that differ from the generic reverse proxy
//! ([`crate::proxy`], which does the sending).
//!
//! - The path below the API prefix goes to `{V1}` (`/api/astproxy/x` →
//!   `{V1}/astproxy/x`), the query unchanged.
//! - A caller with a verified token (the 2FA gate passed) is sent as
//!   `Authorization: username:T`, T being the user's CTI session the core
//!   unseals; no T stored: 401 `upstream_session_expired`. The client's
//!   own `Authorization` (its JWT) never reaches the CTI server.
//! - `{prefix}/static/*` goes without a token, and so does a FreePBX call
//!   (`User: admin`, a non-empty `Secretkey`, a path of the allow-list,
//!   optionally followed by `/<digits>`), sent with `Authorization-User:
//!   admin`: the CTI server checks the key.
//! - The CTI server's answers: 401 → 401 `upstream_session_expired`; 404 →
//!   404 `{"code":404,"message":"API not found"}`; 5xx → 502
//!   `upstream_unavailable`; unreachable → 503 `upstream_unavailable`;
//!   no answer in time → 504 `upstream_timeout`.

use axum::Json;
use axum::body::Body;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::client_ip::client_ip_behind;
use crate::error::AppError;
use crate::extract::Verified;
use crate::proxy::{Caller, Upstream, Uri, check_path};
pub use crate::settings::CtiForwarding;
use crate::state::AppState;

/// Whether the headers make a FreePBX call: `User: admin` and a non-empty
/// `Secretkey`.
fn is_freepbx_call(headers: &HeaderMap) -> bool {
    let user_admin = headers
        .get("user")
        .is_some_and(|v| v.as_bytes() == b"admin");
    let key = headers
        .get("secretkey")
        .is_some_and(|v| !v.as_bytes().iter().all(u8::is_ascii_whitespace));
    user_admin && key
}

/// Forwards `parts`/`body` (a path under the prefix otpgate does not
/// answer itself) to the CTI server, as the module doc says.
pub async fn forward(
    state: &AppState,
    cti: &CtiForwarding,
    up: &Upstream,
    mut parts: Parts,
    body: Body,
) -> Response {
    let prefix = state.settings.api_prefix.trim_end_matches('/');
    if let Err(e) = check_path(parts.uri.path()) {
        return e.into_response();
    }
    let below = parts
        .uri
        .path()
        .strip_prefix(prefix)
        .unwrap_or_default()
        .to_owned();
    let caller = if below.starts_with("/static/") {
        Caller::Anonymous
    } else if is_freepbx_call(&parts.headers) && cti.is_freepbx_path(&below) {
        Caller::FreepbxAdmin
    } else {
        let who = match Verified::from_request_parts(&mut parts, state).await {
            Ok(Verified(who)) => who,
            Err(e) => return e.into_response(),
        };
        let session = match state.auth.upstream_session(&who).await {
            Ok(Some(t)) => t,
            Ok(None) => return session_expired(),
            Err(e) => return AppError::from(e).into_response(),
        };
        let Ok(mut value) =
            HeaderValue::from_str(&format!("{}:{}", who.username, session.expose()))
        else {
            return session_expired();
        };
        value.set_sensitive(true);
        Caller::Authorization(value)
    };
    let query = parts
        .uri
        .query()
        .map(|q| format!("?{q}"))
        .unwrap_or_default();
    parts.uri = match format!("{below}{query}").parse::<Uri>() {
        Ok(u) => u,
        Err(_) => return AppError::InvalidPath.into_response(),
    };
    let ip = client_ip_behind(&parts, &state.settings.trusted_proxies);
    match up
        .send(parts, body, caller, ip, state.settings.body_limit)
        .await
    {
        Err(AppError::BadGateway) => AppError::CtiUnavailable.into_response(),
        Err(e) => e.into_response(),
        Ok(resp) => match resp.status() {
            StatusCode::UNAUTHORIZED => session_expired(),
            StatusCode::NOT_FOUND => (
                StatusCode::NOT_FOUND,
                Json(json!({"code": 404, "message": "API not found"})),
            )
                .into_response(),
            s if s.is_server_error() => {
                tracing::warn!(target: "otpgate::proxy", status = s.as_u16(), "the CTI server failed");
                AppError::BadGateway.into_response()
            }
            _ => resp,
        },
    }
}

fn session_expired() -> Response {
    AppError::UpstreamSessionExpired.into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_freepbx_allow_list_takes_the_paths_and_a_numeric_tail() {
        let c = CtiForwarding::default();
        for ok in [
            "/astproxy/extensions",
            "/astproxy/extension/201",
            "/dbconn/test",
            "/user/presence/7",
        ] {
            assert!(c.is_freepbx_path(ok), "{ok}");
        }
        for no in [
            "/astproxy/extensionsx",
            "/astproxy/extension/20a",
            "/astproxy/extension/",
            "/astproxy/extension/1/2",
            "/user/me",
            "/astproxy",
        ] {
            assert!(!c.is_freepbx_path(no), "{no}");
        }
    }

    #[test]
    fn a_freepbx_call_needs_user_admin_and_a_key() {
        let mut h = HeaderMap::new();
        h.insert("user", HeaderValue::from_static("admin"));
        assert!(!is_freepbx_call(&h));
        h.insert("secretkey", HeaderValue::from_static(" "));
        assert!(!is_freepbx_call(&h));
        h.insert("secretkey", HeaderValue::from_static("k"));
        assert!(is_freepbx_call(&h));
        h.insert("user", HeaderValue::from_static("carol"));
        assert!(!is_freepbx_call(&h));
    }
}
