//! The self-service page at `/ui/`: served from the binary with the right
//! content types and a strict Content-Security-Policy, nothing fetched
//! from elsewhere, the configured API prefix handed to the script, only
//! routes the router serves called, and unknown `/ui/` paths a JSON 404.

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};

use crate::support::{Resp, TestApp, test_settings};

const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
img-src 'self' blob:; connect-src 'self'; base-uri 'none'; form-action 'none'; \
frame-ancestors 'none'";

/// Every file of the page, with the content type it must be served as.
const ASSETS: [(&str, &str); 4] = [
    ("/ui/", "text/html; charset=utf-8"),
    ("/ui/app.js", "text/javascript; charset=utf-8"),
    ("/ui/style.css", "text/css; charset=utf-8"),
    ("/ui/favicon.png", "image/png"),
];

async fn fetch(app: &TestApp, path: &str) -> Resp {
    app.send(Request::get(path).body(Body::empty()).unwrap())
        .await
}

fn text(r: &Resp) -> String {
    String::from_utf8(r.bytes.clone()).unwrap()
}

#[tokio::test]
async fn the_page_and_its_assets_are_served_with_their_types_and_the_csp() {
    let app = TestApp::new().await;
    for (path, content_type) in ASSETS {
        let r = fetch(&app, path).await;
        assert_eq!(r.status, StatusCode::OK, "{path}");
        assert_eq!(r.headers["content-type"], content_type, "{path}");
        assert_eq!(r.headers["content-security-policy"], CSP, "{path}");
        // The shared security headers still apply.
        assert_eq!(r.headers["x-frame-options"], "DENY", "{path}");
        assert_eq!(r.headers["x-content-type-options"], "nosniff", "{path}");
        assert_eq!(r.headers["cache-control"], "no-store", "{path}");
        assert!(!r.bytes.is_empty(), "{path}");
    }
    let png = fetch(&app, "/ui/favicon.png").await;
    assert!(png.bytes.starts_with(b"\x89PNG\r\n\x1a\n"));
    let html = text(&fetch(&app, "/ui/").await);
    for linked in [
        r#"src="app.js""#,
        r#"href="style.css""#,
        r#"href="favicon.png""#,
    ] {
        assert!(html.contains(linked), "the page links {linked}");
    }
}

#[tokio::test]
async fn head_works_and_ui_without_slash_redirects_to_the_page() {
    let app = TestApp::new().await;
    let r = app
        .send(Request::head("/ui/").body(Body::empty()).unwrap())
        .await;
    assert_eq!(r.status, StatusCode::OK);
    let r = fetch(&app, "/ui").await;
    assert_eq!(r.status, StatusCode::PERMANENT_REDIRECT);
    assert_eq!(r.headers["location"], "ui/");
}

