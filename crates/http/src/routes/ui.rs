//! The self-service 2FA page at `/ui/`: a small static page (HTML, CSS,
//! plain JS) embedded in the binary, so it works offline and needs no CDN.
//!
//! The page calls the native JSON API on the same origin with the token in
//! an `Authorization: Bearer` header, kept in a JS variable only. No cookie
//! is ever set or read, so a page of another origin cannot make a browser
//! act with the user's session: the page is CSRF-safe by construction.
//!
//! Every answer here carries a Content-Security-Policy that allows only the
//! page's own script and stylesheet (no inline code) and images from the
//! page or from `blob:` (the QR code, fetched with the token and shown via
//! an object URL). The configured `api_prefix` reaches the script through a
//! `data-api-prefix` attribute of the HTML. Other paths under `/ui/` fall
//! through to the router's JSON 404.

use axum::extract::State;
use axum::http::header::{CONTENT_SECURITY_POLICY, CONTENT_TYPE, LOCATION};
use axum::http::{HeaderName, StatusCode};
use axum::response::{IntoResponse, Response};

use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::dialect::Glue;
use crate::routes::mount::Mount;
use crate::state::AppState;

/// The page and its files, at the root.
pub fn router(state: &AppState, _: &str) -> OpenApiRouter<AppState> {
    Mount::new(state, "", Glue::NATIVE)
        .routes(routes!(to_slash))
        .routes(routes!(index))
        .routes(routes!(app_js))
        .routes(routes!(style_css))
        .routes(routes!(favicon))
        .finish()
}

/// The policy of every page answer: own script and style only, images
/// also from `blob:`, API calls to the same origin, no forms posted
/// anywhere (the JS handles them), never framed.
pub const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
img-src 'self' blob:; connect-src 'self'; base-uri 'none'; form-action 'none'; \
frame-ancestors 'none'";

const INDEX_HTML: &str = include_str!("../../assets/ui/index.html");
const APP_JS: &str = include_str!("../../assets/ui/app.js");
const STYLE_CSS: &str = include_str!("../../assets/ui/style.css");
const FAVICON_PNG: &[u8] = include_bytes!("../../assets/ui/favicon.png");

/// The placeholder in `index.html` that becomes the API prefix.
const PREFIX_SLOT: &str = "{{API_PREFIX}}";

fn asset(content_type: &'static str, body: impl IntoResponse) -> Response {
    (
        [
            (CONTENT_TYPE, content_type),
            (CONTENT_SECURITY_POLICY, CSP),
            (
                HeaderName::from_static("cross-origin-opener-policy"),
                "same-origin",
            ),
        ],
        body,
    )
        .into_response()
}

#[utoipa::path(get, path = "/ui", tag = "ui", summary = "Redirect to the self-service page",
    security(()),
    responses((status = 308, description = "To the same path with a trailing slash")))]
/// `GET /ui`: to `/ui/`, so the page's relative links resolve (a relative
/// Location, which also holds behind a proxy that adds a path prefix).
pub async fn to_slash() -> Response {
    (
        StatusCode::PERMANENT_REDIRECT,
        [(LOCATION, "ui/"), (CONTENT_SECURITY_POLICY, CSP)],
    )
        .into_response()
}

/// `GET /ui/`: the page, with the configured API prefix filled in.
#[utoipa::path(get, path = "/ui/", tag = "ui", summary = "The self-service 2FA page",
    security(()),
    responses((status = 200, description = "The page", content_type = "text/html", body = String)))]
pub async fn index(State(state): State<AppState>) -> Response {
    asset(
        "text/html; charset=utf-8",
        render_index(&state.settings.api_prefix),
    )
}

/// `GET /ui/app.js`.
#[utoipa::path(get, path = "/ui/app.js", tag = "ui", summary = "The page's script",
    security(()),
    responses((status = 200, description = "Script", content_type = "text/javascript", body = String)))]
pub async fn app_js() -> Response {
    asset("text/javascript; charset=utf-8", APP_JS)
}

/// `GET /ui/style.css`.
#[utoipa::path(get, path = "/ui/style.css", tag = "ui", summary = "The page's style sheet",
    security(()),
    responses((status = 200, description = "Style", content_type = "text/css", body = String)))]
pub async fn style_css() -> Response {
    asset("text/css; charset=utf-8", STYLE_CSS)
}

/// `GET /ui/favicon.png`.
#[utoipa::path(get, path = "/ui/favicon.png", tag = "ui", summary = "The page's icon",
    security(()),
    responses((status = 200, description = "Icon", content_type = "image/png", body = Vec<u8>)))]
pub async fn favicon() -> Response {
    asset("image/png", FAVICON_PNG)
}

/// The page's HTML for `api_prefix` (without its trailing `/`, as the
/// router mounts the API).
pub fn render_index(api_prefix: &str) -> String {
    INDEX_HTML.replace(PREFIX_SLOT, &escape_attr(api_prefix.trim_end_matches('/')))
}

/// `text` made safe inside a double-quoted HTML attribute.
fn escape_attr(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_prefix_fills_the_slot_escaped() {
        let html = render_index("/auth/api/");
        assert!(html.contains(r#"data-api-prefix="/auth/api""#));
        assert!(!html.contains(PREFIX_SLOT));
        let html = render_index(r#"/a"><script>x</script>"#);
        assert!(html.contains(r#"data-api-prefix="/a&quot;&gt;&lt;script&gt;x&lt;/script&gt;""#));
    }

    #[test]
    fn the_page_has_exactly_one_prefix_slot() {
        assert_eq!(INDEX_HTML.matches(PREFIX_SLOT).count(), 1);
    }
}
