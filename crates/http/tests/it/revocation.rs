//! Revocation: logout revokes only the presented token; password change,
//! 2FA disable and admin revoke-all revoke every token; state survives a
//! restart.

use axum::http::StatusCode;
use otpgate_core::secret::SecretString;

use crate::support::{TestApp, assert_error};

#[tokio::test]
async fn logout_revokes_only_this_token() {
    let app = TestApp::new().await;
    app.add_user("alice", "pw-secret-9").await;
    let a = app.login("alice", "pw-secret-9").await;
    let b = app.login("alice", "pw-secret-9").await;
    let r = app.logout(&a).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body["code"], 200);
    assert_error(&app.me(&a).await, StatusCode::UNAUTHORIZED, "token_revoked");
    assert_eq!(app.me(&b).await.status, StatusCode::OK);
    let again = app.logout(&a).await;
    assert_error(&again, StatusCode::UNAUTHORIZED, "token_revoked");
}

#[tokio::test]
async fn a_password_change_revokes_every_token_but_not_later_ones() {
    let app = TestApp::new().await;
    app.add_user("alice", "pw-secret-9").await;
    let a = app.login("alice", "pw-secret-9").await;
    app.svc
        .set_password("alice", Some(SecretString::new("new-pw-secret-9")))
        .await
        .unwrap();
    assert_error(&app.me(&a).await, StatusCode::UNAUTHORIZED, "token_revoked");
    // A login in the same second as the change works.
    let b = app.login("alice", "new-pw-secret-9").await;
    assert_eq!(app.me(&b).await.status, StatusCode::OK);
    let old = app.try_login("alice", "pw-secret-9").await;
    assert_eq!(old.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn admin_revoke_all_revokes_every_token() {
    let app = TestApp::new().await;
    app.add_user("alice", "pw-secret-9").await;
    let a = app.login("alice", "pw-secret-9").await;
    let b = app.login("alice", "pw-secret-9").await;
    app.svc.revoke_all_tokens("ALICE").await.unwrap();
    for t in [a, b] {
        assert_error(&app.me(&t).await, StatusCode::UNAUTHORIZED, "token_revoked");
    }
}

#[tokio::test]
async fn state_survives_a_restart() {
    let app = TestApp::new().await;
    let (token, secret) = app.user_with_2fa("alice", "pw-secret-9").await;
    let other = app.login("alice", "pw-secret-9").await;
    app.logout(&other).await;
    let restarted = app.restart().await;
    assert_eq!(
        restarted.me(&token).await.status,
        StatusCode::OK,
        "verified token still valid"
    );
    assert_error(
        &restarted.me(&other).await,
        StatusCode::UNAUTHORIZED,
        "token_revoked",
    );
    assert_eq!(restarted.status_2fa(&token).await.body["status"], true);
    let pre = restarted.login("alice", "pw-secret-9").await;
    let r = restarted
        .verify(&pre, "alice", &restarted.code(&secret, 0))
        .await;
    assert_eq!(
        r.status,
        StatusCode::OK,
        "the same key file opens the stored secret: {:?}",
        r.body
    );
}

/// A token checked again and again (answered from memory while nothing is
/// committed) is refused on the very next request after another process
/// (the CLI) revokes it: revoke-all, a password change, a deletion.
#[tokio::test]
async fn revocations_by_another_process_apply_to_the_next_request() {
    let app = TestApp::new().await;
    let cli = app.other_process().await;
    for name in ["alice", "bob", "carol"] {
        app.add_user(name, "pw-secret-9").await;
    }
    let tokens: Vec<String> = {
        let mut t = Vec::new();
        for name in ["alice", "bob", "carol"] {
            t.push(app.login(name, "pw-secret-9").await);
        }
        t
    };
    for t in &tokens {
        for _ in 0..3 {
            assert_eq!(app.me(t).await.status, StatusCode::OK);
        }
    }
    cli.revoke_all_tokens("alice").await.unwrap();
    assert_error(
        &app.me(&tokens[0]).await,
        StatusCode::UNAUTHORIZED,
        "token_revoked",
    );
    assert_eq!(app.me(&tokens[1]).await.status, StatusCode::OK);
    cli.set_password("bob", Some(SecretString::new("new-secret-9")))
        .await
        .unwrap();
    assert_error(
        &app.me(&tokens[1]).await,
        StatusCode::UNAUTHORIZED,
        "token_revoked",
    );
    assert_eq!(app.me(&tokens[2]).await.status, StatusCode::OK);
    cli.delete_user("carol").await.unwrap();
    assert_error(
        &app.me(&tokens[2]).await,
        StatusCode::UNAUTHORIZED,
        "token_revoked",
    );
}

/// The same token, remembered, still expires on time.
#[tokio::test]
async fn a_remembered_token_still_expires() {
    let app = TestApp::new().await;
    app.add_user("alice", "pw-secret-9").await;
    let t = app.login("alice", "pw-secret-9").await;
    assert_eq!(app.me(&t).await.status, StatusCode::OK);
    assert_eq!(app.me(&t).await.status, StatusCode::OK);
    let exp = crate::support::claims(&t)["exp"].as_i64().unwrap();
    app.clock.set_secs(exp);
    assert_error(&app.me(&t).await, StatusCode::UNAUTHORIZED, "token_expired");
}

/// Live sockets are re-checked when verify-otp revokes a token that a
/// socket could hold (one that passes the 2FA gate), and not for the
/// pre-OTP token of a login's second step, which no socket can hold.
#[tokio::test]
async fn verify_otp_wakes_socket_checks_only_for_tokens_a_socket_could_hold() {
    let app = TestApp::new().await;
    let (verified, secret) = app.user_with_2fa("alice", "pw-alice-1").await;
    let mut signal = app.svc.revocation_signal();
    signal.mark_unchanged();

    let pending = app.login("alice", "pw-alice-1").await;
    let r = app.verify(&pending, "alice", &app.code(&secret, 0)).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert!(
        !signal.has_changed().expect("open"),
        "pre-OTP token: no sweep"
    );

    app.clock.advance_secs(30);
    let r = app.verify(&verified, "alice", &app.code(&secret, 0)).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert!(signal.has_changed().expect("open"), "verified token: sweep");
    assert_error(
        &app.me(&verified).await,
        StatusCode::UNAUTHORIZED,
        "token_revoked",
    );
}
