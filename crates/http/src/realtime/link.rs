//! The upstream link's shared parts: its limits, a client event on its
//! way up, how a session ended, and the frame send with its timeout. A
//! leaf, so the relay ([`super::relay`]) and the pump
//! ([`super::pump`]) both use it without naming each other.

use std::time::Duration;

use futures_util::SinkExt;
use socketioxide::extract::AckSender;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use crate::realtime::wire::Payload;

/// Largest message accepted from the upstream (bytes).
pub const MAX_MESSAGE: usize = 1024 * 1024;
/// Longest wait for the upstream to take a frame.
pub(crate) const SEND_TIMEOUT: Duration = Duration::from_secs(10);
/// Acks waiting per connection, in each direction.
pub const MAX_PENDING_ACKS: usize = 64;
/// How long an ack is waited for (either direction).
pub const ACK_TIMEOUT: Duration = Duration::from_secs(30);

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

/// A client event on its way to the upstream.
pub(crate) struct Outgoing {
    pub(crate) event: String,
    pub(crate) payload: Payload,
    /// The client's callback, if it asked for an ack.
    pub(crate) ack: Option<AckSender>,
}

pub(crate) type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// How an upstream session ended.
pub(crate) enum End {
    /// The client socket is gone: stop for good.
    ClientGone,
    /// The upstream failed or left; `was_up` if the login had been
    /// relayed (the client was told `upstream_connected`), `stable` if the
    /// connection then lasted at least `relay::STABLE`.
    Upstream {
        reason: &'static str,
        was_up: bool,
        stable: bool,
    },
}

pub(crate) fn down(reason: &'static str) -> End {
    End::Upstream {
        reason,
        was_up: false,
        stable: false,
    }
}

pub(crate) fn up(reason: &'static str) -> End {
    End::Upstream {
        reason,
        was_up: true,
        stable: false,
    }
}

/// Sends a text frame, giving up after [`SEND_TIMEOUT`] (an upstream that
/// stops reading must not hold the task forever).
pub(crate) async fn send(ws: &mut Ws, text: String) -> Result<(), End> {
    match tokio::time::timeout(SEND_TIMEOUT, ws.send(Message::text(text))).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(_)) => Err(up("closed")),
        Err(_) => Err(up("timeout")),
    }
}
