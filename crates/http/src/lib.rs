//! otpgate's HTTP layer: one router per dialect over the core's use cases.
//!
//! Handlers extract, call one [`otpgate_core::AuthService`] method, and map
//! the result; every error goes through [`error::AppError`] into the JSON
//! envelope of API.md. Cross-cutting concerns (body limit, per-IP rate
//! limit, security headers, JSON 404/405, request metrics) are layers in
//! [`layers`]; `/metrics` is rendered by [`metrics`].
//! Socket.IO clients are in [`realtime`], the reverse proxy to the
//! protected application in [`proxy`], the legacy login in
//! [`routes::legacy`]. The OpenAPI document and the embedded Swagger UI
//! are in [`openapi`]. Upstream sockets (`TCP_NODELAY`) come from
//! [`connector`]. The accept loop, with its connection budget and
//! timeouts, is [`server`].

pub mod client_ip;
pub mod connector;
pub mod cti_forward;
pub mod dialect;
pub mod error;
pub mod extract;
pub mod gate;
pub mod layers;
pub mod ldap;
pub mod metrics;
pub mod nethcti;
pub mod openapi;
pub mod proxy;
pub mod rate_limit;
pub mod realtime;
pub mod routes;
pub mod server;
pub mod settings;
pub mod state;

// The crate's public face: the binary (`src/`) names only these, so the
// modules behind them can move without touching it.
pub use ldap::{LdapBackend, LdapSettings};
pub use metrics::HttpMetrics;
pub use nethcti::NethctiBackend;
pub use proxy::{HeaderName, HeaderValue, USER_HEADER, Uri};
pub use routes::{rfc3339, router};
pub use server::{default_max_connections, descriptors_needed, serve};
pub use settings::{
    ConnSettings, CtiForwarding, DEFAULT_LEGACY_DOCS_URL, HttpSettings, IpNet, RelaySettings,
    TrustedProxies, UpstreamSettings, WsSettings,
};
pub use state::AppState;
