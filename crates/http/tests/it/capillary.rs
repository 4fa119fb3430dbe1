//! The Capillary-style MFA API (API.md §6b, seed 004): token/generate
//! (password -> session), otp/generate (code out of band), otp/validate
//! (code -> 15-minute token); the envelope for every answer; sessions
//! single use, 15 minutes, bound to the device; the native lockout.

use axum::http::StatusCode;
use serde_json::{Value, json};

use crate::clients::{CAP_OTP, CAP_TOKEN, CAP_VALIDATE, cap_who, with};
use crate::race::count_where;
use crate::support::{Resp, TestApp, other_code};

/// The seed's user: found by MOBILE 18767431754, brand "Bukl".
async fn seed_app() -> TestApp {
    let app = TestApp::new().await;
    app.add_contact_user(
        "maria",
        "S3cret-pw-9",
        Some("maria@example.org"),
        Some("+1 876 743 1754"),
        Some("CRM-7"),
    )
    .await;
    app.app_key("Bukl").await;
    app
}

fn who(kind: &str, value: &str, device: &str) -> Value {
    cap_who(kind, value, device, "Bukl")
}

fn assert_envelope(r: &Resp, status: StatusCode, message: &str) {
    assert_eq!(r.status, status, "{:?}", r.body);
    assert_eq!(r.body["status"]["code"], status.as_u16(), "{:?}", r.body);
    assert_eq!(
        r.body["status"]["success"],
        status.is_success(),
        "{:?}",
        r.body
    );
    assert_eq!(r.body["status"]["message"], message, "{:?}", r.body);
    assert!(
        r.body.get("auth").is_some() && r.body.get("user").is_some(),
        "{:?}",
        r.body
    );
}

/// token/generate for MOBILE on `device`; returns the session id.
async fn session(app: &TestApp, device: &str) -> String {
    let r = app
        .cap_token(&who("MOBILE", "18767431754", device), "S3cret-pw-9")
        .await;
    assert_envelope(&r, StatusCode::OK, "SUCCESS");
    r.body["user"]["sessionId"].as_str().unwrap().to_owned()
}

async fn generate(app: &TestApp, device: &str, sid: &str) -> Resp {
    app.cap_otp(&who("MOBILE", "18767431754", device), sid)
        .await
}

async fn validate(app: &TestApp, device: &str, sid: &str, otp: Value) -> Resp {
    app.cap_validate(&who("MOBILE", "18767431754", device), sid, otp)
        .await
}

/// The code as the seed sends it: a JSON number.
fn number(code: &str) -> Value {
    json!(code.parse::<u64>().unwrap())
}

