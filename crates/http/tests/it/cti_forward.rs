//! Forwarding in `nethcti` mode (API.md §9 "Forwarding") against the
//! CTI-server stand-in: `Authorization: user:T` and nothing of the client's
//! credentials, the 2FA gate first, `/user/me` from the CTI server, the
//! answers mapped, the static and FreePBX passthroughs, dot segments,
//! an empty API prefix, and the CTI server down.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use otpgate_http::cti_forward::CtiForwarding;
use otpgate_http::nethcti::NethctiBackend;
use otpgate_http::proxy::UpstreamSettings;
use otpgate_store::{SqliteOptions, SqliteStore};
use serde_json::json;

use crate::cti_server::{CtiServer, FREEPBX_KEY};
use crate::support::{TestApp, assert_error, cheap_policy, claims, test_settings};

const PW: &str = "pw-secret-9";

/// otpgate in `nethcti` mode in front of `cti`, under `prefix`.
async fn app_at(cti: &CtiServer, prefix: &str) -> TestApp {
    let backend = NethctiBackend::new(&cti.v1(), Duration::from_secs(5)).unwrap();
    let settings = otpgate_http::HttpSettings {
        api_prefix: prefix.to_owned(),
        upstream: Some(UpstreamSettings {
            url: cti.v1().parse().unwrap(),
            timeout: Duration::from_secs(5),
            headers: Vec::new(),
        }),
        cti: Some(CtiForwarding::default()),
        ..test_settings()
    };
    TestApp::with_password_backend(settings, cheap_policy(), Arc::new(backend)).await
}

async fn setup() -> (CtiServer, TestApp) {
    let cti = CtiServer::start(&[("carol", PW), ("dave", "pw-dave-secret-9")]).await;
    let app = app_at(&cti, "/api").await;
    (cti, app)
}

/// A GET with these headers (no token added).
async fn get_with(app: &TestApp, path: &str, headers: &[(&str, &str)]) -> crate::support::Resp {
    let mut b = Request::builder().uri(path);
    for (k, v) in headers {
        b = b.header(*k, *v);
    }
    app.send(b.body(Body::empty()).unwrap()).await
}

#[tokio::test]
async fn a_forwarded_call_carries_user_t_and_never_the_jwt() {
    let (cti, app) = setup().await;
    let jwt = app.login("carol", PW).await;
    let t = cti.persistent_token("carol").expect("T");
    cti.clear_received();
    let r = app
        .get("/api/astproxy/extensions?limit=5&q=a%20b", &jwt)
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(r.body["201"]["owner"], "carol");
    let got = cti.received_on("/astproxy/extensions");
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].query.as_deref(), Some("limit=5&q=a%20b"));
    assert_eq!(
        got[0].authorization.as_deref(),
        Some(format!("carol:{t}").as_str())
    );
    for (name, value) in &got[0].headers {
        let v = value.to_str().unwrap_or_default();
        assert!(
            !v.contains(&jwt),
            "the JWT reached the CTI server in {name}"
        );
        assert!(!v.to_ascii_lowercase().contains("bearer"), "{name}: {v}");
    }
    // A client cannot pose as the FreePBX administrator.
    cti.clear_received();
    let bearer = format!("Bearer {jwt}");
    let r = get_with(
        &app,
        "/api/astproxy/extensions",
        &[("authorization", &bearer), ("authorization-user", "admin")],
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let got = cti.received_on("/astproxy/extensions");
    assert!(got[0].headers.get("authorization-user").is_none());
}

#[tokio::test]
async fn user_me_is_the_cti_servers_profile() {
    let (_cti, app) = setup().await;
    let jwt = app.login("carol", PW).await;
    let r = app.me(&jwt).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    for field in [
        "endpoints",
        "profile",
        "settings",
        "default_device",
        "mainPresence",
    ] {
        assert!(r.body.get(field).is_some(), "{field} in {:?}", r.body);
    }
    assert_eq!(r.body["username"], "carol");
    // Still behind the token check.
    let r = get_with(&app, "/api/user/me", &[]).await;
    assert_error(&r, StatusCode::UNAUTHORIZED, "missing_token");
}

#[tokio::test]
async fn a_pre_otp_token_is_refused_before_anything_is_forwarded() {
    let (cti, app) = setup().await;
    app.enrol("dave", "pw-dave-secret-9").await;
    let pre = app.login("dave", "pw-dave-secret-9").await;
    assert_eq!(claims(&pre)["otp_verified"], false);
    cti.clear_received();
    for path in ["/api/astproxy/extensions", "/api/user/me"] {
        let r = app.get(path, &pre).await;
        assert_error(&r, StatusCode::FORBIDDEN, "otp_verification_required");
    }
    assert!(cti.received().is_empty(), "{:?}", cti.received());
}