#[tokio::test]
async fn unknown_ui_paths_are_json_404() {
    let app = TestApp::new().await;
    for path in [
        "/ui/nope",
        "/ui/index.html",
        "/ui/app.js.map",
        "/ui/app.js/",
        "/ui/assets/app.js",
        "/ui/../api/login",
    ] {
        let r = fetch(&app, path).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{path}");
        assert_eq!(r.headers["content-type"], "application/json", "{path}");
        assert_eq!(r.body["code"], 404, "{path}");
        assert_eq!(r.body["message"], "not_found", "{path}");
    }
    let r = app.call(Method::POST, "/ui/", None, None).await;
    assert_eq!(r.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(r.body["code"], 405);
}

#[tokio::test]
async fn no_asset_names_another_origin() {
    let app = TestApp::new().await;
    for (path, _) in ASSETS {
        let body = String::from_utf8_lossy(&fetch(&app, path).await.bytes).to_lowercase();
        for bad in ["http://", "https://", "src=\"//", "href=\"//"] {
            assert!(!body.contains(bad), "{path} contains {bad:?}");
        }
    }
    // The stylesheet loads nothing (no fonts, images or imports).
    let css = String::from_utf8_lossy(&fetch(&app, "/ui/style.css").await.bytes).to_lowercase();
    for bad in ["url(", "@import"] {
        assert!(!css.contains(bad), "style.css contains {bad:?}");
    }
}

#[tokio::test]
async fn the_page_has_no_inline_code_and_every_input_has_a_label() {
    let app = TestApp::new().await;
    let html = text(&fetch(&app, "/ui/").await);
    // The CSP refuses inline scripts and styles; the page must not need any.
    assert_eq!(
        html.matches("<script").count(),
        html.matches("<script src=").count(),
        "every script is a file"
    );
    for inline in [
        "<style",
        " style=",
        " onclick=",
        " onsubmit=",
        "javascript:",
    ] {
        assert!(!html.contains(inline), "inline code: {inline}");
    }
    // Accessible: every input has a <label for>, actions are <button>s,
    // messages go to live regions.
    let inputs: Vec<&str> = html
        .split("<input id=\"")
        .skip(1)
        .map(|rest| rest.split('"').next().unwrap())
        .collect();
    assert_eq!(
        inputs.len(),
        html.matches("<input").count(),
        "inputs have ids"
    );
    assert!(inputs.len() >= 6, "{inputs:?}");
    for id in inputs {
        assert!(
            html.contains(&format!("<label for=\"{id}\">")),
            "input {id} has a label"
        );
    }
    assert!(
        !html.contains("type=\"submit\" value"),
        "buttons, not inputs"
    );
    assert!(html.contains(r#"role="alert" aria-live="assertive""#));
    assert!(html.contains(r#"role="status" aria-live="polite""#));
}

#[tokio::test]
async fn the_script_keeps_the_token_in_memory_and_sends_no_cookies() {
    let app = TestApp::new().await;
    let js = text(&fetch(&app, "/ui/app.js").await);
    for stored in [
        "localStorage",
        "sessionStorage",
        "document.cookie",
        "indexedDB",
    ] {
        assert!(!js.contains(stored), "app.js uses {stored}");
    }
    assert!(js.contains(r#"credentials: "omit""#));
    assert!(js.contains(r#""Bearer " + session.token"#));
}

#[tokio::test]
async fn the_page_uses_the_configured_api_prefix() {
    let default = TestApp::new().await;
    let html = text(&fetch(&default, "/ui/").await);
    assert!(html.contains(r#"data-api-prefix="/api""#), "{html}");

    let settings = otpgate_http::HttpSettings {
        api_prefix: "/auth/v2/".into(),
        ..test_settings()
    };
    let app = TestApp::with(settings).await;
    let html = text(&fetch(&app, "/ui/").await);
    assert!(html.contains(r#"data-api-prefix="/auth/v2""#), "{html}");
    assert!(!html.contains("{{"), "no template slot left");
}

/// The `(method, path)` pairs of every `api("METHOD", "/path"` call in
/// the script.
fn api_calls(js: &str) -> Vec<(String, String)> {
    js.split("api(\"")
        .skip(1)
        .filter_map(|rest| {
            let mut parts = rest.splitn(3, '"');
            let method = parts.next()?.to_owned();
            let sep = parts.next()?;
            let path = parts.next()?.split('"').next()?.to_owned();
            (sep.trim() == "," && path.starts_with('/')).then_some((method, path))
        })
        .collect()
}

#[tokio::test]
async fn every_api_call_of_the_script_is_a_route_of_the_router() {
    let app = TestApp::new().await;
    let js = text(&fetch(&app, "/ui/app.js").await);
    let calls = api_calls(&js);
    let paths: Vec<&str> = calls.iter().map(|(_, p)| p.as_str()).collect();
    for needed in [
        "/login",
        "/logout",
        "/2fa/status",
        "/2fa/qr-code",
        "/2fa/qr-code.png",
        "/2fa/verify-otp",
        "/2fa/recovery-codes",
        "/2fa/disable",
    ] {
        assert!(paths.contains(&needed), "app.js calls {needed}: {calls:?}");
    }
    for (method, path) in &calls {
        let method = Method::from_bytes(method.as_bytes()).unwrap();
        let r = app
            .call(method.clone(), &format!("/api{path}"), None, None)
            .await;
        assert!(
            r.status != StatusCode::NOT_FOUND && r.status != StatusCode::METHOD_NOT_ALLOWED,
            "{method} /api{path} is served: {:?}",
            r.body
        );
    }
}
