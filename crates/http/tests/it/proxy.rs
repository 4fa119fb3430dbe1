//! The reverse proxy: authenticated /api routes otpgate does not serve go
//! to the upstream with Authorization removed and X-Otpgate-User (plus the
//! configured headers) added; the 2FA gate applies; 502 when the upstream
//! is unreachable, 504 when it is slow, 404 when no upstream is set.

use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::Request;
use axum::http::{HeaderName, HeaderValue, Method, StatusCode};
use axum::response::IntoResponse;
use otpgate_http::proxy::UpstreamSettings;
use serde_json::{Value, json};

use crate::support::{TestApp, assert_error, test_settings};

/// An upstream that answers every request with what it received; `/slow`
/// answers after 2 s.
async fn echo_upstream() -> SocketAddr {
    async fn echo(req: Request) -> impl IntoResponse {
        if req.uri().path().ends_with("/slow") {
            tokio::time::sleep(Duration::from_secs(2)).await;
        }
        let (parts, body) = req.into_parts();
        let body = axum::body::to_bytes(body, 1 << 20)
            .await
            .unwrap_or_default();
        let headers: serde_json::Map<String, Value> = parts
            .headers
            .iter()
            .map(|(k, v)| (k.to_string(), json!(v.to_str().unwrap_or(""))))
            .collect();
        (
            StatusCode::IM_A_TEAPOT,
            [("x-upstream", "yes")],
            axum::Json(json!({
                "method": parts.method.as_str(),
                "path": parts.uri.path(),
                "query": parts.uri.query(),
                "headers": headers,
                "body": String::from_utf8_lossy(&body),
            })),
        )
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let _ = axum::serve(listener, Router::new().fallback(echo)).await;
    });
    addr
}

async fn app_with_upstream(url: String) -> TestApp {
    let mut settings = test_settings();
    settings.upstream = Some(UpstreamSettings {
        url: url.parse().unwrap(),
        timeout: Duration::from_millis(500),
        headers: vec![(
            HeaderName::from_static("x-gateway"),
            HeaderValue::from_static("otpgate"),
        )],
    });
    TestApp::with(settings).await
}

