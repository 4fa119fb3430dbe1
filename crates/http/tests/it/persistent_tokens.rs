//! Persistent tokens for integrations (API.md §10): minted, checked and
//! removed per audience by a verified token; accepted wherever a login
//! token is (native routes, the reverse proxy, Socket.IO); one live per
//! user and audience, even under 50 concurrent mints; left alone by a
//! logout of another token, revoked by DELETE, 2FA disable, a password
//! change and revoke-all; the legacy-compatible `/authentication/*`
//! routes with `{"message"}`-only errors; bad input a JSON 4xx.

use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use otpgate_core::config::Policy;
use otpgate_core::secret::SecretString;
use serde_json::json;

use crate::clients::persistent_path;
use crate::race::race;
use crate::sio::{Sio, authe_ok};
use crate::support::{
    Resp, TestApp, assert_error, cheap_policy, claims, settings_with_upstream, test_settings,
};

const PW: &str = "pw-secret-9";
const AUDIENCES: [&str; 3] = ["phone-island", "mobile-app", "nethlink"];

async fn mint(app: &TestApp, token: &str, audience: &str) -> String {
    let r = app.mint_persistent(token, audience).await;
    assert_eq!(r.status, StatusCode::OK, "{audience}: {:?}", r.body);
    assert_eq!(
        r.body.as_object().unwrap().len(),
        1,
        "only the token: {:?}",
        r.body
    );
    r.body["token"].as_str().unwrap().to_owned()
}

async fn exists(app: &TestApp, token: &str, audience: &str) -> bool {
    let r = app.persistent_exists(token, audience).await;
    assert_eq!(r.status, StatusCode::OK, "{audience}: {:?}", r.body);
    r.body["exists"].as_bool().unwrap()
}

#[tokio::test]
async fn each_audience_is_minted_checked_and_removed() {
    let app = TestApp::new().await;
    app.add_user("alice", PW).await;
    let login = app.login("alice", PW).await;
    for audience in AUDIENCES {
        assert!(!exists(&app, &login, audience).await, "{audience}");
        let t = mint(&app, &login, audience).await;
        let c = claims(&t);
        assert_eq!(c["aud"], audience);
        assert_eq!(c["sub"], "alice");
        let lifetime = c["exp"].as_i64().unwrap() - c["iat"].as_i64().unwrap();
        assert_eq!(lifetime, 10 * 365 * 24 * 3600, "10 years by default");
        assert!(exists(&app, &login, audience).await, "{audience}");
        // The token works as a bearer token.
        let r = app.me(&t).await;
        assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
        assert_eq!(r.body["username"], "alice");
        let r = app.remove_persistent(&login, audience).await;
        assert_eq!(r.status, StatusCode::NO_CONTENT);
        assert!(r.bytes.is_empty());
        assert!(!exists(&app, &login, audience).await, "{audience}");
        let r = app.me(&t).await;
        assert_error(&r, StatusCode::UNAUTHORIZED, "token_revoked");
        // Removing again is still 204.
        assert_eq!(
            app.remove_persistent(&login, audience).await.status,
            StatusCode::NO_CONTENT
        );
    }
    // Trimmed and case-insensitive.
    let t = mint(&app, &login, "%20Mobile-APP%09").await;
    assert_eq!(claims(&t)["aud"], "mobile-app");
    assert!(exists(&app, &login, "MOBILE-app").await);
}

#[tokio::test]
async fn a_bad_audience_is_a_400_on_every_method() {
    let app = TestApp::new().await;
    app.add_user("alice", PW).await;
    let login = app.login("alice", PW).await;
    for method in [Method::POST, Method::GET, Method::DELETE] {
        let r = app
            .call(
                method.clone(),
                &persistent_path("%20%09"),
                Some(&login),
                None,
            )
            .await;
        assert_error(&r, StatusCode::BAD_REQUEST, "missing audience");
        for bad in [
            "phone_island",
            "unsupported-audience",
            "bukl",
            // A zero-width space, a dotted capital I, a full-width letter,
            // invalid UTF-8, a right-to-left mark.
            "%E2%80%8Bphone-island",
            "PHONE-%C4%B0SLAND",
            "%EF%BD%8Eethlink",
            "%FF%FE",
            "%E2%80%8Fnethlink",
        ] {
            let r = app
                .call(method.clone(), &persistent_path(bad), Some(&login), None)
                .await;
            assert_error(&r, StatusCode::BAD_REQUEST, "invalid audience");
        }
    }
    // Without a token, the token is what is refused.
    let r = app
        .call(Method::POST, &persistent_path("phone-island"), None, None)
        .await;
    assert_error(&r, StatusCode::UNAUTHORIZED, "missing_token");
    assert!(!exists(&app, &login, "phone-island").await);
}

