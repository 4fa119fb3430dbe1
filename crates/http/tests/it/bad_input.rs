//! Bad input never gets a 500 or a stack trace: malformed JSON, wrong
//! types, oversized bodies, bad UTF-8, odd unicode, wrong content types,
//! wrong methods and unknown routes all get the JSON error envelope.

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};

use crate::support::{Resp, TestApp};

fn assert_json_4xx(r: &Resp, what: &str) {
    assert!(
        r.status.is_client_error(),
        "{what}: {} {:?}",
        r.status,
        r.body
    );
    assert_eq!(r.body["code"], r.status.as_u16(), "{what}: {:?}", r.body);
    assert!(r.body["message"].is_string(), "{what}");
}

async fn raw(
    app: &TestApp,
    method: Method,
    path: &str,
    token: Option<&str>,
    ct: Option<&str>,
    body: Vec<u8>,
) -> Resp {
    let mut b = Request::builder().method(method).uri(path);
    if let Some(t) = token {
        b = b.header("authorization", format!("Bearer {t}"));
    }
    if let Some(ct) = ct {
        b = b.header("content-type", ct);
    }
    app.send(b.body(Body::from(body)).unwrap()).await
}

/// What, path, token, content type, body.
type Case<'a> = (&'a str, &'a str, Option<&'a str>, Option<&'a str>, Vec<u8>);

#[tokio::test]
async fn the_bad_input_matrix_gets_json_4xx() {
    let app = TestApp::new().await;
    let (token, _) = app.user_with_2fa("alice", "pw-secret-9").await;
    let pre = app.login("alice", "pw-secret-9").await;
    let big = vec![b'a'; 64 * 1024];
    let mut big_json = b"{\"username\":\"".to_vec();
    big_json.extend(vec![b'a'; 64 * 1024]);
    big_json.extend(b"\",\"password\":\"x\"}");
    let cases: Vec<Case> = vec![
        (
            "malformed json",
            "/api/login",
            None,
            None,
            b"{\"username\":".to_vec(),
        ),
        (
            "not an object",
            "/api/login",
            None,
            None,
            b"[1,2,3]".to_vec(),
        ),
        (
            "wrong types",
            "/api/login",
            None,
            None,
            br#"{"username":1,"password":true}"#.to_vec(),
        ),
        (
            "null fields",
            "/api/login",
            None,
            None,
            br#"{"username":null,"password":null}"#.to_vec(),
        ),
        (
            "bad utf-8",
            "/api/login",
            None,
            None,
            b"{\"username\":\"\xff\xfe\",\"password\":\"x\"}".to_vec(),
        ),
        ("empty body", "/api/login", None, None, Vec::new()),
        ("64 KiB body", "/api/login", None, None, big_json.clone()),
        (
            "64 KiB garbage",
            "/api/2fa/verify-otp",
            Some(pre.as_str()),
            None,
            big.clone(),
        ),
        (
            "text/plain",
            "/api/login",
            None,
            Some("text/plain"),
            br#"{"username":"a","password":"b"}"#.to_vec(),
        ),
        (
            "xml",
            "/api/2fa/verify-otp",
            Some(pre.as_str()),
            Some("application/xml"),
            b"<otp/>".to_vec(),
        ),
        (
            "otp as object",
            "/api/2fa/verify-otp",
            Some(pre.as_str()),
            None,
            br#"{"username":"alice","otp":{}}"#.to_vec(),
        ),
        (
            "otp negative",
            "/api/2fa/verify-otp",
            Some(pre.as_str()),
            None,
            br#"{"username":"alice","otp":-1}"#.to_vec(),
        ),
        (
            "otp float",
            "/api/2fa/verify-otp",
            Some(pre.as_str()),
            None,
            br#"{"username":"alice","otp":1.5}"#.to_vec(),
        ),
        (
            "missing otp",
            "/api/2fa/verify-otp",
            Some(pre.as_str()),
            None,
            br#"{"username":"alice"}"#.to_vec(),
        ),
        (
            "bad form",
            "/api/login",
            None,
            Some("application/x-www-form-urlencoded"),
            b"%%%".to_vec(),
        ),
        (
            "password as array",
            "/api/2fa/recovery-codes",
            Some(token.as_str()),
            None,
            br#"{"password":["pw"]}"#.to_vec(),
        ),
        (
            "disable garbage",
            "/api/2fa/disable",
            Some(token.as_str()),
            None,
            b"\x00\x01".to_vec(),
        ),
    ];
    for (what, path, tok, ct, body) in cases {
        let r = raw(&app, Method::POST, path, tok, ct, body).await;
        assert_json_4xx(&r, what);
    }
    let r = raw(&app, Method::POST, "/api/login", None, None, big_json).await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE);
    let r = raw(
        &app,
        Method::POST,
        "/api/login",
        None,
        Some("text/plain"),
        b"x".to_vec(),
    )
    .await;
    assert_eq!(r.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
}

#[tokio::test]
async fn oversized_bodies_are_413_whether_declared_or_not() {
    let app = TestApp::new().await;
    let body = vec![b' '; 40 * 1024];
    // Declared: refused before reading.
    let declared = Request::builder()
        .method(Method::POST)
        .uri("/api/login")
        .header("content-length", body.len().to_string())
        .body(Body::from(body.clone()))
        .unwrap();
    let r = app.send(declared).await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE, "{:?}", r.body);
    assert_eq!(r.body["code"], 413);
    // Undeclared (chunked): refused while reading.
    let undeclared = Request::builder()
        .method(Method::POST)
        .uri("/api/login")
        .body(Body::from(body))
        .unwrap();
    let r = app.send(undeclared).await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE, "{:?}", r.body);
    assert_eq!(r.body["message"], "payload_too_large");
}

#[tokio::test]
async fn odd_unicode_usernames_are_refused_cleanly() {
    let app = TestApp::new().await;
    for name in [
        "\u{202e}alice",
        "a\u{0000}b",
        "ａｌｉｃｅ",
        "💥",
        &"é".repeat(500),
    ] {
        let r = app.try_login(name, "x").await;
        assert_json_4xx(&r, name);
    }
}

#[tokio::test]
async fn wrong_methods_and_unknown_routes_are_json() {
    let app = TestApp::new().await;
    for (m, path, status) in [
        (Method::GET, "/api/login", StatusCode::METHOD_NOT_ALLOWED),
        (
            Method::DELETE,
            "/api/2fa/verify-otp",
            StatusCode::METHOD_NOT_ALLOWED,
        ),
        (Method::POST, "/api/user/me", StatusCode::METHOD_NOT_ALLOWED),
        (Method::GET, "/api/nope", StatusCode::NOT_FOUND),
        (Method::GET, "/", StatusCode::NOT_FOUND),
        (Method::GET, "/api/login/", StatusCode::NOT_FOUND),
    ] {
        let r = app.call(m.clone(), path, None, None).await;
        assert_eq!(r.status, status, "{m} {path}");
        assert_json_4xx(&r, path);
    }
}
