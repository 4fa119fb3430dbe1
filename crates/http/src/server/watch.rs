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
//! `WatchedIo` (`super::watched_io`) moves `Idle` to `Head` on the first byte read, the
//! connection's service moves to `Busy`, and [`EndBody`] back to `Idle`
//! once the response is sent. The connection task (`super::connection`)
//! sleeps until the current phase's deadline (idle or busy: at most a
//! quarter of the shorter timeout, as these phases change unannounced) and
//! closes the socket if the phase has not moved on by then, or at once
//! when the budget evicts it (only a connection that owes a request, `Head`
//! or `Idle`, is evicted).

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use bytes::Bytes;
use hyper::body::{Body as HttpBody, Frame, Incoming, SizeHint};
use tokio::sync::Notify;

use crate::metrics::Cause;

const HEAD: u64 = 0;
const IDLE: u64 = 1;
const BUSY: u64 = 2;
/// The connection's task has ended (closed, or upgraded to a WebSocket
/// that lives on without it).
const DONE: u64 = 3;

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
    /// Set when the budget picked this connection to make room.
    evicted: AtomicBool,
    /// Set by [`ConnectionCloser`]: an upgraded socket fails its next
    /// read or write.
    killed: AtomicBool,
    /// Set when the server stops: finish the current request, then close.
    stopping: AtomicBool,
    /// Set when a request body missed its deadline (counted once the
    /// connection ends, so requests need no handle on the counters).
    body_timed_out: AtomicBool,
    /// The task reading an upgraded socket, woken by [`ConnectionCloser`].
    reader: Mutex<Option<Waker>>,
    /// Woken on eviction and on stop.
    wake: Notify,
}

impl Watch {
    /// A connection accepted now: its first request head is due.
    pub fn new() -> Arc<Self> {
        Arc::new(Self {
            epoch: Instant::now(),
            state: AtomicU64::new(HEAD),
            evicted: AtomicBool::new(false),
            killed: AtomicBool::new(false),
            stopping: AtomicBool::new(false),
            body_timed_out: AtomicBool::new(false),
            reader: Mutex::new(None),
            wake: Notify::new(),
        })
    }

    fn stamp(&self, phase: u64) -> u64 {
        let ms = u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX >> 2);
        ms << 2 | phase
    }

    /// Moves from phase `from` to `to`; false if the phase was another.
    fn advance(&self, from: u64, to: u64) -> bool {
        let cur = self.state.load(Ordering::Relaxed);
        cur & 3 == from
            && self
                .state
                .compare_exchange(cur, self.stamp(to), Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
    }

    /// Bytes arrived: an idle connection now owes a request head.
    /// (No wake-up: the connection task looks again within a quarter of
    /// the shorter timeout; waking it per request cost a tenth of the
    /// throughput of `/healthz`.)
    pub(super) fn on_read(&self) {
        self.advance(IDLE, HEAD);
    }

    /// A request head was parsed and handed to the service.
    pub fn busy(&self) {
        self.state.store(self.stamp(BUSY), Ordering::Relaxed);
    }

    /// The response was sent.
    fn idle(&self) {
        self.advance(BUSY, IDLE);
    }

    /// The connection's task ended.
    pub fn end(&self) {
        self.state.store(DONE, Ordering::Relaxed);
    }

    /// Whether the connection owes a request (a head or the next one) and
    /// has not been evicted: what the budget may close to make room.
    pub fn evictable(&self) -> bool {
        matches!(self.state.load(Ordering::Relaxed) & 3, HEAD | IDLE)
            && !self.evicted.load(Ordering::Relaxed)
    }

    /// Whether the connection ended or was evicted (the budget forgets it).
    pub fn gone(&self) -> bool {
        self.state.load(Ordering::Relaxed) & 3 == DONE || self.evicted.load(Ordering::Relaxed)
    }

    /// Asks the connection's task to close it.
    pub fn evict(&self) {
        self.evicted.store(true, Ordering::Relaxed);
        self.wake.notify_one();
    }

    /// Asks the connection's task to finish its request and close.
    pub fn stop(&self) {
        self.stopping.store(true, Ordering::Relaxed);
        self.wake.notify_one();
    }

    /// Whether [`Self::stop`] was called.
    pub fn is_stopping(&self) -> bool {
        self.stopping.load(Ordering::Relaxed)
    }

    /// Whether a request body of this connection missed its deadline.
    pub fn body_timed_out(&self) -> bool {
        self.body_timed_out.load(Ordering::Relaxed)
    }

    /// Whether [`Self::evict`] was called.
    pub fn is_evicted(&self) -> bool {
        self.evicted.load(Ordering::Relaxed)
    }

    fn upgraded(&self) -> bool {
        self.state.load(Ordering::Relaxed) & 3 == DONE
    }

    /// For an upgraded socket: an error if it was closed by a
    /// [`ConnectionCloser`]; else, for a read, the reader's waker is kept
    /// (the reader is always waiting on the socket, the writer not).
    pub(super) fn check_killed(&self, reading: Option<&Context<'_>>) -> io::Result<()> {
        if !self.upgraded() {
            return Ok(());
        }
        if self.killed.load(Ordering::Relaxed) {
            return Err(io::ErrorKind::ConnectionAborted.into());
        }
        let Some(cx) = reading else { return Ok(()) };
        let mut reader = self.reader.lock().unwrap_or_else(|p| p.into_inner());
        if !reader.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
            *reader = Some(cx.waker().clone());
        }
        Ok(())
    }

    fn kill(&self) {
        self.killed.store(true, Ordering::Relaxed);
        let waker = self.reader.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(w) = waker {
            w.wake();
        }
    }

    /// Resolves on eviction or on stop.
    pub async fn woken(&self) {
        self.wake.notified().await;
    }

    /// When to look again, and what closes the connection if that is its
    /// deadline (`None`: only look again). A connection idle or busy is
    /// looked at every quarter of the shorter timeout, since its phase may
    /// move on unannounced: a head begun after an idle spell is closed at
    /// most that late.
    pub fn deadline(&self, t: &Timeouts, now: Instant) -> (Instant, Option<Cause>) {
        let state = self.state.load(Ordering::Relaxed);
        let since = self.epoch + Duration::from_millis(state >> 2);
        let step = now + t.header.min(t.idle) / 4;
        match state & 3 {
            HEAD => (since + t.header, Some(Cause::HeaderTimeout)),
            IDLE if since + t.idle <= step => (since + t.idle, Some(Cause::IdleTimeout)),
            _ => (step, None),
        }
    }
}

