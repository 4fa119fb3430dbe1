//! The Single Connect-style API (API.md §6a, seed 002): otpstatus then
//! otpvalid, form bodies, the application's API key; `true`/`false` as
//! text, an empty 200 for a valid code, a Tomcat-style 403 page otherwise.

use axum::http::StatusCode;

use crate::clients::{SC_STATUS, SC_VALID};
use crate::race::count_where;
use crate::support::{Resp, TestApp, capture_logs, log_text, other_code};

const APP: &str = "batuhanbilgindeneme";

fn assert_page(r: &Resp, status: StatusCode) {
    assert_eq!(r.status, status, "{}", String::from_utf8_lossy(&r.bytes));
    assert_eq!(r.headers["content-type"], "text/html;charset=utf-8");
    let page = String::from_utf8_lossy(&r.bytes);
    assert!(
        page.contains(&format!("<h1>HTTP Status {} – ", status.as_u16())),
        "{page}"
    );
}

fn text(r: &Resp) -> String {
    String::from_utf8_lossy(&r.bytes).into_owned()
}

/// otpstatus exactly as the seed's curl sends it (plus the key).
async fn status(app: &TestApp, key: &str, user: &str) -> Resp {
    app.post_raw(
        SC_STATUS,
        &[
            ("content-type", "application/x-www-form-urlencoded"),
            (
                "cookie",
                "NETRIGHT_SESSIONID=8f118fa5-1d0a-433e-97b3-56dfec482b22; XSRF-TOKEN=314cf821ce6395572ecd5ce8858bad3a",
            ),
            ("x-api-key", key),
        ],
        format!("username={user}&enduserip=1.2.3.4&applicationname={APP}").as_bytes(),
    )
    .await
}

/// An app with alice (e-mail only, no TOTP) and the seed's application;
/// returns the app and the application's key.
async fn alice_by_email() -> (TestApp, String) {
    let app = TestApp::new().await;
    app.add_contact_user(
        "alice",
        "pw-secret-9",
        Some("alice@example.org"),
        None,
        None,
    )
    .await;
    let key = app.app_key(APP).await;
    (app, key)
}

#[tokio::test]
async fn the_seed_flow_with_a_totp_user() {
    let app = TestApp::new().await;
    let (_, secret) = app.user_with_2fa("batuhan.test", "pw-secret-9").await;
    let key = app.app_key(APP).await;
    let r = status(&app, &key, "batuhan.test").await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.headers["content-type"], "text/plain;charset=utf-8");
    assert_eq!(text(&r), "true");
    assert!(
        app.outbox("batuhan.test").await.is_empty(),
        "TOTP users get no code sent"
    );
    let r = app
        .sc_valid(&key, "batuhan.test", &app.code(&secret, 0), APP)
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", text(&r));
    assert!(r.bytes.is_empty(), "valid: empty body");
    // The same TOTP is a replay, even after a new otpstatus.
    assert_eq!(text(&status(&app, &key, "batuhan.test").await), "true");
    let r = app
        .sc_valid(&key, "batuhan.test", &app.code(&secret, 0), APP)
        .await;
    assert_page(&r, StatusCode::FORBIDDEN);
    // A recovery code works as with the native API.
    let pre = app.login("batuhan.test", "pw-secret-9").await;
    app.clock.advance_secs(30);
    let t = app
        .verify(&pre, "batuhan.test", &app.code(&secret, 0))
        .await
        .body["data"]["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let codes = app
        .post(
            "/api/2fa/recovery-codes",
            Some(&t),
            serde_json::json!({"password": "pw-secret-9"}),
        )
        .await
        .body["codes"]
        .clone();
    let r = app
        .sc_valid(&key, "batuhan.test", codes[0].as_str().unwrap(), APP)
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", text(&r));
}

