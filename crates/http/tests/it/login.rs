//! Password login: JSON and form bodies, case-insensitive usernames,
//! token claims, and wrong credentials.

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use serde_json::json;

use crate::support::{TestApp, assert_error, claims};

#[tokio::test]
async fn login_returns_a_token_with_the_contract_claims() {
    let app = TestApp::new().await;
    app.add_user("alice", "pw-alice-1").await;
    let r = app.try_login("alice", "pw-alice-1").await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body["code"], 200);
    assert!(r.body["expire"].as_str().unwrap().ends_with('Z'));
    let c = claims(r.body["token"].as_str().unwrap());
    assert_eq!(c["sub"], "alice");
    assert_eq!(c["id"], "alice");
    assert_eq!(c["2fa"], false);
    assert_eq!(c["otp_verified"], false);
    assert!(c["jti"].as_str().unwrap().len() >= 16);
    assert_eq!(
        c["exp"].as_i64().unwrap() - c["iat"].as_i64().unwrap(),
        14 * 24 * 3600
    );
    assert_eq!(r.headers["cache-control"], "no-store");
}

#[tokio::test]
async fn every_token_has_its_own_jti() {
    let app = TestApp::new().await;
    app.add_user("alice", "pw-secret-9").await;
    let a = claims(&app.login("alice", "pw-secret-9").await);
    let b = claims(&app.login("alice", "pw-secret-9").await);
    assert_ne!(a["jti"], b["jti"]);
}

#[tokio::test]
async fn usernames_are_case_insensitive_and_kept_lower_case() {
    let app = TestApp::new().await;
    app.add_user("Alice", "pw-secret-9").await;
    let t = app.login("  ALICE ", "pw-secret-9").await;
    assert_eq!(claims(&t)["sub"], "alice");
    let me = app.me(&t).await;
    assert_eq!(me.body["username"], "alice");
}

#[tokio::test]
async fn login_accepts_a_form_body_and_json_without_content_type() {
    let app = TestApp::new().await;
    app.add_user("alice", "p w&=1-long").await;
    let form = Request::builder()
        .method(Method::POST)
        .uri("/api/login")
        .header("content-type", "application/x-www-form-urlencoded")
        .body(Body::from("username=alice&password=p+w%26%3D1-long"))
        .unwrap();
    assert_eq!(app.send(form).await.status, StatusCode::OK);
    let bare = Request::builder()
        .method(Method::POST)
        .uri("/api/login")
        .body(Body::from(
            r#"{"username":"alice","password":"p w&=1-long"}"#,
        ))
        .unwrap();
    assert_eq!(app.send(bare).await.status, StatusCode::OK);
}

#[tokio::test]
async fn wrong_password_and_unknown_user_get_the_same_401() {
    let app = TestApp::new().await;
    app.add_user("alice", "pw-secret-9").await;
    let a = app.try_login("alice", "nope").await;
    assert_error(&a, StatusCode::UNAUTHORIZED, "invalid_credentials");
    let b = app.try_login("mallory", "nope").await;
    assert_error(&b, StatusCode::UNAUTHORIZED, "invalid_credentials");
    assert_eq!(a.body, b.body);
}

#[tokio::test]
async fn missing_or_empty_fields_are_400() {
    let app = TestApp::new().await;
    for body in [
        json!({"username": "alice"}),
        json!({"password": "x"}),
        json!({"username": "", "password": ""}),
        json!({}),
    ] {
        let r = app.post("/api/login", None, body).await;
        assert_error(&r, StatusCode::BAD_REQUEST, "invalid_request");
    }
}

#[tokio::test]
async fn user_me_shows_the_profile() {
    let app = TestApp::new().await;
    app.add_user("alice", "pw-secret-9").await;
    let t = app.login("alice", "pw-secret-9").await;
    let r = app.me(&t).await;
    assert_eq!(r.status, StatusCode::OK);
    for body in [&r.body, &r.body["data"]] {
        assert_eq!(body["username"], "alice");
        assert_eq!(body["display_name"], "alice");
        assert_eq!(body["email"], "alice@example.org");
        assert!(body["phone"].is_null());
        assert_eq!(body["two_factor"], false);
    }
}
