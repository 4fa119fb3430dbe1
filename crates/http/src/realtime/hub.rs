//! The Socket.IO side of the server as one value ([`Realtime`]): the
//! service, the settings, the registry of connected sockets and the relay
//! settings, with what every part of [`super`] asks of it. A leaf of the
//! realtime modules: the endpoint, the login and the watcher all name it.

use std::sync::Arc;

use otpgate_core::AuthService;
use otpgate_core::service::{Caller, Dialect};
use socketioxide::extract::SocketRef;

use crate::client_ip::{TrustedProxies, client_ip_behind};
use crate::realtime::registry::Registry;
use crate::settings::RelaySettings;
use crate::settings::WsSettings;

/// The Socket.IO side of the server: the service, the settings and the
/// registry of connected sockets.
#[derive(Debug)]
pub struct Realtime {
    /// Peers whose `X-Forwarded-For` is believed (client IP of a socket).
    pub(super) trusted: TrustedProxies,
    pub(super) auth: Arc<AuthService>,
    pub(super) settings: WsSettings,
    pub(super) registry: Registry,
    pub(super) relay: Option<Arc<RelaySettings>>,
}

impl Realtime {
    /// Number of connected sockets (logged in or not).
    pub fn connected(&self) -> usize {
        self.registry.len()
    }

    /// Connected sockets: (waiting for their login, logged in).
    pub fn sessions(&self) -> (usize, usize) {
        self.registry.counts()
    }

    /// The core's view of the client behind a socket (its handshake).
    pub(super) fn caller(&self, s: &SocketRef) -> Caller {
        let parts = s.req_parts();
        let caller = Caller {
            ip: client_ip_behind(parts, &self.trusted),
            user_agent: None,
            dialect: Dialect::SocketIo,
        };
        match parts.headers.get(axum::http::header::USER_AGENT) {
            Some(ua) => caller.with_user_agent(&String::from_utf8_lossy(ua.as_bytes())),
            None => caller,
        }
    }
}
