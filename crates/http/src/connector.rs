//! The TCP connectors of otpgate's HTTP clients (the reverse proxy to the
//! protected application, the NethCTI password backend).
//!
//! Every upstream socket gets `TCP_NODELAY`: a request head and its body
//! may leave in two writes, and with Nagle's algorithm the second waits
//! for the upstream's delayed ACK of the first (40 ms on Linux) before it
//! is sent. The connectors are built here, in one place, so that no client
//! is left with hyper's default (Nagle on).

use std::time::Duration;

use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::HttpConnector;

/// A plain-HTTP connector with `TCP_NODELAY` and the given bound on
/// connecting.
pub fn http(connect_timeout: Option<Duration>) -> HttpConnector {
    let mut c = HttpConnector::new();
    c.set_nodelay(true);
    c.set_connect_timeout(connect_timeout);
    c
}

/// An `http` or `https` connector (HTTP/1.1) over [`http`]: the system's
/// trusted certificates (a server behind a private CA installed there
/// keeps working), else the Mozilla roots.
pub fn https_or_http(connect_timeout: Option<Duration>) -> HttpsConnector<HttpConnector> {
    let mut tcp = http(connect_timeout);
    tcp.enforce_http(false);
    match hyper_rustls::HttpsConnectorBuilder::new().with_native_roots() {
        Ok(b) => b,
        Err(_) => hyper_rustls::HttpsConnectorBuilder::new().with_webpki_roots(),
    }
    .https_or_http()
    .enable_http1()
    .wrap_connector(tcp)
}

#[cfg(test)]
mod tests {
    use super::*;
    use hyper_util::client::legacy::connect::Connection;
    use tower::Service;

    async fn listener() -> (tokio::net::TcpListener, hyper::Uri) {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let uri = format!("http://{}/", l.local_addr().unwrap())
            .parse()
            .unwrap();
        (l, uri)
    }

    #[tokio::test]
    async fn plain_upstream_sockets_have_nodelay() {
        let (_l, uri) = listener().await;
        let io = http(None).call(uri).await.unwrap();
        assert!(io.inner().nodelay().unwrap());
        assert!(!io.connected().is_proxied());
    }

    #[tokio::test]
    async fn https_or_http_upstream_sockets_have_nodelay() {
        let (_l, uri) = listener().await;
        match https_or_http(None).call(uri).await.unwrap() {
            hyper_rustls::MaybeHttpsStream::Http(io) => assert!(io.inner().nodelay().unwrap()),
            hyper_rustls::MaybeHttpsStream::Https(_) => panic!("an http:// URL opened TLS"),
        }
    }
}
