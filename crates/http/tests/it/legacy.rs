//! The legacy challenge login (API.md §2): the HMAC-SHA1 token is computed
//! by the test client independently (`crate::clients`, hmac + sha1 crates), nonces are single use and
//! expire after 60 s, the method answers 410 after its sunset unless
//! enabled, carries the deprecation headers while it runs, refuses users
//! with 2FA, and its credentials are revoked with the user's tokens.

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use otpgate_core::config::{DEFAULT_LEGACY_SUNSET, LegacyPolicy, Policy};
use otpgate_core::secret::SecretString;
use serde_json::json;

use crate::clients::{legacy_client_token, legacy_credential};
use crate::sio::{Ev, Sio, authe_ok, unauthorized};
use crate::support::{TestApp, assert_error, cheap_policy, test_settings};

/// An app whose clock is a day before the default sunset.
async fn before_sunset() -> TestApp {
    let app = TestApp::new().await;
    app.clock.set_secs(DEFAULT_LEGACY_SUNSET - 24 * 3600);
    app
}

/// An app with `legacy.enabled = true` (the clock is past the sunset).
async fn enabled() -> TestApp {
    let policy = Policy {
        legacy: LegacyPolicy {
            enabled: Some(true),
            ..LegacyPolicy::default()
        },
        ..cheap_policy()
    };
    TestApp::with_policy(test_settings(), policy).await
}