#[tokio::test]
async fn a_user_without_totp_gets_a_code_by_email_or_sms() {
    let app = TestApp::new().await;
    app.add_contact_user("mail", "pw-secret-9", Some("mail@example.org"), None, None)
        .await;
    app.add_contact_user("phone", "pw-secret-9", None, Some("+3912345"), None)
        .await;
    app.add_contact_user("nothing", "pw-secret-9", None, None, None)
        .await;
    let key = app.app_key(APP).await;
    for (user, channel, to) in [
        ("mail", "email", "mail@example.org"),
        ("phone", "sms", "+3912345"),
    ] {
        assert_eq!(text(&status(&app, &key, user).await), "true");
        let out = app.outbox(user).await;
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].channel.as_str(), channel);
        assert_eq!(out[0].to, to);
        let code = out[0].code.expose().to_owned();
        assert_eq!(code.len(), 6);
        let r = app.sc_valid(&key, user, &code, APP).await;
        assert_eq!(r.status, StatusCode::OK, "{user}: {}", text(&r));
        // Single use: the same code again (after a new otpstatus) fails.
        assert_eq!(text(&status(&app, &key, user).await), "true");
        assert_page(
            &app.sc_valid(&key, user, &code, APP).await,
            StatusCode::FORBIDDEN,
        );
    }
    assert_eq!(text(&status(&app, &key, "nothing").await), "false");
    assert_eq!(text(&status(&app, &key, "nobody").await), "false");
    assert_page(
        &app.sc_valid(&key, "nothing", "123456", APP).await,
        StatusCode::FORBIDDEN,
    );
}

#[tokio::test]
async fn wrong_expired_and_exhausted_codes_are_403() {
    let (app, key) = alice_by_email().await;
    status(&app, &key, "alice").await;
    let code = app.last_code("alice").await;
    assert_page(
        &app.sc_valid(&key, "alice", &other_code(&code), APP).await,
        StatusCode::FORBIDDEN,
    );
    for malformed in ["", "12345", "1234567", "abcdef"] {
        assert_page(
            &app.sc_valid(&key, "alice", malformed, APP).await,
            StatusCode::FORBIDDEN,
        );
    }
    // Lock (5 failures) over: still 5 attempts used, so the code is dead.
    app.clock.advance_secs(31);
    assert_page(
        &app.sc_valid(&key, "alice", &code, APP).await,
        StatusCode::FORBIDDEN,
    );

    // A fresh code, then the clock moves past its 10 minutes (and the
    // status's 5): refused.
    status(&app, &key, "alice").await;
    let code = app.last_code("alice").await;
    app.clock.advance_secs(601);
    assert_page(
        &app.sc_valid(&key, "alice", &code, APP).await,
        StatusCode::FORBIDDEN,
    );
    assert!(
        app.outbox("alice").await.is_empty(),
        "expired messages are gone"
    );
}

#[tokio::test]
async fn otpvalid_needs_a_recent_otpstatus_for_that_user_and_application() {
    let app = TestApp::new().await;
    let (_, secret) = app.user_with_2fa("alice", "pw-secret-9").await;
    let key = app.app_key(APP).await;
    let other = app.app_key("other-app").await;
    let r = app
        .sc_valid(&key, "alice", &app.code(&secret, 0), APP)
        .await;
    assert_page(&r, StatusCode::FORBIDDEN);
    // Asked by another application: does not count for this one.
    let r = app
        .sc_status(&other, "alice", Some("1.2.3.4"), "other-app")
        .await;
    assert_eq!(text(&r), "true");
    assert_page(
        &app.sc_valid(&key, "alice", &app.code(&secret, 0), APP)
            .await,
        StatusCode::FORBIDDEN,
    );
    // Older than 5 minutes: refused.
    status(&app, &key, "alice").await;
    app.clock.advance_secs(301);
    assert_page(
        &app.sc_valid(&key, "alice", &app.code(&secret, 0), APP)
            .await,
        StatusCode::FORBIDDEN,
    );
    status(&app, &key, "alice").await;
    let r = app
        .sc_valid(&key, "alice", &app.code(&secret, 0), APP)
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", text(&r));
    // Used up by the success.
    app.clock.advance_secs(30);
    assert_page(
        &app.sc_valid(&key, "alice", &app.code(&secret, 0), APP)
            .await,
        StatusCode::FORBIDDEN,
    );
}

