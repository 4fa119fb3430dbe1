//! Who may use a token (API.md §1, §6b; issue 15 finding 3): every place
//! that mints one, and where an application's token is refused. Person
//! tokens (login, verify-otp) carry no `aud`; the Capillary `otp/validate`
//! token carries `aud` = the brand, and the native routes, the reverse
//! proxy and Socket.IO refuse it with 403 `token_audience_mismatch`, so an
//! e-mailed code never becomes a session that turns a user's TOTP off.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::http::StatusCode;
use serde_json::json;

use crate::clients::cap_who;
use crate::sio::{Ev, Sio, authe_ok, unauthorized};
use crate::support::{TestApp, assert_error, claims, settings_with_upstream};

/// The Capillary flow for `user` named by e-mail, on brand `brand`: the
/// password, then the e-mailed code; returns the `otp/validate` token.
async fn capillary_token(app: &TestApp, user: &str, password: &str, brand: &str) -> String {
    let who = cap_who(
        "EMAIL",
        &format!("{user}@example.org"),
        "attacker-laptop",
        brand,
    );
    let r = app.cap_token(&who, password).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let sid = r.body["user"]["sessionId"].as_str().unwrap().to_owned();
    let r = app.cap_otp(&who, &sid).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let out = app.outbox(user).await;
    assert_eq!(out.last().unwrap().channel.as_str(), "email");
    let code = app.last_code(user).await;
    let r = app.cap_validate(&who, &sid, json!(code)).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    r.body["auth"]["token"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn person_tokens_have_no_audience_and_the_capillary_token_has_the_brand() {
    let app = TestApp::new().await;
    app.app_key("Bukl").await;
    // Native login, 2FA off.
    app.add_user("bob", "pw-b-secret-9").await;
    let bob = app.login("bob", "pw-b-secret-9").await;
    assert!(claims(&bob).get("aud").is_none(), "{}", claims(&bob));
    // Native login with 2FA on (pre-OTP), and verify-otp's token.
    let (verified, secret) = app.user_with_2fa("alice", "pw-a-secret-9").await;
    assert!(claims(&verified).get("aud").is_none());
    let pre = app.login("alice", "pw-a-secret-9").await;
    assert!(claims(&pre).get("aud").is_none());
    let r = app.verify(&pre, "alice", &app.code(&secret, 0)).await;
    assert_eq!(r.status, StatusCode::OK);
    let again = r.body["data"]["token"].as_str().unwrap();
    assert!(claims(again).get("aud").is_none());
    // Capillary: the brand's token.
    let cap = capillary_token(&app, "bob", "pw-b-secret-9", "Bukl").await;
    let c = claims(&cap);
    assert_eq!(c["aud"], "bukl", "the application's (canonical) name: {c}");
    assert_eq!(c["sub"], "bob");
    assert_eq!(c["otp_verified"], true);
    // The other dialects mint no token at all: Mudbase answers a message,
    // Single Connect an empty 200, the legacy login a nonce.
    app.add_user("carol", "pw-c-secret-9").await;
    let carol = app.login("carol", "pw-c-secret-9").await;
    let code_secret = app.pending_secret(&carol).await;
    let r = app
        .mudbase_verify(Some(&carol), &app.code(&code_secret, 0))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(r.body, json!({"message": "2FA enabled successfully"}));
    let key = app.app_key("Shop").await;
    let r = app.sc_status(&key, "bob", None, "Shop").await;
    assert_eq!(r.status, StatusCode::OK);
    let r = app
        .sc_valid(&key, "bob", &app.last_code("bob").await, "Shop")
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.bytes.is_empty(), "no token: {:?}", r.bytes);
}

#[tokio::test]
async fn an_emailed_capillary_code_never_becomes_a_session_that_disables_totp() {
    // Alice has TOTP on. Her password and a code e-mailed through the
    // Capillary flow (the brand name is the only "key") give a token...
    let app = TestApp::new().await;
    app.app_key("Bukl").await;
    let (verified, _) = app.user_with_2fa("alice", "pw-a-secret-9").await;
    let cap = capillary_token(&app, "alice", "pw-a-secret-9", "Bukl").await;
    assert_eq!(claims(&cap)["otp_verified"], true);
    // ...that is the application's: refused on the native API.
    let r = app.me(&cap).await;
    assert_error(&r, StatusCode::FORBIDDEN, "token_audience_mismatch");
    let r = app
        .post(
            "/api/2fa/disable",
            Some(&cap),
            json!({"username": "alice", "password": "pw-a-secret-9"}),
        )
        .await;
    assert_error(&r, StatusCode::FORBIDDEN, "token_audience_mismatch");
    for (path, body) in [
        (
            "/api/2fa/recovery-codes",
            json!({"password": "pw-a-secret-9"}),
        ),
        (
            "/api/2fa/verify-otp",
            json!({"username": "alice", "otp": "123456"}),
        ),
        ("/api/logout", json!({})),
    ] {
        let r = app.post(path, Some(&cap), body).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{path}: {:?}", r.body);
        assert_eq!(r.body["message"], "token_audience_mismatch", "{path}");
    }
    // Mudbase, in its own error shape.
    let r = app.mudbase_verify(Some(&cap), "123456").await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{:?}", r.body);
    for path in ["/api/2fa/status", "/api/2fa/qr-code"] {
        let r = app.get(path, &cap).await;
        assert_error(&r, StatusCode::FORBIDDEN, "token_audience_mismatch");
    }
    // Her TOTP stays on.
    let r = app.status_2fa(&verified).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body["status"], true, "{:?}", r.body);
    let r = app.me(&verified).await;
    assert_eq!(r.body["two_factor"], true);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_proxy_and_socket_io_refuse_an_application_token() {
    let seen = Arc::new(Mutex::new(0usize));
    let count = seen.clone();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let up = listener.local_addr().unwrap();
    let upstream = Router::new().fallback(async move || {
        *count.lock().unwrap() += 1;
        "hello"
    });
    tokio::spawn(async move {
        let _ = axum::serve(listener, upstream).await;
    });
    let settings = settings_with_upstream(up);
    let app = TestApp::with(settings).await;
    app.app_key("Bukl").await;
    app.add_user("bob", "pw-b-secret-9").await;
    let person = app.login("bob", "pw-b-secret-9").await;
    let cap = capillary_token(&app, "bob", "pw-b-secret-9", "Bukl").await;
    // The proxy: the person's token goes through, the application's not.
    assert_eq!(app.get("/api/app/x", &person).await.status, StatusCode::OK);
    assert_eq!(*seen.lock().unwrap(), 1);
    let r = app.get("/api/app/x", &cap).await;
    assert_error(&r, StatusCode::FORBIDDEN, "token_audience_mismatch");
    assert_eq!(*seen.lock().unwrap(), 1, "the upstream saw nothing more");
    // Socket.IO: `401` and disconnected.
    let addr = app.serve().await;
    let mut sio = Sio::connect(addr, "/api/ws/").await;
    sio.emit(
        "login",
        json!({"accessKeyId": "bob", "token": cap, "uaType": "desktop"}),
    )
    .await;
    assert_eq!(sio.next(Duration::from_secs(3)).await, Some(unauthorized()));
    assert_eq!(sio.next(Duration::from_secs(3)).await, Some(Ev::Disconnect));
    let mut sio = Sio::connect(addr, "/api/ws/").await;
    assert_eq!(sio.login("bob", &person).await, authe_ok());
}
