//! `GET /metrics`: the gateway's counters in the Prometheus text format
//! (version 0.0.4).
//!
//! A small hand-written registry rather than the `metrics` facade: every
//! series is a plain atomic. Routes are labelled by template (never the
//! raw path, so the label set is bounded by the router), and the router
//! resolves each template's [`RouteStats`] once, when it is built: a
//! request then costs a few relaxed increments, with no lock, lookup or
//! allocation. Each router has its own registry (in its state),
//! so tests that build several routers in one process do not share
//! counters.
//!
//! The authentication counters (logins, second-factor checks, lockouts,
//! revocations, every audit event) are kept by the core's
//! [`otpgate_core::service::audit::AuthCounters`] and only read here; the
//! users by 2FA state are one grouped count from the store per scrape.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock, RwLockReadGuard};
use std::time::Duration;

use otpgate_core::AuthService;
use otpgate_core::service::audit::{AuthEvent, CheckFactor, CheckResult};

/// Upper bounds of the latency buckets, in seconds.
pub const LATENCY_BUCKETS: [f64; 12] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
];
/// The same bounds in microseconds (compared on the hot path).
const BUCKET_MICROS: [u64; 12] = [
    1_000, 2_500, 5_000, 10_000, 25_000, 50_000, 100_000, 250_000, 500_000, 1_000_000, 2_500_000,
    5_000_000,
];
/// Why a connection was refused or closed early (the `cause` label; the
/// accept loop, [`crate::server`], counts them).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cause {
    /// The cap on concurrent connections overall.
    TotalCap,
    /// The cap on concurrent connections from one client address.
    PerAddressCap,
    /// A request head not received within the header timeout.
    HeaderTimeout,
    /// A keep-alive connection idle for the idle timeout.
    IdleTimeout,
    /// A request body not received within the body timeout.
    BodyTimeout,
    /// Closed at the total cap to make room for a new connection.
    Evicted,
}

impl Cause {
    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::TotalCap => "total_cap",
            Self::PerAddressCap => "per_address_cap",
            Self::HeaderTimeout => "header_timeout",
            Self::IdleTimeout => "idle_timeout",
            Self::BodyTimeout => "body_timeout",
            Self::Evicted => "evicted",
        }
    }
}

/// Connection counters (plain atomics, read by `/metrics`).
#[derive(Debug, Default)]
pub struct ConnStats {
    /// The cap on concurrent connections overall (0 until serving).
    pub(crate) max: AtomicU64,
    pub(crate) open: AtomicU64,
    pub(crate) accepted: AtomicU64,
    refused_total: AtomicU64,
    refused_per_address: AtomicU64,
    closed_header: AtomicU64,
    closed_idle: AtomicU64,
    closed_body: AtomicU64,
    evicted: AtomicU64,
}

impl ConnStats {
    /// The cap on concurrent connections overall (0 until serving).
    pub fn max(&self) -> u64 {
        self.max.load(Ordering::Relaxed)
    }

    /// Connections open now (upgraded WebSockets included).
    pub fn open(&self) -> u64 {
        self.open.load(Ordering::Relaxed)
    }

    /// Connections admitted since start.
    pub fn accepted(&self) -> u64 {
        self.accepted.load(Ordering::Relaxed)
    }

    /// Connections refused (a cap) or closed early (a timeout, an
    /// eviction) for `cause`.
    pub fn count(&self, cause: Cause) -> u64 {
        self.counter(cause).load(Ordering::Relaxed)
    }

    /// Counts one refusal or early close.
    pub fn record(&self, cause: Cause) {
        self.counter(cause).fetch_add(1, Ordering::Relaxed);
    }

    fn counter(&self, cause: Cause) -> &AtomicU64 {
        match cause {
            Cause::TotalCap => &self.refused_total,
            Cause::PerAddressCap => &self.refused_per_address,
            Cause::HeaderTimeout => &self.closed_header,
            Cause::IdleTimeout => &self.closed_idle,
            Cause::BodyTimeout => &self.closed_body,
            Cause::Evicted => &self.evicted,
        }
    }
}

/// Status codes 100..=599 get a counter each.
const STATUS_MIN: u16 = 100;
const STATUS_SLOTS: usize = 500;

/// The series of one route (see [`HttpMetrics::route`]).
pub struct RouteStats {
    statuses: [AtomicU64; STATUS_SLOTS],
    /// Not cumulative: `buckets[i]` counts latencies in
    /// `(bound[i-1], bound[i]]`; the last slot is above every bound.
    buckets: [AtomicU64; LATENCY_BUCKETS.len() + 1],
    sum_micros: AtomicU64,
    count: AtomicU64,
}

