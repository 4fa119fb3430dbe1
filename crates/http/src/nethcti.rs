//! The `nethcti` password backend (API.md §9): the CTI server is the
//! password authority, asked over its REST API (`V1`, e.g.
//! `http://127.0.0.1:8179/webrest`).
//!
//! It lives in the HTTP crate, next to the reverse proxy that forwards to
//! the same server, because it is an HTTP client of it; the core only sees
//! [`PasswordBackend`]. Each check is a fresh challenge (nothing cached,
//! so a password changed on the CTI server counts at once):
//! 1. `POST {V1}/authentication/login` `{"username","password"}`: a 401
//!    with `WWW-Authenticate: Digest <nonce>` means the password is right,
//!    a 401 without it that it is wrong;
//! 2. `GET {V1}/user/me` with `Authorization: user:hex(HMAC-SHA1(password,
//!    "user:password:nonce"))` must answer 200;
//! 3. on a login only, `POST {V1}/authentication/phone_island_token_login`
//!    `{"subtype":"user"}` answers `{"token": T}`: the user's CTI session.
//!
//! Every call is bounded by the timeout (10 s by default). A server that
//! cannot be reached, times out, answers 5xx, HTML instead of JSON or no
//! token is [`BackendError::Unavailable`]: never a wrong password. No
//! password, token or nonce is ever logged.

use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::StatusCode;
use hyper::header::{AUTHORIZATION, CONTENT_TYPE, WWW_AUTHENTICATE};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use otpgate_core::crypto::legacy::legacy_token;
use otpgate_core::password_backend::{
    Accepted, BackendError, BackendProfile, PasswordBackend, Purpose,
};
use otpgate_core::secret::SecretString;
use serde_json::{Value, json};

/// The most of a CTI server's answer that is read (a `/user/me` is a few
/// kilobytes).
const MAX_ANSWER_BYTES: usize = 1 << 20;

/// The default bound of each call to the CTI server.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// The CTI server as password authority.
pub struct NethctiBackend {
    /// `V1` without a trailing slash.
    v1: String,
    timeout: Duration,
    client: Client<HttpsConnector<HttpConnector>, Full<Bytes>>,
}

impl std::fmt::Debug for NethctiBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NethctiBackend")
            .field("v1", &self.v1)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

/// One answer of the CTI server, read in full.
struct Answer {
    status: StatusCode,
    challenge: Option<String>,
    json: Option<Value>,
}

impl NethctiBackend {
    /// A backend asking the CTI server at `v1` (`http[s]://HOST[:PORT][/PATH]`),
    /// each call bounded by `timeout`. Errors are one-line configuration
    /// messages.
    pub fn new(v1: &str, timeout: Duration) -> Result<Self, String> {
        let v1 = v1.trim().trim_end_matches('/').to_owned();
        let uri: hyper::Uri = v1.parse().map_err(|e| format!("nethcti.url {v1:?}: {e}"))?;
        if !matches!(uri.scheme_str(), Some("http" | "https")) || uri.host().is_none() {
            return Err(format!(
                "nethcti.url {v1:?} must be http(s)://HOST[:PORT][/PATH]"
            ));
        }
        if timeout.is_zero() {
            return Err("nethcti.timeout_ms must be greater than 0".into());
        }
        let https = crate::connector::https_or_http(Some(timeout));
        let client = Client::builder(hyper_util::rt::TokioExecutor::new()).build(https);
        Ok(Self {
            v1,
            timeout,
            client,
        })
    }

    /// `POST`s `body` (or `GET`s without one) to `{V1}{path}`, reading the
    /// whole answer within the timeout.
    async fn call(
        &self,
        path: &str,
        authorization: Option<&str>,
        body: Option<&Value>,
    ) -> Result<Answer, BackendError> {
        let mut req = match body {
            Some(_) => hyper::Request::post(format!("{}{path}", self.v1))
                .header(CONTENT_TYPE, "application/json"),
            None => hyper::Request::get(format!("{}{path}", self.v1)),
        };
        req = req.header(hyper::header::ACCEPT, "application/json");
        if let Some(a) = authorization {
            req = req.header(AUTHORIZATION, a);
        }
        let bytes = body.map(|b| Bytes::from(b.to_string())).unwrap_or_default();
        let req = req
            .body(Full::new(bytes))
            .map_err(|_| unavailable(path, "the request could not be built"))?;
        let exchange = async {
            let resp = self
                .client
                .request(req)
                .await
                .map_err(|e| unavailable(path, &format!("unreachable: {}", one_line(&e))))?;
            let status = resp.status();
            let challenge = resp
                .headers()
                .get(WWW_AUTHENTICATE)
                .and_then(|v| v.to_str().ok())
                .and_then(digest_nonce);
            let body = Limited::new(resp.into_body(), MAX_ANSWER_BYTES)
                .collect()
                .await
                .map_err(|_| unavailable(path, "the answer could not be read"))?
                .to_bytes();
            Ok(Answer {
                status,
                challenge,
                json: serde_json::from_slice(&body).ok(),
            })
        };
        match tokio::time::timeout(self.timeout, exchange).await {
            Ok(answer) => answer,
            Err(_) => Err(unavailable(
                path,
                &format!("no answer within {} ms", self.timeout.as_millis()),
            )),
        }
    }
}

