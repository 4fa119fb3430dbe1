//! Operations: health and readiness, the global per-IP rate limit.

use axum::http::{Method, StatusCode};

use crate::support::{TestApp, test_settings};

#[tokio::test]
async fn health_and_readiness() {
    let app = TestApp::new().await;
    let h = app.call(Method::GET, "/healthz", None, None).await;
    assert_eq!(h.status, StatusCode::OK);
    assert_eq!(h.body["status"], "ok");
    assert_eq!(h.bytes, br#"{"status":"ok"}"#);
    assert_eq!(h.headers["content-type"], "application/json");
    let r = app.call(Method::GET, "/readyz", None, None).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body["status"], "ready");
}

#[tokio::test]
async fn the_global_rate_limit_answers_429_json_with_retry_after() {
    let settings = otpgate_http::HttpSettings {
        rate_limit_average: 1,
        rate_limit_burst: 3,
        ..test_settings()
    };
    let app = TestApp::with(settings).await;
    for _ in 0..3 {
        assert_eq!(
            app.call(Method::GET, "/api/nope", None, None).await.status,
            StatusCode::NOT_FOUND
        );
    }
    let r = app.call(Method::GET, "/api/nope", None, None).await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(r.body["code"], 429);
    assert!(r.headers.contains_key("retry-after"));
    // Monitoring endpoints are not limited.
    assert_eq!(
        app.call(Method::GET, "/healthz", None, None).await.status,
        StatusCode::OK
    );
}
