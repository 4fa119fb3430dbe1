//! The TOTP lifecycle over HTTP: enrolment (JSON, PNG, SVG), confirmation,
//! login through the 2FA step, replay refusal, username match, disable.

use axum::http::{Method, StatusCode};
use serde_json::json;

use crate::support::{TestApp, assert_error, claims};

#[tokio::test]
async fn qr_code_hands_out_one_pending_secret_in_the_contract_shape() {
    let app = TestApp::new().await;
    app.add_user("alice", "pw-secret-9").await;
    let t = app.login("alice", "pw-secret-9").await;
    let a = app.get("/api/2fa/qr-code", &t).await;
    assert_eq!(a.status, StatusCode::OK);
    assert_eq!(a.body["code"], 200);
    assert_eq!(a.body["message"], "QR code string");
    let key = a.body["data"]["key"].as_str().unwrap();
    assert_eq!(key.len(), 32, "20 bytes in base32 without padding");
    assert!(
        key.bytes()
            .all(|b| b.is_ascii_uppercase() || (b'2'..=b'7').contains(&b))
    );
    let url = a.body["data"]["url"].as_str().unwrap();
    assert_eq!(
        url,
        format!(
            "otpauth://totp/otpgate:alice?secret={key}&issuer=otpgate&algorithm=SHA1&digits=6&period=30"
        )
    );
    let b = app.get("/api/2fa/qr-code", &t).await;
    assert_eq!(
        b.body["data"]["key"], key,
        "the same pending secret until enabled"
    );
    assert_eq!(
        app.status_2fa(&t).await.body["status"],
        false,
        "pending is not enabled"
    );
}

#[tokio::test]
async fn qr_code_images_are_png_and_svg() {
    let app = TestApp::new().await;
    app.add_user("alice", "pw-secret-9").await;
    let t = app.login("alice", "pw-secret-9").await;
    let png = app.get("/api/2fa/qr-code.png", &t).await;
    assert_eq!(png.status, StatusCode::OK);
    assert_eq!(png.headers["content-type"], "image/png");
    assert_eq!(&png.bytes[..8], b"\x89PNG\r\n\x1a\n");
    let svg = app.get("/api/2fa/qr-code.svg", &t).await;
    assert_eq!(svg.headers["content-type"], "image/svg+xml");
    assert!(String::from_utf8_lossy(&svg.bytes).contains("<svg"));
}

#[tokio::test]
async fn a_correct_code_enables_2fa_and_swaps_the_token() {
    let app = TestApp::new().await;
    app.add_user("alice", "pw-secret-9").await;
    let t = app.login("alice", "pw-secret-9").await;
    let other = app.login("alice", "pw-secret-9").await;
    let secret = app.pending_secret(&t).await;
    let wrong = app.verify(&t, "alice", "000000").await;
    assert_error(&wrong, StatusCode::BAD_REQUEST, "invalid_otp");
    let r = app.verify(&t, "alice", &app.code(&secret, 0)).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(r.body["code"], 200);
    assert_eq!(r.body["message"], "OTP verified");
    assert!(r.body["data"]["expire"].is_string());
    let new = r.body["data"]["token"].as_str().unwrap();
    let c = claims(new);
    assert_eq!(c["2fa"], true);
    assert_eq!(c["otp_verified"], true);
    assert_eq!(app.status_2fa(new).await.body["status"], true);
    assert_eq!(app.me(new).await.body["two_factor"], true);
    // Tokens issued before 2FA was enabled are revoked, including the caller's.
    assert_error(&app.me(&t).await, StatusCode::UNAUTHORIZED, "token_revoked");
    assert_error(
        &app.me(&other).await,
        StatusCode::UNAUTHORIZED,
        "token_revoked",
    );
    // The enabled secret is never shown again.
    assert_error(
        &app.get("/api/2fa/qr-code", new).await,
        StatusCode::CONFLICT,
        "2fa_already_enabled",
    );
    assert_error(
        &app.get("/api/2fa/qr-code.png", new).await,
        StatusCode::CONFLICT,
        "2fa_already_enabled",
    );
}