#[tokio::test]
async fn the_application_name_must_be_the_key_s() {
    let app = TestApp::new().await;
    let (_, secret) = app.user_with_2fa("alice", "pw-secret-9").await;
    let key = app.app_key(APP).await;
    app.app_key("other-app").await;
    for name in ["other-app", "unknown-app", ""] {
        let r = app.sc_status(&key, "alice", Some("1.2.3.4"), name).await;
        assert_page(&r, StatusCode::FORBIDDEN);
    }
    // Case does not matter (names are case-insensitive).
    let r = app
        .sc_status(&key, "Alice", Some("1.2.3.4"), "BatuhanBilginDeneme")
        .await;
    assert_eq!(text(&r), "true");
    let r = app
        .sc_valid(&key, "alice", &app.code(&secret, 0), "other-app")
        .await;
    assert_page(&r, StatusCode::FORBIDDEN);
    let r = app
        .post_form(
            SC_VALID,
            None,
            &[
                ("username", "alice"),
                ("token", &app.code(&secret, 0)),
                ("applicationname", APP),
            ],
        )
        .await;
    assert_page(&r, StatusCode::UNAUTHORIZED);
}

/// What, headers, body, expected status.
type Case<'a> = (&'a str, Vec<(&'a str, &'a str)>, Vec<u8>, StatusCode);

#[tokio::test]
async fn bad_input_gets_an_html_page_never_a_500() {
    let (app, key) = alice_by_email().await;
    let form = ("content-type", "application/x-www-form-urlencoded");
    let k = ("x-api-key", key.as_str());
    let big = format!("username={}&applicationname={APP}", "a".repeat(64 * 1024));
    let cases: Vec<Case> = vec![
        (
            "missing username",
            vec![form, k],
            format!("applicationname={APP}").into_bytes(),
            StatusCode::BAD_REQUEST,
        ),
        (
            "missing applicationname",
            vec![form, k],
            b"username=alice".to_vec(),
            StatusCode::BAD_REQUEST,
        ),
        (
            "empty body",
            vec![form, k],
            Vec::new(),
            StatusCode::BAD_REQUEST,
        ),
        (
            "json body",
            vec![("content-type", "application/json"), k],
            br#"{"username":"alice"}"#.to_vec(),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
        ),
        (
            "xml",
            vec![("content-type", "text/xml"), k],
            b"<a/>".to_vec(),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
        ),
        (
            "json without content type",
            vec![k],
            br#"{"username":"alice"}"#.to_vec(),
            StatusCode::BAD_REQUEST,
        ),
        (
            "bad utf-8",
            vec![form, k],
            b"username=\xff\xfe&applicationname=x".to_vec(),
            StatusCode::BAD_REQUEST,
        ),
        (
            "oversized",
            vec![form, k],
            big.into_bytes(),
            StatusCode::PAYLOAD_TOO_LARGE,
        ),
    ];
    for (what, headers, body, want) in cases {
        for path in [SC_STATUS, SC_VALID] {
            let r = app.post_raw(path, &headers, &body).await;
            assert_eq!(r.status, want, "{what} {path}: {}", text(&r));
            assert_page(&r, want);
        }
    }
    let r = app
        .send(
            axum::http::Request::builder()
                .method("GET")
                .uri(SC_STATUS)
                .body(axum::body::Body::empty())
                .unwrap(),
        )
        .await;
    assert_page(&r, StatusCode::METHOD_NOT_ALLOWED);
    // A very long username is simply nobody.
    let long = "a".repeat(300);
    assert_eq!(text(&status(&app, &key, &long).await), "false");
}

