//! The gate on every legacy route (`/webrest`, `/socket.io`), run by the
//! shared layer ([`crate::layers`]) on the routes the legacy router mounts:
//! past the sunset it answers 410 ([`refusal`]); before, it adds the
//! `Deprecation` (RFC 9745), `Sunset` (RFC 8594) and
//! `Link: <docs>; rel="deprecation"` headers ([`answer`]).

use axum::http::HeaderValue;
use axum::http::header::WWW_AUTHENTICATE;
use axum::response::{IntoResponse, Response};
use otpgate_core::AuthError;
use time::OffsetDateTime;
use time::macros::format_description;

use crate::error::AppError;
use crate::state::AppState;

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

/// The gate's answer to a request on a legacy route after the sunset:
/// 410, with the deprecation headers.
pub fn refusal(state: &AppState) -> Response {
    let mut resp = AppError::Auth(AuthError::LegacyDisabled).into_response();
    resp.headers_mut().remove(WWW_AUTHENTICATE);
    deprecation_headers(state, &mut resp);
    resp
}

/// The gate on a legacy answer before the sunset: the deprecation
/// headers, and no Bearer challenge.
pub fn answer(state: &AppState, resp: &mut Response) {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sunset_is_an_imf_fixdate() {
        assert_eq!(http_date(1_780_272_000), "Mon, 01 Jun 2026 00:00:00 GMT");
        assert_eq!(http_date(0), "Thu, 01 Jan 1970 00:00:00 GMT");
    }
}
