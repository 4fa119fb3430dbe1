//! Hostile connections against the real binary: half-open requests by the
//! thousand under a descriptor limit of 1024 (`prlimit`), slow bodies and
//! heads, idle keep-alives, one address holding too many sockets, and
//! Socket.IO connections that never join or never log in. Each is closed
//! on time, and normal clients are answered meanwhile.

use std::net::{Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

use crate::support::{Http, NodeSocket, Server, have_node_client, have_tool};

/// What each attacking connection sends: a request head without its end.
const HALF: &[u8] = b"GET /healthz HTTP/1.1\r\nHost: x\r\n";
/// Lateness allowed past a configured timeout (a 2-core VM shared with
/// builds schedules late).
const SLACK: Duration = Duration::from_millis(1500);

fn addr_of(server: &Server) -> SocketAddr {
    server.base.trim_start_matches("http://").parse().unwrap()
}

/// A connection to `to` from `from` (any port), having sent `bytes`.
async fn open_from(to: SocketAddr, from: Ipv4Addr, bytes: &[u8]) -> TcpStream {
    let socket = TcpSocket::new_v4().unwrap();
    socket.bind(SocketAddr::from((from, 0))).unwrap();
    let mut s = tokio::time::timeout(Duration::from_secs(5), socket.connect(to))
        .await
        .expect("the server accepts within 5 s")
        .expect("connect");
    if !bytes.is_empty() {
        s.write_all(bytes).await.unwrap();
    }
    s
}

/// Reads until the server closes `s`; what was read and how long after
/// `since` the close came (`None`: still open after `limit`).
async fn until_closed(
    mut s: TcpStream,
    since: Instant,
    limit: Duration,
) -> (Vec<u8>, Option<Duration>) {
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    let end = since + limit;
    loop {
        match tokio::time::timeout_at(end.into(), s.read(&mut buf)).await {
            Err(_) => return (got, None),
            Ok(Ok(0) | Err(_)) => return (got, Some(since.elapsed())),
            Ok(Ok(n)) => got.extend_from_slice(&buf[..n]),
        }
    }
}

/// The value of the series `name` (with its labels, as printed) in
/// `/metrics`.
async fn metric(server: &Server, name: &str) -> f64 {
    let text = reqwest::get(server.url("/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' '))
        .unwrap_or_else(|| panic!("{name} in /metrics"))
        .parse()
        .unwrap()
}

async fn add_user_and_token(server: &Server, http: &Http, user: &str) -> String {
    let out = server.cli(
        &["user", "add", user, "--password-stdin"],
        Some("pw-conn-1\n"),
    );
    assert!(out.status.success());
    let (s, body) = http.try_login(&server.base, user, "pw-conn-1").await;
    assert_eq!(s, 200, "{body}");
    body["token"].as_str().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_thousand_half_open_connections_under_a_1024_descriptor_limit_shut_no_client_out() {
    let _machine = crate::support::MACHINE_WIDE.lock().await;
    if !have_tool("prlimit", "apt-get install util-linux") || !have_node_client() {
        return;
    }
    let header_timeout = Duration::from_secs(3);
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start_under(
        dir.path(),
        &["prlimit", "--nofile=1024"],
        &[("OTPGATE_CONNECTIONS_HEADER_TIMEOUT_MS", "3000")],
    );
    let http = Http::new();
    let token = add_user_and_token(&server, &http, "carol").await;
    // 1024 descriptors, less the reserve: the budget the server derived.
    assert_eq!(metric(&server, "otpgate_connections_max").await, 896.0);

    // 2,000 half-sent requests from 20 loopback addresses (100 each, under
    // the default cap of 256 per address): more than the descriptors.
    let to = addr_of(&server);
    let started = Instant::now();
    let mut held = Vec::new();
    for i in 0..2000u16 {
        let from = Ipv4Addr::new(127, 0, 1, 10 + u8::try_from(i % 20).unwrap());
        let s = open_from(to, from, HALF).await;
        let opened = Instant::now();
        held.push(tokio::spawn(until_closed(
            s,
            opened,
            Duration::from_secs(20),
        )));
    }
    let opening = started.elapsed();

    // Meanwhile, normal clients (fresh connections from 127.0.0.1).
    let open_now = metric(&server, "otpgate_connections_open").await;
    let t = Instant::now();
    let r = reqwest::Client::new()
        .get(server.url("/healthz"))
        .send()
        .await
        .unwrap();
    let healthz = t.elapsed();
    assert_eq!(r.status(), 200);
    let t = Instant::now();
    let (s, body) = Http::new()
        .try_login(&server.base, "carol", "pw-conn-1")
        .await;
    let login = t.elapsed();
    assert_eq!(s, 200, "{body}");
    let c = NodeSocket::start(
        &server,
        "/api/ws/",
        "websocket",
        Some(json!({"accessKeyId": "carol", "token": token})),
        5000,
    );
    let sio = tokio::task::spawn_blocking(move || {
        c.expect("connect", Duration::from_secs(5));
        c.expect("authe_ok", Duration::from_secs(5))
    })
    .await
    .unwrap();
    let sio_ms = sio["t"].as_u64().unwrap();
    let still_open = metric(&server, "otpgate_connections_open").await;
    eprintln!(
        "2000 half-open connections opened in {opening:?}; {open_now} open at the server; \
         /healthz {healthz:?}, login {login:?}, Socket.IO login {sio_ms} ms; {still_open} still open"
    );
    assert!(
        open_now >= 600.0,
        "the attack holds most of the budget (896): {open_now} open"
    );
    assert!(
        healthz < Duration::from_secs(1),
        "/healthz took {healthz:?}"
    );
    assert!(login < Duration::from_secs(1), "login took {login:?}");
    assert!(sio_ms < 1000, "Socket.IO login took {sio_ms} ms");

    // Every held connection is closed within the header timeout (evicted
    // at once to make room, or timed out).
    let mut latest = Duration::ZERO;
    for h in held {
        let (got, closed) = h.await.unwrap();
        // A connection refused at accept (past the cap while evicted ones
        // are still closing) may carry the refusal; never an answer to the
        // half-sent request.
        assert!(
            got.is_empty() || got.starts_with(b"HTTP/1.1 503"),
            "a half-open request gets no answer: {:?}",
            String::from_utf8_lossy(&got)
        );
        let closed = closed.expect("closed within 20 s");
        latest = latest.max(closed);
    }
    eprintln!("the last held connection was closed {latest:?} after it was opened");
    assert!(
        latest <= header_timeout + SLACK,
        "closed {latest:?} after opening"
    );
    let evicted = metric(
        &server,
        "otpgate_connections_closed_total{cause=\"evicted\"}",
    )
    .await;
    let timed_out = metric(
        &server,
        "otpgate_connections_closed_total{cause=\"header_timeout\"}",
    )
    .await;
    // A few may be refused at accept while evicted ones are still closing
    // (the 503 allowed above): every one of the 2,000 is accounted for.
    let refused = metric(
        &server,
        "otpgate_connections_refused_total{cause=\"total_cap\"}",
    )
    .await;
    eprintln!("evicted {evicted}, header timeouts {timed_out}, refused at accept {refused}");
    // Eviction makes the room: most of the 1,104 beyond the budget evict
    // an older one. How many find no slot while the evicted still close
    // depends on how fast the machine schedules their tasks (161 to 427
    // of them at load 5 to 10), so the rule is that evictions outnumber
    // refusals, and that every connection is accounted for.
    assert!(evicted > refused, "{evicted} evicted, {refused} refused");
    assert!(evicted + refused >= 2000.0 - 896.0);
    assert!(evicted + timed_out + refused >= 2000.0);
    assert!(metric(&server, "otpgate_connections_open").await <= 4.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_address_past_its_cap_is_refused_at_once_and_others_are_served() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[("OTPGATE_CONNECTIONS_MAX_PER_ADDRESS", "3")]);
    let to = addr_of(&server);
    let greedy = Ipv4Addr::new(127, 0, 2, 1);
    let mut held = Vec::new();
    for _ in 0..3 {
        held.push(open_from(to, greedy, HALF).await);
    }
    // The fourth from the same address: a 503 and a close, at once.
    let t = Instant::now();
    let s = open_from(to, greedy, b"").await;
    let (got, closed) = until_closed(s, t, Duration::from_secs(5)).await;
    let closed = closed.expect("closed at once");
    assert!(closed < Duration::from_secs(1), "{closed:?}");
    let text = String::from_utf8_lossy(&got);
    assert!(text.starts_with("HTTP/1.1 503 "), "{text}");
    let body: Value = serde_json::from_str(text.split("\r\n\r\n").nth(1).unwrap()).unwrap();
    assert_eq!(body["message"], "too_many_connections");
    // Another address is served.
    let mut other = open_from(
        to,
        Ipv4Addr::new(127, 0, 2, 2),
        b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )
    .await;
    let mut answer = String::new();
    other.read_to_string(&mut answer).await.unwrap();
    assert!(answer.starts_with("HTTP/1.1 200 "), "{answer}");
    assert_eq!(
        metric(
            &server,
            "otpgate_connections_refused_total{cause=\"per_address_cap\"}"
        )
        .await,
        1.0
    );
    // A slot given back is usable again.
    drop(held.pop());
    tokio::time::sleep(Duration::from_millis(200)).await;
    let s = open_from(to, greedy, b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n").await;
    let (got, _) = until_closed(s, Instant::now(), Duration::from_millis(500)).await;
    assert!(String::from_utf8_lossy(&got).starts_with("HTTP/1.1 200 "));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_heads_slow_bodies_and_idle_keep_alives_are_closed_on_time() {
    let bound = Duration::from_secs(2);
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(
        dir.path(),
        &[
            ("OTPGATE_CONNECTIONS_HEADER_TIMEOUT_MS", "2000"),
            ("OTPGATE_CONNECTIONS_IDLE_TIMEOUT_MS", "2000"),
            ("OTPGATE_CONNECTIONS_BODY_TIMEOUT_MS", "2000"),
        ],
    );
    let to = addr_of(&server);
    let local = Ipv4Addr::LOCALHOST;

    // A head trickled a byte every 200 ms (slowloris): closed when the
    // header timeout has passed since its first byte, unanswered.
    let slow_head = tokio::spawn(async move {
        let t = Instant::now();
        let mut s = open_from(to, local, b"G").await;
        for b in b"ET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaa" {
            tokio::time::sleep(Duration::from_millis(200)).await;
            if s.write_all(&[*b]).await.is_err() {
                break;
            }
        }
        until_closed(s, t, Duration::from_secs(10)).await
    });

    // A body trickled a byte every 300 ms: a 400 once the body timeout
    // has passed since the head, then the connection is closed.
    let slow_body = tokio::spawn(async move {
        let mut s = open_from(
            to,
            local,
            b"POST /api/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 60\r\n\r\n{",
        )
        .await;
        let t = Instant::now();
        let (mut rd, mut wr) = s.split();
        let trickle = async {
            for _ in 0..40 {
                tokio::time::sleep(Duration::from_millis(300)).await;
                if wr.write_all(b" ").await.is_err() {
                    break;
                }
            }
            std::future::pending::<()>().await;
        };
        let mut got = Vec::new();
        let read = async {
            let mut buf = [0u8; 1024];
            loop {
                match rd.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => got.extend_from_slice(&buf[..n]),
                }
            }
        };
        tokio::select! {
            () = read => {},
            () = trickle => {},
            () = tokio::time::sleep(Duration::from_secs(10)) => {},
        }
        (String::from_utf8_lossy(&got).into_owned(), t.elapsed())
    });

    // A keep-alive connection: requests 1.2 s apart keep it open past the
    // idle timeout (measured from each answer); then, idle, it is closed.
    let idle = tokio::spawn(async move {
        let mut s = open_from(to, local, b"").await;
        let mut buf = [0u8; 4096];
        for _ in 0..3 {
            s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
                .await
                .unwrap();
            let n = s.read(&mut buf).await.unwrap();
            assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200 "));
            tokio::time::sleep(Duration::from_millis(1200)).await;
        }
        s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .unwrap();
        let n = s.read(&mut buf).await.unwrap();
        assert!(
            String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200 "),
            "still served after 3.6 s of keep-alive"
        );
        until_closed(s, Instant::now(), Duration::from_secs(10)).await
    });

    let (got, closed) = slow_head.await.unwrap();
    let closed = closed.expect("slow head closed");
    assert!(got.is_empty(), "no answer to a head never finished");
    assert!(
        closed >= bound - Duration::from_millis(100) && closed <= bound + SLACK,
        "slow head closed after {closed:?}"
    );
    let (answer, took) = slow_body.await.unwrap();
    assert!(answer.starts_with("HTTP/1.1 400 "), "{answer}");
    assert!(
        answer.contains("the request body was not received within 2s"),
        "{answer}"
    );
    assert!(
        took >= bound - Duration::from_millis(100) && took <= bound + SLACK,
        "slow body closed after {took:?}"
    );
    let (got, closed) = idle.await.unwrap();
    assert!(got.is_empty());
    let closed = closed.expect("idle keep-alive closed");
    assert!(
        closed >= bound - Duration::from_millis(100) && closed <= bound + SLACK,
        "idle keep-alive closed after {closed:?}"
    );
    for (cause, n) in [
        ("header_timeout", 1.0),
        ("body_timeout", 1.0),
        ("idle_timeout", 1.0),
    ] {
        let name = format!("otpgate_connections_closed_total{{cause=\"{cause}\"}}");
        assert!(metric(&server, &name).await >= n, "{name}");
    }
}

/// A raw WebSocket to the Engine.IO endpoint at `path` (handshake done,
/// the server's open packet read), having sent `packets` as text frames.
async fn engine_io_websocket(to: SocketAddr, path: &str, packets: &[&str]) -> TcpStream {
    let mut s = open_from(to, Ipv4Addr::LOCALHOST, b"").await;
    let req = format!(
        "GET {path}?EIO=4&transport=websocket HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n\
         Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
         Sec-WebSocket-Version: 13\r\n\r\n"
    );
    s.write_all(req.as_bytes()).await.unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 1024];
    // The 101 and the Engine.IO open packet ("0{...}").
    while !(got.windows(4).any(|w| w == b"\r\n\r\n") && got.windows(5).any(|w| w == b"0{\"si")) {
        let n = tokio::time::timeout(Duration::from_secs(5), s.read(&mut buf))
            .await
            .expect("handshake")
            .unwrap();
        assert!(n > 0, "closed during the handshake");
        got.extend_from_slice(&buf[..n]);
    }
    assert!(got.starts_with(b"HTTP/1.1 101 "));
    for p in packets {
        // A masked text frame (clients must mask).
        let mask = [0x12u8, 0x34, 0x56, 0x78];
        let mut frame = vec![0x81, 0x80 | u8::try_from(p.len()).unwrap()];
        frame.extend_from_slice(&mask);
        frame.extend(p.bytes().enumerate().map(|(i, b)| b ^ mask[i % 4]));
        s.write_all(&frame).await.unwrap();
    }
    s
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn socket_io_connections_that_never_join_or_never_log_in_are_closed() {
    let login_timeout = Duration::from_millis(1500);
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(
        dir.path(),
        &[
            ("OTPGATE_WS_LOGIN_TIMEOUT_MS", "1500"),
            // 140 handshakes from one address: more than the default burst.
            ("OTPGATE_RATE_LIMIT_AVERAGE", "0"),
        ],
    );
    let to = addr_of(&server);
    let mut waiting = Vec::new();
    // 50 that complete the Engine.IO handshake and never join the
    // namespace, 50 that join and never log in.
    for i in 0..100 {
        let packets: &[&str] = if i % 2 == 0 { &[] } else { &["40"] };
        let s = engine_io_websocket(to, "/api/ws/", packets).await;
        waiting.push(tokio::spawn(until_closed(
            s,
            Instant::now(),
            Duration::from_secs(20),
        )));
    }
    // 20 over polling that join and never log in.
    let http = reqwest::Client::new();
    for _ in 0..20 {
        let open = http
            .get(server.url("/api/ws/?EIO=4&transport=polling"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let v: Value = serde_json::from_str(open.trim_start_matches('0')).unwrap();
        let sid = v["sid"].as_str().unwrap();
        let r = http
            .post(server.url(&format!("/api/ws/?EIO=4&transport=polling&sid={sid}")))
            .body("40")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
    }
    let pending = metric(&server, "otpgate_websocket_sessions{state=\"pending\"}").await;
    assert!(pending >= 70.0, "{pending} sockets waiting for their login");
    let mut latest = Duration::ZERO;
    for w in waiting {
        let (_, closed) = w.await.unwrap();
        latest = latest.max(closed.expect("closed within 20 s"));
    }
    eprintln!("the last never-logged-in WebSocket was closed after {latest:?}");
    // The login timeout, the watcher's tick (300 ms) and the grace for the
    // disconnect packet (500 ms).
    let bound = login_timeout + Duration::from_millis(800);
    assert!(latest <= bound + SLACK, "closed after {latest:?}");
    assert_eq!(
        metric(&server, "otpgate_websocket_sessions{state=\"pending\"}").await,
        0.0
    );
    assert!(metric(&server, "otpgate_connections_open").await <= 4.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_soft_descriptor_limit_is_raised_and_a_budget_it_cannot_hold_refuses_to_start() {
    if !have_tool("prlimit", "apt-get install util-linux") {
        return;
    }
    // Soft 300, hard 2048: the server raises its soft limit and derives its
    // cap from 2048 (less a tenth), not from 300.
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start_under(dir.path(), &["prlimit", "--nofile=300:2048"], &[]);
    assert_eq!(metric(&server, "otpgate_connections_max").await, 1844.0);
    drop(server);

    // 1,000 connections need 1,128 descriptors: not with 512.
    let dir = tempfile::tempdir().unwrap();
    let out = std::process::Command::new("prlimit")
        .args(["--nofile=512", crate::support::BIN, "serve"])
        .current_dir(dir.path())
        .env(
            "OTPGATE_LISTEN",
            format!("127.0.0.1:{}", crate::support::free_port()),
        )
        .env("OTPGATE_CONNECTIONS_MAX", "1000")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    let lines: Vec<&str> = err.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "{err}");
    assert!(
        lines[0].starts_with("error: connections.max = 1000 needs 1128 file descriptors"),
        "{err}"
    );
    assert!(
        lines[0].contains("the limit (RLIMIT_NOFILE) is 512"),
        "{err}"
    );
}
