//! The Mudbase-style verify (API.md §5, seed 001): `POST
//! /api/users/2fa/verify` with a JWT and `{"token":"123456"}` turns on the
//! pending TOTP secret; 400 for a bad or missing code, 401 without a valid
//! token, 403 with an API key; the OTP lockout is the native one.

use axum::http::StatusCode;
use serde_json::json;

use crate::support::{Resp, TestApp};

const PATH: &str = "/api/users/2fa/verify";

/// Mudbase's error shape: the human text in `message`, the stable code in
/// `error`, `code` equal to the status.
fn assert_mudbase_error(r: &Resp, status: StatusCode, error: &str) {
    assert_eq!(r.status, status, "{:?}", r.body);
    assert_eq!(r.body["code"], status.as_u16(), "{:?}", r.body);
    assert_eq!(r.body["error"], error, "{:?}", r.body);
    assert!(r.body["message"].is_string(), "{:?}", r.body);
}

async fn enrolling(app: &TestApp) -> (String, Vec<u8>) {
    app.add_user("alice", "pw-secret-9").await;
    let token = app.login("alice", "pw-secret-9").await;
    let secret = app.pending_secret(&token).await;
    (token, secret)
}

#[tokio::test]
async fn the_seed_request_enables_2fa() {
    let app = TestApp::new().await;
    let (token, secret) = enrolling(&app).await;
    let r = app
        .mudbase_verify(Some(&token), &app.code(&secret, 0))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(r.body, json!({"message": "2FA enabled successfully"}));
    // Enabling moved the user's cut-off: the token used is revoked; a new
    // login gets a pre-OTP token and 2FA is on.
    assert_eq!(
        app.status_2fa(&token).await.status,
        StatusCode::UNAUTHORIZED
    );
    let pre = app.login("alice", "pw-secret-9").await;
    assert_eq!(app.status_2fa(&pre).await.body["status"], true);
    // Enabled once: the next call is refused, whatever the code.
    app.clock.advance_secs(30);
    let fresh = app.verify(&pre, "alice", &app.code(&secret, 0)).await.body["data"]["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let again = app
        .mudbase_verify(Some(&fresh), &app.code(&secret, 1))
        .await;
    assert_mudbase_error(&again, StatusCode::CONFLICT, "2fa_already_enabled");
}

#[tokio::test]
async fn bad_missing_and_expired_codes_are_400() {
    let app = TestApp::new().await;
    let (token, secret) = enrolling(&app).await;
    let good = app.code(&secret, 0);
    for body in [
        json!({"token": crate::support::other_code(&good)}),
        json!({"token": app.code(&secret, -2)}),
        json!({"token": "12345"}),
        json!({"token": "abcdef"}),
        json!({"token": ""}),
    ] {
        let r = app.post(PATH, Some(&token), body.clone()).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{body}: {:?}", r.body);
        assert_eq!(r.body["code"], 400);
    }
    for body in [
        json!({}),
        json!({"otp": good}),
        json!({"token": null}),
        json!({"token": [1]}),
    ] {
        let r = app.post(PATH, Some(&token), body.clone()).await;
        assert_mudbase_error(&r, StatusCode::BAD_REQUEST, "invalid_request");
    }
    let r = app
        .post_raw(
            PATH,
            &[
                ("authorization", &format!("Bearer {token}")),
                ("content-type", "application/json"),
            ],
            b"{\"token\":",
        )
        .await;
    assert_mudbase_error(&r, StatusCode::BAD_REQUEST, "invalid_request");
    let r = app
        .post_raw(
            PATH,
            &[
                ("authorization", &format!("Bearer {token}")),
                ("content-type", "text/xml"),
            ],
            b"<token/>",
        )
        .await;
    assert_mudbase_error(
        &r,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported_media_type",
    );
    // Nothing was enabled; the right code still works.
    let ok = app.mudbase_verify(Some(&token), &good).await;
    assert_eq!(ok.status, StatusCode::OK, "{:?}", ok.body);
}

#[tokio::test]
async fn a_missing_or_invalid_token_is_401_and_an_api_key_is_403() {
    let app = TestApp::new().await;
    let (token, secret) = enrolling(&app).await;
    let code = app.code(&secret, 0);
    let r = app.mudbase_verify(None, &code).await;
    assert_mudbase_error(&r, StatusCode::UNAUTHORIZED, "missing_token");
    let r = app.mudbase_verify(Some("not.a.jwt"), &code).await;
    assert_mudbase_error(&r, StatusCode::UNAUTHORIZED, "invalid_token");
    let key = app.app_key("shop").await;
    for auth in [None, Some(format!("Bearer {token}"))] {
        let mut headers = vec![
            ("x-api-key", key.as_str()),
            ("content-type", "application/json"),
        ];
        if let Some(a) = &auth {
            headers.push(("authorization", a));
        }
        let r = app
            .post_raw(
                PATH,
                &headers,
                json!({"token": code}).to_string().as_bytes(),
            )
            .await;
        assert_mudbase_error(&r, StatusCode::FORBIDDEN, "api_key_not_supported");
        assert_eq!(
            r.body["message"],
            "API keys are not supported for this endpoint"
        );
    }
    assert_eq!(
        app.status_2fa(&token).await.body["status"],
        false,
        "nothing was enabled"
    );
}

#[tokio::test]
async fn without_a_pending_secret_there_is_nothing_to_verify() {
    let app = TestApp::new().await;
    app.add_user("alice", "pw-secret-9").await;
    let token = app.login("alice", "pw-secret-9").await;
    let r = app.mudbase_verify(Some(&token), "123456").await;
    assert_mudbase_error(&r, StatusCode::BAD_REQUEST, "user_secret_not_found");
}

#[tokio::test]
async fn the_lockout_is_shared_with_the_native_api() {
    let app = TestApp::new().await;
    let (token, secret) = enrolling(&app).await;
    let good = app.code(&secret, 0);
    let bad = crate::support::other_code(&good);
    for _ in 0..3 {
        let r = app.mudbase_verify(Some(&token), &bad).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST);
    }
    for _ in 0..2 {
        let r = app.verify(&token, "alice", &bad).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST);
    }
    let r = app.mudbase_verify(Some(&token), &good).await;
    assert_mudbase_error(&r, StatusCode::TOO_MANY_REQUESTS, "too_many_attempts");
    assert!(r.headers.contains_key("retry-after"));
    let r = app.verify(&token, "alice", &good).await;
    assert_eq!(
        r.status,
        StatusCode::TOO_MANY_REQUESTS,
        "native refuses too"
    );
    app.clock.advance_secs(31);
    let r = app
        .mudbase_verify(Some(&token), &app.code(&secret, 0))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
}
