//! What every handler can reach: the core service and the HTTP settings.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::FromRef;
use otpgate_core::AuthService;

use crate::client_ip::TrustedProxies;
use crate::cti_forward::CtiForwarding;
use crate::metrics::HttpMetrics;
use crate::openapi::Docs;
use crate::proxy::{Upstream, UpstreamSettings};
use crate::rate_limit::RateLimiter;
use crate::realtime::Realtime;
use crate::realtime::relay::RelaySettings;
use crate::server::ConnSettings;

/// Settings of the Socket.IO endpoints.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WsSettings {
    /// A socket that has not logged in within this is disconnected
    /// (default 10 s; measured with the core's clock).
    pub login_timeout: Duration,
    /// How often logged-in sockets are checked against the store for
    /// revocations made by other processes (default 300 ms).
    pub poll_interval: Duration,
}

impl Default for WsSettings {
    fn default() -> Self {
        Self {
            login_timeout: Duration::from_secs(10),
            poll_interval: Duration::from_millis(300),
        }
    }
}

/// Where the `Link: <...>; rel="deprecation"` of legacy answers points
/// by default: the migration guide otpgate serves itself.
pub const DEFAULT_LEGACY_DOCS_URL: &str = "/docs/legacy-migration";

/// Settings of the HTTP layer, validated by the binary.
#[derive(Debug, Clone)]
pub struct HttpSettings {
    /// Prefix of the native API (default `/api`).
    pub api_prefix: String,
    /// Largest request body in bytes (default 32 KiB).
    pub body_limit: usize,
    /// Per-client-IP rate limit: average requests/s and burst (0 = off).
    pub rate_limit_average: u32,
    /// Burst of the rate limit.
    pub rate_limit_burst: u32,
    /// Peers whose `X-Forwarded-For` is believed.
    pub trusted_proxies: TrustedProxies,
    /// The Socket.IO endpoints.
    pub ws: WsSettings,
    /// The application otpgate fronts, if any (reverse proxy).
    pub upstream: Option<UpstreamSettings>,
    /// The upstream Socket.IO server whose events are relayed to logged-in
    /// sockets, if any.
    pub upstream_ws: Option<RelaySettings>,
    /// Target of the `Link` header on legacy answers (migration docs).
    pub legacy_docs_url: String,
    /// Connection timeouts and caps (the accept loop, [`crate::server`]).
    pub connections: ConnSettings,
    /// `nethcti` mode: requests are forwarded to the CTI server
    /// (`upstream`) as [`crate::cti_forward`] says; `None`: the generic
    /// reverse proxy.
    pub cti: Option<CtiForwarding>,
}

impl Default for HttpSettings {
    fn default() -> Self {
        Self {
            api_prefix: "/api".into(),
            body_limit: 32 * 1024,
            rate_limit_average: 25,
            rate_limit_burst: 100,
            trusted_proxies: TrustedProxies::default(),
            ws: WsSettings::default(),
            upstream: None,
            upstream_ws: None,
            legacy_docs_url: DEFAULT_LEGACY_DOCS_URL.to_owned(),
            connections: ConnSettings::default(),
            cti: None,
        }
    }
}

/// Shared state of the router.
#[derive(Clone)]
pub struct AppState {
    /// The use cases.
    pub auth: Arc<AuthService>,
    /// HTTP settings.
    pub settings: Arc<HttpSettings>,
    /// The global per-IP limiter, if enabled.
    pub limiter: Option<Arc<RateLimiter>>,
    /// The reverse proxy's client, if an upstream is configured.
    pub upstream: Option<Arc<Upstream>>,
    /// The Socket.IO endpoints, once [`crate::router`] has started them
    /// (holding this keeps their watcher running).
    pub realtime: Option<Arc<Realtime>>,
    /// The OpenAPI document and the Swagger UI configuration, once
    /// [`crate::router`] has generated them from its routers.
    pub docs: Docs,
    /// Request counters and latencies (`/metrics`).
    pub metrics: Arc<HttpMetrics>,
}

impl AppState {
    /// State for `auth` with `settings`.
    pub fn new(auth: Arc<AuthService>, settings: HttpSettings) -> Self {
        let limiter = (settings.rate_limit_average > 0).then(|| {
            Arc::new(RateLimiter::new(
                settings.rate_limit_average,
                settings.rate_limit_burst,
            ))
        });
        let upstream = settings
            .upstream
            .as_ref()
            .map(|u| Arc::new(Upstream::new(u)));
        Self {
            auth,
            settings: Arc::new(settings),
            limiter,
            upstream,
            realtime: None,
            docs: Docs::default(),
            metrics: Arc::new(HttpMetrics::default()),
        }
    }
}

impl FromRef<AppState> for Docs {
    fn from_ref(state: &AppState) -> Self {
        state.docs.clone()
    }
}
