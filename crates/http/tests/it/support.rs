//! A test app: router + store + manual clock, and request helpers.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::connect_info::MockConnectInfo;
use axum::http::{HeaderMap, Method, Request, StatusCode};
use data_encoding::{BASE32_NOPAD, BASE64URL_NOPAD};
use http_body_util::BodyExt;
use otpgate_core::config::{Argon2Cost, Policy};
use otpgate_core::crypto::totp::{code_at_step, step_of};
use otpgate_core::keys::KeyFiles;
use otpgate_core::model::OutboxMessage;
use otpgate_core::notify::{Notifier, Notifiers, NotifyError, OobMessage};
use otpgate_core::password_backend::PasswordBackend;
use otpgate_core::secret::SecretString;
use otpgate_core::service::admin::UserSpec;
use otpgate_core::{AuthService, Clock, ManualClock};
use otpgate_http::client_ip::{IpNet, TrustedProxies};
use otpgate_http::proxy::UpstreamSettings;
use otpgate_http::{AppState, HttpSettings, router};
use otpgate_store::{SqliteOptions, SqliteStore};
use serde_json::Value;
use tower::ServiceExt;

use crate::race::race;

/// 2026-11-22T00:00:00Z, in the middle of a TOTP step.
pub const T0: i64 = 1_795_305_615;

#[derive(Clone)]
pub struct TestApp {
    pub router: Router,
    pub clock: Arc<ManualClock>,
    pub svc: Arc<AuthService>,
    /// The store the service runs on (tests read and seed it directly).
    pub store: Arc<dyn otpgate_core::Store>,
    pub dir: Arc<tempfile::TempDir>,
    pub settings: HttpSettings,
    pub policy: Policy,
}

pub struct Resp {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Value,
    pub bytes: Vec<u8>,
}

pub fn cheap_policy() -> Policy {
    Policy {
        argon2: Argon2Cost {
            memory_kib: 1024,
            iterations: 1,
            parallelism: 1,
        },
        ..Policy::default()
    }
}

/// Settings for tests: no global rate limit, 127.0.0.1 trusted so tests
/// can choose client IPs with X-Forwarded-For.
pub fn test_settings() -> HttpSettings {
    HttpSettings {
        rate_limit_average: 0,
        trusted_proxies: TrustedProxies(vec![IpNet::parse("127.0.0.1").unwrap()]),
        ..HttpSettings::default()
    }
}

/// [`test_settings`] forwarding to a plain HTTP upstream at `up` (5 s
/// timeout, no extra headers).
pub fn settings_with_upstream(up: std::net::SocketAddr) -> HttpSettings {
    HttpSettings {
        upstream: Some(UpstreamSettings {
            url: format!("http://{up}").parse().unwrap(),
            timeout: Duration::from_secs(5),
            headers: Vec::new(),
        }),
        ..test_settings()
    }
}

impl TestApp {
    pub async fn new() -> Self {
        Self::with(test_settings()).await
    }

    pub async fn with(settings: HttpSettings) -> Self {
        Self::with_policy(settings, cheap_policy()).await
    }

    pub async fn with_policy(settings: HttpSettings, policy: Policy) -> Self {
        let dir = Arc::new(tempfile::tempdir().unwrap());
        let clock = Arc::new(ManualClock::at_secs(T0));
        Self::open(dir, clock, settings, policy, None).await
    }

    /// A new app on the same data directory and clock (a restart).
    pub async fn restart(&self) -> Self {
        Self::open(
            self.dir.clone(),
            self.clock.clone(),
            self.settings.clone(),
            self.policy.clone(),
            None,
        )
        .await
    }

    async fn open(
        dir: Arc<tempfile::TempDir>,
        clock: Arc<ManualClock>,
        settings: HttpSettings,
        policy: Policy,
        hook: Option<ServiceHook>,
    ) -> Self {
        let db: PathBuf = dir.path().join("otpgate.db");
        let store: Arc<dyn otpgate_core::Store> = Arc::new(
            SqliteStore::open(db.to_str().unwrap(), &SqliteOptions::default())
                .await
                .unwrap(),
        );
        let (keys, _) = KeyFiles::load_or_create(dir.path()).unwrap();
        let mut svc =
            AuthService::new(store.clone(), clock.clone(), policy.clone(), &keys).unwrap();
        if let Some(hook) = hook {
            svc = hook(svc, store.clone());
        }
        let svc = Arc::new(svc);
        let router = router(AppState::new(svc.clone(), settings.clone()))
            .layer(MockConnectInfo(SocketAddr::from(([127, 0, 0, 1], 40000))));
        Self {
            router,
            clock,
            svc,
            store,
            dir,
            settings,
            policy,
        }
    }

