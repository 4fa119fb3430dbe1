//! A minimal raw Socket.IO v5 / Engine.IO 4 client over a websocket, for
//! driving the real router served on a loopback port (the end-to-end tests
//! use the npm socket.io-client instead).

use std::net::SocketAddr;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::Value;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream, connect_async};

/// What the server sent.
#[derive(Debug, Clone, PartialEq)]
pub enum Ev {
    /// `42["name", data]`.
    Event(String, Value),
    /// `41`: the server disconnected the socket.
    Disconnect,
    /// The websocket closed.
    Closed,
}

pub struct Sio {
    ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
}

impl Sio {
    /// Connects to `path` (e.g. `/api/ws/`) and joins the `/` namespace.
    pub async fn connect(addr: SocketAddr, path: &str) -> Self {
        let url = format!("ws://{addr}{path}?EIO=4&transport=websocket");
        let (ws, _) = connect_async(url).await.expect("websocket connect");
        let mut s = Self { ws };
        let open = s.text(Duration::from_secs(5)).await.expect("open packet");
        assert!(open.starts_with('0'), "engine.io open: {open}");
        s.send("40").await;
        let connected = s.text(Duration::from_secs(5)).await.expect("connect ack");
        assert!(
            connected.starts_with("40"),
            "namespace connect: {connected}"
        );
        s
    }

    pub async fn send(&mut self, text: &str) {
        self.ws
            .send(Message::text(text.to_owned()))
            .await
            .expect("send");
    }

    /// Sends a text frame; false if the server already closed.
    pub async fn try_send(&mut self, text: &str) -> bool {
        self.ws.send(Message::text(text.to_owned())).await.is_ok()
    }

    /// Emits `event` with `data`.
    pub async fn emit(&mut self, event: &str, data: Value) {
        let packet = format!("42{}", serde_json::json!([event, data]));
        self.send(&packet).await;
    }

    /// The next text frame, answering pings; `None` on timeout or close.
    async fn text(&mut self, within: Duration) -> Option<String> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let msg = tokio::time::timeout_at(deadline, self.ws.next())
                .await
                .ok()??;
            match msg {
                Ok(Message::Text(t)) if t.as_str() == "2" => {
                    let _ = self.try_send("3").await;
                }
                Ok(Message::Text(t)) => return Some(t.as_str().to_owned()),
                Ok(Message::Close(_)) | Err(_) => return None,
                Ok(_) => {}
            }
        }
    }

    /// The next Socket.IO happening within `within`; `None` if nothing.
    pub async fn next(&mut self, within: Duration) -> Option<Ev> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let now = tokio::time::Instant::now();
            let msg = tokio::time::timeout_at(deadline, self.ws.next()).await;
            let Ok(msg) = msg else { return None };
            let _ = now;
            match msg {
                None | Some(Err(_)) | Some(Ok(Message::Close(_))) => return Some(Ev::Closed),
                Some(Ok(Message::Text(t))) => {
                    let t = t.as_str();
                    if t == "2" {
                        let _ = self.try_send("3").await;
                    } else if t.starts_with("41") {
                        return Some(Ev::Disconnect);
                    } else if t == "1" {
                        return Some(Ev::Closed);
                    } else if let Some(json) = t.strip_prefix("42") {
                        let v: Value = serde_json::from_str(json).expect("event json");
                        let name = v[0].as_str().expect("event name").to_owned();
                        return Some(Ev::Event(name, v[1].clone()));
                    }
                }
                Some(Ok(_)) => {}
            }
        }
    }

    /// The next event, which must come within `within`.
    pub async fn expect(&mut self, within: Duration) -> Ev {
        self.next(within).await.expect("an event in time")
    }

    /// Emits `login` and returns the answer event.
    pub async fn login(&mut self, user: &str, token: &str) -> Ev {
        self.emit(
            "login",
            serde_json::json!({"accessKeyId": user, "token": token, "uaType": "desktop"}),
        )
        .await;
        self.expect(Duration::from_secs(5)).await
    }
}

pub fn authe_ok() -> Ev {
    Ev::Event(
        "authe_ok".into(),
        serde_json::json!({"message": "authorized successfully"}),
    )
}

pub fn unauthorized() -> Ev {
    Ev::Event(
        "401".into(),
        serde_json::json!({"message": "unauthorized access"}),
    )
}