#[tokio::test]
async fn only_a_verified_token_mints_and_the_token_is_verified_as_it_was() {
    let app = TestApp::new().await;
    let (verified, secret) = app.user_with_2fa("alice", PW).await;
    // A pre-OTP token cannot mint, check or remove.
    let pre = app.login("alice", PW).await;
    for method in [Method::POST, Method::GET, Method::DELETE] {
        let r = app
            .call(method, &persistent_path("phone-island"), Some(&pre), None)
            .await;
        assert_error(&r, StatusCode::FORBIDDEN, "otp_verification_required");
    }
    let r = app
        .post(
            "/api/authentication/phone_island_token_login",
            Some(&pre),
            json!({}),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert_eq!(r.body, json!({"message": "otp_verification_required"}));
    // A verified one can; the token is verified as the minting one was.
    let t = mint(&app, &verified, "phone-island").await;
    let c = claims(&t);
    assert_eq!(c["2fa"], true, "{c}");
    assert_eq!(c["otp_verified"], true, "{c}");
    let r = app.status_2fa(&t).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    // It can mint another audience's too (any verified token can).
    let m = mint(&app, &t, "mobile-app").await;
    assert_eq!(claims(&m)["otp_verified"], true);
    let _ = secret;
    // A user who must enrol 2FA first holds a set-up token: refused.
    let policy = Policy {
        two_factor_required: true,
        ..cheap_policy()
    };
    let app = TestApp::with_policy(test_settings(), policy).await;
    app.add_user("bob", PW).await;
    let setup = app.login("bob", PW).await;
    assert_eq!(claims(&setup)["2fa_setup"], true);
    let r = app.mint_persistent(&setup, "mobile-app").await;
    assert_error(&r, StatusCode::FORBIDDEN, "2fa_setup_required");
}

#[tokio::test]
async fn a_new_token_revokes_the_old_and_a_logout_of_another_leaves_it() {
    let app = TestApp::new().await;
    app.add_user("alice", PW).await;
    let login = app.login("alice", PW).await;
    let first = mint(&app, &login, "phone-island").await;
    let other = mint(&app, &login, "nethlink").await;
    let second = mint(&app, &login, "phone-island").await;
    assert_ne!(first, second);
    let r = app.me(&first).await;
    assert_error(&r, StatusCode::UNAUTHORIZED, "token_revoked");
    assert_eq!(app.me(&second).await.status, StatusCode::OK);
    assert_eq!(
        app.me(&other).await.status,
        StatusCode::OK,
        "another audience is untouched"
    );
    // Logging out the login token leaves the persistent ones.
    let r = app.post("/api/logout", Some(&login), json!({})).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(app.me(&login).await.status, StatusCode::UNAUTHORIZED);
    assert_eq!(app.me(&second).await.status, StatusCode::OK);
    assert!(exists(&app, &second, "phone-island").await);
    // Logging out the persistent token itself revokes just it.
    let r = app.post("/api/logout", Some(&other), json!({})).await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(!exists(&app, &second, "nethlink").await);
    assert!(exists(&app, &second, "phone-island").await);
}

#[tokio::test]
async fn two_factor_disable_a_password_change_and_revoke_all_revoke_it() {
    let app = TestApp::new().await;
    let (verified, _) = app.user_with_2fa("alice", PW).await;
    let t = mint(&app, &verified, "mobile-app").await;
    let r = app
        .post(
            "/api/2fa/disable",
            Some(&verified),
            json!({"username": "alice", "password": PW}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let r = app.me(&t).await;
    assert_error(&r, StatusCode::UNAUTHORIZED, "token_revoked");
    // A new token minted after the cut-off, in the same second, lives.
    let login = app.login("alice", PW).await;
    assert!(!exists(&app, &login, "mobile-app").await);
    let t = mint(&app, &login, "mobile-app").await;
    assert_eq!(app.me(&t).await.status, StatusCode::OK);
    assert!(exists(&app, &login, "mobile-app").await);

    // A password change.
    app.svc
        .set_password("alice", Some(SecretString::new("pw-other-7")))
        .await
        .unwrap();
    let r = app.me(&t).await;
    assert_error(&r, StatusCode::UNAUTHORIZED, "token_revoked");
    let login = app.login("alice", "pw-other-7").await;
    assert!(!exists(&app, &login, "mobile-app").await);
    let t = mint(&app, &login, "nethlink").await;
    assert_eq!(app.me(&t).await.status, StatusCode::OK);

    // revoke-all.
    app.svc.revoke_all_tokens("alice").await.unwrap();
    let r = app.me(&t).await;
    assert_error(&r, StatusCode::UNAUTHORIZED, "token_revoked");
    assert!(app.svc.list_persistent("alice").await.unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_proxy_and_socket_io_accept_a_persistent_token() {
    let seen = Arc::new(Mutex::new(Vec::<String>::new()));
    let log = seen.clone();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let up = listener.local_addr().unwrap();
    let upstream = Router::new().fallback(async move |req: axum::extract::Request| {
        log.lock().unwrap().push(req.uri().path().to_owned());
        "hello"
    });
    tokio::spawn(async move {
        let _ = axum::serve(listener, upstream).await;
    });
    let settings = settings_with_upstream(up);
    let app = TestApp::with(settings).await;
    app.add_user("bob", PW).await;
    let login = app.login("bob", PW).await;
    let t = mint(&app, &login, "phone-island").await;
    // Forwarded with the persistent token.
    let r = app.get("/api/app/x", &t).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    // The persistent-token routes are otpgate's, never forwarded.
    assert!(exists(&app, &t, "phone-island").await);
    let r = app
        .post(
            "/api/authentication/phone_island_token_login",
            Some(&t),
            json!({"subtype": "nethlink"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let r = app
        .get("/api/authentication/phone_island_token_check/nethlink", &t)
        .await;
    assert_eq!(r.body, json!({"exists": true}));
    assert_eq!(
        *seen.lock().unwrap(),
        vec!["/api/app/x".to_owned()],
        "only the proxied call reached the upstream"
    );
    // Socket.IO logs in with it.
    let addr = app.serve().await;
    let mut sio = Sio::connect(addr, "/api/ws/").await;
    assert_eq!(sio.login("bob", &t).await, authe_ok());
}

#[tokio::test]
async fn an_application_cannot_be_named_like_an_audience() {
    let app = TestApp::new().await;
    for name in ["phone-island", "Mobile-App", "nethlink"] {
        assert!(app.svc.create_application(name).await.is_err(), "{name}");
    }
}

#[tokio::test]
async fn the_legacy_compatible_routes_map_subtypes_and_answer_message_only_errors() {
    let app = TestApp::new().await;
    app.add_user("alice", PW).await;
    let login = app.login("alice", PW).await;
    let legacy_login = "/api/authentication/phone_island_token_login";
    let legacy_remove = "/api/authentication/persistent_token_remove";
    let check = |subtype: &str| format!("/api/authentication/phone_island_token_check/{subtype}");
    // nethlink → nethlink; anything else → phone-island.
    for (body, aud) in [
        (json!({"subtype": " NethLink "}), "nethlink"),
        (json!({"subtype": "mobile-app"}), "phone-island"),
        (json!({}), "phone-island"),
        (json!({"subtype": null}), "phone-island"),
    ] {
        let r = app.post(legacy_login, Some(&login), body.clone()).await;
        assert_eq!(r.status, StatusCode::OK, "{body}: {:?}", r.body);
        assert_eq!(
            claims(r.body["token"].as_str().unwrap())["aud"],
            aud,
            "{body}"
        );
    }
    // An empty body is phone-island too.
    let r = app
        .send(
            Request::post(legacy_login)
                .header("authorization", format!("Bearer {login}"))
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let pi = r.body["token"].as_str().unwrap().to_owned();
    assert_eq!(claims(&pi)["aud"], "phone-island");
    // The check: by subtype.
    assert_eq!(
        app.get(&check("nethlink"), &login).await.body,
        json!({"exists": true})
    );
    assert_eq!(
        app.get(&check("phone-island"), &login).await.body,
        json!({"exists": true})
    );
    assert!(
        !exists(&app, &login, "mobile-app").await,
        "no way to mobile-app"
    );
    // Without a subtype: phone-island (answered here, never forwarded).
    let r = app
        .get("/api/authentication/phone_island_token_check", &login)
        .await;
    assert_eq!(r.body, json!({"exists": true}));
    // Remove: 204, by subtype.
    let r = app
        .post(
            legacy_remove,
            Some(&login),
            json!({"type": "phone-island", "subtype": "nethlink"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    assert_eq!(
        app.get(&check("nethlink"), &login).await.body,
        json!({"exists": false})
    );
    assert_eq!(
        app.get(&check("x"), &login).await.body,
        json!({"exists": true})
    );
    let r = app
        .post(legacy_remove, Some(&login), json!({"type": "phone-island"}))
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    assert_eq!(
        app.get(&check("x"), &login).await.body,
        json!({"exists": false})
    );
    assert_error(
        &app.me(&pi).await,
        StatusCode::UNAUTHORIZED,
        "token_revoked",
    );
    // Errors are {"message"} only.
    let r = app.post(legacy_login, None, json!({})).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert_eq!(r.body, json!({"message": "missing_token"}));
    let r = app.get(&check("nethlink"), "not-a-jwt").await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert_eq!(r.body, json!({"message": "invalid_token"}));
    let r = app
        .call(Method::GET, legacy_login, Some(&login), None)
        .await;
    assert_eq!(r.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(r.body, json!({"message": "method_not_allowed"}));
    // So are the 404s below them (no upstream here to forward them to).
    for path in [
        "/api/authentication/phone_island_token_login/x",
        "/api/authentication/phone_island_token_check/nethlink/x",
        "/api/authentication/phone_island_token_check/",
    ] {
        let r = app.call(Method::GET, path, Some(&login), None).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{path}");
        assert_eq!(r.body, json!({"message": "not_found"}), "{path}");
    }
}

/// Sends raw bytes to `path` with the caller's token.
async fn raw(app: &TestApp, path: &str, token: &str, ct: &str, body: Vec<u8>) -> Resp {
    app.send(
        Request::post(path)
            .header("authorization", format!("Bearer {token}"))
            .header("content-type", ct)
            .body(Body::from(body))
            .unwrap(),
    )
    .await
}

#[tokio::test]
async fn bad_input_is_a_json_4xx() {
    let app = TestApp::new().await;
    app.add_user("alice", PW).await;
    let login = app.login("alice", PW).await;
    let huge = vec![b'{'; 64 * 1024];
    for p in [
        "/api/authentication/phone_island_token_login",
        "/api/authentication/persistent_token_remove",
    ] {
        for (ct, body, status) in [
            (
                "application/json",
                b"{\"subtype\":".to_vec(),
                StatusCode::BAD_REQUEST,
            ),
            (
                "application/json",
                b"not json".to_vec(),
                StatusCode::BAD_REQUEST,
            ),
            (
                "application/json",
                b"{\"subtype\": 7}".to_vec(),
                StatusCode::BAD_REQUEST,
            ),
            (
                "application/json",
                b"{\"subtype\": [\"nethlink\"]}".to_vec(),
                StatusCode::BAD_REQUEST,
            ),
            (
                "application/json",
                b"[1,2]".to_vec(),
                StatusCode::BAD_REQUEST,
            ),
            (
                "text/plain",
                b"nethlink".to_vec(),
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ),
            (
                "application/json",
                huge.clone(),
                StatusCode::PAYLOAD_TOO_LARGE,
            ),
        ] {
            let r = raw(&app, p, &login, ct, body).await;
            assert_eq!(r.status, status, "{p} {ct}: {:?}", r.body);
            let keys: Vec<&String> = r.body.as_object().expect("JSON").keys().collect();
            assert_eq!(keys, ["message"], "{p}: {:?}", r.body);
        }
    }
    // The native routes take no body: one is not even read.
    let r = raw(
        &app,
        &persistent_path("nethlink"),
        &login,
        "application/json",
        huge,
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let r = raw(
        &app,
        &persistent_path("nethlink"),
        &login,
        "application/json",
        b"nonsense".to_vec(),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fifty_concurrent_mints_leave_exactly_one_live_token() {
    let app = TestApp::new().await;
    app.add_user("alice", PW).await;
    let login = app.login("alice", PW).await;
    let tokens = race(50, |_| {
        let (app, login) = (app.clone(), login.clone());
        async move { mint(&app, &login, "phone-island").await }
    })
    .await;
    assert_eq!(tokens.len(), 50);
    let mut live = 0;
    for t in &tokens {
        if app.me(t).await.status == StatusCode::OK {
            live += 1;
        }
    }
    assert_eq!(live, 1, "exactly one of the 50 tokens is live");
    let listed = app.svc.list_persistent("alice").await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].audience, "phone-island");
}
