//! The Socket.IO relay (`upstream.ws_url`): a small upstream Socket.IO
//! server (socketioxide on a loopback port) sees one connection per
//! logged-in socket, identified by `X-Otpgate-User` and a token-less
//! `login` event; its events reach the client, the client's events reach
//! it; revoking the client's token closes the upstream connection; an
//! upstream that drops is retried and the client is told.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::time::Duration;

use axum::http::StatusCode;
use otpgate_http::realtime::relay::RelaySettings;
use serde_json::{Value, json};
use socketioxide::SocketIo;
use socketioxide::extract::{Data, Event, SocketRef, TryData};
use socketioxide::handler::ConnectHandler;
use tokio::sync::mpsc;

use crate::sio::{Ev, Sio, authe_ok};
use crate::support::{TestApp, test_settings};

const SOON: Duration = Duration::from_secs(5);

/// What the upstream server saw.
#[derive(Debug, Clone, PartialEq)]
enum Seen {
    /// A connection: its `X-Otpgate-User` and whether it carried an
    /// `Authorization` or a cookie.
    Connected {
        user: Option<String>,
        credentials: bool,
    },
    /// An event and its first argument.
    Event(String, Value),
    /// The connection ended.
    Disconnected,
}

async fn until_connected(s: &SocketRef) {
    for _ in 0..200 {
        if s.connected() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

/// Starts the upstream Socket.IO server: on `login` it emits `welcome`
/// (two arguments); any other event is echoed back as `echo`; `leave`
/// makes it disconnect the socket.
async fn upstream() -> (SocketAddr, mpsc::UnboundedReceiver<Seen>) {
    upstream_on("127.0.0.1:0".parse().unwrap()).await
}

async fn upstream_on(at: SocketAddr) -> (SocketAddr, mpsc::UnboundedReceiver<Seen>) {
    let (tx, rx) = mpsc::unbounded_channel();
    let (layer, io) = SocketIo::new_layer();
    let register = async move |s: SocketRef| -> Result<(), Infallible> {
        let h = &s.req_parts().headers;
        let _ = tx.send(Seen::Connected {
            user: h
                .get("x-otpgate-user")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned),
            credentials: h.contains_key("authorization") || h.contains_key("cookie"),
        });
        let t = tx.clone();
        s.on("login", async move |s: SocketRef, Data(v): Data<Value>| {
            until_connected(&s).await;
            let _ = t.send(Seen::Event("login".into(), v.clone()));
            if v["accessKeyId"] == "mallory" {
                let _ = s.emit("401", &json!({"message": "unauthorized access"}));
                return;
            }
            let _ = s.emit("authe_ok", &json!({"message": "authorized successfully"}));
            let _ = s.emit("welcome", &(json!({"user": v["accessKeyId"]}), "second"));
        });
        let t = tx.clone();
        s.on("pair", async move |Data((a, b)): Data<(Value, Value)>| {
            let _ = t.send(Seen::Event("pair".into(), json!([a, b])));
        });
        let t = tx.clone();
        s.on_fallback(
            async move |s: SocketRef, Event(e): Event, TryData(v): TryData<Value>| {
                let v = v.unwrap_or(Value::Null);
                let _ = t.send(Seen::Event(e.clone(), v.clone()));
                if e == "leave" {
                    let _ = s.disconnect();
                } else {
                    let _ = s.emit("echo", &json!({"event": e, "data": v}));
                }
            },
        );
        let t = tx.clone();
        s.on_disconnect(async move || {
            let _ = t.send(Seen::Disconnected);
        });
        Ok(())
    };
    io.ns("/", (async |_: SocketRef| {}).with(register));
    let app = axum::Router::new().layer(layer);
    let listener = tokio::net::TcpListener::bind(at).await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app.into_make_service()).await;
    });
    (addr, rx)
}

async fn seen(rx: &mut mpsc::UnboundedReceiver<Seen>) -> Seen {
    tokio::time::timeout(SOON, rx.recv())
        .await
        .expect("the upstream saw something in time")
        .expect("upstream running")
}

