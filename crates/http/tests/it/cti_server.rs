//! A stand-in for the CTI server (`nethcti-server`), written from API.md §9
//! and notes/nethcti-middleware.md §13, on a loopback port under
//! `/webrest`:
//! - `POST /authentication/login` `{"username","password"}`: right → 401
//!   with `WWW-Authenticate: Digest <nonce>` (40 lower-case hex), and a
//!   grant `hex(HMAC-SHA1(password, "user:password:nonce"))` is kept;
//!   wrong → 401 without the header;
//! - every other route wants `Authorization: user:token` (split at the
//!   first `:`), a grant or the user's persistent token, else 401;
//! - `GET /user/me` → the user's profile;
//! - `POST /authentication/phone_island_token_login` → `{"token",
//!   "username"}`, a new persistent token replacing the old one (this
//!   version ignores `subtype`);
//! - `POST /authentication/persistent_token_remove` with `type`
//!   `phone-island` or `no-exp` → 200 `{}`, the token forgotten;
//! - `GET /astproxy/extensions` → a CTI resource (wants `user:token`);
//! - `GET /static/...` → a file, no credential asked;
//! - the FreePBX routes (`/astproxy/extensions`, `/astproxy/extension/N`)
//!   with `Authorization-User: admin` and `Secretkey: <FREEPBX_KEY>`
//!   instead of `user:token`; any other path is 404 (unknown route).
//!
//! Faults on demand, per route: HTML instead of JSON, a 500, an answer
//! without a token, a hang; and the whole server down (connections
//! accepted and dropped). Every request is recorded. Each answer closes
//! its connection, so "down" takes effect at once.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use hmac::{Hmac, KeyInit, Mac};
use serde_json::{Value, json};
use sha1::Sha1;

/// What a route does instead of its job.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// 200 with an HTML page.
    Html,
    /// 500 with an HTML page.
    ServerError,
    /// 200 JSON without `token`.
    NoToken,
    /// Never answers (60 s).
    Hang,
}

/// One request the stand-in received.
#[derive(Debug, Clone)]
pub struct Received {
    pub method: Method,
    /// The path below `/webrest`.
    pub path: String,
    pub authorization: Option<String>,
    pub body: Value,
    pub query: Option<String>,
    pub headers: HeaderMap,
}

/// The key the stand-in's FreePBX routes accept.
pub const FREEPBX_KEY: &str = "freepbx-secret-key-9";

#[derive(Default)]
struct Inner {
    passwords: HashMap<String, String>,
    /// Valid `user:token` grants (from challenges).
    grants: Vec<String>,
    /// Nonces handed out, in order.
    nonces: Vec<String>,
    /// The persistent (phone-island) token of each user.
    persistent: HashMap<String, String>,
    faults: HashMap<String, Fault>,
    down: bool,
    received: Vec<Received>,
    counter: u64,
}

/// The running stand-in.
#[derive(Clone)]
pub struct CtiServer {
    pub addr: SocketAddr,
    inner: Arc<Mutex<Inner>>,
}

struct GatedListener {
    inner: tokio::net::TcpListener,
    state: Arc<Mutex<Inner>>,
}

impl axum::serve::Listener for GatedListener {
    type Io = tokio::net::TcpStream;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            let Ok((stream, addr)) = self.inner.accept().await else {
                continue;
            };
            if self.state.lock().unwrap().down {
                drop(stream);
                continue;
            }
            return (stream, addr);
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        self.inner.local_addr()
    }
}

/// `hex(HMAC-SHA1(key = password, msg = "user:password:nonce"))`, as the
/// CTI server computes it (written here independently of otpgate's).
pub fn challenge_token(user: &str, password: &str, nonce: &str) -> String {
    let mut mac = <Hmac<Sha1> as KeyInit>::new_from_slice(password.as_bytes()).unwrap();
    mac.update(format!("{user}:{password}:{nonce}").as_bytes());
    mac.finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

impl CtiServer {
    /// Starts the stand-in with these users and passwords.
    pub async fn start(users: &[(&str, &str)]) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let inner = Arc::new(Mutex::new(Inner {
            passwords: users
                .iter()
                .map(|(u, p)| ((*u).to_owned(), (*p).to_owned()))
                .collect(),
            ..Inner::default()
        }));
        let app = Router::new().fallback(handle).with_state(inner.clone());
        let listener = GatedListener {
            inner: listener,
            state: inner.clone(),
        };
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self { addr, inner }
    }

    /// The REST base `V1`.
    pub fn v1(&self) -> String {
        format!("http://{}/webrest", self.addr)
    }

    pub fn set_password(&self, user: &str, password: &str) {
        self.inner
            .lock()
            .unwrap()
            .passwords
            .insert(user.into(), password.into());
    }

    /// Makes the route `path` (below `/webrest`) misbehave; `None` heals it.
    pub fn fault(&self, path: &str, fault: Option<Fault>) {
        let mut i = self.inner.lock().unwrap();
        match fault {
            Some(f) => i.faults.insert(path.into(), f),
            None => i.faults.remove(path),
        };
    }

    pub fn set_down(&self, down: bool) {
        self.inner.lock().unwrap().down = down;
    }

    pub fn received(&self) -> Vec<Received> {
        self.inner.lock().unwrap().received.clone()
    }

    /// The requests received on `path`.
    pub fn received_on(&self, path: &str) -> Vec<Received> {
        self.received()
            .into_iter()
            .filter(|r| r.path == path)
            .collect()
    }

    pub fn clear_received(&self) {
        self.inner.lock().unwrap().received.clear();
    }

    pub fn nonces(&self) -> Vec<String> {
        self.inner.lock().unwrap().nonces.clone()
    }

    /// Forgets the user's persistent token (their CTI session ends there).
    pub fn forget_persistent(&self, user: &str) {
        self.inner.lock().unwrap().persistent.remove(user);
    }

    /// The user's live persistent (phone-island) token, if any.
    pub fn persistent_token(&self, user: &str) -> Option<String> {
        self.inner.lock().unwrap().persistent.get(user).cloned()
    }
}

