//! The pre-OTP gate: a token with `2fa: true, otp_verified: false` may call
//! only status, verify-otp and logout; the route decides, not the URI text.

use axum::http::{Method, StatusCode};
use serde_json::json;

use crate::support::{TestApp, assert_error};

#[tokio::test]
async fn a_pre_otp_token_opens_only_status_verify_and_logout() {
    let app = TestApp::new().await;
    app.user_with_2fa("alice", "pw").await;
    let pre = app.login("alice", "pw").await;
    for path in [
        "/api/user/me",
        "/api/2fa/qr-code",
        "/api/2fa/qr-code.png",
        "/api/2fa/qr-code.svg",
    ] {
        assert_error(
            &app.get(path, &pre).await,
            StatusCode::FORBIDDEN,
            "otp_verification_required",
        );
    }
    for path in ["/api/2fa/recovery-codes", "/api/2fa/disable"] {
        let r = app.post(path, Some(&pre), json!({"password": "pw"})).await;
        assert_error(&r, StatusCode::FORBIDDEN, "otp_verification_required");
    }
    assert_eq!(app.get("/api/2fa/status", &pre).await.body["status"], true);
    assert_eq!(
        app.call(Method::POST, "/api/logout", Some(&pre), None)
            .await
            .status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn the_gate_matches_routes_not_substrings() {
    let app = TestApp::new().await;
    app.user_with_2fa("alice", "pw").await;
    let pre = app.login("alice", "pw").await;
    for path in [
        "/api/user/me?x=/verify-otp",
        "/api/user/me?/2fa/verify-otp",
        "/api/2fa/qr-code?next=/api/2fa/verify-otp",
    ] {
        assert_error(
            &app.get(path, &pre).await,
            StatusCode::FORBIDDEN,
            "otp_verification_required",
        );
    }
    let r = app
        .post(
            "/api/2fa/disable?x=/verify-otp",
            Some(&pre),
            json!({"password": "pw"}),
        )
        .await;
    assert_error(&r, StatusCode::FORBIDDEN, "otp_verification_required");
    assert_eq!(
        app.get("/api/2fa/status", &pre).await.body["status"],
        true,
        "2FA still on"
    );
}
