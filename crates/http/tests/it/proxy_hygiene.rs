//! What the forwarding lets through, tested with raw request bytes (a
//! client library would normalise the path before sending it): the real
//! router on a loopback port, an upstream that records what reaches it.
//! Dot segments and encoded separators answer 400 `invalid_path` and
//! reach nothing; request headers whose name has an `_` never reach the
//! application (API.md §7), on the proxy fallback and on `/webrest`.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::Request;
use hmac::{Hmac, KeyInit, Mac};
use otpgate_core::config::{LegacyPolicy, Policy};
use serde_json::{Value, json};
use sha1::Sha1;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::support::{TestApp, cheap_policy, settings_with_upstream};

/// What the upstream received: path as sent, and each header's name and value.
type Seen = Arc<Mutex<Vec<(String, Vec<(String, String)>)>>>;

/// An upstream that records every request and answers 200.
async fn recording_upstream() -> (SocketAddr, Seen) {
    let seen = Seen::default();
    let sink = seen.clone();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = Router::new().fallback(async move |req: Request| {
        let headers = req
            .headers()
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("").to_owned()))
            .collect();
        sink.lock()
            .unwrap()
            .push((req.uri().path().to_owned(), headers));
        "upstream says hello"
    });
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (addr, seen)
}

/// A served router forwarding to a recording upstream (legacy method on).
async fn served() -> (TestApp, SocketAddr, Seen) {
    let (up, seen) = recording_upstream().await;
    let settings = settings_with_upstream(up);
    let policy = Policy {
        legacy: LegacyPolicy {
            enabled: Some(true),
            ..LegacyPolicy::default()
        },
        ..cheap_policy()
    };
    let app = TestApp::with_policy(settings, policy).await;
    let addr = app.serve().await;
    (app, addr, seen)
}

/// Sends `head` (request line and headers, without the final blank line)
/// as raw bytes; returns the status and the JSON body.
async fn raw(addr: SocketAddr, head: &str) -> (u16, Value) {
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let req = format!("{head}\r\nHost: otpgate\r\nConnection: close\r\n\r\n");
    s.write_all(req.as_bytes()).await.unwrap();
    let mut out = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut out))
        .await
        .unwrap()
        .unwrap();
    let text = String::from_utf8_lossy(&out).into_owned();
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = text.split("\r\n\r\n").nth(1).unwrap_or("");
    (status, serde_json::from_str(body).unwrap_or(json!(body)))
}

/// A legacy credential (`user:token`) for a user with that password.
async fn legacy_credential(app: &TestApp, user: &str, password: &str) -> String {
    let r = app
        .post(
            "/webrest/authentication/login",
            None,
            json!({"username": user, "password": password}),
        )
        .await;
    let nonce = r.headers["www-authenticate"]
        .to_str()
        .unwrap()
        .strip_prefix("Digest ")
        .unwrap()
        .to_owned();
    let mut mac = <Hmac<Sha1> as KeyInit>::new_from_slice(password.as_bytes()).unwrap();
    mac.update(format!("{user}:{password}:{nonce}").as_bytes());
    let token: String = mac
        .finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("{user}:{token}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dot_segments_and_encoded_slashes_are_400_and_reach_nothing() {
    let (app, addr, seen) = served().await;
    app.add_user("bob", "pw-secret-9").await;
    let token = app.login("bob", "pw-secret-9").await;
    let cred = legacy_credential(&app, "bob", "pw-secret-9").await;
    let bearer = format!("Authorization: Bearer {token}");
    let legacy = format!("Authorization: {cred}");
    // The control: a plain path is forwarded on both ways in.
    let (s, _) = raw(addr, &format!("GET /api/app/x HTTP/1.1\r\n{bearer}")).await;
    assert_eq!(s, 200);
    let (s, _) = raw(addr, &format!("GET /webrest/app/x HTTP/1.1\r\n{legacy}")).await;
    assert_eq!(s, 200);
    assert_eq!(seen.lock().unwrap().len(), 2);
    seen.lock().unwrap().clear();
    for path in [
        "/api/../internal/admin",
        "/api/%2e%2e/internal/admin",
        "/api/%2E%2e/internal/admin",
        "/api/..%2finternal/admin",
        "/api/..%2Finternal/admin",
        "/api/x/%2E./internal",
        "/api/./internal/admin",
        "/api/x%2f..%2f..%2finternal",
        "/api/x%5c..%5cinternal",
        "/api/x/..",
        "/webrest/../internal/admin",
        "/webrest/%2e%2e/internal/admin",
        "/webrest/..%2finternal/admin",
    ] {
        let auth = if path.starts_with("/webrest") {
            &legacy
        } else {
            &bearer
        };
        let (s, body) = raw(addr, &format!("GET {path} HTTP/1.1\r\n{auth}")).await;
        assert_eq!(s, 400, "{path}: {body}");
        assert_eq!(
            body,
            json!({"code": 400, "message": "invalid_path", "error": body["error"]}),
            "{path}"
        );
        assert!(body["error"].is_string());
    }
    assert!(
        seen.lock().unwrap().is_empty(),
        "the upstream saw: {:?}",
        seen.lock().unwrap()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn headers_with_an_underscore_never_reach_the_application() {
    let (app, addr, seen) = served().await;
    app.add_user("alice", "pw-a-secret-9").await;
    app.add_user("bob", "pw-b-secret-9").await;
    let token = app.login("bob", "pw-b-secret-9").await;
    let cred = legacy_credential(&app, "bob", "pw-b-secret-9").await;
    let spoof = "X_Otpgate_User: alice\r\nx-otpgate_user: alice\r\nX-Otpgate-User: alice\r\nX_Custom: 1\r\nX-Kept: yes";
    let (s, _) = raw(
        addr,
        &format!("GET /api/app/me HTTP/1.1\r\nAuthorization: Bearer {token}\r\n{spoof}"),
    )
    .await;
    assert_eq!(s, 200);
    let (s, _) = raw(
        addr,
        &format!("GET /webrest/app/me HTTP/1.1\r\nAuthorization: {cred}\r\n{spoof}"),
    )
    .await;
    assert_eq!(s, 200);
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 2);
    for (path, headers) in &seen {
        let user: Vec<&(String, String)> = headers
            .iter()
            .filter(|(k, _)| k.replace('_', "-") == "x-otpgate-user")
            .collect();
        assert_eq!(
            user,
            [&("x-otpgate-user".to_owned(), "bob".to_owned())],
            "{path}: {headers:?}"
        );
        assert!(
            headers.iter().all(|(k, _)| !k.contains('_')),
            "{path}: {headers:?}"
        );
        assert!(headers.iter().any(|(k, v)| k == "x-kept" && v == "yes"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invalid_path_is_400_for_the_native_routes_too_never_a_500() {
    let (app, addr, seen) = served().await;
    app.add_user("bob", "pw-secret-9").await;
    let token = app.login("bob", "pw-secret-9").await;
    // A route otpgate serves, spelled with a dot segment, is not that
    // route: it would be forwarded, so it is refused.
    let (s, body) = raw(
        addr,
        &format!("GET /api/2fa/../user/me HTTP/1.1\r\nAuthorization: Bearer {token}"),
    )
    .await;
    assert_eq!((s, body["message"].clone()), (400, json!("invalid_path")));
    assert!(seen.lock().unwrap().is_empty());
}