async fn app_relaying_to(addr: SocketAddr) -> TestApp {
    let mut relay = RelaySettings::new(format!("ws://{addr}/socket.io/"));
    relay.retry_min = Duration::from_millis(100);
    relay.retry_max = Duration::from_millis(400);
    let settings = otpgate_http::HttpSettings {
        upstream_ws: Some(relay),
        ..test_settings()
    };
    TestApp::with(settings).await
}

fn event(name: &str, data: Value) -> Ev {
    Ev::Event(name.into(), data)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upstream_events_reach_the_logged_in_client_and_revocation_closes_the_upstream() {
    let (up, mut seen_by_upstream) = upstream().await;
    let app = app_relaying_to(up).await;
    app.add_user("alice", "pw-secret-9").await;
    let token = app.login("alice", "pw-secret-9").await;
    let addr = app.serve().await;

    // Before login: nothing reaches the upstream, not even a connection.
    let mut sio = Sio::connect(addr, "/api/ws/").await;
    sio.emit("early", json!({"x": 0})).await;
    assert!(
        tokio::time::timeout(Duration::from_millis(300), seen_by_upstream.recv())
            .await
            .is_err(),
        "no upstream connection before login"
    );

    assert_eq!(sio.login("Alice", &token).await, authe_ok());
    assert_eq!(
        seen(&mut seen_by_upstream).await,
        Seen::Connected {
            user: Some("alice".into()),
            credentials: false
        }
    );
    // The relayed login names the user and never carries the token.
    assert_eq!(
        seen(&mut seen_by_upstream).await,
        Seen::Event(
            "login".into(),
            json!({"accessKeyId": "alice", "uaType": "desktop"})
        )
    );
    assert_eq!(
        sio.expect(SOON).await,
        event("upstream_connected", json!({}))
    );
    // The upstream's `authe_ok` is swallowed; its own event arrives.
    assert_eq!(
        sio.expect(SOON).await,
        event("welcome", json!({"user": "alice"}))
    );

    // Client -> upstream -> client.
    sio.emit("hangup", json!({"call": 7})).await;
    assert_eq!(
        seen(&mut seen_by_upstream).await,
        Seen::Event("hangup".into(), json!({"call": 7}))
    );
    assert_eq!(
        sio.expect(SOON).await,
        event("echo", json!({"event": "hangup", "data": {"call": 7}}))
    );

    // Every argument is relayed.
    sio.send(r#"42["pair",{"a":1},[2]]"#).await;
    assert_eq!(
        seen(&mut seen_by_upstream).await,
        Seen::Event("pair".into(), json!([{"a": 1}, [2]]))
    );

    // Revocation (logout): the client is kicked and the upstream
    // connection closes: no task is left behind.
    let r = app.logout(&token).await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(matches!(sio.expect(SOON).await, Ev::Event(ref n, _) if n == "session_revoked"));
    assert_eq!(seen(&mut seen_by_upstream).await, Seen::Disconnected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_upstream_is_reported_and_retried_and_a_client_disconnect_closes_it() {
    let (up, mut seen_by_upstream) = upstream().await;
    let app = app_relaying_to(up).await;
    app.add_user("bob", "pw-secret-9").await;
    let token = app.login("bob", "pw-secret-9").await;
    let addr = app.serve().await;
    let mut sio = Sio::connect(addr, "/api/ws/").await;
    assert_eq!(sio.login("bob", &token).await, authe_ok());
    assert!(matches!(
        seen(&mut seen_by_upstream).await,
        Seen::Connected { .. }
    ));
    assert!(matches!(seen(&mut seen_by_upstream).await, Seen::Event(ref n, _) if n == "login"));
    assert_eq!(
        sio.expect(SOON).await,
        event("upstream_connected", json!({}))
    );
    assert_eq!(
        sio.expect(SOON).await,
        event("welcome", json!({"user": "bob"}))
    );

    // The upstream drops the connection: the client is told, stays
    // logged in, and otpgate connects and logs in again.
    sio.emit("leave", json!({})).await;
    assert_eq!(
        seen(&mut seen_by_upstream).await,
        Seen::Event("leave".into(), json!({}))
    );
    assert_eq!(seen(&mut seen_by_upstream).await, Seen::Disconnected);
    assert_eq!(
        sio.expect(SOON).await,
        event("upstream_disconnected", json!({"reason": "disconnected"}))
    );
    assert!(matches!(
        seen(&mut seen_by_upstream).await,
        Seen::Connected { .. }
    ));
    assert!(matches!(seen(&mut seen_by_upstream).await, Seen::Event(ref n, _) if n == "login"));
    assert_eq!(
        sio.expect(SOON).await,
        event("upstream_connected", json!({}))
    );
    assert_eq!(
        sio.expect(SOON).await,
        event("welcome", json!({"user": "bob"}))
    );

    // The client goes away: the upstream connection closes.
    drop(sio);
    assert_eq!(seen(&mut seen_by_upstream).await, Seen::Disconnected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_upstream_is_reported_to_the_client_which_stays_logged_in() {
    // A port nothing listens on.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let app = app_relaying_to(port).await;
    app.add_user("carol", "pw-secret-9").await;
    let token = app.login("carol", "pw-secret-9").await;
    let addr = app.serve().await;
    let mut sio = Sio::connect(addr, "/api/ws/").await;
    assert_eq!(sio.login("carol", &token).await, authe_ok());
    assert_eq!(
        sio.expect(SOON).await,
        event("upstream_disconnected", json!({"reason": "unreachable"}))
    );
    // Retried with back-off (100, 200, 400 ms here), reported once per
    // outage; the client stays connected.
    assert_eq!(sio.next(Duration::from_millis(1200)).await, None);
    // Once the upstream is there, the relay connects.
    let (up, mut seen_by_upstream) = upstream_on(port).await;
    assert_eq!(up, port);
    assert!(matches!(
        seen(&mut seen_by_upstream).await,
        Seen::Connected { .. }
    ));
    assert_eq!(
        sio.expect(SOON).await,
        event("upstream_connected", json!({}))
    );
    assert_eq!(
        sio.expect(SOON).await,
        event("welcome", json!({"user": "carol"}))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upstream_that_refuses_the_relayed_login_is_reported_and_retried_with_back_off() {
    let (up, mut seen_by_upstream) = upstream().await;
    let app = app_relaying_to(up).await;
    app.add_user("mallory", "pw-secret-9").await;
    let token = app.login("mallory", "pw-secret-9").await;
    let addr = app.serve().await;
    let mut sio = Sio::connect(addr, "/api/ws/").await;
    assert_eq!(sio.login("mallory", &token).await, authe_ok());
    assert_eq!(
        sio.expect(SOON).await,
        event("upstream_connected", json!({}))
    );
    // The upstream's `401` is not relayed as such: otpgate's answer stands,
    // the client learns the relay is down and stays logged in.
    assert_eq!(
        sio.expect(SOON).await,
        event("upstream_disconnected", json!({"reason": "refused"}))
    );
    assert_eq!(
        seen(&mut seen_by_upstream).await,
        Seen::Connected {
            user: Some("mallory".into()),
            credentials: false
        }
    );
    // Retried, with growing delays (100, 200, 400, 400 ms here): a few
    // logins in a second and a half, not hundreds.
    let started = tokio::time::Instant::now();
    let mut logins = 0;
    while started.elapsed() < Duration::from_millis(1500) {
        match tokio::time::timeout(Duration::from_millis(100), seen_by_upstream.recv()).await {
            Ok(Some(Seen::Event(n, _))) if n == "login" => logins += 1,
            _ => {}
        }
    }
    assert!((2..=8).contains(&logins), "{logins} relayed logins");
    // Meanwhile the client only heard about the relay going up and down,
    // and is still connected.
    while let Some(ev) = sio.next(Duration::from_millis(300)).await {
        assert!(
            ev == event("upstream_connected", json!({}))
                || ev == event("upstream_disconnected", json!({"reason": "refused"})),
            "{ev:?}"
        );
    }
}
