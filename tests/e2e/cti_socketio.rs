//! The Socket.IO relay in `nethcti` mode (API.md §3, §9), driven end to
//! end with the real libraries: the binary configured with the NethCTI
//! middleware's variables, the CTI stand-in for REST, a node Socket.IO
//! server (npm `socket.io`, `upstream-sio.js --cti`) for the CTI server's
//! Socket.IO, and npm `socket.io-client` with phone-island's options
//! (`sio.js`). The CTI server's Socket.IO sees the login with T (never the
//! JWT) and its answer is the client's; acks and binary attachments cross
//! the relay both ways; the heartbeat holds.

use std::time::Duration;

use serde_json::{Value, json};

use crate::cti_server::CtiServer;
use crate::socketio::{UpstreamSio, have_node_server};
use crate::support::{
    Http, NodeSocket, Server, have_node_client, have_tool, now_secs, oathtool_code,
};

const PW: &str = "pw-secret-9";
const SOON: Duration = Duration::from_secs(5);

/// The CTI stand-in, its Socket.IO (Engine.IO pings every
/// `ping_ms`), and the binary in front of both, configured as the
/// middleware was.
struct Cti {
    rest: CtiServer,
    sio: UpstreamSio,
    server: Server,
    _dir: tempfile::TempDir,
}

async fn cti(ping_ms: u64) -> Cti {
    let rest = CtiServer::start(&[("carol", PW), ("dan", PW)]).await;
    let sio = UpstreamSio::start_with(&["--cti", &ping_ms.to_string()]);
    let dir = tempfile::tempdir().unwrap();
    let endpoint = rest.addr.to_string();
    let ws = format!("127.0.0.1:{}", sio.port);
    let server = Server::start(
        dir.path(),
        &[
            ("NETHVOICE_MIDDLEWARE_V1_API_ENDPOINT", &endpoint),
            ("NETHVOICE_MIDDLEWARE_V1_API_PATH", "/webrest"),
            ("NETHVOICE_MIDDLEWARE_V1_WS_ENDPOINT", &ws),
        ],
    );
    Cti {
        rest,
        sio,
        server,
        _dir: dir,
    }
}

impl Cti {
    /// Logs `user` in over HTTP; returns the JWT and registers the CTI
    /// session T the login opened with the CTI server's Socket.IO.
    async fn login(&mut self, user: &str) -> (String, String) {
        let (s, body) = Http::new().try_login(&self.server.base, user, PW).await;
        assert_eq!(s, 200, "{body}");
        let jwt = body["token"].as_str().unwrap().to_owned();
        let t = self
            .rest
            .persistent_token(user)
            .expect("CTI session opened");
        self.sio.command(&format!("token {user} {t}"));
        (jwt, t)
    }

    fn client(&self, user: &str, jwt: &str, max_ms: u64) -> NodeSocket {
        let login = json!({"accessKeyId": user, "token": jwt, "uaType": "desktop"});
        NodeSocket::start(&self.server, "/api/ws/", "websocket", Some(login), max_ms)
    }
}

