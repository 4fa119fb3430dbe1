//! No Nagle delay: two requests pipelined on one connection are both
//! answered at once. Without `TCP_NODELAY` on the accepted socket, the
//! second answer waits for the client's delayed ACK of the first (40 ms
//! or more on Linux, every time); with it, well under a millisecond on
//! loopback. The same through the reverse proxy, whose upstream sockets
//! get `TCP_NODELAY` too (asserted on the socket in `connector`'s tests).

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use axum::Router;
use axum::serve::ListenerExt;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::support::{TestApp, settings_with_upstream};

/// Below any delayed ACK (Linux's least is 40 ms), far above a loaded
/// loopback round trip.
const PROMPT: Duration = Duration::from_millis(20);

/// Reads one HTTP/1.1 response (head and `content-length` body) from
/// `buf`, reading more from `s` as needed; returns its status line.
async fn read_response(s: &mut TcpStream, buf: &mut Vec<u8>) -> String {
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).to_string();
            let len: usize = head
                .lines()
                .find_map(|l| {
                    let (k, v) = l.split_once(':')?;
                    k.eq_ignore_ascii_case("content-length")
                        .then(|| v.trim().parse().ok())?
                })
                .expect("content-length");
            if buf.len() >= end + 4 + len {
                buf.drain(..end + 4 + len);
                return head.lines().next().unwrap_or_default().to_owned();
            }
        }
        let mut chunk = [0u8; 4096];
        let n = s.read(&mut chunk).await.expect("read");
        assert!(n > 0, "connection closed mid-response");
        buf.extend_from_slice(&chunk[..n]);
    }
}

/// The fastest of several pipelined pairs of `request` on one connection
/// (after a few single requests, past the kernel's quick-ACK start), and
/// the status lines seen.
async fn fastest_pipelined_pair(addr: SocketAddr, request: &str) -> (Duration, Vec<String>) {
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.set_nodelay(true).unwrap();
    let mut buf = Vec::new();
    let mut statuses = Vec::new();
    for _ in 0..4 {
        s.write_all(request.as_bytes()).await.unwrap();
        statuses.push(read_response(&mut s, &mut buf).await);
    }
    let pair = request.repeat(2);
    let mut fastest = Duration::MAX;
    for _ in 0..6 {
        let t = Instant::now();
        s.write_all(pair.as_bytes()).await.unwrap();
        statuses.push(read_response(&mut s, &mut buf).await);
        statuses.push(read_response(&mut s, &mut buf).await);
        fastest = fastest.min(t.elapsed());
    }
    (fastest, statuses)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pipelined_pair_is_answered_without_a_nagle_delay() {
    let app = TestApp::new().await;
    let addr = app.serve().await;
    let (fastest, statuses) =
        fastest_pipelined_pair(addr, "GET /healthz HTTP/1.1\r\nhost: x\r\n\r\n").await;
    assert!(
        statuses.iter().all(|s| s == "HTTP/1.1 200 OK"),
        "{statuses:?}"
    );
    assert!(
        fastest < PROMPT,
        "second answer of a pair after {fastest:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pipelined_pair_through_the_reverse_proxy_is_answered_without_a_nagle_delay() {
    // The upstream answers with TCP_NODELAY itself, so any delay left is
    // otpgate's.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let up = listener.local_addr().unwrap();
    let listener = listener.tap_io(|tcp| {
        let _ = tcp.set_nodelay(true);
    });
    let upstream = Router::new().fallback(|body: String| async move { format!("up:{body}") });
    tokio::spawn(async move { axum::serve(listener, upstream).await });
    let settings = settings_with_upstream(up);
    let app = TestApp::with(settings).await;
    app.add_user("alice", "pw-secret-9").await;
    let token = app.login("alice", "pw-secret-9").await;
    let addr = app.serve().await;
    let request = format!(
        "POST /api/orders HTTP/1.1\r\nhost: x\r\nauthorization: Bearer {token}\r\n\
         content-type: text/plain\r\ncontent-length: 5\r\n\r\nhello"
    );
    let (fastest, statuses) = fastest_pipelined_pair(addr, &request).await;
    assert!(
        statuses.iter().all(|s| s == "HTTP/1.1 200 OK"),
        "{statuses:?}"
    );
    assert!(
        fastest < PROMPT,
        "second answer of a pair after {fastest:?}"
    );
}
