//! Mandatory 2FA (API.md §11): a user who must have 2FA and has none gets
//! a set-up token at login, which opens only the enrolment routes (status,
//! qr-code, verify-otp, logout); every other route of the router's table,
//! the reverse proxy, Socket.IO and the legacy method refuse them. The
//! per-user override works both ways; a live socket ends when its user
//! must enrol; disable is refused by policy; the
//! operator's reset makes the user enrol again; the enrolment step keeps
//! §1's lockout, replay and revocation rules.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use otpgate_core::config::{LegacyPolicy, Policy};
use serde_json::json;

use crate::race::tally;
use crate::sio::{Ev, Sio, authe_ok, unauthorized};
use crate::support::{
    Resp, TestApp, assert_error, cheap_policy, claims, settings_with_upstream, test_settings,
};

fn required_policy() -> Policy {
    Policy {
        two_factor_required: true,
        ..cheap_policy()
    }
}

async fn required_app() -> TestApp {
    TestApp::with_policy(test_settings(), required_policy()).await
}

/// The routes a set-up token may call (API.md §11).
const ENROLMENT: [&str; 6] = [
    "/api/2fa/status",
    "/api/2fa/qr-code",
    "/api/2fa/qr-code.png",
    "/api/2fa/qr-code.svg",
    "/api/2fa/verify-otp",
    "/api/logout",
];

fn is_setup_refusal(r: &Resp) -> bool {
    // The native envelope has it in `message`, Mudbase's in `error`.
    r.status == StatusCode::FORBIDDEN && r.body.to_string().contains("\"2fa_setup_required\"")
}

async fn request(app: &TestApp, method: &Method, path: &str, token: Option<&str>) -> Resp {
    let body = (*method == Method::POST).then(|| json!({}));
    app.call(method.clone(), path, token, body).await
}

/// Walks every operation of the served document (generated from the
/// routers, so a route added later is walked too; the Socket.IO engines
/// aside) with `token`, except the enrolment routes: each must refuse
/// it with 403 `2fa_setup_required`, or answer exactly as it answers with
/// no token at all (it does not take a bearer token: login, the
/// application dialects, the legacy routes, the ops endpoints, the pages).
/// Returns the routes that refused it.
async fn walk_the_table(app: &TestApp, token: &str) -> Vec<String> {
    let mut refused = Vec::new();
    let spec = app
        .call(Method::GET, "/api/openapi.json", None, None)
        .await
        .body;
    let mut operations = Vec::new();
    for (template, item) in spec["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            if op["tags"][0] != "socket.io" {
                let method = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
                operations.push((method, template.clone()));
            }
        }
    }
    assert!(operations.len() > 30, "{operations:?}");
    for (method, template) in operations {
        let path = template.replace("{file}", "index.html");
        if ENROLMENT.contains(&path.as_str()) {
            continue;
        }
        let anonymous = request(app, &method, &path, None).await;
        let with_token = request(app, &method, &path, Some(token)).await;
        if is_setup_refusal(&with_token) {
            refused.push(format!("{method} {path}"));
            continue;
        }
        assert_eq!(
            with_token.status, anonymous.status,
            "{method} {path}: the set-up token got {} {:?}, no token {} {:?}",
            with_token.status, with_token.body, anonymous.status, anonymous.body
        );
        assert!(
            !is_setup_refusal(&anonymous),
            "{method} {path}: {:?}",
            anonymous.body
        );
    }
    refused
}