fn ready() -> bool {
    have_node_client() && have_node_server()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cti_socket_io_gets_t_and_answers_and_acks_and_binaries_cross_the_relay() {
    if !ready() {
        return;
    }
    let mut cti = cti(1000).await;
    let (jwt, t) = cti.login("carol").await;
    let mut c = cti.client("carol", &jwt, 30_000);
    c.expect("connect", SOON);

    // The CTI server's Socket.IO sees the user and T, never the JWT.
    let v = cti.sio.expect("connection");
    assert_eq!(v["authorization"], false, "{v}");
    let v = cti.sio.expect("login");
    assert_eq!(
        v["data"],
        json!({"accessKeyId": "carol", "token": t, "uaType": "desktop"})
    );
    assert!(
        !v.to_string().contains(&jwt),
        "the JWT reached the CTI server"
    );
    // Its answer is the client's.
    let v = c.until("authe_ok", SOON);
    assert_eq!(v["data"], json!({"message": "authorized successfully"}));
    let v = c.until("welcome", SOON);
    assert_eq!(v["args"], json!([{"user": "carol"}, "second argument"]));

    // phone-island's heartbeat: `ping` with a callback, answered by the
    // CTI server through the relay within 5 s.
    c.line("ack ping {}");
    let v = c.until("ack", SOON);
    assert_eq!(v["name"], "ping");
    assert_eq!(v["error"], Value::Null, "{v}");
    assert_eq!(v["data"], json!(["pong"]));
    assert!(v["t"].as_u64().is_some());
    let v = cti.sio.until("ping");
    assert_eq!(v["ack"], true, "{v}");

    // An event without a callback goes up without an ack request.
    c.line(r#"emit hangup {"call":7}"#);
    let v = cti.sio.until("hangup");
    assert_eq!(v["data"], json!({"call": 7}));
    assert_eq!(v["ack"], false, "{v}");

    // A CTI event reaches the client.
    cti.sio
        .command(r#"emit extenUpdate {"exten":"201","status":"busy"}"#);
    let v = c.until("extenUpdate", SOON);
    assert_eq!(v["data"], json!({"exten": "201", "status": "busy"}));

    // Binary, CTI server -> client.
    cti.sio.command("emitbin avatar 00ff10");
    let v = c.until("avatar", SOON);
    assert_eq!(v["data"], json!({"file": {"$bin": "00ff10"}, "n": 1}));

    // Binary, client -> CTI server, with an ack whose answer carries
    // binary back.
    c.line("bin upload 0a0b0c");
    let v = cti.sio.until("upload");
    assert_eq!(v["data"], json!({"file": {"$bin": "0a0b0c"}}));
    assert_eq!(v["ack"], true, "{v}");
    let v = c.until("ack", SOON);
    assert_eq!(v["name"], "upload");
    assert_eq!(v["data"], json!([{"got": "upload"}]), "{v}");

    // The CTI server asks the client for an ack: the client's answer
    // goes back up.
    cti.sio.command(r#"ask confirm {"q":1}"#);
    let v = c.until("confirm", SOON);
    assert_eq!(v["data"], json!({"q": 1}));
    assert_eq!(v["ack"], true, "{v}");
    let v = cti.sio.until("answer");
    assert_eq!(v["error"], Value::Null, "{v}");
    assert_eq!(v["data"], json!([{"answered": "confirm"}]));

    // A CTI server that refuses T: its `401` is the client's, then a
    // disconnect.
    cti.sio.command("token carol not-the-session");
    let c2 = cti.client("carol", &jwt, 15_000);
    c2.expect("connect", SOON);
    let v = c2.until("401", SOON);
    assert_eq!(v["data"], json!({"message": "unauthorized access"}));
    c2.until("disconnect", SOON);
    // The first socket goes on.
    c.line("ack ping {}");
    assert_eq!(c.until("ack", SOON)["data"], json!(["pong"]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_phone_island_heartbeat_holds_through_the_relay_for_a_minute() {
    if !ready() {
        return;
    }
    // The CTI server pings every second: the relay's pongs matter too.
    let mut cti = cti(1000).await;
    let (jwt, _) = cti.login("carol").await;
    let mut c = cti.client("carol", &jwt, 75_000);
    c.until("authe_ok", SOON);
    c.line("heartbeat 5000");
    let started = std::time::Instant::now();
    let mut beats = 0;
    while started.elapsed() < Duration::from_secs(62) {
        let v = c
            .next(Duration::from_secs(10))
            .expect("the client reports at least every heartbeat");
        match v["event"].as_str() {
            Some("heartbeat") => {
                assert_eq!(v["ok"], true, "a ping went unanswered: {v}");
                assert!(v["ms"].as_u64().unwrap() < 5000, "{v}");
                beats += 1;
            }
            Some("disconnect" | "timeout" | "upstream_disconnected") => panic!("{v}"),
            _ => {}
        }
    }
    assert!(beats >= 11, "{beats} heartbeats in a minute");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_socket_survives_enrolment_and_the_last_logout_ends_the_cti_session() {
    if !ready() || !have_tool("oathtool", "apt-get install oathtool") {
        return;
    }
    let mut cti = cti(25_000).await;
    let http = Http::new();
    let remove = "/authentication/persistent_token_remove";
    let (a, _) = cti.login("carol").await;
    let (b, _) = cti.login("carol").await;
    let (c, t) = cti.login("carol").await;
    let mut enrolling = cti.client("carol", &a, 30_000);
    enrolling.until("authe_ok", SOON);
    let elsewhere = cti.client("carol", &b, 30_000);
    elsewhere.until("authe_ok", SOON);

    // Not the last token: the CTI session stays.
    let (s, _) = http.logout(&cti.server.base, &c).await;
    assert_eq!(s, 200);
    assert!(cti.rest.received_on(remove).is_empty());

    // Enrolment with the socket's token.
    let (_, qr) = http.qr_code(&cti.server.base, &a).await;
    let key = qr["data"]["key"].as_str().expect("key").to_owned();
    let (s, body) = http
        .verify_otp(
            &cti.server.base,
            &a,
            "carol",
            &oathtool_code(&key, now_secs()),
        )
        .await;
    assert_eq!(s, 200, "{body}");
    let verified = body["data"]["token"].as_str().unwrap().to_owned();
    // The enrolling socket is told and goes on; the other one ends.
    let v = enrolling.until("2fa_status", SOON);
    assert_eq!(v["data"], json!({"status": true}));
    elsewhere.until("session_revoked", SOON);
    elsewhere.until("disconnect", SOON);
    enrolling.line("ack ping {}");
    let v = enrolling.next(SOON).expect("the ping's answer");
    assert_eq!(v["event"], "ack", "no session_revoked, no disconnect: {v}");
    assert_eq!(v["data"], json!(["pong"]));
    assert!(cti.rest.received_on(remove).is_empty(), "a token is left");

    // The last token's logout ends the CTI session (and the socket).
    let (s, _) = http.logout(&cti.server.base, &verified).await;
    assert_eq!(s, 200);
    enrolling.until("session_revoked", SOON);
    let removed = cti.rest.received_on(remove);
    assert_eq!(removed.len(), 1);
    assert_eq!(
        removed[0].authorization.as_deref(),
        Some(format!("carol:{t}").as_str())
    );
    assert_eq!(cti.rest.persistent_token("carol"), None);
    // The CTI server only ever saw its own credential.
    for r in cti.rest.received() {
        for v in r.headers.values() {
            let v = v.to_str().unwrap_or_default();
            for jwt in [&a, &b, &c, &verified] {
                assert!(!v.contains(jwt.as_str()), "a JWT reached the CTI server");
            }
        }
    }
}