#[tokio::test]
async fn the_lockout_is_shared_with_the_native_api() {
    let app = TestApp::new().await;
    let (_, secret) = app.user_with_2fa("alice", "pw-secret-9").await;
    let key = app.app_key(APP).await;
    let pre = app.login("alice", "pw-secret-9").await;
    let good = app.code(&secret, 0);
    // Failures on the native API lock otpvalid...
    for _ in 0..5 {
        assert_eq!(
            app.verify(&pre, "alice", &other_code(&good)).await.status,
            StatusCode::BAD_REQUEST
        );
    }
    status(&app, &key, "alice").await;
    let r = app.sc_valid(&key, "alice", &good, APP).await;
    assert_page(&r, StatusCode::TOO_MANY_REQUESTS);
    assert!(r.headers.contains_key("retry-after"));
    // ...and failures on otpvalid lock the native API.
    app.clock.advance_secs(31);
    let good = app.code(&secret, 0);
    let pre = app.login("alice", "pw-secret-9").await;
    assert_eq!(
        app.verify(&pre, "alice", &good).await.status,
        StatusCode::OK
    );
    app.clock.advance_secs(30);
    status(&app, &key, "alice").await;
    for _ in 0..5 {
        assert_page(
            &app.sc_valid(&key, "alice", &other_code(&app.code(&secret, 0)), APP)
                .await,
            StatusCode::FORBIDDEN,
        );
    }
    let pre = app.login("alice", "pw-secret-9").await;
    let r = app.verify(&pre, "alice", &app.code(&secret, 0)).await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS, "{:?}", r.body);
}

#[tokio::test]
async fn sending_is_rate_limited_per_user_and_a_failed_send_is_visible() {
    let (app, key) = alice_by_email().await;
    for _ in 0..5 {
        assert_eq!(text(&status(&app, &key, "alice").await), "true");
    }
    let r = status(&app, &key, "alice").await;
    assert_page(&r, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(app.outbox("alice").await.len(), 5, "no sixth code");
    app.clock.advance_secs(601);
    assert_eq!(text(&status(&app, &key, "alice").await), "true");

    let down = TestApp::with_failing_notifier().await;
    down.add_contact_user(
        "alice",
        "pw-secret-9",
        Some("alice@example.org"),
        None,
        None,
    )
    .await;
    let key = down.app_key(APP).await;
    let r = status(&down, &key, "alice").await;
    assert_page(&r, StatusCode::BAD_GATEWAY);
    // No code was kept: nothing to guess, and otpvalid has no status.
    assert_page(
        &down.sc_valid(&key, "alice", "123456", APP).await,
        StatusCode::FORBIDDEN,
    );
}

#[tokio::test]
async fn the_auth_log_line_carries_the_end_user_ip() {
    let app = TestApp::new().await;
    let (_, secret) = app.user_with_2fa("alice", "pw-secret-9").await;
    let key = app.app_key(APP).await;
    let (logs, _guard) = capture_logs();
    status(&app, &key, "alice").await;
    app.sc_valid(&key, "alice", &app.code(&secret, 0), APP)
        .await;
    let text = log_text(&logs);
    assert!(
        text.contains(&format!(
            "otpgate auth event=otp_status user=alice ip=127.0.0.1 app={APP} enduserip=1.2.3.4"
        )),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "otpgate auth event=otp_valid user=alice ip=127.0.0.1 app={APP} enduserip=1.2.3.4"
        )),
        "{text}"
    );
    assert!(
        !text.contains(&app.code(&secret, 0)),
        "never the code: {text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_code_is_accepted_once_under_concurrency() {
    let (app, key) = alice_by_email().await;
    status(&app, &key, "alice").await;
    let code = app.last_code("alice").await;
    let body = format!("username=alice&token={code}&applicationname={APP}");
    let statuses = app
        .concurrent_posts(
            20,
            SC_VALID,
            &[
                ("content-type", "application/x-www-form-urlencoded"),
                ("x-api-key", &key),
            ],
            body.as_bytes(),
        )
        .await;
    let ok = count_where(&statuses, |s| *s == StatusCode::OK);
    assert_eq!(ok, 1, "{statuses:?}");
}