    /// Serves the router on a loopback port (for Socket.IO clients), with
    /// the binary's accept loop.
    pub async fn serve(&self) -> SocketAddr {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let app = self.router.clone();
        tokio::spawn(otpgate_http::server::serve(
            listener,
            app,
            self.settings.connections,
            1024,
            Arc::new(otpgate_http::metrics::HttpMetrics::default()),
            std::future::pending(),
        ));
        addr
    }

    /// The service of another process sharing this store (the CLI, or a
    /// second instance): its revocations do not signal this app's sockets.
    pub async fn other_process(&self) -> Arc<AuthService> {
        let db: PathBuf = self.dir.path().join("otpgate.db");
        let store = SqliteStore::open(db.to_str().unwrap(), &SqliteOptions::default())
            .await
            .unwrap();
        let (keys, _) = KeyFiles::load_or_create(self.dir.path()).unwrap();
        Arc::new(
            AuthService::new(
                Arc::new(store),
                self.clock.clone(),
                self.policy.clone(),
                &keys,
            )
            .unwrap(),
        )
    }

    pub async fn send(&self, req: Request<Body>) -> Resp {
        let resp = self.router.clone().oneshot(req).await.unwrap();
        let status = resp.status();
        let headers = resp.headers().clone();
        let bytes = resp
            .into_body()
            .collect()
            .await
            .unwrap()
            .to_bytes()
            .to_vec();
        let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        Resp {
            status,
            headers,
            body,
            bytes,
        }
    }

    pub async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Resp {
        let mut b = Request::builder().method(method).uri(path);
        if let Some(t) = token {
            b = b.header("authorization", format!("Bearer {t}"));
        }
        let req = match body {
            Some(v) => b
                .header("content-type", "application/json")
                .body(Body::from(v.to_string()))
                .unwrap(),
            None => b.body(Body::empty()).unwrap(),
        };
        self.send(req).await
    }

    pub async fn get(&self, path: &str, token: &str) -> Resp {
        self.call(Method::GET, path, Some(token), None).await
    }

    pub async fn post(&self, path: &str, token: Option<&str>, body: Value) -> Resp {
        self.call(Method::POST, path, token, Some(body)).await
    }

    pub async fn add_user(&self, name: &str, password: &str) {
        self.svc
            .create_user(UserSpec {
                username: name.into(),
                password: Some(SecretString::new(password)),
                email: Some(format!("{name}@example.org")),
                ..UserSpec::default()
            })
            .await
            .unwrap();
    }

    pub async fn login(&self, name: &str, password: &str) -> String {
        let r = self
            .post(
                "/api/login",
                None,
                serde_json::json!({"username": name, "password": password}),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "login {name}: {:?}", r.body);
        r.body["token"].as_str().unwrap().to_owned()
    }

    /// Gets the pending secret via qr-code and returns its bytes.
    pub async fn pending_secret(&self, token: &str) -> Vec<u8> {
        let r = self.get("/api/2fa/qr-code", token).await;
        assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
        BASE32_NOPAD
            .decode(r.body["data"]["key"].as_str().unwrap().as_bytes())
            .unwrap()
    }

    /// The TOTP code `offset` steps from now.
    pub fn code(&self, secret: &[u8], offset: i64) -> String {
        code_at_step(secret, step_of(self.clock.now_secs()) + offset, 6)
    }

    pub async fn verify(&self, token: &str, user: &str, otp: &str) -> Resp {
        self.post(
            "/api/2fa/verify-otp",
            Some(token),
            serde_json::json!({"username": user, "otp": otp}),
        )
        .await
    }

    /// A user `name` with 2FA enabled; returns (verified token, secret).
    pub async fn user_with_2fa(&self, name: &str, password: &str) -> (String, Vec<u8>) {
        self.add_user(name, password).await;
        self.enrol(name, password).await
    }

