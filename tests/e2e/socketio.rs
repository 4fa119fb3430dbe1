//! Socket.IO at /api/ws/ with a client that is not ours: the npm package
//! `socket.io-client` (v4, Engine.IO 4) run by node, against the real
//! binary. Login ok (websocket and polling), bad token, another user's
//! token, pre-OTP token, expired token, logout kicks the live socket,
//! `otpgate token revoke-all` from the CLI process kicks it too, and a
//! socket that never logs in is disconnected. With `upstream.ws_url`
//! pointing at a node Socket.IO server (the npm package `socket.io`), its
//! events reach the logged-in client, the client's events reach it, and
//! logout closes otpgate's connection to it.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::support::{
    Http, NodeSocket, Server, clients_dir, have_node_client, have_tool, now_secs, oathtool_code,
};

const SOON: Duration = Duration::from_secs(5);

fn login(user: &str, token: &str) -> Option<Value> {
    Some(json!({"accessKeyId": user, "token": token, "uaType": "desktop"}))
}

async fn token(http: &Http, server: &Server, user: &str, pw: &str) -> String {
    let (s, body) = http.try_login(&server.base, user, pw).await;
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
    for (name, pw) in [("alice", "pw-alice-secret\n"), ("bob", "pw-bob-secret\n")] {
        let out = server.cli(&["user", "add", name, "--password-stdin"], Some(pw));
        assert!(out.status.success());
    }
    let http = Http::new();
    let alice = token(&http, &server, "alice", "pw-alice-secret").await;
    let bob = token(&http, &server, "bob", "pw-bob-secret").await;

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
    let (_, qr) = http.qr_code(&server.base, &bob).await;
    let key = qr["data"]["key"].as_str().unwrap().to_owned();
    let (s, v) = http
        .verify_otp(&server.base, &bob, "bob", &oathtool_code(&key, now_secs()))
        .await;
    assert_eq!(s, 200, "{v}");
    let pre = token(&http, &server, "bob", "pw-bob-secret").await;
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
    let (s, _) = http.logout(&server.base, &alice).await;
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
    let again = token(&http, &server, "alice", "pw-alice-secret").await;
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
    let out = server.cli(
        &["user", "add", "carol", "--password-stdin"],
        Some("pw-secret-9\n"),
    );
    assert!(out.status.success());
    let http = Http::new();
    let t = token(&http, &server, "carol", "pw-secret-9").await;
    tokio::time::sleep(Duration::from_millis(2100)).await;
    refused(&server, login("carol", &t));
}

/// `node tests/clients/upstream-sio.js`: a Socket.IO server (the npm
/// package `socket.io`) that reports what it sees as JSON lines.
pub struct UpstreamSio {
    child: std::process::Child,
    lines: std::sync::mpsc::Receiver<Value>,
    pub port: u16,
}

impl UpstreamSio {
    fn start() -> Self {
        Self::start_with(&[])
    }

    /// Started with these arguments (`--cti`, a ping interval).
    pub fn start_with(args: &[&str]) -> Self {
        use std::io::BufRead;
        let mut child = std::process::Command::new("node")
            .arg(clients_dir().join("upstream-sio.js"))
            .args(args)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::inherit())
            .spawn()
            .expect("start node");
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stdout)
                .lines()
                .map_while(Result::ok)
            {
                if let Ok(v) = serde_json::from_str(&line)
                    && tx.send(v).is_err()
                {
                    break;
                }
            }
        });
        let mut up = Self {
            child,
            lines: rx,
            port: 0,
        };
        let v = up.expect("listening");
        up.port = u16::try_from(v["port"].as_u64().unwrap()).unwrap();
        up
    }

    pub fn expect(&self, event: &str) -> Value {
        let v = self
            .lines
            .recv_timeout(SOON)
            .unwrap_or_else(|_| panic!("the upstream saw no {event:?} in time"));
        assert_eq!(v["event"], event, "{v}");
        v
    }

    /// The next report that is `event`, skipping others, within `SOON`.
    pub fn until(&self, event: &str) -> Value {
        let deadline = std::time::Instant::now() + SOON;
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            let v = self
                .lines
                .recv_timeout(left)
                .unwrap_or_else(|_| panic!("the upstream saw no {event:?} in time"));
            if v["event"] == event {
                return v;
            }
        }
    }

    /// Sends a command line (see the script's header).
    pub fn command(&mut self, line: &str) {
        use std::io::Write;
        let stdin = self.child.stdin.as_mut().expect("server stdin");
        writeln!(stdin, "{line}").expect("write to the server");
        stdin.flush().expect("flush");
    }
}

