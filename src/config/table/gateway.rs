//! Rows of the settings table: Socket.IO, connections, the reverse proxy
//! and relay, and the legacy dialect's sunset.

use otpgate_http::DEFAULT_LEGACY_DOCS_URL;
use otpgate_http::rfc3339;
use std::collections::BTreeMap;

use crate::config::forms;
use crate::config::section::section;
use crate::config::show;
use crate::config::value::{Bounds, Form};
use crate::redact::redact_url;

section! {
    /// The settings of `[ws]`.
    pub struct RawWs = "ws." {
        login_timeout_ms: u64 = [10_000] {
            env: "OTPGATE_WS_LOGIN_TIMEOUT_MS",
            check: Bounds::positive(),
            default_doc: "`10000`",
            doc: "Socket.IO clients that have not logged in by then are disconnected",
            show: |c| show::ms(c.http.ws.login_timeout),
        }
        poll_interval_ms: u64 = [300] {
            env: "OTPGATE_WS_POLL_INTERVAL_MS",
            check: Bounds::between(10, 1000).note(" (revoked sockets are closed within about one interval)"),
            default_doc: "`300`",
            doc: "how often logged-in sockets are checked against the store (10-1000)",
            show: |c| show::ms(c.http.ws.poll_interval),
        }
    }
    children {  }
}

section! {
    /// The settings of `[connections]`.
    pub struct RawConnections = "connections." {
        header_timeout_ms: u64 = [10_000] {
            env: "OTPGATE_CONNECTIONS_HEADER_TIMEOUT_MS",
            check: Bounds::at_least(100),
            default_doc: "`10000`",
            doc: "a connection that has not sent a whole request head this long after it opened (or after the first byte of its next request) is closed, unanswered (at least 100)",
            show: |c| show::ms(c.http.connections.header_timeout),
        }
        idle_timeout_ms: u64 = [60_000] {
            env: "OTPGATE_CONNECTIONS_IDLE_TIMEOUT_MS",
            check: Bounds::at_least(100),
            default_doc: "`60000`",
            doc: "a keep-alive connection with no new request this long after its last answer is closed",
            show: |c| show::ms(c.http.connections.idle_timeout),
        }
        body_timeout_ms: u64 = [30_000] {
            env: "OTPGATE_CONNECTIONS_BODY_TIMEOUT_MS",
            check: Bounds::at_least(100),
            default_doc: "`30000`",
            doc: "a request body (proxied uploads included) not received this long after its head gets 400 and its connection is closed",
            show: |c| show::ms(c.http.connections.body_timeout),
        }
        max: usize = [] {
            env: "OTPGATE_CONNECTIONS_MAX",
            check: Bounds::at_least(1).note(" (omit it to derive it from the file-descriptor limit)"),
            default_doc: "from the descriptor limit",
            doc: "concurrent connections (upgraded WebSockets included). Default: the `RLIMIT_NOFILE` limit less a reserve of max(128, a tenth), halved with `upstream.ws_url`; at start otpgate raises its soft limit to the hard one and refuses to start if a configured `max` does not fit. At the cap the oldest connection still owing a request is closed to make room; if none, the new one gets 503 and is closed",
            show: |c| {
                c.http.connections.max_connections.map_or_else(
                    || "(from the file-descriptor limit at start)".to_owned(),
                    |m| m.to_string(),
                )
            },
        }
        max_per_address: usize = [256] {
            env: "OTPGATE_CONNECTIONS_MAX_PER_ADDRESS",
            default_doc: "`256`",
            doc: "concurrent connections from one peer address (IPv4, or IPv6 /64); past it 503 and closed at once; `0`: no cap. Behind a reverse proxy every connection comes from the proxy: raise it to the proxy's connection count (or `0`)",
            show: |c| match c.http.connections.max_per_address {
                0 => "0 (no cap)".to_owned(),
                n => n.to_string(),
            },
        }
    }
    children {  }
}

section! {
    /// The settings of `[upstream]`.
    pub struct RawUpstream = "upstream." {
        url: String = [] {
            env: "OTPGATE_UPSTREAM_URL",
            default_doc: "none",
            doc: "the application to forward authenticated requests to (`http://HOST:PORT[/BASE]`)",
            show: |c| {
                c.http.upstream.as_ref().map_or_else(
                    || "(none: no reverse proxy)".to_owned(),
                    |u| redact_url(&u.url.to_string()),
                )
            },
        }
        ws_url: String = [] {
            env: "OTPGATE_UPSTREAM_WS_URL",
            default_doc: "none",
            doc: "the application's Socket.IO server (`ws://` or `wss://HOST:PORT/PATH/`, Engine.IO v4) whose events, acknowledgements and binary attachments are relayed both ways for logged-in sockets",
            show: |c| {
                c.http
                    .upstream_ws
                    .as_ref()
                    .map_or_else(|| "(none)".to_owned(), |w| redact_url(&w.url))
            },
        }
        timeout_ms: u64 = [30_000] {
            env: "OTPGATE_UPSTREAM_TIMEOUT_MS",
            check: Bounds::positive(),
            default_doc: "`30000`",
            doc: "wait for the upstream's response headers; then 504 (also caps the relay's 10 s connect timeout)",
            show: |c| {
                c.http
                    .upstream
                    .as_ref()
                    .map_or_else(|| "(not used)".to_owned(), |u| show::ms(u.timeout))
            },
        }
        headers: BTreeMap<String, String> = [] {
            env: "OTPGATE_UPSTREAM_HEADERS",
            default_doc: "none",
            doc: "extra headers on every forwarded request and relay upgrade",
            show: |c| {
                c.http
                    .upstream
                    .as_ref()
                    .map_or_else(|| "(none)".to_owned(), |u| show::headers(&u.headers))
            },
        }
    }
    children {  }
}

section! {
    /// The settings of `[legacy]`.
    pub struct RawLegacy = "legacy." {
        enabled: bool = [] {
            env: "OTPGATE_LEGACY_ENABLED",
            default_doc: "unset",
            doc: "`true`: legacy login on whatever the date; `false`: off; unset: on until the sunset",
            show: |c| match c.policy.legacy.enabled {
                Some(true) => "true (whatever the date)".to_owned(),
                Some(false) => "false".to_owned(),
                None => format!("(unset: on until {})", rfc3339(c.policy.legacy.sunset)),
            },
        }
        sunset: String = ["2026-06-01".into()] {
            env: "OTPGATE_LEGACY_SUNSET",
            default_doc: "`2026-06-01`",
            doc: "from then on legacy routes answer 410 (date, midnight UTC, or RFC 3339)",
            show: |c| rfc3339(c.policy.legacy.sunset),
        }
        deprecated_since: String = ["2025-06-01".into()] {
            env: "OTPGATE_LEGACY_DEPRECATED_SINCE",
            default_doc: "`2025-06-01`",
            doc: "sent as `Deprecation: @<unix seconds>`",
            show: |c| rfc3339(c.policy.legacy.deprecated_since),
        }
        docs_url: String = [DEFAULT_LEGACY_DOCS_URL.into()] {
            env: "OTPGATE_LEGACY_DOCS_URL",
            check: Form(forms::docs_url),
            default_doc: "`/docs/legacy-migration`",
            doc: "target of `Link: <...>; rel=\"deprecation\"`",
            show: |c| c.http.legacy_docs_url.clone(),
        }
    }
    children {  }
}
