//! The pre-OTP gate: a token with `2fa: true, otp_verified: false` may call
//! only status, verify-otp and logout; the route decides, not the URI text.

use axum::http::StatusCode;
use serde_json::json;

use crate::support::{TestApp, assert_error};

#[tokio::test]
async fn a_pre_otp_token_opens_only_status_verify_and_logout() {
    let app = TestApp::new().await;
    app.user_with_2fa("alice", "pw-secret-9").await;
    let pre = app.login("alice", "pw-secret-9").await;
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
        let r = app
            .post(path, Some(&pre), json!({"password": "pw-secret-9"}))
            .await;
        assert_error(&r, StatusCode::FORBIDDEN, "otp_verification_required");
    }
    assert_eq!(app.status_2fa(&pre).await.body["status"], true);
    assert_eq!(
        app.me(&pre).await.body["error"],
        "verify an OTP with POST /api/2fa/verify-otp first"
    );
    assert_eq!(app.logout(&pre).await.status, StatusCode::OK);
}

#[tokio::test]
async fn the_gate_matches_routes_not_substrings() {
    let app = TestApp::new().await;
    app.user_with_2fa("alice", "pw-secret-9").await;
    let pre = app.login("alice", "pw-secret-9").await;
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
            json!({"password": "pw-secret-9"}),
        )
        .await;
    assert_error(&r, StatusCode::FORBIDDEN, "otp_verification_required");
    assert_eq!(
        app.status_2fa(&pre).await.body["status"],
        true,
        "2FA still on"
    );
}

#[tokio::test]
async fn the_gate_hint_names_the_configured_prefix() {
    let app = TestApp::with(otpgate_http::HttpSettings {
        api_prefix: "/auth/v2/".into(),
        ..crate::support::test_settings()
    })
    .await;
    app.add_user("alice", "pw-secret-9").await;
    let login = || async {
        let r = app
            .post(
                "/auth/v2/login",
                None,
                json!({"username": "alice", "password": "pw-secret-9"}),
            )
            .await;
        r.body["token"].as_str().expect("token").to_owned()
    };
    let t = login().await;
    let key = app.get("/auth/v2/2fa/qr-code", &t).await.body["data"]["key"]
        .as_str()
        .expect("key")
        .to_owned();
    let secret = data_encoding::BASE32_NOPAD
        .decode(key.as_bytes())
        .expect("base32");
    let r = app
        .post(
            "/auth/v2/2fa/verify-otp",
            Some(&t),
            json!({"username": "alice", "otp": app.code(&secret, 0)}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let pre = login().await;
    let r = app.get("/auth/v2/user/me", &pre).await;
    assert_error(&r, StatusCode::FORBIDDEN, "otp_verification_required");
    assert_eq!(
        r.body["error"],
        "verify an OTP with POST /auth/v2/2fa/verify-otp first"
    );
}
