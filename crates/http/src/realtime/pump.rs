//! Relaying over one upstream Socket.IO connection of [`super::relay`],
//! once it is up: client events (with their callbacks) go up, upstream
//! packets (events, acks, their binary attachments) come down, and the
//! two ack tables stay bounded.

use std::collections::HashMap;
use std::pin::Pin;
use std::time::Duration;

use bytes::Bytes;
use futures_util::stream::FuturesUnordered;
use futures_util::{SinkExt, StreamExt};
use serde_json::json;
use socketioxide::extract::{AckSender, SocketRef};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;

use crate::realtime::close::disconnect;
use crate::realtime::link::{
    ACK_TIMEOUT, End, MAX_MESSAGE, MAX_PENDING_ACKS, OWN_EVENTS, Outgoing, SEND_TIMEOUT, Ws, send,
    up,
};
use crate::realtime::wire::{self, Packet, Payload};

/// An ack the client is waiting for (its callback) and since when.
pub(crate) type ClientAck = (AckSender, tokio::time::Instant);
/// The client's answer to an upstream event that asked for an ack: the
/// upstream's ack id and the answer (`None`: none in time).
pub(crate) type UpstreamAck = Pin<Box<dyn Future<Output = (u64, Option<Payload>)> + Send>>;

/// One upstream connection's relaying state.
pub(crate) struct Pump<'a> {
    pub(crate) ws: &'a mut Ws,
    pub(crate) socket: &'a SocketRef,
    pub(crate) cti: bool,
    pub(crate) answered: &'a mut bool,
    /// The next ack id of ours for a client event with a callback.
    pub(crate) next_id: u64,
    /// Client callbacks waiting for the upstream's ack, by our ack id.
    pub(crate) client_acks: HashMap<u64, ClientAck>,
    /// Client answers the upstream is waiting for.
    pub(crate) upstream_acks: FuturesUnordered<UpstreamAck>,
}

/// A binary packet waiting for its attachments.
struct Partial {
    packet: Packet,
    want: usize,
    bins: Vec<Bytes>,
    size: usize,
}

