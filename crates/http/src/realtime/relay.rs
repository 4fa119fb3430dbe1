//! The relay to an upstream Socket.IO server (`upstream.ws_url`, or in
//! `nethcti` mode the CTI server's Socket.IO, API.md §9).
//!
//! For every socket that logs in (at `<api_prefix>/ws/` or the legacy
//! `/socket.io/`), otpgate opens one Socket.IO connection to the upstream
//! on that user's behalf: a minimal Engine.IO v4 / Socket.IO v5 client over
//! a websocket (no polling). What the upstream receives:
//!
//! 1. `GET <ws_url>?EIO=4&transport=websocket`, a websocket upgrade with
//!    `X-Otpgate-User: <username>` and the configured `upstream.headers`.
//!    The client's token (JWT or legacy credential), cookies and other
//!    headers are never forwarded.
//! 2. After the Engine.IO open packet (`0{...}`): `40` (connect to the main
//!    namespace `/`), then, once the upstream acknowledges it (`40...`),
//!    the event `42["login",{"accessKeyId":"<username>","uaType":"<uaType>"}]`
//!    (`uaType` only when the client sent a string one). In `nethcti` mode
//!    ([`RelaySettings::cti`]) the login also carries `"token": T`, the
//!    user's CTI session (never the client's token), and the CTI server's
//!    answer is the client's: its `authe_ok` is passed on (once), its
//!    `401` is passed on and ends the client socket. Otherwise the
//!    upstream's `authe_ok` is swallowed (the client had otpgate's) and its
//!    `401` ends the upstream connection.
//! 3. Pings (`2`) are answered with pongs (`3`); every event the client
//!    emits other than `login` is forwarded.
//!
//! Every event the upstream emits on `/` is emitted to the client with the
//! same name and arguments, except the names otpgate uses itself
//! ([`OWN_EVENTS`]). Acknowledgements are relayed both ways: a client
//! event with a callback goes up with an ack id of the relay's own, and
//! the upstream's ack answers the client's callback; an upstream event
//! with an ack id is emitted to the client with a callback whose answer
//! goes back up as the ack. Binary attachments (`45n-` / `46n-` packets
//! and their binary frames) are relayed both ways ([`wire`]).
//!
//! The client gets `upstream_connected` (`{}`) each time the relayed login
//! has been sent, and `upstream_disconnected` (`{"reason": ...}`, once per
//! outage) when the upstream cannot be reached or drops; otpgate then
//! retries with exponential back-off (0.5 s doubling up to 30 s, reset
//! once a connection has lasted `STABLE`) for as long as the client
//! stays logged in. When the client socket ends (disconnect, logout,
//! revocation), the registry drops the socket's [`Handle`]; its task sees
//! the channel close, sends `41` and a websocket close to the upstream and
//! ends.
//!
//! Memory per connection is bounded: at most [`QUEUE`] client events wait
//! for the upstream (more are dropped), upstream messages are capped at
//! [`MAX_MESSAGE`] bytes (larger ones end the connection) and a binary
//! packet's attachments at [`wire::MAX_ATTACHMENTS`] and [`MAX_MESSAGE`]
//! bytes in all, at most [`MAX_PENDING_ACKS`] acks wait in each direction
//! (an event beyond that goes without its ack request; a waiting ack is
//! dropped after [`ACK_TIMEOUT`] and with the upstream connection), the
//! websocket buffers are small, and events for the client go through
//! socketioxide's bounded per-socket buffer (dropped when full).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use axum::http::{HeaderName, HeaderValue};
use futures_util::stream::FuturesUnordered;
use futures_util::{SinkExt, StreamExt};
use otpgate_core::secret::SecretString;
use serde::Deserialize;
use serde_json::{Value, json};
use socketioxide::extract::{AckSender, SocketRef};
use tokio::sync::mpsc;
use tokio_tungstenite::Connector;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

use crate::proxy::USER_HEADER;
pub use crate::realtime::link::{ACK_TIMEOUT, MAX_MESSAGE, MAX_PENDING_ACKS, OWN_EVENTS};
use crate::realtime::link::{End, Outgoing, Ws, down, send};
use crate::realtime::pump::Pump;
use crate::realtime::wire::{self, Payload};

/// Client events waiting for the upstream, per connection.
pub const QUEUE: usize = 32;
/// An upstream connection that lasts this long resets the retry delay.
const STABLE: Duration = Duration::from_secs(10);

pub use crate::settings::RelaySettings;

/// Who the relay logs in as upstream.
#[derive(Debug)]
pub struct Login {
    /// The canonical username (`accessKeyId`).
    pub user: String,
    /// The client's `uaType`, when a short string.
    pub ua_type: Option<String>,
    /// The user's CTI session T, in `nethcti` mode.
    pub token: Option<SecretString>,
}