    /// Turns 2FA on for the existing user `name` (login, qr-code, the
    /// current code), then moves the clock one step on; returns (verified
    /// token, secret).
    pub async fn enrol(&self, name: &str, password: &str) -> (String, Vec<u8>) {
        let t = self.login(name, password).await;
        let secret = self.pending_secret(&t).await;
        let r = self.verify(&t, name, &self.code(&secret, 0)).await;
        assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
        // Move to the next step so the enrolment code is not a replay.
        self.clock.advance_secs(30);
        (r.body["data"]["token"].as_str().unwrap().to_owned(), secret)
    }
}

/// The claims of a JWT, decoded without verification.
pub fn claims(token: &str) -> Value {
    let payload = token.split('.').nth(1).unwrap();
    serde_json::from_slice(&BASE64URL_NOPAD.decode(payload.as_bytes()).unwrap()).unwrap()
}

/// Asserts the JSON error envelope of API.md.
pub fn assert_error(r: &Resp, status: StatusCode, message: &str) {
    assert_eq!(r.status, status, "body: {:?}", r.body);
    assert_eq!(
        r.body["code"],
        status.as_u16(),
        "code equals status: {:?}",
        r.body
    );
    assert_eq!(r.body["message"], message, "{:?}", r.body);
    assert!(r.body["error"].is_string(), "{:?}", r.body);
}

// --- Applications, dialects and out-of-band codes. ---

/// Builds the notifiers of a test app from its store.
pub type NotifierFactory = Box<dyn FnOnce(Arc<dyn otpgate_core::Store>) -> Notifiers + Send>;

/// Finishes a test app's service (notifiers, a password backend) once
/// its store is open.
pub type ServiceHook =
    Box<dyn FnOnce(AuthService, Arc<dyn otpgate_core::Store>) -> AuthService + Send>;

/// A notifier that always fails (a gateway that is down).
pub struct FailingNotifier;

#[async_trait::async_trait]
impl Notifier for FailingNotifier {
    fn kind(&self) -> &'static str {
        "failing"
    }

    async fn send(&self, _: &OobMessage) -> Result<(), NotifyError> {
        Err(NotifyError("gateway down".into()))
    }
}

impl TestApp {
    /// An app whose notifiers `make` builds.
    pub async fn with_notifiers(make: NotifierFactory) -> Self {
        let dir = Arc::new(tempfile::tempdir().unwrap());
        let clock = Arc::new(ManualClock::at_secs(T0));
        let hook: ServiceHook = Box::new(move |svc, store| svc.with_notifiers(make(store)));
        Self::open(dir, clock, test_settings(), cheap_policy(), Some(hook)).await
    }

    /// An app whose passwords `backend` checks (the nethcti backend).
    pub async fn with_password_backend(
        settings: HttpSettings,
        policy: Policy,
        backend: Arc<dyn PasswordBackend>,
    ) -> Self {
        let dir = Arc::new(tempfile::tempdir().unwrap());
        let clock = Arc::new(ManualClock::at_secs(T0));
        let hook: ServiceHook = Box::new(move |svc, _| svc.with_password_backend(backend));
        Self::open(dir, clock, settings, policy, Some(hook)).await
    }

    /// An app whose notifiers all fail.
    pub async fn with_failing_notifier() -> Self {
        Self::with_notifiers(Box::new(|_| {
            let n: Arc<dyn Notifier> = Arc::new(FailingNotifier);
            Notifiers {
                email: n.clone(),
                sms: n,
            }
        }))
        .await
    }

    /// Registers an application; returns its API key.
    pub async fn app_key(&self, name: &str) -> String {
        let (_, key) = self.svc.create_application(name).await.unwrap();
        key.expose().to_owned()
    }

    /// A user with the given contact details (no 2FA).
    pub async fn add_contact_user(
        &self,
        name: &str,
        password: &str,
        email: Option<&str>,
        phone: Option<&str>,
        external_id: Option<&str>,
    ) {
        self.svc
            .create_user(UserSpec {
                username: name.into(),
                password: Some(SecretString::new(password)),
                email: email.map(str::to_owned),
                phone: phone.map(str::to_owned),
                external_id: external_id.map(str::to_owned),
                ..UserSpec::default()
            })
            .await
            .unwrap();
    }