/// The nonce of `WWW-Authenticate: Digest <nonce>` (its second
/// space-separated word), if that is what the header holds.
fn digest_nonce(header: &str) -> Option<String> {
    let mut words = header.split_whitespace();
    let scheme = words.next()?;
    let nonce = words.next()?;
    (scheme.eq_ignore_ascii_case("digest") && !nonce.is_empty()).then(|| nonce.to_owned())
}

fn unavailable(path: &str, why: &str) -> BackendError {
    BackendError::Unavailable(format!("CTI server {path}: {why}"))
}

/// An error and its causes on one line.
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

/// An answer that is neither the expected success nor a refusal.
fn bad_answer(path: &str, a: &Answer) -> BackendError {
    if a.status.is_success() && a.json.is_none() {
        unavailable(path, "answered something else than JSON")
    } else {
        unavailable(path, &format!("answered {}", a.status))
    }
}

#[async_trait]
impl PasswordBackend for NethctiBackend {
    fn name(&self) -> &'static str {
        "nethcti"
    }

    async fn check(
        &self,
        username: &str,
        password: &SecretString,
        purpose: Purpose,
    ) -> Result<Accepted, BackendError> {
        const LOGIN: &str = "/authentication/login";
        let login = self
            .call(
                LOGIN,
                None,
                Some(&json!({"username": username, "password": password.expose()})),
            )
            .await?;
        let nonce = match (login.status, login.challenge) {
            (StatusCode::UNAUTHORIZED, Some(nonce)) => nonce,
            (StatusCode::UNAUTHORIZED, None) => return Err(BackendError::WrongPassword),
            (_, _) => {
                return Err(unavailable(
                    LOGIN,
                    &format!("answered {} instead of a challenge", login.status),
                ));
            }
        };
        let grant = SecretString::new(format!(
            "{username}:{}",
            legacy_token(username, password.expose(), &nonce)
        ));
        const ME: &str = "/user/me";
        let me = self.call(ME, Some(grant.expose()), None).await?;
        let profile = match (me.status, &me.json) {
            (StatusCode::OK, Some(body)) => BackendProfile {
                display_name: body.get("name").and_then(Value::as_str).map(str::to_owned),
                ..BackendProfile::default()
            },
            // The challenge was answered, and the credential it gave is
            // refused: the password changed in between; wrong now.
            (StatusCode::UNAUTHORIZED, _) => return Err(BackendError::WrongPassword),
            _ => return Err(bad_answer(ME, &me)),
        };
        if purpose == Purpose::Confirm {
            return Ok(Accepted {
                profile,
                session: None,
            });
        }
        const SESSION: &str = "/authentication/phone_island_token_login";
        let answer = self
            .call(
                SESSION,
                Some(grant.expose()),
                Some(&json!({"subtype": "user"})),
            )
            .await?;
        let token = match (answer.status, &answer.json) {
            (StatusCode::OK, Some(body)) => body
                .get("token")
                .and_then(Value::as_str)
                .filter(|t| !t.is_empty() && !t.chars().any(char::is_control))
                .map(SecretString::from)
                .ok_or_else(|| unavailable(SESSION, "answered without a token"))?,
            _ => return Err(bad_answer(SESSION, &answer)),
        };
        Ok(Accepted {
            profile,
            session: Some(token),
        })
    }

    async fn end_session(&self, username: &str, session: &SecretString) {
        const REMOVE: &str = "/authentication/persistent_token_remove";
        let authorization = SecretString::new(format!("{username}:{}", session.expose()));
        match self
            .call(
                REMOVE,
                Some(authorization.expose()),
                Some(&json!({"type": "phone-island", "subtype": "user"})),
            )
            .await
        {
            Ok(a) if a.status.is_success() => {
                tracing::debug!(user = %username, "CTI session ended");
            }
            Ok(a) => {
                tracing::warn!(user = %username, status = %a.status, "the CTI server did not end the CTI session");
            }
            Err(e) => {
                tracing::warn!(user = %username, error = %e, "the CTI session could not be ended");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_nonce_is_the_second_word_of_a_digest_challenge() {
        assert_eq!(digest_nonce("Digest abc123").as_deref(), Some("abc123"));
        assert_eq!(digest_nonce("digest  abc123 ").as_deref(), Some("abc123"));
        assert_eq!(digest_nonce("Digest"), None);
        assert_eq!(digest_nonce("Basic realm=x"), None);
        assert_eq!(digest_nonce(""), None);
    }

    #[test]
    fn the_url_must_be_http() {
        assert!(NethctiBackend::new("http://127.0.0.1:8179/webrest/", DEFAULT_TIMEOUT).is_ok());
        assert!(NethctiBackend::new("ftp://x/webrest", DEFAULT_TIMEOUT).is_err());
        assert!(NethctiBackend::new("not a url", DEFAULT_TIMEOUT).is_err());
        assert!(NethctiBackend::new("http://x", Duration::ZERO).is_err());
    }
}