#[tokio::test]
async fn the_challenge_login_works_with_an_independently_computed_hmac() {
    let app = before_sunset().await;
    app.add_user("alice", "S3cret-pw-9").await;
    let nonce = app.legacy_nonce("alice", "S3cret-pw-9").await;
    let cred = legacy_credential("alice", "S3cret-pw-9", &nonce);
    for _ in 0..3 {
        let r = app.webrest_me(&cred).await;
        assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
        assert_eq!(r.body["username"], "alice");
        assert_eq!(r.body["data"]["email"], "alice@example.org");
        assert_eq!(r.body["two_factor"], false);
    }
    // A wrong token, another nonce's token, a malformed header: 401.
    let wrong = legacy_credential("alice", "wrong", &nonce);
    for bad in [wrong.as_str(), "alice:", "alice", "alice:zz", "Bearer abc"] {
        let r = app.webrest_me(bad).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{bad}: {:?}", r.body);
        assert_eq!(r.body["code"], 401);
        assert!(
            r.headers.get("www-authenticate").is_none(),
            "no Bearer challenge a legacy client would take for a nonce"
        );
    }
    let r = app
        .send(
            Request::get("/webrest/user/me")
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_error(&r, StatusCode::UNAUTHORIZED, "missing_token");
    // Another user's name with alice's token.
    app.add_user("bob", "pw-secret-9").await;
    let r = app.webrest_me(&cred.replacen("alice", "bob", 1)).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    // The legacy token is no Bearer token for the native API.
    let r = app.me(&cred).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn wrong_passwords_get_401_without_a_nonce_and_are_throttled() {
    let app = before_sunset().await;
    app.add_user("alice", "pw-secret-9").await;
    for _ in 0..5 {
        let r = app.legacy_login("alice", "nope").await;
        assert_error(&r, StatusCode::UNAUTHORIZED, "invalid_credentials");
        assert!(r.headers.get("www-authenticate").is_none());
    }
    let r = app.legacy_login("alice", "pw-secret-9").await;
    assert_error(&r, StatusCode::TOO_MANY_REQUESTS, "too_many_attempts");
    let r = app
        .post(
            "/webrest/authentication/login",
            None,
            json!({"username": "alice"}),
        )
        .await;
    assert_error(&r, StatusCode::BAD_REQUEST, "invalid_request");
}

#[tokio::test]
async fn a_nonce_is_single_use_and_expires_after_60_s() {
    let app = before_sunset().await;
    app.add_user("alice", "pw-secret-9").await;
    // Unused for 61 s: refused.
    let late = app.legacy_nonce("alice", "pw-secret-9").await;
    app.clock.advance_secs(61);
    let r = app
        .webrest_me(&legacy_credential("alice", "pw-secret-9", &late))
        .await;
    assert_error(&r, StatusCode::UNAUTHORIZED, "invalid_token");
    // Used within 60 s, logged out: the same token (and so its nonce) is
    // never accepted again.
    let nonce = app.legacy_nonce("alice", "pw-secret-9").await;
    app.clock.advance_secs(59);
    let cred = legacy_credential("alice", "pw-secret-9", &nonce);
    assert_eq!(app.webrest_me(&cred).await.status, StatusCode::OK);
    let r = app
        .webrest(Method::POST, "/webrest/authentication/logout", &cred)
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let r = app.webrest_me(&cred).await;
    assert_error(&r, StatusCode::UNAUTHORIZED, "invalid_token");
    // Every login gets a fresh nonce.
    let a = app.legacy_nonce("alice", "pw-secret-9").await;
    let b = app.legacy_nonce("alice", "pw-secret-9").await;
    assert_ne!(a, b);
}

#[tokio::test]
async fn legacy_credentials_are_revoked_with_the_users_tokens_and_expire() {
    let app = enabled().await;
    app.add_user("alice", "pw-secret-9").await;
    let nonce = app.legacy_nonce("alice", "pw-secret-9").await;
    let cred = legacy_credential("alice", "pw-secret-9", &nonce);
    assert_eq!(app.webrest_me(&cred).await.status, StatusCode::OK);
    app.svc.revoke_all_tokens("alice").await.unwrap();
    let r = app.webrest_me(&cred).await;
    assert_error(&r, StatusCode::UNAUTHORIZED, "token_revoked");
    // A nonce handed out before a password change is dead too.
    let pending = app.legacy_nonce("alice", "pw-secret-9").await;
    app.svc
        .set_password("alice", Some(SecretString::new("new-secret-9")))
        .await
        .unwrap();
    let r = app
        .webrest_me(&legacy_credential("alice", "pw-secret-9", &pending))
        .await;
    assert_error(&r, StatusCode::UNAUTHORIZED, "token_revoked");
    // A grant lives as long as a JWT (14 days), then expires.
    let nonce = app.legacy_nonce("alice", "new-secret-9").await;
    let cred = legacy_credential("alice", "new-secret-9", &nonce);
    assert_eq!(app.webrest_me(&cred).await.status, StatusCode::OK);
    app.clock.advance_secs(14 * 24 * 3600 - 1);
    assert_eq!(
        app.webrest_me(&cred).await.status,
        StatusCode::OK,
        "not before"
    );
    app.clock.advance_secs(1);
    let r = app.webrest_me(&cred).await;
    assert_error(&r, StatusCode::UNAUTHORIZED, "token_expired");
}

#[tokio::test]
async fn users_with_2fa_are_refused() {
    let app = before_sunset().await;
    let (_t, _s) = app.user_with_2fa("alice", "pw-secret-9").await;
    let r = app.legacy_login("alice", "pw-secret-9").await;
    assert_error(&r, StatusCode::FORBIDDEN, "2fa_requires_jwt_login");
    assert!(r.headers.get("www-authenticate").is_none());
}

#[tokio::test]
async fn sunset_before_and_after_with_the_clock_and_the_override() {
    let app = before_sunset().await;
    app.add_user("alice", "pw-secret-9").await;
    let r = app.legacy_login("alice", "pw-secret-9").await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert_eq!(r.headers["deprecation"], "@1748736000");
    assert_eq!(r.headers["sunset"], "Mon, 01 Jun 2026 00:00:00 GMT");
    assert_eq!(
        r.headers["link"],
        "</docs/legacy-migration>; rel=\"deprecation\""
    );
    let nonce = r.headers["www-authenticate"].to_str().unwrap()[7..].to_owned();
    let cred = legacy_credential("alice", "pw-secret-9", &nonce);
    let r = app.webrest_me(&cred).await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.headers.contains_key("sunset"));
    // The native API carries no deprecation headers.
    let t = app.login("alice", "pw-secret-9").await;
    assert!(!app.me(&t).await.headers.contains_key("sunset"));
    // Sunset reached: every legacy route is 410 JSON, the native API works.
    app.clock.set_secs(DEFAULT_LEGACY_SUNSET);
    for (m, p) in [
        (Method::POST, "/webrest/authentication/login"),
        (Method::GET, "/webrest/user/me"),
        (Method::GET, "/webrest/anything/else"),
        (Method::GET, "/socket.io/?EIO=4&transport=polling"),
    ] {
        let r = app.webrest(m, p, &cred).await;
        assert_error(&r, StatusCode::GONE, "legacy_login_disabled");
        assert!(r.headers.contains_key("link"), "{p}");
    }
    // The legacy paths are matched by segment: the bare folders are
    // gated, look-alikes are not.
    for p in ["/webrest", "/webrest/", "/socket.io", "/socket.io/"] {
        let r = app.webrest(Method::GET, p, &cred).await;
        assert_error(&r, StatusCode::GONE, "legacy_login_disabled");
    }
    for p in [
        "/webresting",
        "/api/webrest",
        "/socket.iox",
        "/api/socket.io/",
    ] {
        let r = app.webrest(Method::GET, p, &cred).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{p}");
        assert!(!r.headers.contains_key("sunset"), "{p}");
    }
    assert_eq!(app.me(&t).await.status, StatusCode::OK);
    // The migration guide the Link points to is served.
    let r = app
        .send(
            Request::get("/docs/legacy-migration")
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(String::from_utf8_lossy(&r.bytes).contains("/api/login"));

    // legacy.enabled = true keeps it on after the sunset...
    let on = enabled().await;
    on.add_user("alice", "pw-secret-9").await;
    let nonce = on.legacy_nonce("alice", "pw-secret-9").await;
    let cred = legacy_credential("alice", "pw-secret-9", &nonce);
    assert_eq!(on.webrest_me(&cred).await.status, StatusCode::OK);
    // ... and false turns it off before.
    let policy = Policy {
        legacy: LegacyPolicy {
            enabled: Some(false),
            ..LegacyPolicy::default()
        },
        ..cheap_policy()
    };
    let off = TestApp::with_policy(test_settings(), policy).await;
    off.clock.set_secs(DEFAULT_LEGACY_SUNSET - 3600);
    off.add_user("alice", "pw-secret-9").await;
    assert_error(
        &off.legacy_login("alice", "pw-secret-9").await,
        StatusCode::GONE,
        "legacy_login_disabled",
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn legacy_socket_io_accepts_the_legacy_token_and_is_revoked_with_it() {
    let app = before_sunset().await;
    app.add_user("alice", "pw-secret-9").await;
    let nonce = app.legacy_nonce("alice", "pw-secret-9").await;
    let token = legacy_client_token("alice", "pw-secret-9", &nonce);
    let addr = app.serve().await;
    let mut sio = Sio::connect(addr, "/socket.io/").await;
    sio.emit(
        "login",
        json!({"accessKeyId": "alice", "token": "0".repeat(40)}),
    )
    .await;
    assert_eq!(
        sio.expect(std::time::Duration::from_secs(3)).await,
        unauthorized()
    );
    let mut sio = Sio::connect(addr, "/socket.io/").await;
    assert_eq!(sio.login("alice", &token).await, authe_ok());
    // A JWT is no legacy token.
    let jwt = app.login("alice", "pw-secret-9").await;
    let mut other = Sio::connect(addr, "/socket.io/").await;
    assert_eq!(other.login("alice", &jwt).await, unauthorized());
    // Revoked with the user's other tokens.
    app.svc.revoke_all_tokens("alice").await.unwrap();
    assert!(matches!(
        sio.expect(std::time::Duration::from_secs(3)).await,
        Ev::Event(ref n, _) if n == "session_revoked"
    ));
}

#[tokio::test]
async fn bad_input_on_legacy_routes_gets_json_4xx() {
    let app = before_sunset().await;
    app.add_user("alice", "pw-secret-9").await;
    let send = |ct: Option<&'static str>, body: Vec<u8>| {
        let mut b = Request::post("/webrest/authentication/login");
        if let Some(ct) = ct {
            b = b.header("content-type", ct);
        }
        b.body(Body::from(body)).unwrap()
    };
    let cases = [
        (
            send(None, b"{\"username\":".to_vec()),
            StatusCode::BAD_REQUEST,
        ),
        (send(None, b"[1,2]".to_vec()), StatusCode::BAD_REQUEST),
        (
            send(Some("text/plain"), b"x".to_vec()),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
        ),
        (
            send(None, vec![b'a'; 64 * 1024]),
            StatusCode::PAYLOAD_TOO_LARGE,
        ),
    ];
    for (req, status) in cases {
        let r = app.send(req).await;
        assert_eq!(r.status, status, "{:?}", r.body);
        assert_eq!(r.body["code"], status.as_u16());
        assert!(r.headers.contains_key("sunset"));
    }
    // Odd credentials never panic.
    for bad in ["::", ":", "ü:ü", &format!("alice:{}", "a".repeat(5000))] {
        let r = app.webrest_me(bad).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{bad}");
    }
    let r = app
        .send(
            Request::get("/webrest/user/me")
                .header("authorization", &b"alice:\xff"[..])
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
}