/// A handle on the connection a request came on, in every request's
/// extensions: the Socket.IO endpoints close a WebSocket with it once they
/// have disconnected its socket (a client that keeps answering Engine.IO
/// pings would otherwise keep its connection, and its descriptor, after
/// being disconnected from the namespace). It does nothing to a
/// connection that was not upgraded (HTTP requests have their own
/// deadlines).
#[derive(Debug, Clone)]
pub struct ConnectionCloser(pub(super) Arc<Watch>);

impl ConnectionCloser {
    /// Closes the connection, if upgraded, after `grace` (time for what
    /// was just sent to go out).
    pub fn close_upgraded_after(&self, grace: Duration) {
        let watch = self.0.clone();
        tokio::spawn(async move {
            tokio::time::sleep(grace).await;
            watch.kill();
        });
    }
}

/// The error a request body gives when it was not received in time.
#[derive(Debug, thiserror::Error)]
#[error("the request body was not received within {0:?}")]
pub struct BodyTimeout(pub Duration);

/// A request body that fails once its deadline passes (marked on the
/// connection's [`Watch`], counted as a `body_timeout` when it closes); the
/// handler then answers 400 and hyper closes the connection, since the
/// body was not read to its end.
#[derive(Debug)]
pub struct TimedBody {
    inner: Incoming,
    deadline: Instant,
    bound: Duration,
    /// Created the first time the body has to wait (most bodies never do).
    sleep: Option<Pin<Box<tokio::time::Sleep>>>,
    timed_out: bool,
    watch: Arc<Watch>,
}

impl TimedBody {
    /// `inner`, due within `bound` from now.
    pub fn new(inner: Incoming, bound: Duration, watch: Arc<Watch>) -> Self {
        Self {
            inner,
            deadline: Instant::now() + bound,
            bound,
            sleep: None,
            timed_out: false,
            watch,
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
            this.watch.body_timed_out.store(true, Ordering::Relaxed);
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

#[cfg(test)]
mod tests {
    use super::*;

    const T: Timeouts = Timeouts {
        header: Duration::from_secs(10),
        idle: Duration::from_secs(60),
        body: Duration::from_secs(30),
    };

    #[test]
    fn each_phase_has_its_deadline() {
        let w = Watch::new();
        let now = Instant::now();
        let (at, cause) = w.deadline(&T, now);
        assert_eq!(cause, Some(Cause::HeaderTimeout));
        assert!(at <= now + T.header, "a fresh connection owes its head");
        w.busy();
        let (at, cause) = w.deadline(&T, now);
        assert_eq!((at, cause), (now + T.header / 4, None), "busy: look again");
        w.idle();
        assert!(w.evictable());
        let (_, cause) = w.deadline(&T, now);
        assert_eq!(cause, None, "idle for 60 s: look again in 2.5 s first");
        let (at, cause) = w.deadline(&T, now + T.idle);
        assert_eq!(cause, Some(Cause::IdleTimeout));
        assert!(at <= now + T.idle + Duration::from_millis(5));
        w.on_read();
        assert_eq!(w.deadline(&T, now).1, Some(Cause::HeaderTimeout));
        w.end();
        w.idle();
        w.on_read();
        assert!(!w.evictable(), "an ended connection stays ended");
        assert_eq!(w.deadline(&T, now).1, None);
    }
}