#[tokio::test]
async fn previous_and_next_steps_are_accepted_but_not_further() {
    let app = TestApp::new().await;
    let (_, secret) = app.user_with_2fa("alice", "pw-secret-9").await;
    // Two steps past the enrolment step, so "previous" is an unused step.
    app.clock.advance_secs(60);
    for (offset, expected) in [
        (-2, StatusCode::BAD_REQUEST),
        (2, StatusCode::BAD_REQUEST),
        (-1, StatusCode::OK),
        (1, StatusCode::OK),
    ] {
        let pre = app.login("alice", "pw-secret-9").await;
        let r = app.verify(&pre, "alice", &app.code(&secret, offset)).await;
        assert_eq!(r.status, expected, "offset {offset}: {:?}", r.body);
    }
}

#[tokio::test]
async fn login_with_2fa_goes_through_verify_otp() {
    let app = TestApp::new().await;
    let (_, secret) = app.user_with_2fa("alice", "pw-secret-9").await;
    let pre = app.login("alice", "pw-secret-9").await;
    let c = claims(&pre);
    assert_eq!(
        (c["2fa"].as_bool(), c["otp_verified"].as_bool()),
        (Some(true), Some(false))
    );
    let r = app.verify(&pre, "alice", &app.code(&secret, 0)).await;
    assert_eq!(r.status, StatusCode::OK);
    let full = r.body["data"]["token"].as_str().unwrap();
    assert_eq!(app.me(full).await.status, StatusCode::OK);
    assert_error(
        &app.status_2fa(&pre).await,
        StatusCode::UNAUTHORIZED,
        "token_revoked",
    );
}

