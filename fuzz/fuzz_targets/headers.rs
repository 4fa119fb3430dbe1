//! Fuzzes the header parsers that see attacker input: the bearer token of
//! `Authorization`, `X-Forwarded-For` behind a trusted proxy, and
//! trusted-proxy network specs.
#![no_main]

use axum::http::{HeaderMap, HeaderValue};
use libfuzzer_sys::fuzz_target;
use otpgate_http::client_ip::{IpNet, TrustedProxies};
use otpgate_http::extract::bearer_token;

fuzz_target!(|data: &[u8]| {
    let mut headers = HeaderMap::new();
    if let Ok(v) = HeaderValue::from_bytes(data) {
        headers.insert("authorization", v.clone());
        headers.insert("x-forwarded-for", v);
    }
    if let Ok(token) = bearer_token(&headers) {
        assert!(!token.contains(' ') || token.trim() == token);
    }
    let trusted = TrustedProxies(vec![IpNet::parse("127.0.0.1").unwrap_or_else(|_| unreachable!())]);
    let ip = trusted.client_ip("127.0.0.1".parse().unwrap_or_else(|_| unreachable!()), &headers);
    assert!(!trusted.trusts(ip) || ip.is_loopback());
    let _ = IpNet::parse(&String::from_utf8_lossy(data));
});