fn request(method: Method, path: &str, token: Option<&str>) -> axum::http::request::Builder {
    let mut b = axum::http::Request::builder().method(method).uri(path);
    if let Some(t) = token {
        b = b.header("authorization", format!("Bearer {t}"));
    }
    b
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_are_forwarded_with_the_user_and_without_the_token() {
    let up = echo_upstream().await;
    let app = app_with_upstream(format!("http://{up}")).await;
    app.add_user("alice", "pw-secret-9").await;
    let token = app.login("alice", "pw-secret-9").await;
    let req = request(
        Method::PUT,
        "/api/astproxy/extension/201?x=1&y=%20b",
        Some(&token),
    )
    .header("x-otpgate-user", "root")
    .header("x-gateway", "forged")
    .header("x-custom", "kept")
    .header("content-type", "text/plain")
    .body(Body::from("hello upstream"))
    .unwrap();
    let r = app.send(req).await;
    assert_eq!(
        r.status,
        StatusCode::IM_A_TEAPOT,
        "upstream status passes through"
    );
    assert_eq!(r.headers["x-upstream"], "yes");
    let b = &r.body;
    assert_eq!(b["method"], "PUT");
    assert_eq!(b["path"], "/api/astproxy/extension/201");
    assert_eq!(b["query"], "x=1&y=%20b");
    assert_eq!(b["body"], "hello upstream");
    let h = &b["headers"];
    assert_eq!(
        h["x-otpgate-user"], "alice",
        "set by otpgate, not the client"
    );
    assert_eq!(h["x-gateway"], "otpgate", "configured header wins");
    assert_eq!(h["x-custom"], "kept");
    assert!(
        h.get("authorization").is_none(),
        "the token never reaches the app"
    );
    assert_eq!(h["host"], up.to_string());
    assert_eq!(h["x-forwarded-for"], "127.0.0.1");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_token_and_the_2fa_gate_apply_to_proxied_routes() {
    let up = echo_upstream().await;
    let app = app_with_upstream(format!("http://{up}")).await;
    let (_verified, _) = app.user_with_2fa("alice", "pw-secret-9").await;
    let pre = app.login("alice", "pw-secret-9").await;
    let r = app
        .send(
            request(Method::GET, "/api/anything", None)
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_error(&r, StatusCode::UNAUTHORIZED, "missing_token");
    let r = app.get("/api/anything", "garbage").await;
    assert_error(&r, StatusCode::UNAUTHORIZED, "invalid_token");
    let r = app.get("/api/anything?x=/verify-otp", &pre).await;
    assert_error(&r, StatusCode::FORBIDDEN, "otp_verification_required");
    // Outside the API prefix nothing is proxied.
    let r = app.get("/elsewhere", &pre).await;
    assert_error(&r, StatusCode::NOT_FOUND, "not_found");
    // otpgate's own routes are not proxied (405, not forwarded).
    let r = app.call(Method::DELETE, "/api/login", None, None).await;
    assert_error(&r, StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_an_upstream_unknown_api_routes_are_404() {
    let app = TestApp::new().await;
    app.add_user("alice", "pw-secret-9").await;
    let token = app.login("alice", "pw-secret-9").await;
    let r = app.get("/api/astproxy/extensions", &token).await;
    assert_error(&r, StatusCode::NOT_FOUND, "not_found");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_upstream_is_502_and_slow_upstream_is_504() {
    // Nothing listens on a port we just closed.
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let app = app_with_upstream(format!("http://{closed}")).await;
    app.add_user("alice", "pw-secret-9").await;
    let token = app.login("alice", "pw-secret-9").await;
    let r = app.get("/api/x", &token).await;
    assert_error(&r, StatusCode::BAD_GATEWAY, "upstream_unavailable");

    let up = echo_upstream().await;
    let app = app_with_upstream(format!("http://{up}")).await;
    app.add_user("alice", "pw-secret-9").await;
    let token = app.login("alice", "pw-secret-9").await;
    let started = std::time::Instant::now();
    let r = app.get("/api/slow", &token).await;
    assert_error(&r, StatusCode::GATEWAY_TIMEOUT, "upstream_timeout");
    assert!(started.elapsed() < Duration::from_millis(1500));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proxied_bodies_are_streamed_within_the_body_limit() {
    let up = echo_upstream().await;
    let app = app_with_upstream(format!("http://{up}/base/")).await;
    app.add_user("alice", "pw-secret-9").await;
    let token = app.login("alice", "pw-secret-9").await;
    // A streamed body (no Content-Length) within the limit arrives whole.
    let chunks: Vec<Result<Bytes, std::io::Error>> = (0..8)
        .map(|i| Ok(Bytes::from(format!("chunk{i};"))))
        .collect();
    let req = request(Method::POST, "/api/upload", Some(&token))
        .body(Body::from_stream(futures_util::stream::iter(chunks)))
        .unwrap();
    let r = app.send(req).await;
    assert_eq!(r.status, StatusCode::IM_A_TEAPOT);
    assert_eq!(
        r.body["path"], "/base/api/upload",
        "under the upstream's base path"
    );
    assert_eq!(
        r.body["body"],
        (0..8).map(|i| format!("chunk{i};")).collect::<String>()
    );
    // Over the limit, streamed: 413, never a 500.
    let big: Vec<Result<Bytes, std::io::Error>> =
        (0..40).map(|_| Ok(Bytes::from(vec![b'a'; 1024]))).collect();
    let req = request(Method::POST, "/api/upload", Some(&token))
        .body(Body::from_stream(futures_util::stream::iter(big)))
        .unwrap();
    let r = app.send(req).await;
    assert_error(&r, StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large");
    // Declared over the limit: 413 before anything is read.
    let req = request(Method::POST, "/api/upload", Some(&token))
        .header("content-length", "100000")
        .body(Body::from(vec![b'a'; 100_000]))
        .unwrap();
    assert_error(
        &app.send(req).await,
        StatusCode::PAYLOAD_TOO_LARGE,
        "payload_too_large",
    );
}
