//! Per-connection deadlines: what a connection is waiting for, since when,
//! and the wrappers that keep that up to date.
//!
//! A connection is always in one phase:
//! - `Head`: a request head is due (from accept, or from the first byte
//!   after an idle spell); bounded by the header timeout;
//! - `Idle`: between keep-alive requests, nothing received; bounded by the
//!   idle timeout;
//! - `Busy`: a request is being answered; its body (if read) is bounded by
//!   the body timeout ([`TimedBody`]), the handler by its own bounds.
//!
//! [`WatchedIo`] moves `Idle` to `Head` on the first byte read, the
//! connection's service moves to `Busy`, and [`EndBody`] back to `Idle`
//! once the response is sent. The connection task (`super::connection`)
//! sleeps until the current phase's deadline and closes the socket if the
//! phase has not moved on by then.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use hyper::body::{Body as HttpBody, Frame, Incoming, SizeHint};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::sync::Notify;

use super::budget::{Cause, Permit};
use crate::metrics::HttpMetrics;

const HEAD: u64 = 0;
const IDLE: u64 = 1;
const BUSY: u64 = 2;

/// The timeouts a connection is held to.
#[derive(Debug, Clone, Copy)]
pub struct Timeouts {
    /// From accept (or the first byte after an idle spell) to a complete
    /// request head.
    pub header: Duration,
    /// Between keep-alive requests.
    pub idle: Duration,
    /// From a complete request head to the end of its body.
    pub body: Duration,
}

/// One connection's phase and when it began.
#[derive(Debug)]
pub struct Watch {
    epoch: Instant,
    /// `(milliseconds since epoch) << 2 | phase`, so both change together.
    state: AtomicU64,
    /// Woken when the phase moves to `Head` (an earlier deadline than the
    /// one the connection task sleeps towards).
    wake: Notify,
}

impl Watch {
    /// A connection accepted now: its first request head is due.
    pub fn new() -> Arc<Self> {
        Arc::new(Self {
            epoch: Instant::now(),
            state: AtomicU64::new(HEAD),
            wake: Notify::new(),
        })
    }

    fn set(&self, phase: u64) {
        let ms = u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX >> 2);
        self.state.store(ms << 2 | phase, Ordering::Relaxed);
    }

    fn phase(&self) -> u64 {
        self.state.load(Ordering::Relaxed) & 3
    }

    /// Bytes arrived: an idle connection now owes a request head.
    fn on_read(&self) {
        if self.phase() == IDLE {
            self.set(HEAD);
            self.wake.notify_one();
        }
    }

    /// A request head was parsed and handed to the service.
    pub fn busy(&self) {
        self.set(BUSY);
    }

    fn idle(&self) {
        self.set(IDLE);
    }

    /// Resolves when the phase moved to `Head`.
    pub async fn head_started(&self) {
        self.wake.notified().await;
    }

    /// When to look again, and what closes the connection then (`None`:
    /// busy, only look again).
    pub fn deadline(&self, t: &Timeouts, now: Instant) -> (Instant, Option<Cause>) {
        let state = self.state.load(Ordering::Relaxed);
        let since = self.epoch + Duration::from_millis(state >> 2);
        match state & 3 {
            HEAD => (since + t.header, Some(Cause::HeaderTimeout)),
            IDLE => (since + t.idle, Some(Cause::IdleTimeout)),
            _ => (now + t.header.min(t.idle), None),
        }
    }
}

/// The accepted socket, reporting reads to its [`Watch`] and holding the
/// connection's budget [`Permit`] (so an upgraded WebSocket keeps its slot
/// until it is dropped).
#[derive(Debug)]
pub struct WatchedIo {
    inner: TcpStream,
    watch: Arc<Watch>,
    _permit: Permit,
}

impl WatchedIo {
    /// Wraps `inner`.
    pub fn new(inner: TcpStream, watch: Arc<Watch>, permit: Permit) -> Self {
        Self {
            inner,
            watch,
            _permit: permit,
        }
    }
}

impl AsyncRead for WatchedIo {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let r = Pin::new(&mut self.inner).poll_read(cx, buf);
        if buf.filled().len() > before {
            self.watch.on_read();
        }
        r
    }
}

impl AsyncWrite for WatchedIo {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// The error a request body gives when it was not received in time.
#[derive(Debug, thiserror::Error)]
#[error("the request body was not received within {0:?}")]
pub struct BodyTimeout(pub Duration);

/// A request body that fails once its deadline passes (counted as a
/// `body_timeout`); the handler then answers 400 and hyper closes the
/// connection, since the body was not read to its end.
#[derive(Debug)]
pub struct TimedBody {
    inner: Incoming,
    deadline: Instant,
    bound: Duration,
    /// Created the first time the body has to wait (most bodies never do).
    sleep: Option<Pin<Box<tokio::time::Sleep>>>,
    timed_out: bool,
    metrics: Arc<HttpMetrics>,
}

impl TimedBody {
    /// `inner`, due within `bound` from now.
    pub fn new(inner: Incoming, bound: Duration, metrics: Arc<HttpMetrics>) -> Self {
        Self {
            inner,
            deadline: Instant::now() + bound,
            bound,
            sleep: None,
            timed_out: false,
            metrics,
        }
    }
}

impl HttpBody for TimedBody {
    type Data = Bytes;
    type Error = Box<dyn std::error::Error + Send + Sync>;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = self.get_mut();
        if this.timed_out {
            return Poll::Ready(Some(Err(Box::new(BodyTimeout(this.bound)))));
        }
        if let Poll::Ready(frame) = Pin::new(&mut this.inner).poll_frame(cx) {
            return Poll::Ready(frame.map(|r| r.map_err(Into::into)));
        }
        let deadline = this.deadline;
        let sleep = this
            .sleep
            .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline.into())));
        if sleep.as_mut().poll(cx).is_ready() {
            this.timed_out = true;
            this.metrics.connections.record(Cause::BodyTimeout);
            return Poll::Ready(Some(Err(Box::new(BodyTimeout(this.bound)))));
        }
        Poll::Pending
    }

    fn is_end_stream(&self) -> bool {
        !self.timed_out && self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// A response body that marks its connection idle once it has been sent
/// (or dropped).
#[derive(Debug)]
pub struct EndBody {
    inner: axum::body::Body,
    watch: Option<Arc<Watch>>,
}

impl EndBody {
    /// `inner`, marking `watch` idle at its end.
    pub fn new(inner: axum::body::Body, watch: Arc<Watch>) -> Self {
        Self {
            inner,
            watch: Some(watch),
        }
    }

    fn finish(&mut self) {
        if let Some(w) = self.watch.take() {
            w.idle();
        }
    }
}

impl HttpBody for EndBody {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = self.get_mut();
        let r = Pin::new(&mut this.inner).poll_frame(cx);
        if matches!(r, Poll::Ready(None | Some(Err(_)))) {
            this.finish();
        }
        r
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

impl Drop for EndBody {
    fn drop(&mut self) {
        self.finish();
    }
}