impl Pump<'_> {
    /// Pumps events both ways until one side ends.
    pub(crate) async fn run(
        &mut self,
        rx: &mut mpsc::Receiver<Outgoing>,
        keepalive: Duration,
    ) -> End {
        // The upstream must send something (at least its pings) this often.
        let mut deadline = tokio::time::Instant::now() + keepalive;
        let mut partial: Option<Partial> = None;
        let mut sweep = tokio::time::interval(ACK_TIMEOUT);
        loop {
            tokio::select! {
                m = rx.recv() => {
                    let Some(m) = m else { return End::ClientGone };
                    if let Err(end) = self.send_up(m).await {
                        return end;
                    }
                }
                Some((id, answer)) = self.upstream_acks.next(), if !self.upstream_acks.is_empty() => {
                    if let Some(p) = answer
                        && let Err(end) = self.send_payload(None, Some(id), &p).await
                    {
                        return end;
                    }
                }
                _ = sweep.tick() => self.forget_stale_acks(),
                msg = tokio::time::timeout_at(deadline, self.ws.next()) => {
                    let msg = match msg {
                        Err(_) => return up("timeout"),
                        Ok(None | Some(Err(_)) | Some(Ok(Message::Close(_)))) => {
                            return up("closed");
                        }
                        Ok(Some(Ok(m))) => m,
                    };
                    deadline = tokio::time::Instant::now() + keepalive;
                    let packet = match msg {
                        Message::Text(t) => {
                            if partial.take().is_some() {
                                return up("protocol error");
                            }
                            wire::packet(t.as_str())
                        }
                        Message::Binary(b) => {
                            let Some(mut p) = partial.take() else { continue };
                            p.size = p.size.saturating_add(b.len());
                            if p.size > MAX_MESSAGE {
                                return up("message too large");
                            }
                            p.bins.push(b);
                            if p.bins.len() < p.want {
                                partial = Some(p);
                                continue;
                            }
                            if let Some(end) = self.handle_upstream(p.packet, p.bins).await {
                                return end;
                            }
                            continue;
                        }
                        _ => continue,
                    };
                    let want = match &packet {
                        Packet::Event { attachments, .. } | Packet::Ack { attachments, .. } => *attachments,
                        _ => 0,
                    };
                    if want > 0 {
                        partial = Some(Partial { packet, want, bins: Vec::new(), size: 0 });
                    } else if let Some(end) = self.handle_upstream(packet, Vec::new()).await {
                        return end;
                    }
                }
            }
        }
    }

    /// Sends an event or ack with its attachments.
    async fn send_payload(
        &mut self,
        event: Option<&str>,
        id: Option<u64>,
        p: &Payload,
    ) -> Result<(), End> {
        send(self.ws, wire::encode(event, id, &p.args, p.bins.len())).await?;
        for b in &p.bins {
            match tokio::time::timeout(SEND_TIMEOUT, self.ws.send(Message::Binary(b.clone()))).await
            {
                Ok(Ok(())) => {}
                Ok(Err(_)) => return Err(up("closed")),
                Err(_) => return Err(up("timeout")),
            }
        }
        Ok(())
    }

    /// A client event: up it goes, with an ack id of ours if the client
    /// waits for an answer and the table has room.
    async fn send_up(&mut self, m: Outgoing) -> Result<(), End> {
        let id = match m.ack {
            Some(ack) => {
                if self.client_acks.len() >= MAX_PENDING_ACKS {
                    self.forget_stale_acks();
                }
                if self.client_acks.len() < MAX_PENDING_ACKS {
                    let id = self.next_id;
                    self.next_id = self.next_id.wrapping_add(1);
                    self.client_acks
                        .insert(id, (ack, tokio::time::Instant::now()));
                    Some(id)
                } else {
                    tracing::debug!(target: "otpgate::ws", sid = %self.socket.id, "too many acks waiting: event relayed without its ack");
                    None
                }
            }
            None => None,
        };
        self.send_payload(Some(&m.event), id, &m.payload).await
    }

    fn forget_stale_acks(&mut self) {
        let now = tokio::time::Instant::now();
        self.client_acks
            .retain(|_, (_, since)| now.duration_since(*since) < ACK_TIMEOUT);
    }

    /// A complete upstream packet; `Some` to stop relaying.
    async fn handle_upstream(&mut self, packet: Packet, bins: Vec<Bytes>) -> Option<End> {
        match packet {
            Packet::Ping => send(self.ws, "3".to_owned()).await.err(),
            Packet::Close => Some(up("closed")),
            Packet::Disconnect => Some(up("disconnected")),
            Packet::Ack { id, args, .. } => {
                if let Some((ack, _)) = self.client_acks.remove(&id) {
                    let _ = ack.send(&Payload { args, bins });
                }
                None
            }
            Packet::Event { name, args, id, .. } => self.deliver(name, Payload { args, bins }, id),
            Packet::Other => None,
        }
    }

    /// Emits an upstream event to the client; `Some` to stop relaying.
    fn deliver(&mut self, name: String, payload: Payload, id: Option<u64>) -> Option<End> {
        let socket = self.socket;
        if self.cti && (name == "authe_ok" || name == "401") {
            // The CTI server's answer to the login is the client's.
            if name == "401" {
                tracing::info!(target: "otpgate::ws", sid = %socket.id, "the CTI server refused the relayed login");
                let _ = socket.emit("401", &json!({"message": "unauthorized access"}));
                disconnect(socket.clone());
                return Some(End::ClientGone);
            }
            if !*self.answered {
                *self.answered = true;
                let _ = socket.emit("authe_ok", &json!({"message": "authorized successfully"}));
            }
            return None;
        }
        if name == "401" {
            return Some(up("refused"));
        }
        if OWN_EVENTS.contains(&name.as_str()) {
            tracing::debug!(target: "otpgate::ws", event = %name, "upstream event not relayed");
            return None;
        }
        let sent = match id {
            Some(id) if self.upstream_acks.len() < MAX_PENDING_ACKS => socket
                .timeout(ACK_TIMEOUT)
                .emit_with_ack::<_, Payload>(&name, &payload)
                .map(|stream| {
                    let answer: UpstreamAck = Box::pin(async move { (id, stream.await.ok()) });
                    self.upstream_acks.push(answer);
                }),
            _ => socket.emit(&name, &payload),
        };
        match sent {
            Ok(()) => None,
            Err(_) if !socket.connected() => Some(End::ClientGone),
            Err(e) => {
                tracing::warn!(target: "otpgate::ws", sid = %socket.id, error = %e, "upstream event dropped");
                None
            }
        }
    }
}
