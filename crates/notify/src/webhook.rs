//! SMS (or any channel) delivery of codes through an HTTP webhook.
//!
//! Each code is one `POST` of a JSON body to the configured URL:
//! `{"channel":"sms","to":"+3912345678","user":"alice","code":"042917",
//! "text":"Your otpgate verification code is 042917. ...",
//! "expires_at":"2026-11-22T10:10:00Z"}`, with an optional
//! `Authorization: Bearer <token>`. A 2xx answer is delivery; a network
//! error, a timeout or a 5xx (or 429) is retried up to `retries` times with
//! a short growing pause; any other answer fails at once. The last failure
//! is returned to the caller.
//!
//! The HTTP client is hyper's, with rustls on `ring` and the system's
//! trusted certificates (else the Mozilla roots): no redirect is followed,
//! and the timeout covers connecting and the answer's head.

use std::time::Duration;

use http_body_util::Full;
use hyper::body::Bytes;
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;

use async_trait::async_trait;
use otpgate_core::notify::{Notifier, NotifyError, OobMessage};
use otpgate_core::secret::SecretString;
use serde_json::json;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// Settings of the webhook notifier.
#[derive(Debug, Clone)]
pub struct WebhookSettings {
    /// `http://` or `https://` URL to post to.
    pub url: String,
    /// Timeout of each attempt.
    pub timeout: Duration,
    /// Further attempts after a retryable failure.
    pub retries: u32,
    /// Sent as `Authorization: Bearer <token>` if set.
    pub bearer_token: Option<SecretString>,
}

/// Posts codes to a webhook.
pub struct WebhookNotifier {
    client: Client<HttpsConnector<HttpConnector>, Full<Bytes>>,
    settings: WebhookSettings,
}

impl std::fmt::Debug for WebhookNotifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookNotifier")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

/// The TCP connector under TLS: `TCP_NODELAY`, so that a request body
/// written after its head is not held back by Nagle's algorithm until the
/// webhook's delayed ACK (40 ms on Linux).
fn tcp_connector() -> HttpConnector {
    let mut c = HttpConnector::new();
    c.set_nodelay(true);
    c.enforce_http(false);
    c
}

/// Pause before retry `n` (1-based): 100 ms, 200 ms, 400 ms, ... up to 2 s.
/// Transport-level pacing, not a security rule, so it uses the runtime's
/// timer rather than the core's clock.
fn pause(n: u32) -> Duration {
    Duration::from_millis(100u64.saturating_mul(1 << n.saturating_sub(1).min(5)))
        .min(Duration::from_secs(2))
}

fn rfc3339(unix: i64) -> String {
    OffsetDateTime::from_unix_timestamp(unix)
        .ok()
        .and_then(|t| t.format(&Rfc3339).ok())
        .unwrap_or_default()
}

impl WebhookNotifier {
    /// Builds the notifier; errors are one-line configuration messages.
    pub fn new(settings: WebhookSettings) -> Result<Self, String> {
        let _: hyper::Uri = settings
            .url
            .parse()
            .map_err(|e| format!("notifier.webhook.url: {e}"))?;
        // The system's trusted certificates (a gateway behind a private CA
        // installed there keeps working), else the Mozilla roots.
        let https = match hyper_rustls::HttpsConnectorBuilder::new().with_native_roots() {
            Ok(b) => b,
            Err(_) => hyper_rustls::HttpsConnectorBuilder::new().with_webpki_roots(),
        }
        .https_or_http()
        .enable_http1()
        .wrap_connector(tcp_connector());
        let client = Client::builder(hyper_util::rt::TokioExecutor::new()).build(https);
        Ok(Self { client, settings })
    }

    /// One attempt: `Ok` on 2xx, else whether to retry and why.
    async fn attempt(&self, body: &[u8]) -> Result<(), (bool, String)> {
        let mut req = hyper::Request::post(self.settings.url.as_str())
            .header(hyper::header::CONTENT_TYPE, "application/json");
        if let Some(t) = &self.settings.bearer_token {
            req = req.header(
                hyper::header::AUTHORIZATION,
                format!("Bearer {}", t.expose()),
            );
        }
        let req = req
            .body(Full::new(Bytes::copy_from_slice(body)))
            .map_err(|e| (false, format!("webhook request: {e}")))?;
        match tokio::time::timeout(self.settings.timeout, self.client.request(req)).await {
            Err(_) => Err((true, "webhook timed out".into())),
            Ok(Err(e)) => Err((true, format!("webhook unreachable: {}", one_line(&e)))),
            Ok(Ok(resp)) if resp.status().is_success() => Ok(()),
            Ok(Ok(resp)) => {
                let status = resp.status();
                let retry = status.is_server_error() || status.as_u16() == 429;
                Err((retry, format!("webhook answered {status}")))
            }
        }
    }
}