/// The relay of one logged-in socket. Dropping it ends the upstream
/// connection (the task notices the closed channel).
#[derive(Debug)]
pub struct Handle {
    tx: mpsc::Sender<Outgoing>,
}

impl Handle {
    /// Starts relaying for `socket`, logged in upstream as `login` says.
    pub fn spawn(settings: Arc<RelaySettings>, socket: SocketRef, login: Login) -> Self {
        let (tx, rx) = mpsc::channel(QUEUE);
        tokio::spawn(run(settings, socket, login, rx));
        Self { tx }
    }

    /// Queues a client event (with its callback, if any) for the upstream;
    /// false if dropped (queue full or relay ended).
    pub fn forward(&self, event: String, payload: Payload, ack: Option<AckSender>) -> bool {
        self.tx
            .try_send(Outgoing {
                event,
                payload,
                ack,
            })
            .is_ok()
    }
}

/// Runs `fut` while draining (and dropping) client events: they cannot be
/// delivered while the upstream is not connected. `None` if the client
/// went away first.
async fn until<F: Future>(rx: &mut mpsc::Receiver<Outgoing>, fut: F) -> Option<F::Output> {
    tokio::pin!(fut);
    loop {
        tokio::select! {
            out = &mut fut => return Some(out),
            m = rx.recv() => match m {
                None => return None,
                Some(m) => {
                    tracing::debug!(target: "otpgate::ws", event = %m.event, "upstream not connected: client event dropped");
                }
            }
        }
    }
}

async fn run(
    settings: Arc<RelaySettings>,
    socket: SocketRef,
    login: Login,
    mut rx: mpsc::Receiver<Outgoing>,
) {
    let mut delay = settings.retry_min;
    // Whether the client has been told about the current outage.
    let mut reported = false;
    // In `nethcti` mode: whether the client has had the CTI server's
    // `authe_ok` (passed on once, not at every reconnection).
    let mut answered = false;
    loop {
        match session(&settings, &socket, &login, &mut answered, &mut rx).await {
            End::ClientGone => return,
            End::Upstream {
                reason,
                was_up,
                stable,
            } => {
                // Failures back off until a connection lasts (an upstream
                // that refuses the relayed login or drops it at once is
                // not hammered); each outage is reported once.
                if stable {
                    delay = settings.retry_min;
                }
                if was_up {
                    reported = false;
                }
                if !reported {
                    tracing::info!(target: "otpgate::ws", sid = %socket.id, reason, "upstream socket.io connection lost");
                    reported = true;
                    if socket
                        .emit("upstream_disconnected", &json!({ "reason": reason }))
                        .is_err()
                        && !socket.connected()
                    {
                        return;
                    }
                }
            }
        }
        if until(&mut rx, tokio::time::sleep(delay)).await.is_none() {
            return;
        }
        delay = delay.saturating_mul(2).min(settings.retry_max);
    }
}

/// Connects, logs in and relays until one side ends.
async fn session(
    settings: &RelaySettings,
    socket: &SocketRef,
    login: &Login,
    answered: &mut bool,
    rx: &mut mpsc::Receiver<Outgoing>,
) -> End {
    let connect = tokio::time::timeout(settings.connect_timeout, handshake(settings, &login.user));
    let (mut ws, keepalive) = match until(rx, connect).await {
        None => return End::ClientGone,
        Some(Err(_)) => return down("timeout"),
        Some(Ok(Err(reason))) => return down(reason),
        Some(Ok(Ok(v))) => v,
    };
    let mut payload = serde_json::Map::new();
    payload.insert("accessKeyId".into(), Value::String(login.user.clone()));
    if let Some(t) = &login.token {
        payload.insert("token".into(), Value::String(t.expose().to_owned()));
    }
    if let Some(ua) = &login.ua_type {
        payload.insert("uaType".into(), Value::String(ua.clone()));
    }
    let frame = wire::encode(Some("login"), None, &[Value::Object(payload)], 0);
    if send(&mut ws, frame).await.is_err() {
        return down("closed");
    }
    let _ = socket.emit("upstream_connected", &json!({}));
    let since = tokio::time::Instant::now();
    let mut pump = Pump {
        ws: &mut ws,
        socket,
        cti: settings.cti,
        answered,
        next_id: 0,
        client_acks: HashMap::new(),
        upstream_acks: FuturesUnordered::new(),
    };
    let end = pump.run(rx, keepalive).await;
    if let End::Upstream { reason, .. } = end {
        return End::Upstream {
            reason,
            was_up: true,
            stable: since.elapsed() >= STABLE,
        };
    }
    if matches!(end, End::ClientGone) {
        // Leave the namespace, then close the websocket; don't wait long.
        let bye = async {
            let _ = ws.send(Message::text("41")).await;
            let _ = ws.close(None).await;
        };
        let _ = tokio::time::timeout(Duration::from_secs(1), bye).await;
    }
    end
}

