//! The reverse proxy to the application otpgate stands in front of.
//!
//! With `upstream.url` configured, every authenticated request otpgate
//! does not answer itself is forwarded there: method, path, query, body
//! (streamed, within the body limit) and response (streamed). The
//! client's credentials never reach the application: `Authorization` is
//! removed and `X-Otpgate-User: <username>` (plus the configured extra
//! headers) is set instead, after any copy of those headers sent by the
//! client has been removed. Unreachable upstream: 502; no response headers
//! within the timeout: 504; both as JSON.
//!
//! What is forwarded is what the prefix exposes, however it is spelled
//! (API.md §7): a path with a dot segment (`.`, `..`, also percent-encoded)
//! or an encoded `/` or `\` is refused with 400 `invalid_path` before
//! anything is sent ([`check_path`]), and every request header whose name
//! holds an `_` is dropped, as nginx does ([`drop_underscore_headers`]): a
//! WSGI or CGI application reads `X_Otpgate_User` and `X-Otpgate-User` as
//! one variable, so no spelling of an identity header reaches it.

use std::net::IpAddr;
use std::time::Duration;

use axum::body::Body;
use axum::http::header;
use axum::http::request::Parts;
use axum::http::{HeaderMap, Request};
use axum::response::{IntoResponse, Response};
use http_body_util::{LengthLimitError, Limited};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

use crate::error::AppError;

pub use axum::http::Uri;
pub use axum::http::header::{HeaderName, HeaderValue};

/// The header that tells the application who the caller is.
pub const USER_HEADER: &str = "x-otpgate-user";

pub use crate::settings::UpstreamSettings;

/// The proxy's client for one upstream.
#[derive(Debug)]
pub struct Upstream {
    client: Client<HttpConnector, Body>,
    scheme: String,
    authority: String,
    base_path: String,
    timeout: Duration,
    extra: Vec<(HeaderName, HeaderValue)>,
}

/// Hop-by-hop headers (RFC 9110 §7.6.1): they describe one connection,
/// never forwarded.
const HOP_BY_HOP: &[HeaderName] = &[
    header::CONNECTION,
    header::PROXY_AUTHENTICATE,
    header::PROXY_AUTHORIZATION,
    header::TE,
    header::TRAILER,
    header::TRANSFER_ENCODING,
    header::UPGRADE,
];

fn strip_hop_by_hop(headers: &mut HeaderMap) {
    // Headers named in `Connection` are hop-by-hop too.
    let named: Vec<HeaderName> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|n| HeaderName::from_bytes(n.trim().as_bytes()).ok())
        .collect();
    for h in HOP_BY_HOP.iter().chain(named.iter()) {
        headers.remove(h);
    }
    headers.remove("keep-alive");
}

/// Refuses a request path (as sent: still percent-encoded) that could
/// resolve outside what otpgate meant to expose: a `.` or `..` segment,
/// also percent-encoded (`%2e`, `%2E`, mixed), an encoded `/` (`%2f`) or
/// `\` (`%5c`), or a literal `\`. The upstream, or a server behind it,
/// might decode or resolve them; otpgate forwards neither.
pub fn check_path(path: &str) -> Result<(), AppError> {
    let lower = path.to_ascii_lowercase();
    if lower.contains("%2f") || lower.contains("%5c") || lower.contains('\\') {
        return Err(AppError::InvalidPath);
    }
    let dot_segment = lower
        .split('/')
        .map(|seg| seg.replace("%2e", "."))
        .any(|seg| seg == "." || seg == "..");
    if dot_segment {
        return Err(AppError::InvalidPath);
    }
    Ok(())
}

/// Removes every header whose name holds an `_` (header names are
/// lower-case here, so one spelling check covers every case).
fn drop_underscore_headers(headers: &mut HeaderMap) {
    let names: Vec<HeaderName> = headers
        .keys()
        .filter(|n| n.as_str().contains('_'))
        .cloned()
        .collect();
    for n in names {
        headers.remove(n);
    }
}

