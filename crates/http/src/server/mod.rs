//! The accept loop: HTTP/1.1 connections served by hyper under a
//! connection budget and per-connection deadlines.
//!
//! `axum::serve` gives hyper no timer and no cap, so a client that sends
//! half a request head holds its socket (and a file descriptor) for ever,
//! and enough of them make the server unreachable. Here:
//! - every accepted socket needs a slot of the [`budget::Budget`] (a cap
//!   overall and one per client address); past either cap the socket is
//!   answered a static 503 if it can be written at once and closed, so
//!   the accept loop never waits and new clients never hang;
//! - each connection's task sleeps towards the deadline of what the
//!   connection owes ([`watch`]): a request head within the header
//!   timeout, the next request within the idle timeout, a request body
//!   within the body timeout; past it the socket is closed. These are our
//!   own timers rather than hyper's `header_read_timeout`, because hyper's
//!   starts as soon as a connection turns idle and so cannot tell a slow
//!   head from an idle keep-alive;
//! - sockets get `TCP_NODELAY`; `ConnectInfo<SocketAddr>` is set on every
//!   request; WebSocket upgrades work (the upgraded socket keeps its slot
//!   until it closes; Engine.IO's heartbeat and the Socket.IO connect and
//!   login timeouts bound it from there, and a [`ConnectionCloser`] in
//!   each request's extensions lets the Socket.IO endpoints close it);
//! - on shutdown the listener closes, every connection finishes its
//!   current request, and the call returns once all have closed.

pub mod budget;
pub mod watch;
mod watched_io;

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::{Pin, pin};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::ConnectInfo;
use axum::http::header::UPGRADE;
use axum::http::{Request, Response};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::TokioIo;
use tokio::net::{TcpListener, TcpStream};
use tower::Service;

use crate::metrics::HttpMetrics;
use budget::{Budget, Cause, Permit};
pub use watch::ConnectionCloser;
use watch::{EndBody, TimedBody, Timeouts, Watch};
use watched_io::WatchedIo;

/// Connection settings (validated by the binary).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnSettings {
    /// From accept (or from the first byte after an idle spell) to a
    /// complete request head (default 10 s).
    pub header_timeout: Duration,
    /// A keep-alive connection with no request for this long is closed
    /// (default 60 s).
    pub idle_timeout: Duration,
    /// From a request head to the end of its body (default 30 s).
    pub body_timeout: Duration,
    /// Concurrent connections overall; `None`: derived at start from the
    /// file-descriptor limit ([`default_max_connections`]).
    pub max_connections: Option<usize>,
    /// Concurrent connections per client address (IPv4 address or IPv6
    /// /64, of the socket's peer: a proxy's own address); 0: no cap.
    pub max_per_address: usize,
}

impl Default for ConnSettings {
    fn default() -> Self {
        Self {
            header_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            body_timeout: Duration::from_secs(30),
            max_connections: None,
            max_per_address: 256,
        }
    }
}

/// File descriptors kept out of the connection budget: the store (SQLite
/// files and pool, or PostgreSQL connections), the upstream pool, logs,
/// the listener and the runtime.
pub const RESERVED_FDS: u64 = 128;

/// Connections a process with `nofile` descriptors can afford: all but the
/// reserve (and a tenth more for the same uses when the limit is large),
/// halved when every logged-in Socket.IO client may hold an upstream
/// relay socket too.
pub fn default_max_connections(nofile: u64, relays: bool) -> usize {
    let reserve = RESERVED_FDS.max(nofile / 10);
    let usable = nofile.saturating_sub(reserve);
    let usable = if relays { usable / 2 } else { usable };
    usize::try_from(usable).unwrap_or(usize::MAX)
}

/// Descriptors a budget of `max` connections needs (the inverse of
/// [`default_max_connections`]'s arithmetic, for the start-up check).
pub fn descriptors_needed(max: usize, relays: bool) -> u64 {
    let max = u64::try_from(max).unwrap_or(u64::MAX);
    let conns = if relays { max.saturating_mul(2) } else { max };
    conns.saturating_add(RESERVED_FDS)
}