/// Opens the websocket, reads the open packet and joins `/`. Returns the
/// stream and how long the upstream may stay silent (ping interval +
/// timeout).
async fn handshake(settings: &RelaySettings, user: &str) -> Result<(Ws, Duration), &'static str> {
    let url = format!("{}?EIO=4&transport=websocket", settings.url);
    let mut req = url.into_client_request().map_err(|_| "bad url")?;
    let h = req.headers_mut();
    for (name, value) in &settings.headers {
        h.insert(name.clone(), value.clone());
    }
    h.insert(
        HeaderName::from_static(USER_HEADER),
        HeaderValue::from_str(user).map_err(|_| "bad username")?,
    );
    let config = WebSocketConfig::default()
        .read_buffer_size(4096)
        .write_buffer_size(0)
        .max_write_buffer_size(MAX_MESSAGE)
        .max_message_size(Some(MAX_MESSAGE))
        .max_frame_size(Some(MAX_MESSAGE));
    let connector = if settings.url.starts_with("wss://") {
        Some(Connector::Rustls(tls().ok_or("tls setup failed")?))
    } else {
        None
    };
    let (mut ws, _) =
        tokio_tungstenite::connect_async_tls_with_config(req, Some(config), true, connector)
            .await
            .map_err(|_| "unreachable")?;
    let open = next_text(&mut ws).await.ok_or("closed")?;
    let info = open.strip_prefix('0').ok_or("protocol error")?;
    let info: OpenPacket = serde_json::from_str(info).map_err(|_| "protocol error")?;
    let keepalive = Duration::from_millis(info.ping_interval.saturating_add(info.ping_timeout))
        .clamp(Duration::from_secs(1), Duration::from_secs(600));
    ws.send(Message::text("40")).await.map_err(|_| "closed")?;
    loop {
        let t = next_text(&mut ws).await.ok_or("closed")?;
        if t == "2" {
            ws.send(Message::text("3")).await.map_err(|_| "closed")?;
        } else if t.starts_with("40") {
            return Ok((ws, keepalive));
        } else if t.starts_with("44") {
            return Err("refused");
        }
    }
}

/// The TLS client of `wss://` upstreams (the system's roots, ring), built
/// once.
fn tls() -> Option<Arc<rustls::ClientConfig>> {
    static TLS: std::sync::OnceLock<Option<Arc<rustls::ClientConfig>>> = std::sync::OnceLock::new();
    TLS.get_or_init(|| {
        let mut roots = rustls::RootCertStore::empty();
        for cert in rustls_native_certs::load_native_certs().certs {
            let _ = roots.add(cert);
        }
        let config = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .ok()?
        .with_root_certificates(roots)
        .with_no_client_auth();
        Some(Arc::new(config))
    })
    .clone()
}

/// The Engine.IO open packet's fields otpgate uses.
#[derive(Debug, Deserialize)]
struct OpenPacket {
    #[serde(rename = "pingInterval", default = "default_ping_interval")]
    ping_interval: u64,
    #[serde(rename = "pingTimeout", default = "default_ping_timeout")]
    ping_timeout: u64,
}

fn default_ping_interval() -> u64 {
    25_000
}

fn default_ping_timeout() -> u64 {
    20_000
}

/// The next text frame (`None` when the websocket ends).
async fn next_text(ws: &mut Ws) -> Option<String> {
    loop {
        match ws.next().await? {
            Ok(Message::Text(t)) => return Some(t.as_str().to_owned()),
            Ok(Message::Close(_)) | Err(_) => return None,
            Ok(_) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn at_most_queue_client_events_wait_for_the_upstream() {
        let (tx, mut rx) = mpsc::channel(QUEUE);
        let h = Handle { tx };
        for i in 0..QUEUE {
            assert!(h.forward(format!("e{i}"), Payload::json(vec![json!(i)]), None));
        }
        assert!(
            !h.forward("one too many".into(), Payload::default(), None),
            "bounded"
        );
        assert_eq!(rx.try_recv().map(|m| m.event).ok().as_deref(), Some("e0"));
        assert!(h.forward("room again".into(), Payload::default(), None));
        drop(h);
        let mut left = 0;
        while rx.try_recv().is_ok() {
            left += 1;
        }
        assert_eq!(left, QUEUE);
        assert!(rx.is_closed(), "dropping the handle closes the channel");
    }
}