impl RouteStats {
    fn new() -> Self {
        Self {
            statuses: std::array::from_fn(|_| AtomicU64::new(0)),
            buckets: std::array::from_fn(|_| AtomicU64::new(0)),
            sum_micros: AtomicU64::new(0),
            count: AtomicU64::new(0),
        }
    }

    /// Counts one answer with `status`, given after `micros`.
    pub fn observe(&self, status: u16, micros: u64) {
        let slot = usize::from(status.saturating_sub(STATUS_MIN));
        if let Some(c) = self.statuses.get(slot) {
            c.fetch_add(1, Ordering::Relaxed);
        }
        let bucket = BUCKET_MICROS
            .iter()
            .position(|&b| micros <= b)
            .unwrap_or(BUCKET_MICROS.len());
        if let Some(c) = self.buckets.get(bucket) {
            c.fetch_add(1, Ordering::Relaxed);
        }
        self.sum_micros.fetch_add(micros, Ordering::Relaxed);
        self.count.fetch_add(1, Ordering::Relaxed);
    }
}

impl std::fmt::Debug for RouteStats {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RouteStats").finish_non_exhaustive()
    }
}

/// The HTTP-side registry: requests by route and status, latencies, and
/// store failures seen in responses.
#[derive(Default)]
pub struct HttpMetrics {
    routes: RwLock<HashMap<String, Arc<RouteStats>>>,
    store_errors: AtomicU64,
    /// Open connections, refusals and early closes (the accept loop).
    pub connections: ConnStats,
}

impl std::fmt::Debug for HttpMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpMetrics").finish_non_exhaustive()
    }
}

impl HttpMetrics {
    fn read(&self) -> RwLockReadGuard<'_, HashMap<String, Arc<RouteStats>>> {
        self.routes.read().unwrap_or_else(|p| p.into_inner())
    }

    /// The series of `route` (a route template), created on first call.
    /// The router asks once per route when it is built and keeps the
    /// handle; a route shows in `/metrics` once it has answered.
    pub fn route(&self, route: &str) -> Arc<RouteStats> {
        if let Some(stats) = self.read().get(route) {
            return stats.clone();
        }
        let mut map = self.routes.write().unwrap_or_else(|p| p.into_inner());
        map.entry(route.to_owned())
            .or_insert_with(|| Arc::new(RouteStats::new()))
            .clone()
    }

    /// Counts one answered request of `route` (a route template), looking
    /// its series up (the router's layers use [`Self::route`] instead).
    pub fn observe(&self, route: &str, status: u16, elapsed: Duration, store_failure: bool) {
        if store_failure {
            self.store_failure();
        }
        let micros = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX);
        self.route(route).observe(status, micros);
    }

    /// Counts one response produced by a store failure.
    pub fn store_failure(&self) {
        self.store_errors.fetch_add(1, Ordering::Relaxed);
    }

    /// Responses produced by a store failure so far.
    pub fn store_errors(&self) -> u64 {
        self.store_errors.load(Ordering::Relaxed)
    }
}