fn html(status: StatusCode) -> Response {
    (
        status,
        [("content-type", "text/html"), ("connection", "close")],
        "<html><body>Bad Gateway</body></html>",
    )
        .into_response()
}

fn answer(status: StatusCode, body: Value) -> Response {
    (
        status,
        [
            ("content-type", "application/json"),
            ("connection", "close"),
        ],
        body.to_string(),
    )
        .into_response()
}

async fn handle(
    State(state): State<Arc<Mutex<Inner>>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Some(path) = uri.path().strip_prefix("/webrest") else {
        return answer(StatusCode::NOT_FOUND, json!({"message": "not found"}));
    };
    let path = path.to_owned();
    let authorization = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let json_body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let fault = {
        let mut i = state.lock().unwrap();
        i.received.push(Received {
            method: method.clone(),
            path: path.clone(),
            authorization: authorization.clone(),
            body: json_body.clone(),
            query: uri.query().map(str::to_owned),
            headers: headers.clone(),
        });
        i.faults.get(&path).copied()
    };
    match fault {
        Some(Fault::Hang) => {
            tokio::time::sleep(Duration::from_secs(60)).await;
            return html(StatusCode::OK);
        }
        Some(Fault::Html) => return html(StatusCode::OK),
        Some(Fault::ServerError) => return html(StatusCode::INTERNAL_SERVER_ERROR),
        Some(Fault::NoToken) | None => {}
    }
    let mut i = state.lock().unwrap();
    if (method.clone(), path.as_str()) == (Method::POST, "/authentication/login") {
        let user = json_body["username"].as_str().unwrap_or_default();
        let password = json_body["password"].as_str().unwrap_or_default();
        if i.passwords.get(user).map(String::as_str) != Some(password) || password.is_empty() {
            return answer(StatusCode::UNAUTHORIZED, json!({}));
        }
        i.counter += 1;
        let nonce: String = challenge_token("nonce", &i.counter.to_string(), user);
        let grant = format!("{user}:{}", challenge_token(user, password, &nonce));
        i.grants.push(grant);
        i.nonces.push(nonce.clone());
        return (
            StatusCode::UNAUTHORIZED,
            [
                ("www-authenticate", format!("Digest {nonce}")),
                ("connection", "close".to_owned()),
            ],
        )
            .into_response();
    }
    if method == Method::GET && path.starts_with("/static/") {
        return answer(StatusCode::OK, json!({"static": path}));
    }
    if headers
        .get("authorization-user")
        .is_some_and(|v| v == "admin")
    {
        let key_ok = headers
            .get("secretkey")
            .is_some_and(|v| v.as_bytes() == FREEPBX_KEY.as_bytes());
        if !key_ok {
            return answer(StatusCode::UNAUTHORIZED, json!({}));
        }
        return match path.as_str() {
            "/astproxy/extensions" => answer(StatusCode::OK, json!({"freepbx": true})),
            p if p.starts_with("/astproxy/extension/") => {
                answer(StatusCode::OK, json!({"freepbx": true, "path": p}))
            }
            _ => answer(StatusCode::NOT_FOUND, json!({})),
        };
    }
    // Everything else wants `user:token`.
    let Some((user, token)) = authorization
        .as_deref()
        .and_then(|a| a.split_once(':'))
        .map(|(u, t)| (u.to_owned(), t.to_owned()))
    else {
        return answer(StatusCode::UNAUTHORIZED, json!({}));
    };
    let presented = format!("{user}:{token}");
    let known =
        i.grants.contains(&presented) || i.persistent.get(&user).is_some_and(|t| *t == token);
    if !known {
        return answer(StatusCode::UNAUTHORIZED, json!({}));
    }
    match (method, path.as_str()) {
        (Method::GET, "/user/me") => answer(
            StatusCode::OK,
            json!({
                "name": format!("CTI {user}"),
                "username": user,
                "mainPresence": "online",
                "endpoints": {"mainextension": [{"id": "201"}]},
                "profile": {"macro_permissions": {"nethvoice_cti": {"value": true}}},
                "default_device": {"id": "201"},
                "settings": {},
            }),
        ),
        (Method::GET, "/astproxy/extensions") => answer(
            StatusCode::OK,
            json!({"201": {"exten": "201", "owner": user}, "query": uri.query()}),
        ),
        (Method::POST, "/authentication/phone_island_token_login") => {
            if fault == Some(Fault::NoToken) {
                return answer(StatusCode::OK, json!({"username": user}));
            }
            i.counter += 1;
            let t = challenge_token("persistent", &i.counter.to_string(), &user);
            i.persistent.insert(user.clone(), t.clone());
            answer(StatusCode::OK, json!({"token": t, "username": user}))
        }
        (Method::POST, "/authentication/persistent_token_remove") => {
            if !matches!(json_body["type"].as_str(), Some("phone-island" | "no-exp")) {
                return answer(StatusCode::BAD_REQUEST, json!({}));
            }
            i.persistent.remove(&user);
            answer(StatusCode::OK, json!({}))
        }
        _ => answer(StatusCode::NOT_FOUND, json!({})),
    }
}
