//! Lockout and back-off: OTP failures per user, password failures per
//! username and per client IP; 429 with Retry-After, even for the right
//! code; the lock grows and a success resets it.

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use serde_json::json;

use crate::support::{TestApp, assert_error};

fn retry_after(r: &crate::support::Resp) -> i64 {
    r.headers["retry-after"].to_str().unwrap().parse().unwrap()
}

#[tokio::test]
async fn five_wrong_otps_lock_the_user_even_for_the_right_code() {
    let app = TestApp::new().await;
    let (_, secret) = app.user_with_2fa("alice", "pw-secret-9").await;
    let pre = app.login("alice", "pw-secret-9").await;
    for _ in 0..5 {
        assert_error(
            &app.verify(&pre, "alice", "000000").await,
            StatusCode::BAD_REQUEST,
            "invalid_otp",
        );
    }
    let r = app.verify(&pre, "alice", &app.code(&secret, 0)).await;
    assert_error(&r, StatusCode::TOO_MANY_REQUESTS, "too_many_attempts");
    let wait = retry_after(&r);
    assert!((1..=30).contains(&wait), "{wait}");
    // The lock belongs to the user, not the token or the spelling.
    let other = app.login("ALICE", "pw-secret-9").await;
    assert_eq!(
        app.verify(&other, "alice", &app.code(&secret, 0))
            .await
            .status,
        StatusCode::TOO_MANY_REQUESTS
    );
    app.clock.advance_secs(30);
    let ok = app.verify(&pre, "alice", &app.code(&secret, 0)).await;
    assert_eq!(ok.status, StatusCode::OK, "{:?}", ok.body);
}

#[tokio::test]
async fn the_back_off_doubles_and_a_success_resets_it() {
    let app = TestApp::new().await;
    let (_, secret) = app.user_with_2fa("alice", "pw-secret-9").await;
    let pre = app.login("alice", "pw-secret-9").await;
    for _ in 0..5 {
        app.verify(&pre, "alice", "000000").await;
    }
    app.clock.advance_secs(31);
    assert_error(
        &app.verify(&pre, "alice", "000000").await,
        StatusCode::BAD_REQUEST,
        "invalid_otp",
    );
    let r = app.verify(&pre, "alice", &app.code(&secret, 0)).await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS);
    assert!(
        retry_after(&r) > 30 && retry_after(&r) <= 60,
        "doubled: {}",
        retry_after(&r)
    );
    app.clock.advance_secs(61);
    assert_eq!(
        app.verify(&pre, "alice", &app.code(&secret, 0))
            .await
            .status,
        StatusCode::OK
    );
    // Reset: four more failures do not lock.
    let pre = app.login("alice", "pw-secret-9").await;
    for _ in 0..4 {
        assert_eq!(
            app.verify(&pre, "alice", "000000").await.status,
            StatusCode::BAD_REQUEST
        );
    }
    app.clock.advance_secs(30);
    assert_eq!(
        app.verify(&pre, "alice", &app.code(&secret, 0))
            .await
            .status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn the_back_off_is_capped_at_fifteen_minutes() {
    let app = TestApp::new().await;
    let (_, secret) = app.user_with_2fa("alice", "pw-secret-9").await;
    let pre = app.login("alice", "pw-secret-9").await;
    for _ in 0..12 {
        app.verify(&pre, "alice", "000000").await;
        app.clock.advance_secs(901);
    }
    app.verify(&pre, "alice", "000000").await;
    let r = app.verify(&pre, "alice", &app.code(&secret, 0)).await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS);
    assert!(
        retry_after(&r) <= 900 && retry_after(&r) > 450,
        "{}",
        retry_after(&r)
    );
}

#[tokio::test]
async fn wrong_passwords_lock_the_username() {
    let app = TestApp::new().await;
    app.add_user("alice", "pw-secret-9").await;
    for _ in 0..5 {
        let r = app
            .post(
                "/api/login",
                None,
                json!({"username": "alice", "password": "x"}),
            )
            .await;
        assert_error(&r, StatusCode::UNAUTHORIZED, "invalid_credentials");
    }
    let r = app
        .post(
            "/api/login",
            None,
            json!({"username": "Alice", "password": "pw-secret-9"}),
        )
        .await;
    assert_error(&r, StatusCode::TOO_MANY_REQUESTS, "too_many_attempts");
    assert!(retry_after(&r) >= 1);
    app.clock.advance_secs(31);
    app.login("alice", "pw-secret-9").await;
}

async fn login_from(app: &TestApp, ip: &str, user: &str, pw: &str) -> StatusCode {
    let req = Request::builder()
        .method(Method::POST)
        .uri("/api/login")
        .header("x-forwarded-for", ip)
        .body(Body::from(
            json!({"username": user, "password": pw}).to_string(),
        ))
        .unwrap();
    app.send(req).await.status
}

#[tokio::test]
async fn twenty_failures_from_one_ip_lock_that_ip_whatever_the_usernames() {
    let app = TestApp::new().await;
    app.add_user("alice", "pw-secret-9").await;
    for i in 0..20 {
        assert_eq!(
            login_from(&app, "203.0.113.9", &format!("user{i}"), "x").await,
            StatusCode::UNAUTHORIZED
        );
    }
    assert_eq!(
        login_from(&app, "203.0.113.9", "alice", "pw-secret-9").await,
        StatusCode::TOO_MANY_REQUESTS
    );
    assert_eq!(
        login_from(&app, "198.51.100.7", "alice", "pw-secret-9").await,
        StatusCode::OK,
        "other IPs unaffected"
    );
}

#[tokio::test]
async fn wrong_passwords_on_disable_count_towards_the_lock() {
    let app = TestApp::new().await;
    let (token, _) = app.user_with_2fa("alice", "pw-secret-9").await;
    for _ in 0..5 {
        let r = app
            .post(
                "/api/2fa/disable",
                Some(&token),
                json!({"password": "guess"}),
            )
            .await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    }
    let r = app
        .post(
            "/api/2fa/disable",
            Some(&token),
            json!({"password": "pw-secret-9"}),
        )
        .await;
    assert_error(&r, StatusCode::TOO_MANY_REQUESTS, "too_many_attempts");
}