/// An error and its causes on one line, without the URL's query.
fn one_line(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[async_trait]
impl Notifier for WebhookNotifier {
    fn kind(&self) -> &'static str {
        "webhook"
    }

    async fn send(&self, m: &OobMessage) -> Result<(), NotifyError> {
        let body = json!({
            "channel": m.channel.as_str(),
            "to": m.to,
            "user": m.username,
            "code": m.code.expose(),
            "text": m.text(),
            "expires_at": rfc3339(m.expires_at),
        })
        .to_string()
        .into_bytes();
        let mut tries = 0;
        loop {
            match self.attempt(&body).await {
                Ok(()) => return Ok(()),
                Err((retry, why)) => {
                    if !retry || tries >= self.settings.retries {
                        return Err(NotifyError(format!(
                            "{why} (after {} attempt{})",
                            tries + 1,
                            if tries == 0 { "" } else { "s" }
                        )));
                    }
                    tries += 1;
                    tracing::debug!(attempt = tries, reason = %why, "retrying the webhook");
                    tokio::time::sleep(pause(tries)).await;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU32, Ordering};

    use axum::Router;
    use axum::http::{HeaderMap, StatusCode};
    use axum::routing::post;
    use otpgate_core::model::Channel;

    use super::*;

    fn message() -> OobMessage {
        OobMessage {
            user_id: otpgate_core::model::UserId::new(1),
            username: "alice".into(),
            channel: Channel::Sms,
            to: "+3912345".into(),
            code: SecretString::new("042917"),
            issuer: "otpgate".into(),
            created_at: 1_800_000_000,
            expires_at: 1_800_000_600,
        }
    }

    /// A gateway that fails the first `fail_first` calls with `status`.
    async fn gateway(
        fail_first: u32,
        status: StatusCode,
    ) -> (
        String,
        Arc<AtomicU32>,
        Arc<std::sync::Mutex<Vec<(HeaderMap, String)>>>,
    ) {
        let calls = Arc::new(AtomicU32::new(0));
        let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
        let (c, s) = (calls.clone(), seen.clone());
        let app = Router::new().route(
            "/sms",
            post(move |headers: HeaderMap, body: String| {
                let (c, s) = (c.clone(), s.clone());
                async move {
                    let n = c.fetch_add(1, Ordering::SeqCst);
                    s.lock().map(|mut v| v.push((headers, body))).ok();
                    if n < fail_first {
                        status
                    } else {
                        StatusCode::OK
                    }
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(async move { axum::serve(listener, app).await });
        (format!("http://{addr}/sms"), calls, seen)
    }

    fn notifier(url: String, retries: u32) -> WebhookNotifier {
        WebhookNotifier::new(WebhookSettings {
            url,
            timeout: Duration::from_secs(5),
            retries,
            bearer_token: Some(SecretString::new("gw-secret")),
        })
        .expect("notifier")
    }

    #[tokio::test]
    async fn webhook_sockets_have_nodelay() {
        use tower::Service;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let uri: hyper::Uri = format!("http://{}/", listener.local_addr().expect("addr"))
            .parse()
            .expect("uri");
        let io = tcp_connector().call(uri).await.expect("connect");
        assert!(io.inner().nodelay().expect("getsockopt"));
    }

    #[tokio::test]
    async fn posts_the_json_body_with_the_bearer_token() {
        let (url, calls, seen) = gateway(0, StatusCode::OK).await;
        notifier(url, 2).send(&message()).await.expect("delivered");
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        let seen = seen.lock().expect("lock");
        let (headers, body) = &seen[0];
        assert_eq!(headers["authorization"], "Bearer gw-secret");
        assert_eq!(headers["content-type"], "application/json");
        let v: serde_json::Value = serde_json::from_str(body).expect("json");
        assert_eq!(v["channel"], "sms");
        assert_eq!(v["to"], "+3912345");
        assert_eq!(v["user"], "alice");
        assert_eq!(v["code"], "042917");
        assert!(v["text"].as_str().expect("text").contains("042917"));
        assert_eq!(v["expires_at"], "2027-01-15T08:10:00Z");
    }

    #[tokio::test]
    async fn server_errors_are_retried_then_reported() {
        let (url, calls, _) = gateway(2, StatusCode::BAD_GATEWAY).await;
        notifier(url, 2).send(&message()).await.expect("third try");
        assert_eq!(calls.load(Ordering::SeqCst), 3);

        let (url, calls, _) = gateway(10, StatusCode::SERVICE_UNAVAILABLE).await;
        let err = notifier(url, 1)
            .send(&message())
            .await
            .expect_err("gives up");
        assert_eq!(calls.load(Ordering::SeqCst), 2);
        assert!(err.0.contains("503"), "{err}");
        assert!(!err.0.contains("042917"), "never the code: {err}");
    }

    #[tokio::test]
    async fn client_errors_are_not_retried() {
        let (url, calls, _) = gateway(10, StatusCode::BAD_REQUEST).await;
        let err = notifier(url, 3)
            .send(&message())
            .await
            .expect_err("refused");
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        assert!(err.0.contains("400"), "{err}");
    }

    #[tokio::test]
    async fn a_slow_gateway_times_out_and_an_absent_one_is_unreachable() {
        let app = Router::new().route(
            "/sms",
            post(|| async {
                tokio::time::sleep(Duration::from_secs(5)).await;
                StatusCode::OK
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(async move { axum::serve(listener, app).await });
        let slow = WebhookNotifier::new(WebhookSettings {
            url: format!("http://{addr}/sms"),
            timeout: Duration::from_millis(200),
            retries: 0,
            bearer_token: None,
        })
        .expect("notifier");
        let err = slow.send(&message()).await.expect_err("timeout");
        assert!(err.0.contains("timed out"), "{err}");

        let gone = notifier("http://127.0.0.1:1/sms".into(), 0);
        let err = gone.send(&message()).await.expect_err("unreachable");
        assert!(err.0.contains("unreachable"), "{err}");
    }

    #[test]
    fn pauses_grow_and_are_capped() {
        assert_eq!(pause(1), Duration::from_millis(100));
        assert_eq!(pause(2), Duration::from_millis(200));
        assert_eq!(pause(30), Duration::from_secs(2));
    }
}