/// Escapes a label value (backslash, double quote, newline).
fn escape(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

fn header(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

/// The whole exposition but the users by 2FA state ([`render_users`]):
/// the HTTP series of `metrics`, the core's counters of `auth`, and the
/// Socket.IO `sessions` (pending, live).
pub fn render(metrics: &HttpMetrics, auth: &AuthService, sessions: (usize, usize)) -> String {
    let mut out = String::with_capacity(16 * 1024);
    render_http(metrics, &mut out);
    render_connections(&metrics.connections, &mut out);
    render_auth(metrics, auth, sessions, &mut out);
    out
}

fn render_http(m: &HttpMetrics, out: &mut String) {
    let routes = m.read();
    let mut names: Vec<&String> = routes
        .iter()
        .filter(|(_, stats)| stats.count.load(Ordering::Relaxed) > 0)
        .map(|(name, _)| name)
        .collect();
    names.sort();
    header(
        out,
        "otpgate_http_requests_total",
        "counter",
        "HTTP requests answered, by route template and status.",
    );
    for name in &names {
        let Some(stats) = routes.get(*name) else {
            continue;
        };
        let route = escape(name);
        for (slot, c) in stats.statuses.iter().enumerate() {
            let n = c.load(Ordering::Relaxed);
            if n > 0 {
                let status = usize::from(STATUS_MIN) + slot;
                let _ = writeln!(
                    out,
                    "otpgate_http_requests_total{{route=\"{route}\",status=\"{status}\"}} {n}"
                );
            }
        }
    }
    header(
        out,
        "otpgate_http_request_duration_seconds",
        "histogram",
        "Time to answer an HTTP request, by route template.",
    );
    for name in &names {
        let Some(stats) = routes.get(*name) else {
            continue;
        };
        let route = escape(name);
        let mut cumulative = 0u64;
        for (bound, c) in LATENCY_BUCKETS.iter().zip(stats.buckets.iter()) {
            cumulative += c.load(Ordering::Relaxed);
            let _ = writeln!(
                out,
                "otpgate_http_request_duration_seconds_bucket{{route=\"{route}\",le=\"{bound}\"}} {cumulative}"
            );
        }
        let total = stats.count.load(Ordering::Relaxed);
        let _ = writeln!(
            out,
            "otpgate_http_request_duration_seconds_bucket{{route=\"{route}\",le=\"+Inf\"}} {total}"
        );
        let sum = stats.sum_micros.load(Ordering::Relaxed) as f64 / 1e6;
        let _ = writeln!(
            out,
            "otpgate_http_request_duration_seconds_sum{{route=\"{route}\"}} {sum}"
        );
        let _ = writeln!(
            out,
            "otpgate_http_request_duration_seconds_count{{route=\"{route}\"}} {total}"
        );
    }
}

fn render_connections(c: &ConnStats, out: &mut String) {
    header(
        out,
        "otpgate_connections_open",
        "gauge",
        "TCP connections open now (upgraded WebSockets included).",
    );
    let _ = writeln!(out, "otpgate_connections_open {}", c.open());
    header(
        out,
        "otpgate_connections_max",
        "gauge",
        "The cap on concurrent connections overall (configured, or derived from the file-descriptor limit).",
    );
    let _ = writeln!(out, "otpgate_connections_max {}", c.max());
    header(
        out,
        "otpgate_connections_accepted_total",
        "counter",
        "TCP connections admitted by the connection budget.",
    );
    let _ = writeln!(out, "otpgate_connections_accepted_total {}", c.accepted());
    header(
        out,
        "otpgate_connections_refused_total",
        "counter",
        "TCP connections closed at accept, by the cap that refused them.",
    );
    for cause in [Cause::TotalCap, Cause::PerAddressCap] {
        let _ = writeln!(
            out,
            "otpgate_connections_refused_total{{cause=\"{}\"}} {}",
            cause.as_str(),
            c.count(cause)
        );
    }
    header(
        out,
        "otpgate_connections_closed_total",
        "counter",
        "Connections closed by the server: a request head, the next request or a request body not received in time, or evicted at the total cap to make room.",
    );
    for cause in [
        Cause::HeaderTimeout,
        Cause::IdleTimeout,
        Cause::BodyTimeout,
        Cause::Evicted,
    ] {
        let _ = writeln!(
            out,
            "otpgate_connections_closed_total{{cause=\"{}\"}} {}",
            cause.as_str(),
            c.count(cause)
        );
    }
}

fn render_auth(
    metrics: &HttpMetrics,
    auth: &AuthService,
    sessions: (usize, usize),
    out: &mut String,
) {
    let c = auth.audit_counters();
    header(
        out,
        "otpgate_logins_total",
        "counter",
        "Password checks (every dialect), by factor and result.",
    );
    for r in [CheckResult::Ok, CheckResult::Failed, CheckResult::Locked] {
        let _ = writeln!(
            out,
            "otpgate_logins_total{{factor=\"password\",result=\"{}\"}} {}",
            r.as_str(),
            c.logins(r)
        );
    }
    header(
        out,
        "otpgate_otp_checks_total",
        "counter",
        "Second-factor checks, by factor and result.",
    );
    for f in CheckFactor::ALL {
        for r in CheckResult::ALL {
            let _ = writeln!(
                out,
                "otpgate_otp_checks_total{{factor=\"{}\",result=\"{}\"}} {}",
                f.as_str(),
                r.as_str(),
                c.otp_checks(f, r)
            );
        }
    }
    header(
        out,
        "otpgate_lockouts_total",
        "counter",
        "Locks set on a user or client IP after repeated failures.",
    );
    let _ = writeln!(
        out,
        "otpgate_lockouts_total {}",
        c.event(AuthEvent::Lockout)
    );
    header(
        out,
        "otpgate_revocations_total",
        "counter",
        "Revocations: one token (logout) or all of a user's tokens.",
    );
    let _ = writeln!(
        out,
        "otpgate_revocations_total{{kind=\"token\"}} {}",
        c.event(AuthEvent::TokenRevoked)
    );
    let _ = writeln!(
        out,
        "otpgate_revocations_total{{kind=\"all_tokens\"}} {}",
        c.event(AuthEvent::AllTokensRevoked)
    );
    header(
        out,
        "otpgate_auth_events_total",
        "counter",
        "Every audited authentication event, by event name.",
    );
    for e in AuthEvent::ALL {
        let _ = writeln!(
            out,
            "otpgate_auth_events_total{{event=\"{}\"}} {}",
            e.as_str(),
            c.event(e)
        );
    }
    let (pending, live) = sessions;
    header(
        out,
        "otpgate_websocket_sessions",
        "gauge",
        "Connected Socket.IO sockets of this instance, by state.",
    );
    let _ = writeln!(
        out,
        "otpgate_websocket_sessions{{state=\"pending\"}} {pending}"
    );
    let _ = writeln!(out, "otpgate_websocket_sessions{{state=\"live\"}} {live}");
    header(
        out,
        "otpgate_store_errors_total",
        "counter",
        "Store failures: in answered requests, and failed audit writes.",
    );
    let _ = writeln!(
        out,
        "otpgate_store_errors_total{{source=\"request\"}} {}",
        metrics.store_errors()
    );
    let _ = writeln!(
        out,
        "otpgate_store_errors_total{{source=\"audit\"}} {}",
        c.audit_store_errors()
    );
    header(
        out,
        "otpgate_audit_dropped_total",
        "counter",
        "Audit records dropped because the writer's queue was full.",
    );
    let _ = writeln!(out, "otpgate_audit_dropped_total {}", c.audit_dropped());
}

/// Users by 2FA state (API.md §11), read from the store at scrape time
/// (one grouped count); left out when the store does not answer.
pub async fn render_users(auth: &AuthService, out: &mut String) {
    let users = match auth.users_by_two_factor().await {
        Ok(u) => u,
        Err(e) => {
            tracing::warn!(error = %e, "cannot count users by 2FA state for /metrics");
            return;
        }
    };
    header(
        out,
        "otpgate_users",
        "gauge",
        "Users by 2FA state: on; required (by the setting or an override) but not set up yet; off and not required.",
    );
    for (state, n) in [
        ("on", users.on),
        ("required_not_enrolled", users.required_not_enrolled),
        ("off", users.off),
    ] {
        let _ = writeln!(out, "otpgate_users{{two_factor=\"{state}\"}} {n}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_agree() {
        for (s, m) in LATENCY_BUCKETS.iter().zip(BUCKET_MICROS.iter()) {
            assert_eq!((s * 1e6).round() as u64, *m);
        }
    }

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(escape("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }

    #[test]
    fn a_route_counts_statuses_and_cumulative_buckets() {
        let m = HttpMetrics::default();
        m.observe("/x", 200, Duration::from_micros(500), false);
        m.observe("/x", 200, Duration::from_millis(20), false);
        m.observe("/x", 503, Duration::from_secs(9), true);
        let mut out = String::new();
        render_http(&m, &mut out);
        assert!(out.contains("otpgate_http_requests_total{route=\"/x\",status=\"200\"} 2\n"));
        assert!(out.contains("otpgate_http_requests_total{route=\"/x\",status=\"503\"} 1\n"));
        assert!(out.contains("_bucket{route=\"/x\",le=\"0.001\"} 1\n"));
        assert!(out.contains("_bucket{route=\"/x\",le=\"0.025\"} 2\n"));
        assert!(out.contains("_bucket{route=\"/x\",le=\"5\"} 2\n"));
        assert!(out.contains("_bucket{route=\"/x\",le=\"+Inf\"} 3\n"));
        assert!(out.contains("_count{route=\"/x\"} 3\n"));
        assert_eq!(m.store_errors(), 1);
    }

    #[test]
    fn a_route_resolved_ahead_shows_once_it_has_answered() {
        let m = HttpMetrics::default();
        let stats = m.route("/y");
        assert!(Arc::ptr_eq(&stats, &m.route("/y")));
        let mut out = String::new();
        render_http(&m, &mut out);
        assert!(!out.contains("/y"), "no series before the first answer");
        stats.observe(204, 3_000);
        m.observe("/y", 204, Duration::from_micros(100), false);
        let mut out = String::new();
        render_http(&m, &mut out);
        assert!(out.contains("otpgate_http_requests_total{route=\"/y\",status=\"204\"} 2\n"));
        assert!(out.contains("_bucket{route=\"/y\",le=\"0.001\"} 1\n"));
        assert!(out.contains("_bucket{route=\"/y\",le=\"0.005\"} 2\n"));
        assert_eq!(m.store_errors(), 0);
    }
}