impl Drop for UpstreamSio {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Whether the npm Socket.IO server is installed next to the client.
pub fn have_node_server() -> bool {
    let installed = clients_dir()
        .join("node_modules/socket.io/package.json")
        .is_file();
    if !installed {
        let how = "(cd tests/clients && npm ci)";
        assert!(
            std::env::var("OTPGATE_REQUIRE_E2E").as_deref() != Ok("1"),
            "socket.io is required (OTPGATE_REQUIRE_E2E=1); install it with: {how}"
        );
        crate::support::skipped(&format!("socket.io not installed; run `{how}`"));
    }
    installed
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upstream_socket_io_events_are_relayed_to_the_npm_client_and_logout_closes_the_upstream() {
    if !have_node_client() || !have_node_server() {
        return;
    }
    let up = UpstreamSio::start();
    let dir = tempfile::tempdir().unwrap();
    let ws_url = format!("ws://127.0.0.1:{}/socket.io/", up.port);
    let server = Server::start(dir.path(), &[("OTPGATE_UPSTREAM_WS_URL", ws_url.as_str())]);
    let out = server.cli(
        &["user", "add", "dave", "--password-stdin"],
        Some("pw-dave-secret\n"),
    );
    assert!(out.status.success());
    let http = Http::new();
    let t = token(&http, &server, "dave", "pw-dave-secret").await;

    let mut c = NodeSocket::start(&server, "/api/ws/", "websocket", login("dave", &t), 15000);
    c.expect("connect", SOON);
    c.expect("authe_ok", SOON);
    // What the upstream receives: the user in X-Otpgate-User, no
    // credentials, and a login without any token.
    let v = up.expect("connection");
    assert_eq!(v["user"], "dave", "{v}");
    assert_eq!(v["authorization"], false, "{v}");
    assert_eq!(v["cookie"], false, "{v}");
    assert_eq!(v["transport"], "websocket", "{v}");
    let v = up.expect("login");
    assert_eq!(
        v["data"],
        json!({"accessKeyId": "dave", "uaType": "desktop"})
    );
    assert!(
        !v.to_string().contains(&t),
        "the JWT never reaches the upstream"
    );
    c.expect("upstream_connected", SOON);
    // The upstream's event reaches the client (its `authe_ok` does not:
    // the client had otpgate's).
    let v = c.expect("welcome", SOON);
    assert_eq!(
        v["args"],
        json!([{"user": "dave"}, "second argument"]),
        "all the arguments"
    );

    // A client event reaches the upstream, whose answer comes back.
    c.emit("queue_join", &json!({"queue": "support"}));
    let v = up.expect("queue_join");
    assert_eq!(v["data"], json!({"queue": "support"}));
    let v = c.expect("echo", SOON);
    assert_eq!(
        v["data"],
        json!({"event": "queue_join", "data": {"queue": "support"}})
    );

    // Logout: the client is kicked and the upstream connection closes.
    let (s, _) = http.logout(&server.base, &t).await;
    assert_eq!(s, 200);
    c.expect("session_revoked", SOON);
    c.expect("disconnect", SOON);
    let v = up.expect("disconnect");
    assert_eq!(v["reason"], "client namespace disconnect", "{v}");
}
