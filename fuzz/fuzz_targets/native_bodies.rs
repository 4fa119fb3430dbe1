//! Fuzzes the body decoding of every native endpoint (JSON and form, with
//! arbitrary content types): errors, never panics.
#![no_main]

use axum::http::{HeaderMap, HeaderValue, header::CONTENT_TYPE};
use libfuzzer_sys::fuzz_target;
use otpgate_http::extract::{body_kind, decode_body};
use otpgate_http::routes::native::{DisableBody, LoginBody, PasswordBody, VerifyBody};

fuzz_target!(|data: &[u8]| {
    // First byte chooses a content type, the rest is the body.
    let (ct, body) = match data.split_first() {
        Some((b, rest)) => (*b, rest),
        None => return,
    };
    let mut headers = HeaderMap::new();
    let value = match ct % 6 {
        0 => None,
        1 => Some("application/json"),
        2 => Some("application/x-www-form-urlencoded"),
        3 => Some("application/vnd.api+json; charset=utf-8"),
        4 => Some("text/plain"),
        _ => Some("multipart/form-data; boundary=x"),
    };
    if let Some(v) = value {
        headers.insert(CONTENT_TYPE, HeaderValue::from_static(v));
    }
    let Ok(kind) = body_kind(&headers) else { return };
    let _ = decode_body::<LoginBody>(kind, body);
    let _ = decode_body::<VerifyBody>(kind, body);
    let _ = decode_body::<PasswordBody>(kind, body);
    let _ = decode_body::<DisableBody>(kind, body);
    let _ = decode_body::<serde_json::Value>(kind, body);
});