    /// POSTs a raw body with these headers.
    pub async fn post_raw(&self, path: &str, headers: &[(&str, &str)], body: &[u8]) -> Resp {
        let mut b = Request::builder().method(Method::POST).uri(path);
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        self.send(b.body(Body::from(body.to_vec())).unwrap()).await
    }

    /// POSTs form fields (as curl --data-urlencode does) with an API key.
    pub async fn post_form(&self, path: &str, key: Option<&str>, fields: &[(&str, &str)]) -> Resp {
        let body = serde_urlencoded::to_string(fields).unwrap();
        let mut headers = vec![("content-type", "application/x-www-form-urlencoded")];
        if let Some(k) = key {
            headers.push(("x-api-key", k));
        }
        self.post_raw(path, &headers, body.as_bytes()).await
    }

    /// POSTs JSON with an optional API key.
    pub async fn post_json(&self, path: &str, key: Option<&str>, body: &Value) -> Resp {
        let mut headers = vec![("content-type", "application/json")];
        if let Some(k) = key {
            headers.push(("x-api-key", k));
        }
        self.post_raw(path, &headers, body.to_string().as_bytes())
            .await
    }

    /// The outbox messages of `user` (oldest first).
    pub async fn outbox(&self, user: &str) -> Vec<OutboxMessage> {
        self.svc.outbox(Some(user)).await.unwrap()
    }

    /// The code of the newest outbox message of `user`.
    pub async fn last_code(&self, user: &str) -> String {
        self.outbox(user)
            .await
            .last()
            .map(|m| m.code.expose().to_owned())
            .expect("a message in the outbox")
    }
}

/// A code other than `code` (same shape).
pub fn other_code(code: &str) -> String {
    let n: u32 = code.parse().unwrap();
    format!("{:06}", (n + 1) % 1_000_000)
}

/// Log lines written while the returned guard lives (this thread only;
/// tokio tests run on one thread).
pub fn capture_logs() -> (Arc<Mutex<Vec<u8>>>, tracing::subscriber::DefaultGuard) {
    #[derive(Clone)]
    struct Sink(Arc<Mutex<Vec<u8>>>);
    impl std::io::Write for Sink {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let buf = Arc::new(Mutex::new(Vec::new()));
    let sink = Sink(buf.clone());
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || sink.clone())
        .with_ansi(false)
        .with_max_level(tracing::Level::INFO)
        .finish();
    let guard = tracing::subscriber::set_default(subscriber);
    // Another test thread registering a callsite while this scoped
    // subscriber was being installed can leave that callsite's cached
    // interest at "never" (tracing-core's cache is global), and its lines
    // would go missing here: recompute every callsite's interest now.
    tracing::callsite::rebuild_interest_cache();
    (buf, guard)
}

/// The captured log text.
pub fn log_text(buf: &Arc<Mutex<Vec<u8>>>) -> String {
    String::from_utf8_lossy(&buf.lock().unwrap()).into_owned()
}

impl TestApp {
    /// Sends `n` copies of a JSON or form POST at once ([`race`]); returns
    /// their statuses.
    pub async fn concurrent_posts(
        &self,
        n: usize,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Vec<StatusCode> {
        race(n, |_| {
            let mut b = Request::builder().method(Method::POST).uri(path);
            for (k, v) in headers {
                b = b.header(*k, *v);
            }
            let req = b.body(Body::from(body.to_vec())).unwrap();
            let app = self.clone();
            async move { app.send(req).await.status }
        })
        .await
    }
}

impl TestApp {
    /// Sends `n` copies of [`TestApp::post`] at once ([`race`]); returns
    /// their statuses.
    pub async fn race_post(
        &self,
        n: usize,
        path: &str,
        token: Option<&str>,
        body: Value,
    ) -> Vec<StatusCode> {
        race(n, |_| {
            let (app, path, body) = (self.clone(), path.to_owned(), body.clone());
            let token = token.map(str::to_owned);
            async move { app.post(&path, token.as_deref(), body).await.status }
        })
        .await
    }
}