#[tokio::test]
async fn a_code_is_never_accepted_twice_for_a_user() {
    let app = TestApp::new().await;
    let (_, secret) = app.user_with_2fa("alice", "pw-secret-9").await;
    let code = app.code(&secret, 0);
    let a = app.login("alice", "pw-secret-9").await;
    let b = app.login("alice", "pw-secret-9").await;
    assert_eq!(app.verify(&a, "alice", &code).await.status, StatusCode::OK);
    assert_error(
        &app.verify(&b, "alice", &code).await,
        StatusCode::BAD_REQUEST,
        "invalid_otp",
    );
    // An earlier step after a later one was used is a replay too.
    let c = app.login("alice", "pw-secret-9").await;
    assert_error(
        &app.verify(&c, "alice", &app.code(&secret, -1)).await,
        StatusCode::BAD_REQUEST,
        "invalid_otp",
    );
    app.clock.advance_secs(30);
    assert_eq!(
        app.verify(&c, "alice", &app.code(&secret, 0)).await.status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn the_enrolment_code_cannot_be_replayed_to_log_in() {
    let app = TestApp::new().await;
    app.add_user("alice", "pw-secret-9").await;
    let t = app.login("alice", "pw-secret-9").await;
    let secret = app.pending_secret(&t).await;
    let code = app.code(&secret, 0);
    assert_eq!(app.verify(&t, "alice", &code).await.status, StatusCode::OK);
    let pre = app.login("alice", "pw-secret-9").await;
    assert_error(
        &app.verify(&pre, "alice", &code).await,
        StatusCode::BAD_REQUEST,
        "invalid_otp",
    );
}

#[tokio::test]
async fn verify_otp_checks_the_username_against_the_token() {
    let app = TestApp::new().await;
    let (_, secret) = app.user_with_2fa("alice", "pw-secret-9").await;
    app.user_with_2fa("bob", "pw-secret-9").await;
    let pre = app.login("alice", "pw-secret-9").await;
    let r = app.verify(&pre, "bob", &app.code(&secret, 0)).await;
    assert_error(&r, StatusCode::FORBIDDEN, "username_mismatch");
    let r = app.verify(&pre, " ALICE", &app.code(&secret, 0)).await;
    assert_eq!(r.status, StatusCode::OK, "same normalisation as login");
    assert_eq!(
        claims(r.body["data"]["token"].as_str().unwrap())["sub"],
        "alice"
    );
}

#[tokio::test]
async fn verify_otp_without_any_secret_is_404() {
    let app = TestApp::new().await;
    app.add_user("alice", "pw-secret-9").await;
    let t = app.login("alice", "pw-secret-9").await;
    assert_error(
        &app.verify(&t, "alice", "123456").await,
        StatusCode::NOT_FOUND,
        "user_secret_not_found",
    );
}

#[tokio::test]
async fn malformed_codes_are_invalid_otp() {
    let app = TestApp::new().await;
    let (_, _) = app.user_with_2fa("alice", "pw-secret-9").await;
    for bad in ["", "12345", "1234567", "abcdef", "12 345", "１２３４５６"] {
        let pre = app.login("alice", "pw-secret-9").await;
        assert_error(
            &app.verify(&pre, "alice", bad).await,
            StatusCode::BAD_REQUEST,
            "invalid_otp",
        );
        app.clock.advance_secs(3600);
    }
    // OTP sent as a JSON number is accepted as text.
    let pre = app.login("alice", "pw-secret-9").await;
    let r = app
        .post(
            "/api/2fa/verify-otp",
            Some(&pre),
            json!({"username": "alice", "otp": 123456}),
        )
        .await;
    assert_error(&r, StatusCode::BAD_REQUEST, "invalid_otp");
}

#[tokio::test]
async fn disable_needs_the_password_and_revokes_everything() {
    let app = TestApp::new().await;
    let (token, _) = app.user_with_2fa("alice", "pw-secret-9").await;
    let wrong = app.disable_2fa(&token, "nope").await;
    assert_error(&wrong, StatusCode::UNAUTHORIZED, "invalid_password");
    let mismatch = app
        .post(
            "/api/2fa/disable",
            Some(&token),
            json!({"username": "bob", "password": "pw-secret-9"}),
        )
        .await;
    assert_error(&mismatch, StatusCode::FORBIDDEN, "username_mismatch");
    let missing = app
        .post(
            "/api/2fa/disable",
            Some(&token),
            json!({"username": "alice"}),
        )
        .await;
    assert_error(&missing, StatusCode::BAD_REQUEST, "invalid_request");
    let ok = app
        .post(
            "/api/2fa/disable",
            Some(&token),
            json!({"username": "Alice", "password": "pw-secret-9"}),
        )
        .await;
    assert_eq!(ok.status, StatusCode::OK, "{:?}", ok.body);
    assert_eq!(ok.body["code"], 200);
    assert_error(
        &app.me(&token).await,
        StatusCode::UNAUTHORIZED,
        "token_revoked",
    );
    let fresh = app.login("alice", "pw-secret-9").await;
    assert_eq!(claims(&fresh)["2fa"], false);
    assert_eq!(app.status_2fa(&fresh).await.body["status"], false);
    assert_eq!(app.me(&fresh).await.status, StatusCode::OK);
    // The secret was deleted: enrolling again hands out a new one.
    let again = app.disable_2fa(&fresh, "pw-secret-9").await;
    assert_error(&again, StatusCode::CONFLICT, "2fa_not_enabled");
}

#[tokio::test]
async fn after_disable_enrolment_starts_with_a_new_secret() {
    let app = TestApp::new().await;
    let (token, secret) = app.user_with_2fa("alice", "pw-secret-9").await;
    let ok = app.disable_2fa(&token, "pw-secret-9").await;
    assert_eq!(ok.status, StatusCode::OK);
    let fresh = app.login("alice", "pw-secret-9").await;
    let new_secret = app.pending_secret(&fresh).await;
    assert_ne!(new_secret, secret);
    let r = app
        .call(Method::GET, "/api/2fa/qr-code", Some(&fresh), None)
        .await;
    assert_eq!(r.status, StatusCode::OK);
}
