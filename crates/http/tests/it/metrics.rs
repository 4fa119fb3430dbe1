//! `GET /metrics`: after a login, a failed OTP, a replay and a lockout,
//! the counters carry the right labels and values; routes are labelled
//! by template, never by raw path; the text is valid Prometheus format.

use std::collections::HashSet;

use axum::http::{Method, StatusCode};
use serde_json::json;

use crate::support::TestApp;

async fn scrape(app: &TestApp) -> String {
    let r = app.call(Method::GET, "/metrics", None, None).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(
        r.headers["content-type"],
        "text/plain; version=0.0.4; charset=utf-8"
    );
    String::from_utf8(r.bytes).unwrap()
}

/// The value of the sample `series` (name with its labels, as rendered).
fn value(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
        .map(|v| v.parse().unwrap())
}

#[tokio::test]
async fn login_failed_otp_replay_and_lockout_are_counted_with_their_labels() {
    let app = TestApp::new().await;
    // One password login, then enrolment (a TOTP check that succeeds).
    let (_, secret) = app.user_with_2fa("alice", "pw-secret-9").await;
    let pre = app.login("alice", "pw-secret-9").await;
    let wrong = app.try_login("alice", "nope").await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    // The enrolment's step again: a replay. Then four wrong codes: the
    // fifth failure locks, and the right code is refused while locked.
    let replay = app.verify(&pre, "alice", &app.code(&secret, -1)).await;
    assert_eq!(replay.status, StatusCode::BAD_REQUEST);
    for _ in 0..4 {
        assert_eq!(
            app.verify(&pre, "alice", "000000").await.status,
            StatusCode::BAD_REQUEST
        );
    }
    let locked = app.verify(&pre, "alice", &app.code(&secret, 0)).await;
    assert_eq!(locked.status, StatusCode::TOO_MANY_REQUESTS);
    let out = app.post("/api/logout", Some(&pre), json!({})).await;
    assert_eq!(out.status, StatusCode::OK, "{:?}", out.body);
    app.call(Method::GET, "/api/no/such/route-42", None, None)
        .await;

    let m = scrape(&app).await;
    let v = |s: &str| value(&m, s).unwrap_or_else(|| panic!("no {s} in\n{m}"));
    assert_eq!(
        v(r#"otpgate_logins_total{factor="password",result="ok"}"#),
        2.0
    );
    assert_eq!(
        v(r#"otpgate_logins_total{factor="password",result="failed"}"#),
        1.0
    );
    assert_eq!(
        v(r#"otpgate_logins_total{factor="password",result="locked"}"#),
        0.0
    );
    assert_eq!(
        v(r#"otpgate_otp_checks_total{factor="totp",result="ok"}"#),
        1.0
    );
    assert_eq!(
        v(r#"otpgate_otp_checks_total{factor="totp",result="replayed"}"#),
        1.0
    );
    assert_eq!(
        v(r#"otpgate_otp_checks_total{factor="totp",result="failed"}"#),
        4.0
    );
    assert_eq!(
        v(r#"otpgate_otp_checks_total{factor="totp",result="locked"}"#),
        1.0
    );
    assert_eq!(
        v(r#"otpgate_otp_checks_total{factor="recovery_code",result="ok"}"#),
        0.0
    );
    assert_eq!(v("otpgate_lockouts_total"), 1.0);
    assert_eq!(v(r#"otpgate_revocations_total{kind="token"}"#), 1.0);
    assert_eq!(v(r#"otpgate_auth_events_total{event="2fa_enabled"}"#), 1.0);
    assert_eq!(v(r#"otpgate_auth_events_total{event="otp_failed"}"#), 5.0);
    // Requests by route template and status.
    let req = |route: &str, status: u16| {
        v(&format!(
            "otpgate_http_requests_total{{route=\"{route}\",status=\"{status}\"}}"
        ))
    };
    assert_eq!(req("/api/login", 200), 2.0);
    assert_eq!(req("/api/login", 401), 1.0);
    assert_eq!(req("/api/2fa/verify-otp", 200), 1.0);
    assert_eq!(req("/api/2fa/verify-otp", 400), 5.0);
    assert_eq!(req("/api/2fa/verify-otp", 429), 1.0);
    assert_eq!(req("fallback", 404), 1.0);
    assert!(!m.contains("route-42"), "a raw path leaked into a label");
    assert_eq!(
        v(r#"otpgate_http_request_duration_seconds_count{route="/api/login"}"#),
        3.0
    );
    assert_eq!(
        v(r#"otpgate_http_request_duration_seconds_bucket{route="/api/login",le="+Inf"}"#),
        3.0
    );
    assert_eq!(v(r#"otpgate_websocket_sessions{state="live"}"#), 0.0);
    assert_eq!(v(r#"otpgate_store_errors_total{source="request"}"#), 0.0);
    assert_valid_exposition(&m);
    // The scrape itself is counted by the next one, under its own route.
    let again = scrape(&app).await;
    assert_eq!(
        value(
            &again,
            r#"otpgate_http_requests_total{route="/metrics",status="200"}"#
        ),
        Some(1.0)
    );
}

#[tokio::test]
async fn metrics_are_not_rate_limited() {
    let mut settings = crate::support::test_settings();
    settings.rate_limit_average = 1;
    settings.rate_limit_burst = 1;
    let app = TestApp::with(settings).await;
    for _ in 0..5 {
        scrape(&app).await;
    }
}

/// Every sample belongs to a family announced by `# HELP` and `# TYPE`
/// (once each, before its samples); names and labels are well formed;
/// histogram buckets are cumulative and end with `+Inf` = `_count`.
fn assert_valid_exposition(text: &str) {
    let mut typed: HashSet<String> = HashSet::new();
    let mut helped: HashSet<String> = HashSet::new();
    let mut last_bucket: Option<(String, f64)> = None;
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# HELP ") {
            let name = rest.split(' ').next().unwrap();
            assert!(helped.insert(name.to_owned()), "HELP twice: {name}");
            continue;
        }
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let mut it = rest.split(' ');
            let name = it.next().unwrap();
            let kind = it.next().unwrap();
            assert!(["counter", "gauge", "histogram"].contains(&kind), "{line}");
            assert!(typed.insert(name.to_owned()), "TYPE twice: {name}");
            continue;
        }
        let (series, val) = line.rsplit_once(' ').unwrap();
        let v: f64 = val.parse().unwrap_or_else(|_| panic!("value of {line}"));
        let name = series.split('{').next().unwrap();
        assert!(
            name.chars().all(|c| c.is_ascii_lowercase() || c == '_'),
            "{line}"
        );
        let family = ["_bucket", "_sum", "_count"]
            .iter()
            .find_map(|s| name.strip_suffix(s).filter(|f| typed.contains(*f)))
            .unwrap_or(name);
        assert!(typed.contains(family) && helped.contains(family), "{line}");
        if let Some(labels) = series.strip_prefix(name)
            && !labels.is_empty()
        {
            assert!(labels.starts_with('{') && labels.ends_with('}'), "{line}");
        }
        if name.ends_with("_bucket") {
            let key = series.split(",le=").next().unwrap().to_owned();
            if let Some((k, prev)) = &last_bucket
                && *k == key
            {
                assert!(v >= *prev, "buckets not cumulative: {line}");
            }
            last_bucket = Some((key, v));
        }
        if name.ends_with("_count") && family != name {
            let inf = series
                .replace("_count{", "_bucket{")
                .replace('}', ",le=\"+Inf\"}");
            assert_eq!(value(text, &inf), Some(v), "{line}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn websocket_sessions_are_a_gauge_and_socket_logins_are_audited() {
    use crate::sio::{Sio, authe_ok, unauthorized};
    use std::time::Duration;
    let app = TestApp::new().await;
    app.add_user("alice", "pw-secret-9").await;
    let token = app.login("alice", "pw-secret-9").await;
    let addr = app.serve().await;
    let gauge = async |state: &str| {
        value(
            &scrape(&app).await,
            &format!("otpgate_websocket_sessions{{state=\"{state}\"}}"),
        )
        .unwrap()
    };
    let mut sio = Sio::connect(addr, "/api/ws/").await;
    let deadline = std::time::Instant::now() + Duration::from_secs(3);
    while gauge("pending").await != 1.0 {
        assert!(std::time::Instant::now() < deadline, "never pending");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(sio.login("alice", &token).await, authe_ok());
    assert_eq!((gauge("pending").await, gauge("live").await), (0.0, 1.0));
    let mut bad = Sio::connect(addr, "/api/ws/").await;
    assert_eq!(bad.login("alice", "not-a-token").await, unauthorized());
    let m = scrape(&app).await;
    // The handshakes (websocket upgrades), under one label for both sockets.
    assert_eq!(
        value(
            &m,
            r#"otpgate_http_requests_total{route="socketio",status="101"}"#
        ),
        Some(2.0),
        "{m}"
    );
    app.svc.flush_audit().await.unwrap();
    let records = app
        .svc
        .audit_records(Some("alice"), None, 100)
        .await
        .unwrap();
    let socket: Vec<(&str, &str)> = records
        .iter()
        .filter(|r| r.dialect == "socketio")
        .map(|r| (r.event.as_str(), r.ip.as_deref().unwrap_or("-")))
        .collect();
    assert_eq!(
        socket,
        [
            ("socket_login", "127.0.0.1"),
            ("token_refused", "127.0.0.1")
        ]
    );
    drop(sio);
}

/// Whoever answers (the route, its 405, the declared-body limit, the
/// fallback), the answer carries the security headers and is counted under
/// the route's template: the shared layers wrap each route, its 405 and
/// the fallback.
#[tokio::test]
async fn every_answer_has_the_security_headers_and_its_routes_template() {
    let app = TestApp::new().await;
    let big = vec![b' '; 40 * 1024];
    let len = big.len().to_string();
    let answers = [
        app.call(Method::GET, "/healthz", None, None).await,
        app.call(Method::GET, "/api/login", None, None).await,
        app.post_raw("/api/login", &[("content-length", len.as_str())], &big)
            .await,
        app.call(Method::GET, "/api/docs/no-such-asset.js", None, None)
            .await,
        app.call(Method::GET, "/nowhere", None, None).await,
    ];
    let statuses: Vec<u16> = answers.iter().map(|r| r.status.as_u16()).collect();
    assert_eq!(statuses, [200, 405, 413, 404, 404]);
    for r in &answers {
        assert_eq!(r.headers["x-frame-options"], "DENY");
        assert_eq!(r.headers["x-content-type-options"], "nosniff");
        assert_eq!(r.headers["referrer-policy"], "no-referrer");
        assert!(r.headers.contains_key("cache-control"));
    }
    let m = scrape(&app).await;
    for (route, status) in [
        ("/healthz", 200),
        ("/api/login", 405),
        ("/api/login", 413),
        ("/api/docs/{*file}", 404),
        ("fallback", 404),
    ] {
        let series =
            format!("otpgate_http_requests_total{{route=\"{route}\",status=\"{status}\"}}");
        assert_eq!(value(&m, &series), Some(1.0), "{series} in\n{m}");
    }
    assert!(
        !m.contains("no-such-asset"),
        "a raw path leaked into a label"
    );
}
