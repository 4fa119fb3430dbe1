//! What every handler can reach: the core service and the HTTP settings.

use std::sync::Arc;

use axum::extract::FromRef;
use otpgate_core::AuthService;

use crate::metrics::HttpMetrics;
use crate::openapi::Docs;
use crate::proxy::Upstream;
use crate::rate_limit::RateLimiter;
use crate::realtime::Realtime;
use crate::settings::HttpSettings;

/// Shared state of the router: one `Arc`, so the clone axum makes for
/// every request is one reference count, not one per part. It reads as
/// its [`StateParts`] (`Deref`).
#[derive(Clone)]
pub struct AppState(Arc<StateParts>);

/// What [`AppState`] holds.
#[derive(Clone)]
pub struct StateParts {
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
        Self(Arc::new(StateParts {
            auth,
            settings: Arc::new(settings),
            limiter,
            upstream,
            realtime: None,
            docs: Docs::default(),
            metrics: Arc::new(HttpMetrics::default()),
        }))
    }

    /// The parts, to change while the router is built (copied first if
    /// a clone shares them, so clones keep what they had, as before).
    pub(crate) fn parts_mut(&mut self) -> &mut StateParts {
        Arc::make_mut(&mut self.0)
    }
}

impl std::ops::Deref for AppState {
    type Target = StateParts;

    fn deref(&self) -> &StateParts {
        &self.0
    }
}

impl FromRef<AppState> for Docs {
    fn from_ref(state: &AppState) -> Self {
        state.docs.clone()
    }
}
