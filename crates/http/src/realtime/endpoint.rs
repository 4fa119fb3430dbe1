//! The two Socket.IO endpoints and their events: a socket connects, must
//! emit `login` within the login timeout, and is then relayed upstream
//! (when configured). The login's rules are the core's
//! ([`otpgate_core::AuthService::socket_login`]): this module parses the
//! payload and answers (`authe_ok`, or `401` and a disconnect).

use std::convert::Infallible;
use std::sync::{Arc, Weak};

use otpgate_core::AuthService;
use otpgate_core::model::Principal;
use otpgate_core::service::socket_login::{SocketEndpoint, SocketLogin, SocketSession};
use serde::Deserialize;
use serde_json::json;
use socketioxide::SocketIo;
use socketioxide::extract::{AckSender, Event, SocketRef, TryData};
use socketioxide::handler::ConnectHandler;
use socketioxide::layer::SocketIoLayer;

use crate::client_ip::TrustedProxies;
use crate::realtime::close::disconnect;
use crate::realtime::hub::Realtime;
use crate::realtime::registry::Registry;
use crate::realtime::relay::{self, RelaySettings};
use crate::realtime::watcher::spawn_watcher;
use crate::realtime::wire::Payload;
use crate::settings::WsSettings;

/// Which endpoint a socket came through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `<api_prefix>/ws/`: JWTs.
    Native,
    /// `/socket.io/`: legacy `user:token` credentials.
    Legacy,
}

impl Kind {
    /// What the core calls this endpoint.
    fn endpoint(self) -> SocketEndpoint {
        match self {
            Self::Native => SocketEndpoint::Native,
            Self::Legacy => SocketEndpoint::Legacy,
        }
    }
}

/// The `login` event's payload (public so that the fuzz targets can feed
/// it attacker input).
#[derive(Debug, Deserialize)]
pub struct LoginPayload {
    #[serde(rename = "accessKeyId")]
    access_key_id: String,
    token: String,
    /// `desktop`, `mobile`, ...: passed on to the upstream Socket.IO
    /// server (when it is a short string).
    #[serde(default, rename = "uaType")]
    ua_type: Option<serde_json::Value>,
}

impl LoginPayload {
    /// The claim to put to the core.
    fn claim(&self, kind: Kind) -> SocketLogin<'_> {
        SocketLogin {
            endpoint: kind.endpoint(),
            access_key_id: &self.access_key_id,
            token: &self.token,
        }
    }
}

/// Whether a client event asked for an acknowledgement (it has an ack id):
/// only then does the relay ask the upstream for one (socketioxide's
/// [`AckSender`] does not tell).
struct AsksAck(bool);

impl socketioxide::handler::FromMessageParts<socketioxide::adapter::LocalAdapter> for AsksAck {
    type Error = Infallible;
    fn from_message_parts(
        _: &Arc<socketioxide::socket::Socket<socketioxide::adapter::LocalAdapter>>,
        _: &mut socketioxide_core::Value,
        ack_id: &Option<i64>,
    ) -> Result<Self, Infallible> {
        Ok(Self(ack_id.is_some()))
    }
}

/// The two Socket.IO layers to put in front of the router.
pub struct Layers {
    /// `<api_prefix>/ws`.
    pub native: SocketIoLayer,
    /// `/socket.io`.
    pub legacy: SocketIoLayer,
}

impl Realtime {
    /// Builds the endpoints and starts the watcher. The returned `Arc` must
    /// be kept as long as the endpoints serve (the router's state holds
    /// it); handlers and the watcher only hold weak references, so
    /// dropping it stops the watcher.
    pub fn start(
        auth: Arc<AuthService>,
        settings: WsSettings,
        relay: Option<RelaySettings>,
        api_prefix: &str,
        max_payload: usize,
        trusted: TrustedProxies,
    ) -> (Arc<Self>, Layers) {
        let rt = Arc::new(Self {
            trusted,
            auth,
            settings,
            registry: Registry::default(),
            relay: relay.map(Arc::new),
        });
        let native = endpoint(
            &rt,
            Kind::Native,
            format!("{}/ws", api_prefix.trim_end_matches('/')),
            max_payload,
        );
        let legacy = endpoint(&rt, Kind::Legacy, "/socket.io".to_owned(), max_payload);
        spawn_watcher(&rt);
        (rt, Layers { native, legacy })
    }

    /// Starts the upstream relay of a socket that just logged in as
    /// `who`; false if the client must be refused (`nethcti` mode and no
    /// CTI session to log in with upstream).
    async fn start_relay(
        &self,
        settings: &Arc<RelaySettings>,
        s: &SocketRef,
        who: &Principal,
        p: &LoginPayload,
    ) -> bool {
        let token = if settings.cti {
            match self.auth.upstream_session(who).await {
                Ok(Some(t)) => Some(t),
                Ok(None) => return false,
                Err(e) => {
                    tracing::warn!(target: "otpgate::ws", error = %e, "the CTI session could not be read");
                    return false;
                }
            }
        } else {
            None
        };
        let ua_type = p
            .ua_type
            .as_ref()
            .and_then(serde_json::Value::as_str)
            .filter(|u| u.len() <= 64)
            .map(str::to_owned);
        let login = relay::Login {
            user: who.username.clone(),
            ua_type,
            token,
        };
        let handle = relay::Handle::spawn(settings.clone(), s.clone(), login);
        self.registry.attach_relay(s, handle)
    }
}

