//! Recovery codes: password required, 2FA required, five 6-digit codes,
//! a new set replaces the old, each code works once, even under
//! concurrency, and they are stored only as hashes.

use axum::http::StatusCode;
use serde_json::json;

use crate::race::{count_where, race};
use crate::support::{TestApp, assert_error};

async fn codes(app: &TestApp, token: &str) -> Vec<String> {
    let r = app.new_recovery_codes(token, "pw-secret-9").await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    r.body["codes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn codes_need_the_password_and_2fa() {
    let app = TestApp::new().await;
    app.add_user("bob", "pw-secret-9").await;
    let bob = app.login("bob", "pw-secret-9").await;
    let r = app.new_recovery_codes(&bob, "pw-secret-9").await;
    assert_error(&r, StatusCode::CONFLICT, "2fa_not_enabled");
    let (token, _) = app.user_with_2fa("alice", "pw-secret-9").await;
    let r = app.new_recovery_codes(&token, "nope").await;
    assert_error(&r, StatusCode::UNAUTHORIZED, "invalid_password");
    let r = app
        .post("/api/2fa/recovery-codes", Some(&token), json!({}))
        .await;
    assert_error(&r, StatusCode::BAD_REQUEST, "invalid_request");
    let c = codes(&app, &token).await;
    assert_eq!(c.len(), 5);
    for code in &c {
        assert_eq!(code.len(), 6);
        assert!(code.bytes().all(|b| b.is_ascii_digit()));
    }
}

#[tokio::test]
async fn a_recovery_code_logs_in_once() {
    let app = TestApp::new().await;
    let (token, _) = app.user_with_2fa("alice", "pw-secret-9").await;
    let c = codes(&app, &token).await;
    let pre = app.login("alice", "pw-secret-9").await;
    let r = app.verify(&pre, "alice", &c[2]).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let full = r.body["data"]["token"].as_str().unwrap();
    assert_eq!(app.me(full).await.status, StatusCode::OK);
    let pre2 = app.login("alice", "pw-secret-9").await;
    assert_error(
        &app.verify(&pre2, "alice", &c[2]).await,
        StatusCode::BAD_REQUEST,
        "invalid_otp",
    );
    assert_eq!(
        app.verify(&pre2, "alice", &c[3]).await.status,
        StatusCode::OK,
        "the others still work"
    );
}

#[tokio::test]
async fn a_new_set_replaces_the_old_one() {
    let app = TestApp::new().await;
    let (token, _) = app.user_with_2fa("alice", "pw-secret-9").await;
    let old = codes(&app, &token).await;
    let new = codes(&app, &token).await;
    assert_ne!(old, new);
    let pre = app.login("alice", "pw-secret-9").await;
    let stale = old.iter().find(|c| !new.contains(c)).unwrap();
    assert_error(
        &app.verify(&pre, "alice", stale).await,
        StatusCode::BAD_REQUEST,
        "invalid_otp",
    );
    assert_eq!(
        app.verify(&pre, "alice", &new[0]).await.status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn one_code_used_by_two_concurrent_requests_succeeds_exactly_once() {
    let app = TestApp::new().await;
    let (token, _) = app.user_with_2fa("alice", "pw-secret-9").await;
    let c = codes(&app, &token).await;
    let mut tokens = Vec::new();
    for _ in 0..8 {
        tokens.push(app.login("alice", "pw-secret-9").await);
    }
    let results = race(tokens.len(), |i| {
        let (app, t, code) = (app.clone(), tokens[i].clone(), c[0].clone());
        async move { app.verify(&t, "alice", &code).await }
    })
    .await;
    let ok = count_where(&results, |r| r.status == StatusCode::OK);
    assert_eq!(
        ok,
        1,
        "{:?}",
        results.iter().map(|r| r.status).collect::<Vec<_>>()
    );
    // Each use takes its place on the OTP lockout first (API.md §1: the
    // limits hold under concurrency): past the fifth, uses in flight are
    // refused with 429 without being evaluated.
    assert!(results.iter().all(|r| {
        [
            StatusCode::OK,
            StatusCode::BAD_REQUEST,
            StatusCode::TOO_MANY_REQUESTS,
        ]
        .contains(&r.status)
    }));
    assert!(count_where(&results, |r| r.status != StatusCode::TOO_MANY_REQUESTS) <= 5);
}

#[tokio::test]
async fn codes_secrets_and_passwords_are_not_stored_in_plaintext() {
    let app = TestApp::new().await;
    let password = "correct-horse-battery-staple";
    let (token, secret) = app.user_with_2fa("carol", password).await;
    let r = app.new_recovery_codes(&token, password).await;
    let codes: Vec<String> = r.body["codes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_owned())
        .collect();
    let mut dump = Vec::new();
    for entry in std::fs::read_dir(app.dir.path()).unwrap() {
        let path = entry.unwrap().path();
        if path.to_string_lossy().contains("otpgate.db") {
            dump.extend(std::fs::read(&path).unwrap());
        }
    }
    assert!(dump.len() > 4096);
    let contains = |needle: &[u8]| dump.windows(needle.len()).any(|w| w == needle);
    assert!(!contains(&secret), "raw TOTP seed");
    assert!(
        !contains(data_encoding::BASE32_NOPAD.encode(&secret).as_bytes()),
        "base32 TOTP seed"
    );
    assert!(!contains(password.as_bytes()), "password");
    assert!(contains(b"$argon2id$"), "hashes are argon2id");
    for code in &codes {
        assert!(
            !stands_alone(&dump, code.as_bytes()),
            "recovery code {code} in plaintext"
        );
    }
}

/// Whether `code` occurs other than inside a longer token (six digits
/// can occur by chance inside base64 hash text).
fn stands_alone(dump: &[u8], code: &[u8]) -> bool {
    let part_of_token =
        |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'$' | b'=' | b',');
    dump.windows(code.len()).enumerate().any(|(i, w)| {
        w == code
            && !(i > 0 && part_of_token(dump[i - 1]))
            && !dump.get(i + code.len()).is_some_and(|b| part_of_token(*b))
    })
}