/// An upstream that counts the requests it gets and answers 418.
async fn counting_upstream() -> (SocketAddr, Arc<AtomicUsize>) {
    let hits = Arc::new(AtomicUsize::new(0));
    let counter = hits.clone();
    let app = Router::new().fallback(move || {
        let counter = counter.clone();
        async move {
            counter.fetch_add(1, Ordering::SeqCst);
            StatusCode::IM_A_TEAPOT
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (addr, hits)
}

async fn required_app_with_upstream() -> (TestApp, Arc<AtomicUsize>) {
    let (up, hits) = counting_upstream().await;
    let settings = settings_with_upstream(up);
    (
        TestApp::with_policy(settings, required_policy()).await,
        hits,
    )
}

/// The enrolment routes all admit `setup`; logout last (it revokes it).
async fn enrolment_routes_admit(app: &TestApp, setup: &str) {
    let r = app.status_2fa(setup).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(r.body, json!({"status": false, "required": true}));
    let r = app.get("/api/2fa/qr-code", setup).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    for (path, ct) in [
        ("/api/2fa/qr-code.png", "image/png"),
        ("/api/2fa/qr-code.svg", "image/svg+xml"),
    ] {
        let r = app.get(path, setup).await;
        assert_eq!(r.status, StatusCode::OK, "{path}");
        assert_eq!(r.headers["content-type"], ct, "{path}");
    }
    // Reached (the body is checked), not refused by the gate.
    let r = app
        .post("/api/2fa/verify-otp", Some(setup), json!({}))
        .await;
    assert_error(&r, StatusCode::BAD_REQUEST, "invalid_request");
    let r = app.logout(setup).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_error(
        &app.status_2fa(setup).await,
        StatusCode::UNAUTHORIZED,
        "token_revoked",
    );
}

/// The routes that take a bearer token and are not enrolment routes: the
/// walk must have found each refusing (so it is not vacuous).
const TOKEN_ROUTES: [&str; 4] = [
    "GET /api/user/me",
    "POST /api/2fa/recovery-codes",
    "POST /api/2fa/disable",
    "POST /api/users/2fa/verify",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_setup_token_reaches_only_the_enrolment_routes_of_the_whole_route_table_and_proxy() {
    let (app, hits) = required_app_with_upstream().await;
    app.add_user("carol", "pw-secret-9").await;
    let setup = app.login("carol", "pw-secret-9").await;
    let c = claims(&setup);
    assert_eq!(
        (&c["2fa"], &c["otp_verified"], &c["2fa_setup"]),
        (&json!(true), &json!(false), &json!(true)),
        "{c}"
    );

    let refused = walk_the_table(&app, &setup).await;
    for route in TOKEN_ROUTES {
        assert!(refused.iter().any(|r| r == route), "{route}: {refused:?}");
    }

    // The reverse proxy (the router's fallback): refused, never forwarded.
    for method in [Method::GET, Method::POST, Method::DELETE] {
        let r = request(&app, &method, "/api/astproxy/extensions", Some(&setup)).await;
        assert_error(&r, StatusCode::FORBIDDEN, "2fa_setup_required");
    }
    assert_eq!(
        hits.load(Ordering::SeqCst),
        0,
        "nothing reached the upstream"
    );
    // ... which a verified token does reach.
    app.add_user("dave", "pw-secret-9").await;
    app.svc
        .require_two_factor("dave", Some(false))
        .await
        .unwrap();
    let dave = app.login("dave", "pw-secret-9").await;
    let r = app.get("/api/astproxy/extensions", &dave).await;
    assert_eq!(r.status, StatusCode::IM_A_TEAPOT);
    assert_eq!(hits.load(Ordering::SeqCst), 1);

    enrolment_routes_admit(&app, &setup).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_issued_before_2fa_was_required_is_held_at_the_enrolment_routes() {
    // The setting is off; the operator requires 2FA of carol afterwards:
    // her live token is a set-up token from then on, on every route.
    let (up, hits) = counting_upstream().await;
    let settings = settings_with_upstream(up);
    let app = TestApp::with(settings).await;
    app.add_user("carol", "pw-secret-9").await;
    let token = app.login("carol", "pw-secret-9").await;
    assert_eq!(app.me(&token).await.status, StatusCode::OK);
    assert_eq!(
        claims(&token).get("2fa_setup"),
        None,
        "not written when false"
    );

    let u = app
        .svc
        .require_two_factor("Carol", Some(true))
        .await
        .unwrap();
    assert_eq!(u.require_two_factor, Some(true));
    let refused = walk_the_table(&app, &token).await;
    for route in TOKEN_ROUTES {
        assert!(refused.iter().any(|r| r == route), "{route}: {refused:?}");
    }
    let r = app.get("/api/anything", &token).await;
    assert_error(&r, StatusCode::FORBIDDEN, "2fa_setup_required");
    assert_eq!(hits.load(Ordering::SeqCst), 0);

    // Her next login is a set-up login.
    let setup = app.login("carol", "pw-secret-9").await;
    assert_eq!(claims(&setup)["2fa_setup"], true);
    enrolment_routes_admit(&app, &token).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn socket_io_refuses_a_setup_token_and_takes_the_enrolled_one() {
    let app = required_app().await;
    app.add_user("carol", "pw-secret-9").await;
    let setup = app.login("carol", "pw-secret-9").await;
    let addr = app.serve().await;
    let mut sio = Sio::connect(addr, "/api/ws/").await;
    assert_eq!(sio.login("carol", &setup).await, unauthorized());

    let secret = app.pending_secret(&setup).await;
    let r = app.verify(&setup, "carol", &app.code(&secret, 0)).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let verified = r.body["data"]["token"].as_str().unwrap().to_owned();
    let mut sio = Sio::connect(addr, "/api/ws/").await;
    assert_eq!(sio.login("carol", &verified).await, authe_ok());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_live_socket_ends_when_its_user_must_enrol_first() {
    let app = TestApp::new().await;
    app.add_user("carol", "pw-secret-9").await;
    app.add_user("dave", "pw-secret-9").await;
    let carol = app.login("carol", "pw-secret-9").await;
    let dave = app.login("dave", "pw-secret-9").await;
    let addr = app.serve().await;
    let mut carol_sock = Sio::connect(addr, "/api/ws/").await;
    assert_eq!(carol_sock.login("carol", &carol).await, authe_ok());
    let mut dave_sock = Sio::connect(addr, "/api/ws/").await;
    assert_eq!(dave_sock.login("dave", &dave).await, authe_ok());
    // The CLI (another process on the same store) requires 2FA of carol.
    let cli = app.other_process().await;
    cli.require_two_factor("carol", Some(true)).await.unwrap();
    let soon = Duration::from_secs(3);
    assert!(matches!(carol_sock.expect(soon).await, Ev::Event(ref n, _) if n == "session_revoked"));
    assert_eq!(carol_sock.expect(soon).await, Ev::Disconnect);
    assert_eq!(
        dave_sock.next(Duration::from_millis(600)).await,
        None,
        "dave's socket stays"
    );
}

#[tokio::test]
async fn enrolment_at_login_turns_2fa_on_and_answers_a_verified_token() {
    let app = required_app().await;
    app.add_user("carol", "pw-secret-9").await;
    let setup = app.login("carol", "pw-secret-9").await;
    let secret = app.pending_secret(&setup).await;
    let r = app.verify(&setup, "carol", &app.code(&secret, 0)).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(r.body["message"], "OTP verified");
    let verified = r.body["data"]["token"].as_str().unwrap().to_owned();
    let c = claims(&verified);
    assert_eq!(
        (&c["2fa"], &c["otp_verified"]),
        (&json!(true), &json!(true))
    );
    assert_eq!(c.get("2fa_setup"), None);
    let me = app.me(&verified).await;
    assert_eq!(me.status, StatusCode::OK);
    assert_eq!(me.body["two_factor"], true);
    assert_eq!(
        app.status_2fa(&verified).await.body,
        json!({"status": true, "required": true})
    );
    // The recovery codes come next, with the verified token.
    let r = app.new_recovery_codes(&verified, "pw-secret-9").await;
    assert_eq!(r.body["codes"].as_array().map(Vec::len), Some(5));
    // The set-up token was swapped (revoked in the same write).
    assert_error(
        &app.get("/api/2fa/qr-code", &setup).await,
        StatusCode::UNAUTHORIZED,
        "token_revoked",
    );
    // The next login is the usual pre-OTP one; the enrolment code is spent.
    let pre = app.login("carol", "pw-secret-9").await;
    assert_eq!(claims(&pre).get("2fa_setup"), None);
    assert_error(
        &app.get("/api/2fa/qr-code", &pre).await,
        StatusCode::FORBIDDEN,
        "otp_verification_required",
    );
    let r = app.verify(&pre, "carol", &app.code(&secret, 0)).await;
    assert_error(&r, StatusCode::BAD_REQUEST, "invalid_otp");

    // Audited as a set-up login.
    let records = app
        .svc
        .audit_records(Some("carol"), None, 100)
        .await
        .unwrap();
    let events: Vec<&str> = records.iter().map(|r| r.event.as_str()).collect();
    let setup_login = events.iter().position(|e| *e == "2fa_setup_login");
    let enabled = events.iter().position(|e| *e == "2fa_enabled");
    assert!(setup_login.is_some() && setup_login < enabled, "{events:?}");
    // The operator's override is audited too.
    app.svc.require_two_factor("carol", None).await.unwrap();
    let records = app
        .svc
        .audit_records(Some("carol"), None, 100)
        .await
        .unwrap();
    let last = records.last().unwrap();
    assert_eq!(
        (last.event.as_str(), last.dialect.as_str()),
        ("2fa_requirement_changed", "cli")
    );
}

#[tokio::test]
async fn the_enrolment_step_keeps_lockout_and_revocation() {
    let app = required_app().await;
    app.add_user("carol", "pw-secret-9").await;
    let setup = app.login("carol", "pw-secret-9").await;
    let secret = app.pending_secret(&setup).await;
    let right = app.code(&secret, 0);
    let wrong = crate::support::other_code(&right);
    for _ in 0..5 {
        let r = app.verify(&setup, "carol", &wrong).await;
        assert_error(&r, StatusCode::BAD_REQUEST, "invalid_otp");
    }
    let r = app.verify(&setup, "carol", &right).await;
    assert_error(&r, StatusCode::TOO_MANY_REQUESTS, "too_many_attempts");
    assert!(r.headers.contains_key("retry-after"));
    assert_eq!(
        app.status_2fa(&setup).await.body["status"],
        false,
        "still not enrolled"
    );
    // Revoke-all (the operator) ends the set-up token too.
    app.svc.revoke_all_tokens("carol").await.unwrap();
    assert_error(
        &app.status_2fa(&setup).await,
        StatusCode::UNAUTHORIZED,
        "token_revoked",
    );
    // A wrong username in verify-otp is refused before any code is tried.
    app.clock.advance_secs(3600);
    let setup = app.login("carol", "pw-secret-9").await;
    let r = app.verify(&setup, "mallory", &app.code(&secret, 0)).await;
    assert_error(&r, StatusCode::FORBIDDEN, "username_mismatch");
}

/// The enrolment step under issue 15's reserved attempts: 50 wrong codes
/// at once with one set-up token are exactly five evaluations (400), then
/// 429s; the right code is then refused too (2FA stays off), and enrols
/// once the lock is over.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fifty_concurrent_wrong_codes_at_enrolment_are_five_evaluations_then_429() {
    let app = required_app().await;
    app.add_user("carol", "pw-secret-9").await;
    let setup = app.login("carol", "pw-secret-9").await;
    let secret = app.pending_secret(&setup).await;
    let mut guess = crate::support::other_code(&app.code(&secret, 0));
    while (-1..=1).any(|o| app.code(&secret, o * 30) == guess) {
        guess = crate::support::other_code(&guess);
    }
    let statuses = app
        .race_post(
            50,
            "/api/2fa/verify-otp",
            Some(&setup),
            json!({"username": "carol", "otp": guess}),
        )
        .await;
    assert_eq!(
        tally(statuses.iter().copied()),
        [
            (StatusCode::BAD_REQUEST, 5),
            (StatusCode::TOO_MANY_REQUESTS, 45)
        ]
        .into(),
        "{statuses:?}"
    );
    let r = app.verify(&setup, "carol", &app.code(&secret, 0)).await;
    assert_error(&r, StatusCode::TOO_MANY_REQUESTS, "too_many_attempts");
    assert_eq!(
        app.status_2fa(&setup).await.body["status"],
        false,
        "still not enrolled"
    );
    app.clock.advance_secs(30);
    let r = app.verify(&setup, "carol", &app.code(&secret, 0)).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(
        claims(r.body["data"]["token"].as_str().unwrap())["otp_verified"],
        true
    );
}

#[tokio::test]
async fn the_per_user_override_works_both_ways_and_default_follows_the_setting() {
    // Setting off, override yes: a set-up token.
    let off = TestApp::new().await;
    off.add_user("carol", "pw-secret-9").await;
    let t = off.login("carol", "pw-secret-9").await;
    assert_eq!(claims(&t).get("2fa_setup"), None);
    assert_eq!(
        off.status_2fa(&t).await.body,
        json!({"status": false, "required": false})
    );
    off.svc
        .require_two_factor("carol", Some(true))
        .await
        .unwrap();
    let t = off.login("carol", "pw-secret-9").await;
    assert_eq!(claims(&t)["2fa_setup"], true);
    assert_error(
        &off.me(&t).await,
        StatusCode::FORBIDDEN,
        "2fa_setup_required",
    );
    off.svc.require_two_factor("carol", None).await.unwrap();
    let t = off.login("carol", "pw-secret-9").await;
    assert_eq!(off.me(&t).await.status, StatusCode::OK);

    // Setting on, override no: a plain token that opens everything.
    let on = required_app().await;
    on.add_user("dave", "pw-secret-9").await;
    on.svc
        .require_two_factor("dave", Some(false))
        .await
        .unwrap();
    let t = on.login("dave", "pw-secret-9").await;
    assert_eq!(claims(&t)["2fa"], false);
    assert_eq!(claims(&t).get("2fa_setup"), None);
    assert_eq!(on.me(&t).await.status, StatusCode::OK);
    assert_eq!(
        on.status_2fa(&t).await.body,
        json!({"status": false, "required": false})
    );
    on.svc.require_two_factor("dave", None).await.unwrap();
    assert_error(
        &on.me(&t).await,
        StatusCode::FORBIDDEN,
        "2fa_setup_required",
    );
    assert_eq!(
        claims(&on.login("dave", "pw-secret-9").await)["2fa_setup"],
        true,
        "default: the setting"
    );
    assert!(matches!(
        on.svc.require_two_factor("nobody", Some(true)).await,
        Err(otpgate_core::AuthError::UserNotFound)
    ));
}

#[tokio::test]
async fn disable_is_refused_by_policy_and_reset_makes_the_user_enrol_again() {
    let app = required_app().await;
    app.add_user("carol", "pw-secret-9").await;
    let setup = app.login("carol", "pw-secret-9").await;
    let secret = app.pending_secret(&setup).await;
    let r = app.verify(&setup, "carol", &app.code(&secret, 0)).await;
    let verified = r.body["data"]["token"].as_str().unwrap().to_owned();
    let r = app.disable_2fa(&verified, "pw-secret-9").await;
    assert_error(&r, StatusCode::FORBIDDEN, "2fa_required_by_policy");
    assert_eq!(app.status_2fa(&verified).await.body["status"], true);
    // Exempted by the operator, the user may turn it off.
    app.svc
        .require_two_factor("carol", Some(false))
        .await
        .unwrap();
    let r = app.disable_2fa(&verified, "pw-secret-9").await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    app.svc.require_two_factor("carol", None).await.unwrap();

    // Lost device: the operator's reset works; the next login enrols again.
    app.clock.advance_secs(60);
    let setup = app.login("carol", "pw-secret-9").await;
    let secret = app.pending_secret(&setup).await;
    let r = app.verify(&setup, "carol", &app.code(&secret, 0)).await;
    let verified = r.body["data"]["token"].as_str().unwrap().to_owned();
    assert_eq!(
        app.svc.reset_two_factor("carol").await.unwrap(),
        otpgate_core::service::admin::TwoFactorReset::Disabled
    );
    assert_error(
        &app.me(&verified).await,
        StatusCode::UNAUTHORIZED,
        "token_revoked",
    );
    app.clock.advance_secs(60);
    let again = app.login("carol", "pw-secret-9").await;
    assert_eq!(claims(&again)["2fa_setup"], true);
    let new_secret = app.pending_secret(&again).await;
    assert_ne!(new_secret, secret, "a new secret");
}

#[tokio::test]
async fn the_legacy_method_refuses_a_user_who_must_enrol() {
    let policy = Policy {
        legacy: LegacyPolicy {
            enabled: Some(true),
            ..LegacyPolicy::default()
        },
        ..cheap_policy()
    };
    let app = TestApp::with_policy(test_settings(), policy).await;
    app.add_user("carol", "pw-secret-9").await;
    // Before the requirement: a challenge, and a credential that works.
    let r = app.legacy_login("carol", "pw-secret-9").await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    let nonce = r.headers["www-authenticate"]
        .to_str()
        .unwrap()
        .strip_prefix("Digest ")
        .unwrap()
        .to_owned();
    let token = otpgate_core::crypto::legacy::legacy_token("carol", "pw-secret-9", &nonce);
    assert_eq!(
        app.webrest_me(&format!("carol:{token}")).await.status,
        StatusCode::OK
    );
    // Required now: the legacy login and the credential are refused.
    app.svc
        .require_two_factor("carol", Some(true))
        .await
        .unwrap();
    assert_error(
        &app.legacy_login("carol", "pw-secret-9").await,
        StatusCode::FORBIDDEN,
        "2fa_requires_jwt_login",
    );
    assert_error(
        &app.webrest_me(&format!("carol:{token}")).await,
        StatusCode::FORBIDDEN,
        "2fa_requires_jwt_login",
    );
}

#[tokio::test]
async fn metrics_count_users_by_2fa_state() {
    let app = required_app().await;
    for name in ["carol", "dave", "erin"] {
        app.add_user(name, "pw-secret-9").await;
    }
    app.svc
        .require_two_factor("erin", Some(false))
        .await
        .unwrap();
    let setup = app.login("carol", "pw-secret-9").await;
    let secret = app.pending_secret(&setup).await;
    let r = app.verify(&setup, "carol", &app.code(&secret, 0)).await;
    assert_eq!(r.status, StatusCode::OK);
    let r = app
        .send(Request::get("/metrics").body(Body::empty()).unwrap())
        .await;
    let text = String::from_utf8(r.bytes).unwrap();
    for line in [
        "# TYPE otpgate_users gauge",
        "otpgate_users{two_factor=\"on\"} 1\n",
        "otpgate_users{two_factor=\"required_not_enrolled\"} 1\n",
        "otpgate_users{two_factor=\"off\"} 1\n",
        "otpgate_auth_events_total{event=\"2fa_setup_login\"} 1\n",
    ] {
        assert!(text.contains(line), "{line} in:\n{text}");
    }
}

#[tokio::test]
async fn status_carries_required_for_every_user() {
    let app = TestApp::new().await;
    let (verified, _) = app.user_with_2fa("alice", "pw-secret-9").await;
    let pre = app.login("alice", "pw-secret-9").await;
    for t in [&verified, &pre] {
        assert_eq!(
            app.status_2fa(t).await.body,
            json!({"status": true, "required": false})
        );
    }
}