/// What every connection task shares.
struct Shared {
    app: Router,
    http1: http1::Builder,
    timeouts: Timeouts,
    metrics: Arc<HttpMetrics>,
}

/// The answer to a refused connection, written only if the socket takes
/// it at once.
const REFUSED: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\ncontent-length: 96\r\nretry-after: 1\r\nconnection: close\r\n\r\n{\"code\":503,\"message\":\"too_many_connections\",\"error\":\"the server is at its connection capacity\"}";

/// Serves `app` on `listener` with `settings` and a total cap of
/// `max_connections`, until `shutdown` resolves and every connection has
/// closed. Connection counters go to `metrics`.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    settings: ConnSettings,
    max_connections: usize,
    metrics: Arc<HttpMetrics>,
    shutdown: impl Future<Output = ()>,
) {
    let budget = Budget::new(max_connections, settings.max_per_address, metrics.clone());
    let mut http1 = http1::Builder::new();
    http1.keep_alive(true);
    let shared = Arc::new(Shared {
        app,
        http1,
        timeouts: Timeouts {
            header: settings.header_timeout,
            idle: settings.idle_timeout,
            body: settings.body_timeout,
        },
        metrics,
    });
    let (open_tx, open_rx) = tokio::sync::watch::channel(());
    let mut shutdown = pin!(shutdown);
    let mut last_warning: Option<Instant> = None;
    loop {
        let accepted = tokio::select! {
            r = listener.accept() => r,
            () = &mut shutdown => break,
        };
        let (stream, peer) = match accepted {
            Ok(a) => a,
            Err(e) => {
                accept_failed(&e, &mut last_warning).await;
                continue;
            }
        };
        let watch = Watch::new();
        let permit = match budget.admit(peer.ip(), &watch) {
            Ok(p) => p,
            Err(cause) => {
                refuse(&stream, peer, cause);
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        tokio::spawn(connection(
            stream,
            peer,
            watch,
            permit,
            shared.clone(),
            open_rx.clone(),
        ));
    }
    drop(listener);
    budget.stop_all();
    drop(open_rx);
    open_tx.closed().await;
}

/// Closes a refused socket at once (after a 503, if it fits).
fn refuse(stream: &TcpStream, peer: SocketAddr, cause: Cause) {
    tracing::debug!(target: "otpgate::conn", %peer, cause = cause.as_str(), "connection refused");
    let _ = stream.try_write(REFUSED);
}

/// An accept error: aborted handshakes are skipped; running out of
/// descriptors or memory waits a moment (warned at most once a second).
async fn accept_failed(e: &std::io::Error, last_warning: &mut Option<Instant>) {
    use std::io::ErrorKind as K;
    if matches!(
        e.kind(),
        K::ConnectionAborted | K::ConnectionReset | K::Interrupted | K::WouldBlock
    ) {
        return;
    }
    if last_warning.is_none_or(|t| t.elapsed() >= Duration::from_secs(1)) {
        tracing::warn!(target: "otpgate::conn", error = %e, "accept failed");
        *last_warning = Some(Instant::now());
    }
    tokio::time::sleep(Duration::from_millis(10)).await;
}

/// Serves one connection until it closes, its deadline passes or the
/// server stops (then the current request is finished first).
async fn connection(
    stream: TcpStream,
    peer: SocketAddr,
    watch: Arc<Watch>,
    permit: Permit,
    shared: Arc<Shared>,
    _open: tokio::sync::watch::Receiver<()>,
) {
    // Dropped last: the budget no longer sees this connection as one to
    // evict (an upgraded socket lives on, holding its permit).
    let _ended = Ended(watch.clone());
    let io = TokioIo::new(WatchedIo::new(stream, watch.clone(), permit));
    let svc = ConnService {
        app: shared.app.clone(),
        watch: watch.clone(),
        peer,
        body_timeout: shared.timeouts.body,
    };
    let mut conn = pin!(shared.http1.serve_connection(io, svc).with_upgrades());
    let mut stopping = false;
    // The only futures polled beside the connection belong to it alone: a
    // wake per request must not touch anything shared between connections.
    loop {
        if !stopping && watch.is_stopping() {
            stopping = true;
            conn.as_mut().graceful_shutdown();
        }
        if watch.is_evicted() {
            tracing::debug!(target: "otpgate::conn", %peer, "connection evicted");
            return;
        }
        let now = Instant::now();
        let (at, cause) = watch.deadline(&shared.timeouts, now);
        if let Some(cause) = cause
            && at <= now
        {
            shared.metrics.connections.record(cause);
            tracing::debug!(target: "otpgate::conn", %peer, cause = cause.as_str(), "connection closed");
            return;
        }
        tokio::select! {
            biased;
            r = conn.as_mut() => {
                if watch.body_timed_out() {
                    shared.metrics.connections.record(Cause::BodyTimeout);
                }
                if let Err(e) = r {
                    tracing::trace!(target: "otpgate::conn", %peer, error = %e, "connection ended");
                }
                return;
            }
            () = watch.woken() => {}
            () = tokio::time::sleep_until(at.into()) => {}
        }
    }
}

/// Marks its connection's task as ended when dropped.
struct Ended(Arc<Watch>);

impl Drop for Ended {
    fn drop(&mut self) {
        self.0.end();
    }
}

/// The router as one connection's hyper service: marks the connection
/// busy, bounds the request body, sets `ConnectInfo`, and marks the
/// connection idle once the response is sent.
#[derive(Clone)]
struct ConnService {
    app: Router,
    watch: Arc<Watch>,
    peer: SocketAddr,
    body_timeout: Duration,
}

impl hyper::service::Service<Request<Incoming>> for ConnService {
    type Response = Response<EndBody>;
    type Error = Infallible;
    type Future = ConnFuture;

    fn call(&self, req: Request<Incoming>) -> Self::Future {
        self.watch.busy();
        let mut req = req.map(|b| TimedBody::new(b, self.body_timeout, self.watch.clone()));
        req.extensions_mut().insert(ConnectInfo(self.peer));
        // Only an upgrade can outlive its request.
        if req.headers().contains_key(UPGRADE) {
            req.extensions_mut()
                .insert(ConnectionCloser(self.watch.clone()));
        }
        let mut app = self.app.clone();
        ConnFuture {
            inner: app.call(req),
            watch: Some(self.watch.clone()),
        }
    }
}

/// The router's future, its response body wrapped in an [`EndBody`].
struct ConnFuture {
    inner: axum::routing::future::RouteFuture<Infallible>,
    watch: Option<Arc<Watch>>,
}

impl Future for ConnFuture {
    type Output = Result<Response<EndBody>, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        match Pin::new(&mut this.inner).poll(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(Err(e)) => match e {},
            Poll::Ready(Ok(resp)) => {
                let watch = this.watch.take().unwrap_or_else(Watch::new);
                Poll::Ready(Ok(resp.map(|b| EndBody::new(b, watch))))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_budget_keeps_head_room_below_the_descriptor_limit() {
        assert_eq!(default_max_connections(1024, false), 896);
        assert_eq!(default_max_connections(1024, true), 448);
        assert_eq!(default_max_connections(65_536, false), 58_983);
        assert_eq!(default_max_connections(100, false), 0);
        assert!(descriptors_needed(896, false) <= 1024);
        assert!(descriptors_needed(448, true) <= 1024);
        assert_eq!(descriptors_needed(1000, false), 1128);
    }

    #[test]
    fn the_refusal_is_a_complete_json_503() {
        let text = std::str::from_utf8(REFUSED).unwrap();
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        assert!(head.contains(&format!("content-length: {}", body.len())));
        let v: serde_json::Value = serde_json::from_str(body).unwrap();
        assert_eq!(v["code"], 503);
        assert_eq!(v["message"], "too_many_connections");
    }
}