fn endpoint(rt: &Arc<Realtime>, kind: Kind, path: String, max_payload: usize) -> SocketIoLayer {
    let (layer, io) = SocketIo::builder()
        .req_path(path)
        .max_payload(u64::try_from(max_payload).unwrap_or(u64::MAX))
        .ws_max_message_size(max_payload)
        .ws_max_frame_size(max_payload)
        // Clients send little (a login, pongs): a small read buffer per
        // websocket keeps ten thousand idle sockets cheap.
        .ws_read_buffer_size(1024)
        // An Engine.IO session that never joins the namespace is closed
        // as one that never logs in (the login timeout runs from the join).
        .connect_timeout(rt.settings.login_timeout)
        .build_layer();
    let weak = Arc::downgrade(rt);
    // The event handlers are registered in a connect *middleware*: it runs
    // before the server acknowledges the namespace connection, so a client
    // that emits `login` the moment it is connected is never missed (the
    // connect handler proper runs after the acknowledgement).
    let register = async move |s: SocketRef| -> Result<(), Infallible> {
        on_connect(weak.clone(), kind, s);
        Ok(())
    };
    io.ns("/", (async |_: SocketRef| {}).with(register));
    layer
}

/// socketioxide acknowledges the namespace connection a moment before it
/// marks the socket connected, and refuses to emit until then; a client
/// fast enough to emit `login` in that window would lose its answer. Wait
/// (at most 200 ms) for the mark.
async fn wait_until_connected(s: &SocketRef) {
    for _ in 0..200 {
        if s.connected() {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(1)).await;
    }
}

fn on_connect(weak: Weak<Realtime>, kind: Kind, s: SocketRef) {
    let Some(rt) = weak.upgrade() else {
        let _ = s.disconnect();
        return;
    };
    let timeout_ms = i64::try_from(rt.settings.login_timeout.as_millis()).unwrap_or(i64::MAX);
    let deadline = rt.auth.now_ms().saturating_add(timeout_ms);
    rt.registry.add_pending(s.clone(), deadline);
    let on_login = weak.clone();
    s.on(
        "login",
        async move |s: SocketRef, TryData(payload): TryData<serde_json::Value>| {
            let Some(rt) = on_login.upgrade() else { return };
            wait_until_connected(&s).await;
            // Parsed here rather than by the extractor, so that every
            // malformed payload (not an object, missing or mistyped
            // fields, none at all) gets its `401`.
            let payload = payload
                .ok()
                .and_then(|v| serde_json::from_value::<LoginPayload>(v).ok());
            let claim = payload.as_ref().map(|p| p.claim(kind));
            let login = rt.auth.socket_login(claim, &rt.caller(&s)).await;
            let accepted = match (login, payload) {
                // Gone while being checked.
                (Ok(SocketSession { session, .. }), _)
                    if !rt.registry.set_live(&s, session.clone()) =>
                {
                    true
                }
                (Ok(SocketSession { principal: who, .. }), Some(p)) => {
                    match &rt.relay {
                        // The CTI server's answer is the client's (the
                        // relay passes on its `authe_ok` or `401`).
                        Some(settings) if settings.cti => {
                            rt.start_relay(settings, &s, &who, &p).await
                        }
                        Some(settings) => {
                            let _ =
                                s.emit("authe_ok", &json!({"message": "authorized successfully"}));
                            rt.start_relay(settings, &s, &who, &p).await;
                            true
                        }
                        None => {
                            let _ =
                                s.emit("authe_ok", &json!({"message": "authorized successfully"}));
                            true
                        }
                    }
                }
                _ => false,
            };
            if !accepted {
                tracing::debug!(target: "otpgate::ws", sid = %s.id, "socket login refused");
                rt.registry.remove(&s);
                let _ = s.emit("401", &json!({"message": "unauthorized access"}));
                disconnect(s);
            }
        },
    );
    // Any other event of a logged-in socket goes to the upstream relay
    // (dropped when there is none).
    let on_other = weak.clone();
    s.on_fallback(
        async move |s: SocketRef,
                    Event(event): Event,
                    TryData(payload): TryData<Payload>,
                    AsksAck(asks): AsksAck,
                    ack: AckSender| {
            let Some(rt) = on_other.upgrade() else { return };
            let Ok(payload) = payload else { return };
            let ack = asks.then_some(ack);
            if rt.relay.is_some() && !rt.registry.forward(&s, event, payload, ack) {
                tracing::debug!(target: "otpgate::ws", sid = %s.id, "client event not relayed");
            }
        },
    );
    let on_disconnect = weak;
    s.on_disconnect(async move |s: SocketRef| {
        if let Some(rt) = on_disconnect.upgrade() {
            rt.registry.remove(&s);
        }
    });
}
