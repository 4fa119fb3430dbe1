//! Socket.IO at /api/ws/ with a client that is not ours: the npm package
//! `socket.io-client` (v4, Engine.IO 4) run by node, against the real
//! binary. Login ok (websocket and polling), bad token, another user's
//! token, pre-OTP token, expired token, logout kicks the live socket,
//! `otpgate token revoke-all` from the CLI process kicks it too, and a
//! socket that never logs in is disconnected.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::support::{
    Http, NodeSocket, Server, have_node_client, have_tool, now_secs, oathtool_code,
};

const SOON: Duration = Duration::from_secs(5);

fn login(user: &str, token: &str) -> Option<Value> {
    Some(json!({"accessKeyId": user, "token": token, "uaType": "desktop"}))
}

async fn token(http: &Http, server: &Server, user: &str, pw: &str) -> String {
    let (s, body) = http
        .post(
            &server.url("/api/login"),
            None,
            json!({"username": user, "password": pw}),
        )
        .await;
    assert_eq!(s, 200, "{body}");
    body["token"].as_str().unwrap().to_owned()
}

fn refused(server: &Server, login: Option<Value>) {
    let c = NodeSocket::start(server, "/api/ws/", "websocket", login, 8000);
    c.expect("connect", SOON);
    let v = c.expect("401", SOON);
    assert_eq!(v["data"], json!({"message": "unauthorized access"}));
    let v = c.expect("disconnect", SOON);
    assert_eq!(v["reason"], "io server disconnect");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_npm_socket_io_client_logs_in_and_is_refused_and_kicked_as_documented() {
    if !have_node_client() || !have_tool("oathtool", "apt-get install oathtool") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[("OTPGATE_WS_LOGIN_TIMEOUT_MS", "1500")]);
    for (name, pw) in [("alice", "pw-alice\n"), ("bob", "pw-bob\n")] {
        let out = server.cli(&["user", "add", name, "--password-stdin"], Some(pw));
        assert!(out.status.success());
    }
    let http = Http::new();
    let alice = token(&http, &server, "alice", "pw-alice").await;
    let bob = token(&http, &server, "bob", "pw-bob").await;

    // Login ok, over websocket and over polling (then upgraded).
    for transport in ["websocket", "polling", "any"] {
        let c = NodeSocket::start(&server, "/api/ws/", transport, login("alice", &alice), 8000);
        c.expect("connect", SOON);
        let v = c.expect("authe_ok", SOON);
        assert_eq!(v["data"], json!({"message": "authorized successfully"}));
    }
    // Bad token, another user's token, malformed payload.
    refused(&server, login("alice", "not.a.jwt"));
    refused(&server, login("alice", &bob));
    refused(&server, Some(json!("just a string")));

    // Pre-OTP token: bob enrols with oathtool's code, then logs in again.
    let (_, qr) = http.get(&server.url("/api/2fa/qr-code"), &bob).await;
    let key = qr["data"]["key"].as_str().unwrap().to_owned();
    let (s, v) = http
        .post(
            &server.url("/api/2fa/verify-otp"),
            Some(&bob),
            json!({"username": "bob", "otp": oathtool_code(&key, now_secs())}),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    let pre = token(&http, &server, "bob", "pw-bob").await;
    refused(&server, login("bob", &pre));

    // No login: disconnected after the (here shortened) login timeout.
    let c = NodeSocket::start(&server, "/api/ws/", "websocket", None, 8000);
    c.expect("connect", SOON);
    let started = Instant::now();
    let v = c.expect("disconnect", SOON);
    assert_eq!(v["reason"], "io server disconnect");
    assert!(
        started.elapsed() > Duration::from_millis(800),
        "{:?}",
        started.elapsed()
    );

    // Logout kicks the live socket, within a second.
    let c = NodeSocket::start(
        &server,
        "/api/ws/",
        "websocket",
        login("alice", &alice),
        8000,
    );
    c.expect("connect", SOON);
    c.expect("authe_ok", SOON);
    let started = Instant::now();
    let (s, _) = http
        .post(&server.url("/api/logout"), Some(&alice), json!({}))
        .await;
    assert_eq!(s, 200);
    let v = c.expect("session_revoked", SOON);
    assert_eq!(v["data"]["reason"], "logout");
    c.expect("disconnect", SOON);
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );

    // The CLI is another process: its revoke-all reaches the socket
    // through the store, within a second.
    let again = token(&http, &server, "alice", "pw-alice").await;
    let c = NodeSocket::start(&server, "/api/ws/", "polling", login("alice", &again), 8000);
    c.expect("connect", SOON);
    c.expect("authe_ok", SOON);
    let out = server.cli(&["token", "revoke-all", "alice"], None);
    assert!(out.status.success());
    let done = Instant::now();
    let v = c.expect("session_revoked", SOON);
    assert_eq!(v["data"]["reason"], "revoked");
    assert!(
        done.elapsed() < Duration::from_secs(1),
        "{:?}",
        done.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_npm_socket_io_client_is_refused_with_an_expired_token() {
    if !have_node_client() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[("OTPGATE_JWT_LIFETIME_SECS", "1")]);
    let out = server.cli(&["user", "add", "carol", "--password-stdin"], Some("pw\n"));
    assert!(out.status.success());
    let http = Http::new();
    let t = token(&http, &server, "carol", "pw").await;
    tokio::time::sleep(Duration::from_millis(2100)).await;
    refused(&server, login("carol", &t));
}
