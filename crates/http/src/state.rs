//! What every handler can reach: the core service and the HTTP settings.

use std::sync::Arc;

use otpgate_core::AuthService;

use crate::client_ip::TrustedProxies;
use crate::rate_limit::RateLimiter;

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
}

impl Default for HttpSettings {
    fn default() -> Self {
        Self {
            api_prefix: "/api".into(),
            body_limit: 32 * 1024,
            rate_limit_average: 25,
            rate_limit_burst: 100,
            trusted_proxies: TrustedProxies::default(),
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
        Self {
            auth,
            settings: Arc::new(settings),
            limiter,
        }
    }
}
