//! Every settings type of the HTTP layer, in one leaf module (it names
//! nothing that names it back): the binary builds them from its
//! configuration, and the router, the proxy, the Socket.IO relay and the
//! CTI forwarding read them. Re-exported at the crate root.

use std::time::Duration;

use axum::http::{HeaderName, HeaderValue, Uri};

pub use crate::client_ip::{IpNet, TrustedProxies};
pub use crate::server::ConnSettings;

/// What the operator configured for the upstream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpstreamSettings {
    /// `http://host:port[/base]`; requests keep their path, appended to
    /// the base path.
    pub url: Uri,
    /// Wait at most this long for the response headers (default 30 s).
    pub timeout: Duration,
    /// Extra headers added to every forwarded request.
    pub headers: Vec<(HeaderName, HeaderValue)>,
}

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

/// The FreePBX allow-list of the original middleware
/// (`NETHVOICE_MIDDLEWARE_FREEPBX_APIS`' default).
pub const DEFAULT_FREEPBX_APIS: &[&str] = &[
    "/dbconn/test",
    "/custcard/preview",
    "/user/endpoints/all",
    "/user/presence",
    "/astproxy/extension",
    "/astproxy/extensions",
    "/astproxy/trunk",
    "/astproxy/trunks",
];

/// Settings of the `nethcti` mode's forwarding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CtiForwarding {
    /// Paths (below the prefix) a FreePBX call may reach without a token.
    pub freepbx_apis: Vec<String>,
}

impl Default for CtiForwarding {
    fn default() -> Self {
        Self {
            freepbx_apis: DEFAULT_FREEPBX_APIS
                .iter()
                .map(|p| (*p).to_owned())
                .collect(),
        }
    }
}

impl CtiForwarding {
    /// Whether `path` (below the prefix) is an allow-listed FreePBX path,
    /// exactly or followed by `/<digits>`.
    pub fn is_freepbx_path(&self, path: &str) -> bool {
        self.freepbx_apis.iter().any(|api| {
            let api = api.trim_end_matches('/');
            match path.strip_prefix(api) {
                Some("") => true,
                Some(rest) => rest
                    .strip_prefix('/')
                    .is_some_and(|d| !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit())),
                None => false,
            }
        })
    }
}

/// Where and how to reach the upstream Socket.IO server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RelaySettings {
    /// `ws://host:port/path/`: the Engine.IO path, with its trailing slash
    /// (`?EIO=4&transport=websocket` is appended).
    pub url: String,
    /// Extra headers on the upgrade request (`upstream.headers`).
    pub headers: Vec<(HeaderName, HeaderValue)>,
    /// Connect and handshake timeout.
    pub connect_timeout: Duration,
    /// First retry delay after a failure; doubles up to `retry_max`.
    pub retry_min: Duration,
    /// Longest retry delay.
    pub retry_max: Duration,
    /// `nethcti` mode (API.md §9): the relayed login carries the user's
    /// CTI session and the CTI server's answer is the client's.
    pub cti: bool,
}

impl RelaySettings {
    /// Settings for `url` with the defaults (10 s connect timeout, retries
    /// from 0.5 s to 30 s).
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            headers: Vec::new(),
            connect_timeout: Duration::from_secs(10),
            retry_min: Duration::from_millis(500),
            retry_max: Duration::from_secs(30),
            cti: false,
        }
    }
}