/// Whether a client error was caused by the request body going over the
/// limit (the body is streamed, so this shows only while sending).
fn is_body_limit(err: &(dyn std::error::Error + 'static)) -> bool {
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = cur {
        if e.is::<LengthLimitError>() {
            return true;
        }
        cur = e.source();
    }
    false
}

impl Upstream {
    /// A client for `settings` (HTTP/1.1 with keep-alive).
    pub fn new(settings: &UpstreamSettings) -> Self {
        let connector = crate::connector::http(Some(settings.timeout));
        let client = Client::builder(TokioExecutor::new()).build(connector);
        let url = &settings.url;
        Self {
            client,
            scheme: url.scheme_str().unwrap_or("http").to_owned(),
            authority: url.authority().map(|a| a.to_string()).unwrap_or_default(),
            base_path: url.path().trim_end_matches('/').to_owned(),
            timeout: settings.timeout,
            extra: settings.headers.clone(),
        }
    }

    fn target(&self, uri: &Uri) -> Result<Uri, AppError> {
        let pq = uri.path_and_query().map_or("/", |pq| pq.as_str());
        format!(
            "{}://{}{}{}",
            self.scheme, self.authority, self.base_path, pq
        )
        .parse()
        .map_err(|_| AppError::BadBody("the request path cannot be forwarded".into()))
    }

    /// Forwards a request of the authenticated `username` and streams the
    /// answer back. `body_limit` caps the streamed request body.
    pub async fn forward(
        &self,
        parts: Parts,
        body: Body,
        username: &str,
        client_ip: Option<IpAddr>,
        body_limit: usize,
    ) -> Response {
        self.send(parts, body, Caller::User(username), client_ip, body_limit)
            .await
            .unwrap_or_else(IntoResponse::into_response)
    }

    /// Sends a request (its URI already the one to forward) on behalf of
    /// `caller` and returns the upstream's answer, streamed, or why there
    /// is none: [`AppError::InvalidPath`], [`AppError::BadGateway`]
    /// (unreachable), [`AppError::GatewayTimeout`],
    /// [`AppError::PayloadTooLarge`].
    pub async fn send(
        &self,
        mut parts: Parts,
        body: Body,
        caller: Caller<'_>,
        client_ip: Option<IpAddr>,
        body_limit: usize,
    ) -> Result<Response, AppError> {
        check_path(parts.uri.path())?;
        let uri = self.target(&parts.uri)?;
        let h = &mut parts.headers;
        strip_hop_by_hop(h);
        drop_underscore_headers(h);
        h.remove(header::AUTHORIZATION);
        h.remove(header::HOST);
        h.remove(USER_HEADER);
        if !matches!(caller, Caller::User(_)) {
            h.remove(CTI_ADMIN_HEADER);
        }
        for (name, _) in &self.extra {
            h.remove(name);
        }
        match caller {
            Caller::User(username) => {
                let user = HeaderValue::from_str(username).map_err(|_| AppError::BadGateway)?;
                h.insert(HeaderName::from_static(USER_HEADER), user);
            }
            Caller::Authorization(value) => {
                h.insert(header::AUTHORIZATION, value);
            }
            Caller::FreepbxAdmin => {
                h.insert(
                    HeaderName::from_static(CTI_ADMIN_HEADER),
                    HeaderValue::from_static("admin"),
                );
            }
            Caller::Anonymous => {}
        }
        for (name, value) in &self.extra {
            h.insert(name.clone(), value.clone());
        }
        if let Some(ip) = client_ip {
            let forwarded = match h.get("x-forwarded-for").and_then(|v| v.to_str().ok()) {
                Some(prev) => format!("{prev}, {ip}"),
                None => ip.to_string(),
            };
            if let Ok(v) = HeaderValue::from_str(&forwarded) {
                h.insert("x-forwarded-for", v);
            }
        }
        parts.uri = uri;
        parts.version = axum::http::Version::HTTP_11;
        let req = Request::from_parts(parts, Body::new(Limited::new(body, body_limit)));
        match tokio::time::timeout(self.timeout, self.client.request(req)).await {
            Err(_) => {
                tracing::warn!(target: "otpgate::proxy", "upstream did not answer in time");
                Err(AppError::GatewayTimeout)
            }
            Ok(Err(e)) if is_body_limit(&e) => Err(AppError::PayloadTooLarge(body_limit)),
            Ok(Err(e)) => {
                tracing::warn!(target: "otpgate::proxy", error = %e, "upstream unreachable");
                Err(AppError::BadGateway)
            }
            Ok(Ok(resp)) => {
                let (mut parts, incoming) = resp.into_parts();
                strip_hop_by_hop(&mut parts.headers);
                Ok(Response::from_parts(parts, Body::new(incoming)))
            }
        }
    }
}

/// The header by which the CTI server learns that a FreePBX call comes
/// from its administrator (it checks `Secretkey` itself).
pub const CTI_ADMIN_HEADER: &str = "authorization-user";

/// Who a forwarded request is sent as. Whatever the client sent in
/// `Authorization` or `X-Otpgate-User` is removed first, and, to the CTI
/// server (every variant but `User`), in `Authorization-User`; then:
#[derive(Debug)]
pub enum Caller<'a> {
    /// `X-Otpgate-User: <username>` (the generic reverse proxy).
    User(&'a str),
    /// `Authorization: <value>` (the CTI server's `user:T`).
    Authorization(HeaderValue),
    /// `Authorization-User: admin` (the CTI server's FreePBX calls).
    FreepbxAdmin,
    /// Nothing (the CTI server's static files).
    Anonymous,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn upstream(url: &str) -> Upstream {
        Upstream::new(&UpstreamSettings {
            url: url.parse().expect("uri"),
            timeout: Duration::from_secs(1),
            headers: Vec::new(),
        })
    }

    #[tokio::test]
    async fn targets_keep_path_and_query_under_the_base() {
        let u = upstream("http://127.0.0.1:9000/app/");
        let t = u
            .target(&"/api/x/y?a=1&b=%20".parse().expect("uri"))
            .expect("target");
        assert_eq!(t.to_string(), "http://127.0.0.1:9000/app/api/x/y?a=1&b=%20");
        let u = upstream("http://127.0.0.1:9000");
        let t = u.target(&"/api/x".parse().expect("uri")).expect("target");
        assert_eq!(t.to_string(), "http://127.0.0.1:9000/api/x");
    }

    #[test]
    fn dot_segments_and_encoded_separators_are_refused() {
        for bad in [
            "/api/../internal/admin",
            "/api/./x",
            "/api/x/..",
            "/api/x/.",
            "/api/%2e%2e/internal/admin",
            "/api/%2E%2E/internal/admin",
            "/api/.%2E/internal/admin",
            "/api/%2e./internal/admin",
            "/api/%2e/x",
            "/api/..%2finternal/admin",
            "/api/..%2Finternal/admin",
            "/api/x%2fy",
            "/api/x%5cy",
            "/api/x%5Cy",
            "/api/x\\y",
        ] {
            assert!(check_path(bad).is_err(), "{bad}");
        }
        for good in [
            "/api/x/y",
            "/api/x.y",
            "/api/...",
            "/api/.well-known/x",
            "/api/x..y",
            "/api/%2e%2e%2e",
            "/api/a%20b",
            "/api/",
            "/webrest/user/me",
        ] {
            assert!(check_path(good).is_ok(), "{good}");
        }
    }

    #[test]
    fn headers_with_an_underscore_are_dropped() {
        let mut h = HeaderMap::new();
        h.insert("x_otpgate_user", HeaderValue::from_static("alice"));
        h.insert("x-otpgate_user", HeaderValue::from_static("alice"));
        h.insert("_", HeaderValue::from_static("1"));
        h.insert("x-kept", HeaderValue::from_static("1"));
        drop_underscore_headers(&mut h);
        assert_eq!(h.len(), 1);
        assert!(h.contains_key("x-kept"));
    }

    #[test]
    fn hop_by_hop_headers_and_the_ones_connection_names_are_removed() {
        let mut h = HeaderMap::new();
        h.insert(
            header::CONNECTION,
            HeaderValue::from_static("keep-alive, x-secret"),
        );
        h.insert("x-secret", HeaderValue::from_static("1"));
        h.insert("keep-alive", HeaderValue::from_static("timeout=5"));
        h.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
        h.insert("x-kept", HeaderValue::from_static("1"));
        strip_hop_by_hop(&mut h);
        assert_eq!(h.len(), 1);
        assert!(h.contains_key("x-kept"));
    }
}
