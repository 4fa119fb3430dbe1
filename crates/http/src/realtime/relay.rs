//! The relay to an upstream Socket.IO server (`upstream.ws_url`).
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
//!    (`uaType` only when the client sent a string one; never a `token`).
//! 3. Pings (`2`) are answered with pongs (`3`); every event the client
//!    emits other than `login` is forwarded as `42[name, ...args]`.
//!
//! Every event the upstream emits on `/` (`42[name, ...args]`) is emitted to
//! the client with the same name and arguments, except the names otpgate
//! uses itself ([`OWN_EVENTS`]): the upstream's `authe_ok` (its answer to
//! the relayed login) is swallowed, its `401` ends the upstream connection.
//! Acknowledgements and binary attachments are not relayed.
//!
//! The client gets `upstream_connected` (`{}`) each time the relayed login
//! has been sent, and `upstream_disconnected` (`{"reason": ...}`, once per
//! outage) when the upstream cannot be reached or drops; otpgate then
//! retries with exponential back-off (0.5 s doubling up to 30 s, reset
//! once a connection has lasted [`STABLE`]) for as long as the client
//! stays logged in. When the client socket ends (disconnect, logout,
//! revocation), the registry drops the socket's [`Handle`]; its task sees
//! the channel close, sends `41` and a websocket close to the upstream and
//! ends.
//!
//! Memory per connection is bounded: at most [`QUEUE`] client events wait
//! for the upstream (more are dropped), upstream messages are capped at
//! [`MAX_MESSAGE`] bytes (larger ones end the connection), the websocket
//! buffers are small, and events for the client go through socketioxide's
//! bounded per-socket buffer (dropped when full).

use std::sync::Arc;
use std::time::Duration;

use axum::http::{HeaderName, HeaderValue};
use futures_util::{SinkExt, StreamExt};
use serde::de::{Deserializer, SeqAccess, Visitor};
use serde::ser::{SerializeTuple, Serializer};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use socketioxide::extract::SocketRef;
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use crate::proxy::USER_HEADER;

/// Client events waiting for the upstream, per connection.
pub const QUEUE: usize = 32;
/// Largest message accepted from the upstream (bytes).
pub const MAX_MESSAGE: usize = 1024 * 1024;
/// An upstream connection that lasts this long resets the retry delay.
const STABLE: Duration = Duration::from_secs(10);
/// Longest wait for the upstream to take a frame.
const SEND_TIMEOUT: Duration = Duration::from_secs(10);

/// Event names otpgate emits itself (and Socket.IO's reserved ones): never
/// relayed from the upstream.
pub const OWN_EVENTS: &[&str] = &[
    "authe_ok",
    "401",
    "session_revoked",
    "2fa_status",
    "upstream_connected",
    "upstream_disconnected",
    "connect",
    "connect_error",
    "disconnect",
    "disconnecting",
    "newListener",
    "removeListener",
];

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
        }
    }
}

/// The arguments of an event, all of them (Socket.IO events carry any
/// number). Serialized as a tuple, so socketioxide emits them as separate
/// arguments; deserialized from all the arguments of a received event.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Args(pub Vec<Value>);

impl Serialize for Args {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut t = s.serialize_tuple(self.0.len())?;
        for v in &self.0 {
            t.serialize_element(v)?;
        }
        t.end()
    }
}

impl<'de> Deserialize<'de> for Args {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct All;
        impl<'de> Visitor<'de> for All {
            type Value = Args;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("event arguments")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Args, A::Error> {
                let mut out = Vec::new();
                while let Some(v) = seq.next_element::<Value>()? {
                    out.push(v);
                }
                Ok(Args(out))
            }
        }
        d.deserialize_tuple(usize::MAX, All)
    }
}

/// A client event on its way to the upstream.
#[derive(Debug)]
struct Outgoing {
    event: String,
    args: Vec<Value>,
}

/// The relay of one logged-in socket. Dropping it ends the upstream
/// connection (the task notices the closed channel).
#[derive(Debug)]
pub struct Handle {
    tx: mpsc::Sender<Outgoing>,
}

impl Handle {
    /// Starts relaying for `socket`, logged in as `user`.
    pub fn spawn(
        settings: Arc<RelaySettings>,
        socket: SocketRef,
        user: String,
        ua_type: Option<String>,
    ) -> Self {
        let (tx, rx) = mpsc::channel(QUEUE);
        tokio::spawn(run(settings, socket, user, ua_type, rx));
        Self { tx }
    }

