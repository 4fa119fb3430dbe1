//! The token check: missing, malformed, forged, other key, `alg: none`,
//! expired, and a deleted user's token are all 401.

use axum::http::StatusCode;
use data_encoding::BASE64URL_NOPAD;
use otpgate_core::crypto::jwt::{Claims, JwtCodec};
use otpgate_core::secret::SecretBytes;

use crate::support::{TestApp, assert_error, claims};

fn b64(s: &str) -> String {
    BASE64URL_NOPAD.encode(s.as_bytes())
}

#[tokio::test]
async fn missing_and_malformed_tokens_are_401_json() {
    let app = TestApp::new().await;
    let r = app
        .call(axum::http::Method::GET, "/api/user/me", None, None)
        .await;
    assert_error(&r, StatusCode::UNAUTHORIZED, "missing_token");
    assert!(r.headers.contains_key("www-authenticate"));
    for bad in ["garbage", "a.b.c", "eyJhbGciOiJIUzI1NiJ9..", "x.y"] {
        let r = app.me(bad).await;
        assert_error(&r, StatusCode::UNAUTHORIZED, "invalid_token");
    }
}

#[tokio::test]
async fn alg_none_and_a_forged_payload_are_refused() {
    let app = TestApp::new().await;
    app.add_user("alice", "pw-secret-9").await;
    let t = app.login("alice", "pw-secret-9").await;
    let payload = t.split('.').nth(1).unwrap();
    let none = format!("{}.{}.", b64(r#"{"alg":"none","typ":"JWT"}"#), payload);
    assert_error(
        &app.me(&none).await,
        StatusCode::UNAUTHORIZED,
        "invalid_token",
    );
    let mut c = claims(&t);
    c["otp_verified"] = true.into();
    c["2fa"] = true.into();
    let parts: Vec<&str> = t.split('.').collect();
    let forged = format!("{}.{}.{}", parts[0], b64(&c.to_string()), parts[2]);
    assert_error(
        &app.me(&forged).await,
        StatusCode::UNAUTHORIZED,
        "invalid_token",
    );
}

#[tokio::test]
async fn a_token_signed_with_another_key_is_refused() {
    let app = TestApp::new().await;
    app.add_user("alice", "pw-secret-9").await;
    let real = claims(&app.login("alice", "pw-secret-9").await);
    let other = JwtCodec::new(&SecretBytes::new(vec![7u8; 64]), "otpgate").unwrap();
    let forged = other.sign(&Claims {
        sub: "alice".into(),
        id: "alice".into(),
        uid: real["uid"].as_i64().unwrap(),
        iss: "otpgate".into(),
        iat: real["iat"].as_i64().unwrap(),
        exp: real["exp"].as_i64().unwrap(),
        jti: "forged".into(),
        two_factor: false,
        otp_verified: true,
        two_factor_setup: false,
        aud: None,
    });
    assert_error(
        &app.me(&forged).await,
        StatusCode::UNAUTHORIZED,
        "invalid_token",
    );
}

#[tokio::test]
async fn an_expired_token_is_refused() {
    let app = TestApp::new().await;
    app.add_user("alice", "pw-secret-9").await;
    let t = app.login("alice", "pw-secret-9").await;
    let exp = claims(&t)["exp"].as_i64().unwrap();
    app.clock.set_secs(exp - 1);
    assert_eq!(app.me(&t).await.status, StatusCode::OK);
    app.clock.set_secs(exp);
    assert_error(&app.me(&t).await, StatusCode::UNAUTHORIZED, "token_expired");
}

#[tokio::test]
async fn a_deleted_users_token_dies_and_a_new_user_of_that_name_does_not_inherit_it() {
    let app = TestApp::new().await;
    app.add_user("alice", "pw-secret-9").await;
    let t = app.login("alice", "pw-secret-9").await;
    app.svc.delete_user("alice").await.unwrap();
    assert_error(&app.me(&t).await, StatusCode::UNAUTHORIZED, "token_revoked");
    app.add_user("alice", "pw2-secret-9").await;
    assert_error(&app.me(&t).await, StatusCode::UNAUTHORIZED, "token_revoked");
    let fresh = app.login("alice", "pw2-secret-9").await;
    assert_eq!(app.me(&fresh).await.status, StatusCode::OK);
}
