//! The audit trail through the router: every event of a request becomes
//! a store record with time, user, client IP, user agent and dialect,
//! written by the background writer (never by the request itself), and
//! without a password, code or token in it.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use otpgate_core::model::{AuditQuery, AuditRecord};
use serde_json::json;

use crate::support::{T0, TestApp};

async fn stored(app: &TestApp) -> Vec<AuditRecord> {
    app.store
        .audit_records(&AuditQuery {
            limit: 1000,
            ..AuditQuery::default()
        })
        .await
        .unwrap()
}

async fn post_as(
    app: &TestApp,
    path: &str,
    ua: &str,
    ip: &str,
    body: serde_json::Value,
) -> StatusCode {
    let req = Request::post(path)
        .header("content-type", "application/json")
        .header("user-agent", ua)
        .header("x-forwarded-for", ip)
        .body(Body::from(body.to_string()))
        .unwrap();
    app.send(req).await.status
}

#[tokio::test]
async fn a_login_is_recorded_by_the_writer_with_ip_user_agent_and_dialect() {
    let app = TestApp::new().await;
    app.add_user("alice", "s3cret-pw").await;
    let s = post_as(
        &app,
        "/api/login",
        "TestAgent/1.0 (\tx)",
        "203.0.113.9",
        json!({"username": "Alice", "password": "s3cret-pw"}),
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    let s = post_as(
        &app,
        "/api/login",
        "Other/2",
        "198.51.100.7",
        json!({"username": "alice", "password": "wrong-pw"}),
    )
    .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    // Nothing was written by the requests themselves: the records wait
    // in the queue for the writer.
    assert!(stored(&app).await.is_empty());
    assert_eq!(app.svc.flush_audit().await.unwrap(), 2);
    let got = stored(&app).await;
    assert_eq!(got.len(), 2, "{got:?}");
    let ok = &got[0];
    assert_eq!(ok.event, "login_ok");
    assert_eq!(ok.username, "alice");
    assert_eq!(ok.ip.as_deref(), Some("203.0.113.9"));
    assert_eq!(ok.user_agent.as_deref(), Some("TestAgent/1.0 ( x)"));
    assert_eq!(ok.dialect, "native");
    assert_eq!(ok.at_ms.get(), T0 * 1000);
    let failed = &got[1];
    assert_eq!(failed.event, "login_failed");
    assert_eq!(failed.ip.as_deref(), Some("198.51.100.7"));
    let all = format!("{got:?}");
    assert!(!all.contains("s3cret-pw") && !all.contains("wrong-pw"));
}

#[tokio::test]
async fn the_background_writer_stores_records_and_flushes_on_stop() {
    let app = TestApp::new().await;
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let writer = tokio::spawn(app.svc.audit_writer(stopped));
    app.add_user("bob", "pw-secret-9").await;
    app.login("bob", "pw-secret-9").await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while stored(&app).await.is_empty() {
        assert!(
            std::time::Instant::now() < deadline,
            "the writer never wrote"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    // A record queued just before the stop is written by the last flush.
    app.try_login("bob", "x").await;
    stop.send(true).unwrap();
    writer.await.unwrap();
    let events: Vec<String> = stored(&app).await.into_iter().map(|r| r.event).collect();
    assert_eq!(events, ["login_ok", "login_failed"]);
}

#[tokio::test]
async fn each_dialect_is_named_in_its_records() {
    let policy = otpgate_core::Policy {
        legacy: otpgate_core::config::LegacyPolicy {
            enabled: Some(true),
            ..Default::default()
        },
        ..crate::support::cheap_policy()
    };
    let app = TestApp::with_policy(crate::support::test_settings(), policy).await;
    app.add_user("carol", "pw-secret-9").await;
    // The legacy challenge login and the native API.
    post_as(
        &app,
        "/webrest/authentication/login",
        "legacy-client",
        "192.0.2.1",
        json!({"username": "carol", "password": "bad"}),
    )
    .await;
    post_as(
        &app,
        "/api/login",
        "native-client",
        "192.0.2.2",
        json!({"username": "carol", "password": "bad"}),
    )
    .await;
    app.svc.flush_audit().await.unwrap();
    let got = stored(&app).await;
    let dialects: Vec<(&str, &str)> = got
        .iter()
        .map(|r| (r.dialect.as_str(), r.user_agent.as_deref().unwrap_or("")))
        .collect();
    assert!(dialects.contains(&("legacy", "legacy-client")), "{got:?}");
    assert!(dialects.contains(&("native", "native-client")), "{got:?}");
}

#[tokio::test]
async fn a_huge_user_agent_is_cut() {
    let app = TestApp::new().await;
    app.add_user("dave", "pw-secret-9").await;
    let ua = "A".repeat(5000);
    post_as(
        &app,
        "/api/login",
        &ua,
        "192.0.2.3",
        json!({"username": "dave", "password": "pw-secret-9"}),
    )
    .await;
    app.svc.flush_audit().await.unwrap();
    let got = stored(&app).await;
    assert_eq!(got[0].user_agent.as_ref().map(String::len), Some(256));
}