    /// Queues a client event for the upstream; false if dropped (queue
    /// full or relay ended).
    pub fn forward(&self, event: String, args: Vec<Value>) -> bool {
        self.tx.try_send(Outgoing { event, args }).is_ok()
    }
}

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// How an upstream session ended.
enum End {
    /// The client socket is gone: stop for good.
    ClientGone,
    /// The upstream failed or left; `was_up` if the login had been
    /// relayed (the client was told `upstream_connected`), `stable` if the
    /// connection then lasted at least [`STABLE`].
    Upstream {
        reason: &'static str,
        was_up: bool,
        stable: bool,
    },
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
    user: String,
    ua_type: Option<String>,
    mut rx: mpsc::Receiver<Outgoing>,
) {
    let mut delay = settings.retry_min;
    // Whether the client has been told about the current outage.
    let mut reported = false;
    loop {
        match session(&settings, &socket, &user, ua_type.as_deref(), &mut rx).await {
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

fn down(reason: &'static str) -> End {
    End::Upstream {
        reason,
        was_up: false,
        stable: false,
    }
}

fn up(reason: &'static str) -> End {
    End::Upstream {
        reason,
        was_up: true,
        stable: false,
    }
}

/// Connects, logs in and relays until one side ends.
async fn session(
    settings: &RelaySettings,
    socket: &SocketRef,
    user: &str,
    ua_type: Option<&str>,
    rx: &mut mpsc::Receiver<Outgoing>,
) -> End {
    let connect = tokio::time::timeout(settings.connect_timeout, handshake(settings, user));
    let (mut ws, keepalive) = match until(rx, connect).await {
        None => return End::ClientGone,
        Some(Err(_)) => return down("timeout"),
        Some(Ok(Err(reason))) => return down(reason),
        Some(Ok(Ok(v))) => v,
    };
    let mut login = serde_json::Map::new();
    login.insert("accessKeyId".into(), Value::String(user.to_owned()));
    if let Some(ua) = ua_type {
        login.insert("uaType".into(), Value::String(ua.to_owned()));
    }
    if send(&mut ws, encode_event("login", &[Value::Object(login)]))
        .await
        .is_err()
    {
        return down("closed");
    }
    let _ = socket.emit("upstream_connected", &json!({}));
    let since = tokio::time::Instant::now();
    let end = relay(&mut ws, socket, rx, keepalive).await;
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
    let (mut ws, _) = tokio_tungstenite::connect_async_with_config(req, Some(config), true)
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

/// Sends a text frame, giving up after [`SEND_TIMEOUT`] (an upstream that
/// stops reading must not hold the task forever).
async fn send(ws: &mut Ws, text: String) -> Result<(), End> {
    match tokio::time::timeout(SEND_TIMEOUT, ws.send(Message::text(text))).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(_)) => Err(up("closed")),
        Err(_) => Err(up("timeout")),
    }
}

/// Pumps events both ways until one side ends.
async fn relay(
    ws: &mut Ws,
    socket: &SocketRef,
    rx: &mut mpsc::Receiver<Outgoing>,
    keepalive: Duration,
) -> End {
    // The upstream must send something (at least its pings) this often.
    let mut deadline = tokio::time::Instant::now() + keepalive;
    loop {
        tokio::select! {
            m = rx.recv() => {
                let Some(m) = m else { return End::ClientGone };
                if let Err(end) = send(ws, encode_event(&m.event, &m.args)).await {
                    return end;
                }
            }
            msg = tokio::time::timeout_at(deadline, ws.next()) => {
                let msg = match msg {
                    Err(_) => return up("timeout"),
                    Ok(None | Some(Err(_)) | Some(Ok(Message::Close(_)))) => {
                        return up("closed");
                    }
                    Ok(Some(Ok(Message::Text(t)))) => t,
                    Ok(Some(Ok(_))) => continue,
                };
                deadline = tokio::time::Instant::now() + keepalive;
                match packet(msg.as_str()) {
                    Packet::Ping => {
                        if let Err(end) = send(ws, "3".to_owned()).await {
                            return end;
                        }
                    }
                    Packet::Close => return up("closed"),
                    Packet::Disconnect => return up("disconnected"),
                    Packet::Event(name, args) => {
                        if let Some(end) = deliver(socket, name, args) {
                            return end;
                        }
                    }
                    Packet::Other => {}
                }
            }
        }
    }
}

/// Emits an upstream event to the client; `Some` to stop relaying.
fn deliver(socket: &SocketRef, name: String, args: Vec<Value>) -> Option<End> {
    if name == "401" {
        return Some(up("refused"));
    }
    if OWN_EVENTS.contains(&name.as_str()) {
        tracing::debug!(target: "otpgate::ws", event = %name, "upstream event not relayed");
        return None;
    }
    match socket.emit(&name, &Args(args)) {
        Ok(()) => None,
        Err(_) if !socket.connected() => Some(End::ClientGone),
        Err(e) => {
            tracing::warn!(target: "otpgate::ws", sid = %socket.id, error = %e, "upstream event dropped");
            None
        }
    }
}

/// What an upstream text frame is.
#[derive(Debug, PartialEq)]
enum Packet {
    /// Engine.IO ping `2`.
    Ping,
    /// Engine.IO close `1`.
    Close,
    /// Socket.IO disconnect `41` (or a connect error `44`) on `/`.
    Disconnect,
    /// Socket.IO event `42[name, ...args]` on `/`.
    Event(String, Vec<Value>),
    /// Anything else (noop, acks, other namespaces, binary events).
    Other,
}

fn packet(text: &str) -> Packet {
    match text {
        "2" => return Packet::Ping,
        "1" => return Packet::Close,
        _ => {}
    }
    let Some(sio) = text.strip_prefix('4') else {
        return Packet::Other;
    };
    let mut chars = sio.chars();
    let kind = chars.next();
    let rest = chars.as_str();
    // An optional namespace (`/name,`): only `/` is relayed.
    let rest = match rest.strip_prefix('/') {
        Some(_) => match rest.split_once(',') {
            Some(("/", r)) => r,
            _ => return Packet::Other,
        },
        None => rest,
    };
    match kind {
        Some('1' | '4') => Packet::Disconnect,
        Some('2') => {
            // An optional ack id, then the JSON array.
            let json = rest.trim_start_matches(|c: char| c.is_ascii_digit());
            let Ok(Value::Array(items)) = serde_json::from_str::<Value>(json) else {
                return Packet::Other;
            };
            let mut items = items.into_iter();
            match items.next() {
                Some(Value::String(name)) => Packet::Event(name, items.collect()),
                _ => Packet::Other,
            }
        }
        _ => Packet::Other,
    }
}

/// `42[event, ...args]`.
fn encode_event(event: &str, args: &[Value]) -> String {
    let mut all = Vec::with_capacity(args.len().saturating_add(1));
    all.push(Value::String(event.to_owned()));
    all.extend(args.iter().cloned());
    format!("42{}", Value::Array(all))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_upstream_frames() {
        assert_eq!(packet("2"), Packet::Ping);
        assert_eq!(packet("1"), Packet::Close);
        assert_eq!(packet("6"), Packet::Other);
        assert_eq!(packet("41"), Packet::Disconnect);
        assert_eq!(packet("44{\"message\":\"no\"}"), Packet::Disconnect);
        assert_eq!(
            packet(r#"42["queue",{"n":1},2]"#),
            Packet::Event("queue".into(), vec![json!({"n": 1}), json!(2)])
        );
        assert_eq!(packet(r#"42/,["e"]"#), Packet::Event("e".into(), vec![]));
        assert_eq!(
            packet(r#"4212["e","x"]"#),
            Packet::Event("e".into(), vec![json!("x")])
        );
        assert_eq!(packet(r#"42/admin,["e"]"#), Packet::Other);
        assert_eq!(packet(r#"42[1,2]"#), Packet::Other);
        assert_eq!(packet(r#"42not json"#), Packet::Other);
        assert_eq!(packet(r#"43[1]"#), Packet::Other);
    }

    #[test]
    fn at_most_queue_client_events_wait_for_the_upstream() {
        let (tx, mut rx) = mpsc::channel(QUEUE);
        let h = Handle { tx };
        for i in 0..QUEUE {
            assert!(h.forward(format!("e{i}"), vec![json!(i)]));
        }
        assert!(!h.forward("one too many".into(), vec![]), "bounded");
        assert_eq!(rx.try_recv().map(|m| m.event).ok().as_deref(), Some("e0"));
        assert!(h.forward("room again".into(), vec![]));
        drop(h);
        let mut left = 0;
        while rx.try_recv().is_ok() {
            left += 1;
        }
        assert_eq!(left, QUEUE);
        assert!(rx.is_closed(), "dropping the handle closes the channel");
    }

    #[test]
    fn encodes_events_with_all_their_arguments() {
        assert_eq!(encode_event("a", &[]), r#"42["a"]"#);
        assert_eq!(
            encode_event("login", &[json!({"accessKeyId": "bob"})]),
            r#"42["login",{"accessKeyId":"bob"}]"#
        );
        assert_eq!(
            serde_json::to_string(&Args(vec![json!(1), json!([2])])).unwrap_or_default(),
            "[1,[2]]"
        );
    }
}