#[tokio::test]
async fn the_cti_servers_401_and_404_are_mapped() {
    let (cti, app) = setup().await;
    let jwt = app.login("carol", PW).await;
    let r = app.get("/api/no/such/thing", &jwt).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(r.body, json!({"code": 404, "message": "API not found"}));
    cti.forget_persistent("carol");
    let r = app.get("/api/astproxy/extensions", &jwt).await;
    assert_error(&r, StatusCode::UNAUTHORIZED, "upstream_session_expired");
}

#[tokio::test]
async fn a_user_without_a_cti_session_gets_upstream_session_expired() {
    let (cti, app) = setup().await;
    let jwt = app.login("carol", PW).await;
    // As for a user stored before the CTI session was kept: none stored.
    let id = app.svc.show_user("carol").await.unwrap().id;
    let db = app.dir.path().join("otpgate.db");
    let store = SqliteStore::open(db.to_str().unwrap(), &SqliteOptions::default())
        .await
        .unwrap();
    otpgate_core::store::UserStore::set_upstream_session(&store, id, None)
        .await
        .unwrap();
    assert!(
        app.svc
            .show_user("carol")
            .await
            .unwrap()
            .upstream_session
            .is_none()
    );
    cti.clear_received();
    let r = app.get("/api/astproxy/extensions", &jwt).await;
    assert_error(&r, StatusCode::UNAUTHORIZED, "upstream_session_expired");
    assert!(cti.received().is_empty());
}

#[tokio::test]
async fn static_files_and_allow_listed_freepbx_calls_need_no_token() {
    let (cti, app) = setup().await;
    let r = get_with(&app, "/api/static/img/logo.png", &[]).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(r.body["static"], "/static/img/logo.png");

    let admin = [("user", "admin"), ("secretkey", FREEPBX_KEY)];
    for path in ["/api/astproxy/extensions", "/api/astproxy/extension/201"] {
        cti.clear_received();
        let r = get_with(&app, path, &admin).await;
        assert_eq!(r.status, StatusCode::OK, "{path}: {:?}", r.body);
        assert_eq!(r.body["freepbx"], true);
        let got = cti.received();
        assert_eq!(got[0].headers.get("authorization-user").unwrap(), "admin");
        assert_eq!(got[0].authorization, None);
    }
    // A wrong key: the CTI server refuses it.
    let r = get_with(
        &app,
        "/api/astproxy/extensions",
        &[("user", "admin"), ("secretkey", "wrong-key")],
    )
    .await;
    assert_error(&r, StatusCode::UNAUTHORIZED, "upstream_session_expired");
    // Not in the list, or no key: a token is needed, nothing forwarded.
    cti.clear_received();
    for (path, headers) in [
        ("/api/user/me", &admin[..]),
        ("/api/astproxy/extension/20a", &admin[..]),
        ("/api/astproxy/extensions", &admin[..1]),
        (
            "/api/astproxy/extensions",
            &[("user", "admin"), ("secretkey", "")][..],
        ),
    ] {
        let r = get_with(&app, path, headers).await;
        assert_error(&r, StatusCode::UNAUTHORIZED, "missing_token");
    }
    assert!(cti.received().is_empty(), "{:?}", cti.received());
}

#[tokio::test]
async fn dot_segments_are_refused_before_forwarding() {
    let (cti, app) = setup().await;
    let jwt = app.login("carol", PW).await;
    cti.clear_received();
    for path in [
        "/api/astproxy/../authentication/persistent_token_remove",
        "/api/static/%2e%2e/user/me",
        "/api/astproxy/x%2fy",
    ] {
        let r = app.get(path, &jwt).await;
        assert_error(&r, StatusCode::BAD_REQUEST, "invalid_path");
    }
    assert!(cti.received().is_empty());
}

#[tokio::test]
async fn an_empty_prefix_serves_and_forwards() {
    let cti = CtiServer::start(&[("carol", PW)]).await;
    let app = app_at(&cti, "").await;
    let r = app
        .post("/login", None, json!({"username": "carol", "password": PW}))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let jwt = r.body["token"].as_str().unwrap().to_owned();
    let r = app.get("/2fa/status", &jwt).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let r = app.get("/astproxy/extensions", &jwt).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(r.body["201"]["owner"], "carol");
    let r = app.get("/user/me", &jwt).await;
    assert_eq!(r.body["mainPresence"], "online", "{:?}", r.body);
    let r = get_with(&app, "/healthz", &[]).await;
    assert_eq!(r.status, StatusCode::OK);
}

#[tokio::test]
async fn the_cti_server_down_or_failing_is_a_clear_5xx() {
    let (cti, app) = setup().await;
    let jwt = app.login("carol", PW).await;
    cti.set_down(true);
    let r = app.get("/api/astproxy/extensions", &jwt).await;
    assert_error(&r, StatusCode::SERVICE_UNAVAILABLE, "upstream_unavailable");
    cti.set_down(false);
    cti.fault(
        "/astproxy/extensions",
        Some(crate::cti_server::Fault::ServerError),
    );
    let r = app.get("/api/astproxy/extensions", &jwt).await;
    assert_error(&r, StatusCode::BAD_GATEWAY, "upstream_unavailable");
}
