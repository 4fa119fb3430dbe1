//! Socket.IO at /api/ws/: the `login` event goes through the same token
//! check as HTTP (bad, foreign, pre-OTP, expired, revoked tokens and
//! malformed payloads get `401` and a disconnect); sockets that do not log
//! in are dropped after the login timeout (clock-driven); logged-in
//! sockets get `session_revoked` and a disconnect when their token is
//! revoked here or by another process sharing the store, and
//! `2fa_status` when the user's 2FA changes; the socket whose token
//! verify-otp swaps goes on with the new token.

use std::time::{Duration, Instant};

use axum::http::StatusCode;
use otpgate_core::secret::SecretString;
use serde_json::json;

use crate::sio::{Ev, Sio, authe_ok, unauthorized};
use crate::support::TestApp;

const SOON: Duration = Duration::from_secs(3);

async fn refused(sio: &mut Sio, payload: serde_json::Value) {
    let what = payload.to_string();
    let what = what.get(..80).unwrap_or(&what).to_owned();
    sio.emit("login", payload).await;
    assert_eq!(sio.next(SOON).await, Some(unauthorized()), "{what}");
    assert_eq!(sio.next(SOON).await, Some(Ev::Disconnect), "{what}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_verified_token_logs_in() {
    let app = TestApp::new().await;
    app.add_user("alice", "pw-secret-9").await;
    let token = app.login("alice", "pw-secret-9").await;
    let addr = app.serve().await;
    let mut sio = Sio::connect(addr, "/api/ws/").await;
    // accessKeyId is matched like a login name.
    assert_eq!(sio.login("Alice", &token).await, authe_ok());
    assert_eq!(
        sio.next(Duration::from_millis(500)).await,
        None,
        "stays connected"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_foreign_pre_otp_and_expired_tokens_are_refused() {
    let app = TestApp::new().await;
    app.add_user("bob", "pw-secret-9").await;
    let bob = app.login("bob", "pw-secret-9").await;
    let (_verified, _) = app.user_with_2fa("alice", "pw-secret-9").await;
    let pre_otp = app.login("alice", "pw-secret-9").await;
    let addr = app.serve().await;

    let mut sio = Sio::connect(addr, "/api/ws/").await;
    refused(
        &mut sio,
        json!({"accessKeyId": "bob", "token": "not-a-jwt"}),
    )
    .await;
    // Another user's (valid) token.
    let mut sio = Sio::connect(addr, "/api/ws/").await;
    refused(&mut sio, json!({"accessKeyId": "alice", "token": bob})).await;
    // A token before the OTP step: the 2FA gate applies.
    let mut sio = Sio::connect(addr, "/api/ws/").await;
    refused(&mut sio, json!({"accessKeyId": "alice", "token": pre_otp})).await;
    // Expired: the clock moves past the 14-day lifetime.
    app.clock.advance_secs(15 * 24 * 3600);
    let mut sio = Sio::connect(addr, "/api/ws/").await;
    refused(&mut sio, json!({"accessKeyId": "bob", "token": bob})).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_and_oversized_logins_get_401_and_a_disconnect() {
    let app = TestApp::new().await;
    app.add_user("bob", "pw-secret-9").await;
    let bob = app.login("bob", "pw-secret-9").await;
    let addr = app.serve().await;
    for payload in [
        json!("a string"),
        json!(42),
        json!(null),
        json!([]),
        json!({}),
        json!({"accessKeyId": "bob"}),
        json!({"token": bob}),
        json!({"accessKeyId": 7, "token": bob}),
        json!({"accessKeyId": "bob", "token": 12345}),
        json!({"accessKeyId": "bob", "token": "x".repeat(20_000)}),
    ] {
        let mut sio = Sio::connect(addr, "/api/ws/").await;
        refused(&mut sio, payload).await;
    }
    // No payload at all.
    let mut sio = Sio::connect(addr, "/api/ws/").await;
    sio.send(r#"42["login"]"#).await;
    assert_eq!(sio.expect(SOON).await, unauthorized());
    // Over the payload limit: the transport refuses it and closes.
    let mut sio = Sio::connect(addr, "/api/ws/").await;
    let big = format!(
        "42{}",
        json!(["login", {"accessKeyId": "bob", "token": "y".repeat(64 * 1024)}])
    );
    if sio.try_send(&big).await {
        let ev = sio.expect(SOON).await;
        assert!(
            ev == unauthorized() || ev == Ev::Closed || ev == Ev::Disconnect,
            "{ev:?}"
        );
    }
    // The server is still fine.
    let mut sio = Sio::connect(addr, "/api/ws/").await;
    assert_eq!(sio.login("bob", &bob).await, authe_ok());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_socket_that_does_not_log_in_within_10_s_is_dropped() {
    let app = TestApp::new().await;
    let addr = app.serve().await;
    let mut sio = Sio::connect(addr, "/api/ws/").await;
    app.clock.advance_secs(9);
    assert_eq!(
        sio.next(Duration::from_millis(700)).await,
        None,
        "9 s: still there"
    );
    app.clock.advance_secs(1);
    let ev = sio.expect(SOON).await;
    assert_eq!(ev, Ev::Disconnect);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logout_kicks_the_live_socket_at_once() {
    let app = TestApp::new().await;
    app.add_user("alice", "pw-secret-9").await;
    let token = app.login("alice", "pw-secret-9").await;
    let other = app.login("alice", "pw-secret-9").await;
    let addr = app.serve().await;
    let mut sio = Sio::connect(addr, "/api/ws/").await;
    assert_eq!(sio.login("alice", &token).await, authe_ok());
    let mut bystander = Sio::connect(addr, "/api/ws/").await;
    assert_eq!(bystander.login("alice", &other).await, authe_ok());
    let started = Instant::now();
    let r = app.logout(&token).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(
        sio.expect(SOON).await,
        Ev::Event(
            "session_revoked".into(),
            json!({"message": "session revoked", "reason": "logout"})
        )
    );
    assert_eq!(sio.expect(SOON).await, Ev::Disconnect);
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(
        bystander.next(Duration::from_millis(600)).await,
        None,
        "logout revokes only that token"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revocations_by_another_process_close_sockets_within_a_second() {
    let app = TestApp::new().await;
    app.add_user("alice", "pw-secret-9").await;
    app.add_user("bob", "pw-secret-9").await;
    let a = app.login("alice", "pw-secret-9").await;
    let b = app.login("bob", "pw-secret-9").await;
    let addr = app.serve().await;
    let mut alice = Sio::connect(addr, "/api/ws/").await;
    assert_eq!(alice.login("alice", &a).await, authe_ok());
    let mut bob = Sio::connect(addr, "/api/ws/").await;
    assert_eq!(bob.login("bob", &b).await, authe_ok());
    // The CLI (another process on the same store): revoke-all, then a
    // password change.
    let cli = app.other_process().await;
    let started = Instant::now();
    cli.revoke_all_tokens("alice").await.unwrap();
    assert_eq!(
        alice.expect(SOON).await,
        Ev::Event(
            "session_revoked".into(),
            json!({"message": "session revoked", "reason": "revoked"})
        )
    );
    assert_eq!(alice.expect(SOON).await, Ev::Disconnect);
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
    let started = Instant::now();
    cli.set_password("bob", Some(SecretString::new("new-secret-9")))
        .await
        .unwrap();
    assert!(matches!(bob.expect(SOON).await, Ev::Event(ref n, _) if n == "session_revoked"));
    assert_eq!(bob.expect(SOON).await, Ev::Disconnect);
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_enrolling_socket_survives_the_token_swap_and_every_other_one_ends() {
    let app = TestApp::new().await;
    app.add_user("alice", "pw-secret-9").await;
    let token = app.login("alice", "pw-secret-9").await;
    let other = app.login("alice", "pw-secret-9").await;
    let addr = app.serve().await;
    let mut enrolling = Sio::connect(addr, "/api/ws/").await;
    assert_eq!(enrolling.login("alice", &token).await, authe_ok());
    let mut elsewhere = Sio::connect(addr, "/api/ws/").await;
    assert_eq!(elsewhere.login("alice", &other).await, authe_ok());
    // A wrong code swaps nothing and ends nothing.
    let secret = app.pending_secret(&token).await;
    let wrong = crate::support::other_code(&app.code(&secret, 0));
    let r = app.verify(&token, "alice", &wrong).await;
    assert_ne!(r.status, StatusCode::OK);
    assert_eq!(enrolling.next(Duration::from_millis(500)).await, None);
    // Enrolment with the socket's token: 2FA on, older tokens revoked.
    let r = app.verify(&token, "alice", &app.code(&secret, 0)).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let verified = r.body["data"]["token"].as_str().unwrap().to_owned();
    // The session that enrolled goes on, told of 2FA, never revoked.
    assert_eq!(
        enrolling.expect(SOON).await,
        Ev::Event("2fa_status".into(), json!({"status": true}))
    );
    assert_eq!(
        enrolling.next(Duration::from_secs(1)).await,
        None,
        "no session_revoked for the enrolling socket"
    );
    // Every other socket of the user ends.
    assert_eq!(
        elsewhere.expect(SOON).await,
        Ev::Event("2fa_status".into(), json!({"status": true}))
    );
    assert!(matches!(elsewhere.expect(SOON).await, Ev::Event(ref n, _) if n == "session_revoked"));
    assert_eq!(elsewhere.expect(SOON).await, Ev::Disconnect);
    // The socket is bound to the new token now: its logout ends it.
    let r = app.logout(&verified).await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(matches!(enrolling.expect(SOON).await, Ev::Event(ref n, _) if n == "session_revoked"));
    assert_eq!(enrolling.expect(SOON).await, Ev::Disconnect);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn turning_2fa_off_is_announced_then_the_session_ends() {
    let app = TestApp::new().await;
    let (verified, _) = app.user_with_2fa("alice", "pw-secret-9").await;
    let addr = app.serve().await;
    let mut sio = Sio::connect(addr, "/api/ws/").await;
    assert_eq!(sio.login("alice", &verified).await, authe_ok());
    let r = app.disable_2fa(&verified, "pw-secret-9").await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(
        sio.expect(SOON).await,
        Ev::Event("2fa_status".into(), json!({"status": false}))
    );
    assert!(matches!(sio.expect(SOON).await, Ev::Event(ref n, _) if n == "session_revoked"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_live_socket_ends_when_its_token_expires() {
    let app = TestApp::new().await;
    app.add_user("alice", "pw-secret-9").await;
    let token = app.login("alice", "pw-secret-9").await;
    let addr = app.serve().await;
    let mut sio = Sio::connect(addr, "/api/ws/").await;
    assert_eq!(sio.login("alice", &token).await, authe_ok());
    app.clock.advance_secs(14 * 24 * 3600);
    assert_eq!(
        sio.expect(SOON).await,
        Ev::Event(
            "session_revoked".into(),
            json!({"message": "session revoked", "reason": "expired"})
        )
    );
}
