//! Applications and API keys (API.md §4): keys are `<id>.<secret>`, kept
//! only as a hash, checked on every dialect call; JWT-only endpoints answer
//! 403 to a request that carries an API key. Also: user/me shows role and
//! external id.

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use otpgate_core::crypto::digest::sha256_hex;

use crate::clients::SC_STATUS;
use crate::support::{TestApp, assert_error};

#[tokio::test]
async fn jwt_only_routes_answer_403_to_an_api_key() {
    let app = TestApp::new().await;
    let (token, _) = app.user_with_2fa("alice", "pw-secret-9").await;
    let key = app.app_key("shop").await;
    for (method, path) in [
        (Method::GET, "/api/user/me"),
        (Method::GET, "/api/2fa/status"),
        (Method::GET, "/api/2fa/qr-code"),
        (Method::GET, "/api/2fa/qr-code.png"),
        (Method::GET, "/api/2fa/qr-code.svg"),
        (Method::POST, "/api/2fa/verify-otp"),
        (Method::POST, "/api/2fa/recovery-codes"),
        (Method::POST, "/api/2fa/disable"),
        (Method::POST, "/api/logout"),
    ] {
        // With the key alone, and with the key next to a valid token.
        for with_token in [false, true] {
            let mut b = Request::builder()
                .method(method.clone())
                .uri(path)
                .header("x-api-key", &key)
                .header("content-type", "application/json");
            if with_token {
                b = b.header("authorization", format!("Bearer {token}"));
            }
            let r = app
                .send(
                    b.body(Body::from(
                        r#"{"password":"pw","username":"alice","otp":"1"}"#,
                    ))
                    .unwrap(),
                )
                .await;
            assert_error(&r, StatusCode::FORBIDDEN, "api_key_not_supported");
            assert_eq!(
                r.body["error"], "API keys are not supported for this endpoint",
                "{path}"
            );
        }
    }
    // Nothing was done: the token still works, 2FA is still on.
    assert_eq!(app.status_2fa(&token).await.body["status"], true);
}

#[tokio::test]
async fn keys_are_stored_hashed_and_bad_or_revoked_keys_are_refused() {
    let app = TestApp::new().await;
    app.add_contact_user(
        "alice",
        "pw-secret-9",
        Some("alice@example.org"),
        None,
        None,
    )
    .await;
    let key = app.app_key("Shop").await;
    let (id, secret) = key.split_once('.').expect("<id>.<secret>");
    let stored = app.svc.list_applications().await.unwrap();
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].name, "shop", "names are kept lower-case");
    assert_eq!(stored[0].key_id, id);
    assert_eq!(stored[0].secret_hash, sha256_hex(secret.as_bytes()));
    assert!(!stored[0].secret_hash.contains(secret));

    let fields = [
        ("username", "alice"),
        ("enduserip", "203.0.113.9"),
        ("applicationname", "shop"),
    ];
    let ok = app.post_form(SC_STATUS, Some(&key), &fields).await;
    assert_eq!(ok.status, StatusCode::OK);
    let tampered = format!("{id}.{}x", &secret[..secret.len() - 1]);
    for bad in [
        tampered.as_str(),
        "0000000000000000.abc",
        "no-dot-at-all",
        id,
        "",
    ] {
        let r = app.post_form(SC_STATUS, Some(bad), &fields).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{bad:?}");
    }
    let r = app.post_form(SC_STATUS, None, &fields).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED, "no key");

    app.svc.revoke_application("SHOP").await.unwrap();
    let r = app.post_form(SC_STATUS, Some(&key), &fields).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED, "revoked at once");
    let again = app.app_key("shop").await;
    assert_ne!(again, key, "a new registration gets a new key");
    assert_eq!(
        app.post_form(SC_STATUS, Some(&key), &fields).await.status,
        StatusCode::UNAUTHORIZED,
        "the old key stays dead"
    );
}

#[tokio::test]
async fn user_me_shows_role_and_external_id() {
    let app = TestApp::new().await;
    app.svc
        .create_user(otpgate_core::service::admin::UserSpec {
            username: "bob".into(),
            password: Some("pw-secret-9".into()),
            role: Some("operator".into()),
            external_id: Some("crm-42".into()),
            phone: Some("+3912345".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    let token = app.login("bob", "pw-secret-9").await;
    let r = app.me(&token).await;
    assert_eq!(r.status, StatusCode::OK);
    for body in [&r.body, &r.body["data"]] {
        assert_eq!(body["role"], "operator");
        assert_eq!(body["external_id"], "crm-42");
        assert_eq!(body["phone"], "+3912345");
        assert_eq!(body["username"], "bob");
        assert_eq!(body["two_factor"], false);
    }
}