#[tokio::test]
async fn the_seed_flow_ends_with_a_15_minute_token() {
    let app = seed_app().await;
    let sid = session(&app, "1234").await;
    assert!(sid.starts_with("P-") && sid.len() == 38, "{sid}");
    let r = generate(&app, "1234", &sid).await;
    assert_envelope(&r, StatusCode::OK, "SUCCESS");
    assert_eq!(r.body["user"]["sessionId"], sid);
    let out = app.outbox("maria").await;
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].channel.as_str(), "sms", "MOBILE -> SMS");
    assert_eq!(out[0].to, "+1 876 743 1754");
    let code = out[0].code.expose().to_owned();

    // Exactly the seed's request, with the code as a JSON number.
    let r = app
        .post_raw(
            CAP_VALIDATE,
            &[("content-type", "application/json")],
            format!(
                "{{\n\"identifierType\":\"MOBILE\",\n\"identifierValue\":\"18767431754\",\n\
                 \"deviceId\": \"1234\",\n\"brand\": \"Bukl\",\n\"sessionId\": \"{sid}\",\n\
                 \"otp\": {}\n}}",
                code.parse::<u64>().unwrap()
            )
            .as_bytes(),
        )
        .await;
    assert_envelope(&r, StatusCode::OK, "SUCCESS");
    assert_eq!(r.body["user"]["sessionId"], Value::Null);
    assert_eq!(r.body["user"]["role"], "user");
    assert_eq!(r.body["user"]["appRegistered"], false);
    assert_eq!(r.body["user"]["userRegisteredForPassword"], true);
    let token = r.body["auth"]["token"].as_str().unwrap().to_owned();
    let claims = crate::support::claims(&token);
    assert_eq!(claims["sub"], "maria");
    assert_eq!(claims["otp_verified"], true);
    assert_eq!(
        claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(),
        900
    );
    assert_eq!(r.body["auth"]["key"], claims["jti"], "key: the token's id");

    // The token is the application's (API.md §6b): `aud` = the brand, and
    // the native API refuses it (tests/it/audience.rs has the rest)...
    assert_eq!(claims["aud"], "bukl", "the application's name");
    let me = app.me(&token).await;
    crate::support::assert_error(&me, StatusCode::FORBIDDEN, "token_audience_mismatch");
    // ...and it lives 15 minutes.
    app.clock.advance_secs(901);
    assert_eq!(app.me(&token).await.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn the_session_and_the_code_are_single_use() {
    let app = seed_app().await;
    let sid = session(&app, "1234").await;
    generate(&app, "1234", &sid).await;
    let code = app.last_code("maria").await;
    let r = validate(&app, "1234", &sid, json!(code)).await;
    assert_envelope(&r, StatusCode::OK, "SUCCESS");
    let r = validate(&app, "1234", &sid, json!(code)).await;
    assert_envelope(&r, StatusCode::UNAUTHORIZED, "INVALID_SESSION");
    assert_eq!(r.body["auth"], Value::Null);
    let r = generate(&app, "1234", &sid).await;
    assert_envelope(&r, StatusCode::UNAUTHORIZED, "INVALID_SESSION");
    // The code belonged to that session: another session cannot use it.
    let sid2 = session(&app, "1234").await;
    generate(&app, "1234", &sid2).await;
    let r = validate(&app, "1234", &sid2, json!(code)).await;
    assert_envelope(&r, StatusCode::BAD_REQUEST, "INVALID_OTP");
}

#[tokio::test]
async fn wrong_and_expired_codes_and_expired_sessions_are_refused() {
    let app = seed_app().await;
    let sid = session(&app, "1234").await;
    // No code sent yet.
    let r = validate(&app, "1234", &sid, json!("123456")).await;
    assert_envelope(&r, StatusCode::BAD_REQUEST, "INVALID_OTP");
    generate(&app, "1234", &sid).await;
    let code = app.last_code("maria").await;
    let r = validate(&app, "1234", &sid, number(&other_code(&code))).await;
    assert_envelope(&r, StatusCode::BAD_REQUEST, "INVALID_OTP");
    // The code expires after 10 minutes, while the session lives 15.
    app.clock.advance_secs(601);
    let r = validate(&app, "1234", &sid, json!(code)).await;
    assert_envelope(&r, StatusCode::BAD_REQUEST, "INVALID_OTP");
    // A fresh code for the same session works.
    generate(&app, "1234", &sid).await;
    let fresh = app.last_code("maria").await;
    let r = validate(&app, "1234", &sid, json!(fresh)).await;
    assert_envelope(&r, StatusCode::OK, "SUCCESS");

    // A session expires after 15 minutes.
    let sid = session(&app, "1234").await;
    app.clock.advance_secs(800);
    generate(&app, "1234", &sid).await;
    let code = app.last_code("maria").await;
    app.clock.advance_secs(101);
    let r = validate(&app, "1234", &sid, json!(code)).await;
    assert_envelope(&r, StatusCode::UNAUTHORIZED, "INVALID_SESSION");
}

#[tokio::test]
async fn a_session_works_only_from_its_device_brand_and_user() {
    let app = seed_app().await;
    app.add_contact_user(
        "other",
        "pw-secret-9",
        Some("other@example.org"),
        None,
        None,
    )
    .await;
    app.app_key("otherbrand").await;
    let sid = session(&app, "1234").await;
    let r = generate(&app, "evil-device", &sid).await;
    assert_envelope(&r, StatusCode::UNAUTHORIZED, "INVALID_SESSION");
    assert!(app.outbox("maria").await.is_empty(), "nothing sent");
    generate(&app, "1234", &sid).await;
    let code = app.last_code("maria").await;
    let r = validate(&app, "evil-device", &sid, json!(code)).await;
    assert_envelope(&r, StatusCode::UNAUTHORIZED, "INVALID_SESSION");
    let mut other_brand = with(
        who("MOBILE", "18767431754", "1234"),
        json!({"sessionId": sid, "otp": code}),
    );
    other_brand["brand"] = json!("otherbrand");
    let r = app.post_json(CAP_VALIDATE, None, &other_brand).await;
    assert_envelope(&r, StatusCode::UNAUTHORIZED, "INVALID_SESSION");
    let r = app
        .cap_validate(&who("USERNAME", "other", "1234"), &sid, json!(code))
        .await;
    assert_envelope(&r, StatusCode::UNAUTHORIZED, "INVALID_SESSION");
    // None of that used the session or the code up.
    let r = validate(&app, "1234", &sid, json!(code)).await;
    assert_envelope(&r, StatusCode::OK, "SUCCESS");
}

#[tokio::test]
async fn every_identifier_type_finds_the_user_and_picks_the_channel() {
    let app = seed_app().await;
    for (kind, value, channel) in [
        ("EMAIL", "MARIA@example.org", "email"),
        ("USERNAME", "Maria", "email"),
        ("EXTERNALID", "CRM-7", "email"),
        ("MOBILE", "+18767431754", "sms"),
    ] {
        let r = app.cap_token(&who(kind, value, "d1"), "S3cret-pw-9").await;
        assert_envelope(&r, StatusCode::OK, "SUCCESS");
        let sid = r.body["user"]["sessionId"].as_str().unwrap().to_owned();
        let r = app.cap_otp(&who(kind, value, "d1"), &sid).await;
        assert_envelope(&r, StatusCode::OK, "SUCCESS");
        let last = app.outbox("maria").await.pop().unwrap();
        assert_eq!(last.channel.as_str(), channel, "{kind}");
        let r = app
            .cap_validate(&who(kind, value, "d1"), &sid, json!(last.code.expose()))
            .await;
        assert_envelope(&r, StatusCode::OK, "SUCCESS");
        app.clock.advance_secs(700);
    }
    for kind in ["PHONE", "mobile ", "", "CUSTOMER_ID"] {
        let r = app
            .cap_token(&who(kind, "18767431754", "d1"), "S3cret-pw-9")
            .await;
        if kind.trim().eq_ignore_ascii_case("mobile") {
            assert_envelope(&r, StatusCode::OK, "SUCCESS");
        } else {
            assert_envelope(&r, StatusCode::BAD_REQUEST, "INVALID_IDENTIFIER_TYPE");
        }
    }
}

#[tokio::test]
async fn wrong_password_unknown_user_and_wrong_brand_are_refused() {
    let app = seed_app().await;
    let body =
        |kind: &str, value: &str, pw: &str| with(who(kind, value, "1234"), json!({"password": pw}));
    let r = app
        .post_json(CAP_TOKEN, None, &body("MOBILE", "18767431754", "nope"))
        .await;
    assert_envelope(&r, StatusCode::UNAUTHORIZED, "INVALID_CREDENTIALS");
    let r = app
        .post_json(CAP_TOKEN, None, &body("MOBILE", "99999", "S3cret-pw-9"))
        .await;
    assert_envelope(&r, StatusCode::UNAUTHORIZED, "INVALID_CREDENTIALS");
    let mut b = body("MOBILE", "18767431754", "S3cret-pw-9");
    b["brand"] = json!("NoSuchBrand");
    let r = app.post_json(CAP_TOKEN, None, &b).await;
    assert_envelope(&r, StatusCode::FORBIDDEN, "APPLICATION_MISMATCH");
    // With a key, the brand must be the key's application.
    let other_key = app.app_key("otherbrand").await;
    let r = app
        .post_json(
            CAP_TOKEN,
            Some(&other_key),
            &body("MOBILE", "18767431754", "S3cret-pw-9"),
        )
        .await;
    assert_envelope(&r, StatusCode::FORBIDDEN, "APPLICATION_MISMATCH");
    let r = app
        .post_json(
            CAP_TOKEN,
            Some("bogus.key"),
            &body("MOBILE", "18767431754", "S3cret-pw-9"),
        )
        .await;
    assert_envelope(&r, StatusCode::UNAUTHORIZED, "INVALID_API_KEY");
    let bukl_key = app.svc.create_application("bukl-2").await.unwrap().1;
    let mut b = body("MOBILE", "18767431754", "S3cret-pw-9");
    b["brand"] = json!("bukl-2");
    let r = app.post_json(CAP_TOKEN, Some(bukl_key.expose()), &b).await;
    assert_envelope(&r, StatusCode::OK, "SUCCESS");
    // Wrong passwords lock like logins do (5 per username).
    for _ in 0..5 {
        app.post_json(CAP_TOKEN, None, &body("MOBILE", "18767431754", "nope"))
            .await;
    }
    let r = app
        .post_json(
            CAP_TOKEN,
            None,
            &body("MOBILE", "18767431754", "S3cret-pw-9"),
        )
        .await;
    assert_envelope(&r, StatusCode::TOO_MANY_REQUESTS, "TOO_MANY_ATTEMPTS");
    assert!(r.headers.contains_key("retry-after"));
}

#[tokio::test]
async fn bad_input_gets_the_envelope_never_a_500() {
    let app = seed_app().await;
    let sid = session(&app, "1234").await;
    let full = with(
        who("MOBILE", "18767431754", "1234"),
        json!({"sessionId": sid, "otp": "123456"}),
    );
    for field in [
        "identifierType",
        "identifierValue",
        "deviceId",
        "brand",
        "sessionId",
        "otp",
    ] {
        let mut b = full.clone();
        b.as_object_mut().unwrap().remove(field);
        let r = app.post_json(CAP_VALIDATE, None, &b).await;
        assert_envelope(&r, StatusCode::BAD_REQUEST, "INVALID_REQUEST");
    }
    for (field, value) in [
        ("otp", json!(1.5)),
        ("otp", json!(-3)),
        ("otp", json!({"a": 1})),
        ("deviceId", json!(12)),
        ("identifierType", json!(null)),
    ] {
        let mut b = full.clone();
        b[field] = value;
        let r = app.post_json(CAP_VALIDATE, None, &b).await;
        assert_envelope(&r, StatusCode::BAD_REQUEST, "INVALID_REQUEST");
    }
    let mut b = full.clone();
    b["deviceId"] = json!("d".repeat(200));
    let r = app.post_json(CAP_VALIDATE, None, &b).await;
    assert_envelope(&r, StatusCode::BAD_REQUEST, "INVALID_REQUEST");
    let mut b = full.clone();
    b["identifierValue"] = json!("9".repeat(1000));
    let r = app.post_json(CAP_VALIDATE, None, &b).await;
    assert_envelope(&r, StatusCode::UNAUTHORIZED, "INVALID_SESSION");
    for (ct, body, status, message) in [
        (
            "application/x-www-form-urlencoded",
            b"identifierType=MOBILE".to_vec(),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "UNSUPPORTED_MEDIA_TYPE",
        ),
        (
            "text/plain",
            b"{}".to_vec(),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "UNSUPPORTED_MEDIA_TYPE",
        ),
        (
            "application/json",
            b"{\"identifierType\":".to_vec(),
            StatusCode::BAD_REQUEST,
            "INVALID_REQUEST",
        ),
        (
            "application/json",
            b"[]".to_vec(),
            StatusCode::BAD_REQUEST,
            "INVALID_REQUEST",
        ),
        (
            "application/json",
            Vec::new(),
            StatusCode::BAD_REQUEST,
            "INVALID_REQUEST",
        ),
        (
            "application/json",
            vec![b'{'; 40 * 1024],
            StatusCode::PAYLOAD_TOO_LARGE,
            "PAYLOAD_TOO_LARGE",
        ),
    ] {
        for path in [CAP_TOKEN, CAP_OTP, CAP_VALIDATE] {
            let r = app.post_raw(path, &[("content-type", ct)], &body).await;
            assert_envelope(&r, status, message);
        }
    }
    let r = app
        .send(
            axum::http::Request::builder()
                .method("GET")
                .uri(CAP_VALIDATE)
                .body(axum::body::Body::empty())
                .unwrap(),
        )
        .await;
    assert_envelope(&r, StatusCode::METHOD_NOT_ALLOWED, "METHOD_NOT_ALLOWED");
    let r = app
        .post_json("/auth/v1/mfa/nothing", None, &json!({}))
        .await;
    assert_envelope(&r, StatusCode::NOT_FOUND, "NOT_FOUND");
}

#[tokio::test]
async fn the_lockout_is_shared_with_the_native_api() {
    let app = TestApp::new().await;
    let (_, secret) = app.user_with_2fa("maria", "S3cret-pw-9").await;
    app.svc.create_application("Bukl").await.unwrap();
    // maria has 2FA and an e-mail address (support's add_user).
    let body = |device: &str| {
        with(
            who("USERNAME", "maria", device),
            json!({"password": "S3cret-pw-9"}),
        )
    };
    let sid = app.post_json(CAP_TOKEN, None, &body("1234")).await.body["user"]["sessionId"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = app.cap_otp(&who("USERNAME", "maria", "1234"), &sid).await;
    assert_envelope(&r, StatusCode::OK, "SUCCESS");
    assert_eq!(r.body["user"]["appRegistered"], true);
    let code = app.last_code("maria").await;
    let pre = app.login("maria", "S3cret-pw-9").await;
    for _ in 0..5 {
        app.verify(&pre, "maria", &other_code(&app.code(&secret, 0)))
            .await;
    }
    let v = |otp: String| {
        with(
            who("USERNAME", "maria", "1234"),
            json!({"sessionId": sid, "otp": otp}),
        )
    };
    let r = app.post_json(CAP_VALIDATE, None, &v(code.clone())).await;
    assert_envelope(&r, StatusCode::TOO_MANY_REQUESTS, "TOO_MANY_ATTEMPTS");
    assert!(r.headers.contains_key("retry-after"));
    // After the lock the right code works (the locked try used no attempt).
    app.clock.advance_secs(31);
    let r = app.post_json(CAP_VALIDATE, None, &v(code)).await;
    assert_envelope(&r, StatusCode::OK, "SUCCESS");

    // And the other way round: wrong codes here lock the native API.
    let sid = app.post_json(CAP_TOKEN, None, &body("1234")).await.body["user"]["sessionId"]
        .as_str()
        .unwrap()
        .to_owned();
    app.cap_otp(&who("USERNAME", "maria", "1234"), &sid).await;
    let code = app.last_code("maria").await;
    for _ in 0..5 {
        let r = app
            .cap_validate(
                &who("USERNAME", "maria", "1234"),
                &sid,
                json!(other_code(&code)),
            )
            .await;
        assert_envelope(&r, StatusCode::BAD_REQUEST, "INVALID_OTP");
    }
    let pre = app.login("maria", "S3cret-pw-9").await;
    let r = app.verify(&pre, "maria", &app.code(&secret, 0)).await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS, "{:?}", r.body);
}

#[tokio::test]
async fn a_failed_delivery_is_an_error_the_caller_sees() {
    let app = TestApp::with_failing_notifier().await;
    app.add_contact_user("maria", "S3cret-pw-9", None, Some("+18767431754"), None)
        .await;
    app.app_key("Bukl").await;
    let sid = session(&app, "1234").await;
    let r = generate(&app, "1234", &sid).await;
    assert_envelope(&r, StatusCode::BAD_GATEWAY, "DELIVERY_FAILED");
    // No code was kept for the session.
    let r = validate(&app, "1234", &sid, json!("000000")).await;
    assert_envelope(&r, StatusCode::BAD_REQUEST, "INVALID_OTP");
    // A user with no phone cannot get an SMS.
    let ok = TestApp::new().await;
    ok.add_contact_user(
        "maria",
        "S3cret-pw-9",
        Some("maria@example.org"),
        None,
        None,
    )
    .await;
    ok.app_key("Bukl").await;
    let r = ok
        .cap_token(&who("EMAIL", "maria@example.org", "1"), "S3cret-pw-9")
        .await;
    let sid = r.body["user"]["sessionId"].as_str().unwrap().to_owned();
    let r = ok
        .cap_otp(&who("EMAIL", "maria@example.org", "1"), &sid)
        .await;
    assert_envelope(&r, StatusCode::OK, "SUCCESS");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_session_is_used_once_under_concurrency() {
    let app = seed_app().await;
    let sid = session(&app, "1234").await;
    generate(&app, "1234", &sid).await;
    let code = app.last_code("maria").await;
    let body = with(
        who("MOBILE", "18767431754", "1234"),
        json!({"sessionId": sid, "otp": code}),
    );
    let statuses = app.race_post(20, CAP_VALIDATE, None, body).await;
    let ok = count_where(&statuses, |s| *s == StatusCode::OK);
    assert_eq!(ok, 1, "{statuses:?}");
}
