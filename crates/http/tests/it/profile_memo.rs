//! `/user/me`'s body is kept beside the remembered token check: it must be
//! the bytes a fresh rendering writes, and a change to the profile (from
//! this process or another one sharing the store) must show on the very
//! next request with the same token.

use axum::http::StatusCode;
use otpgate_core::model::{Profile, ProfileChange};
use otpgate_core::secret::SecretString;
use otpgate_core::service::admin::UserSpec;
use otpgate_http::routes::native::ProfileResponse;

use crate::support::{TestApp, assert_error};

/// The body as the answer's type describes it, rendered now from the
/// store (serde's derive, `flatten` included: the reference).
async fn fresh(app: &TestApp, name: &str) -> Vec<u8> {
    let user = app.svc.show_user(name).await.unwrap();
    serde_json::to_vec(&ProfileResponse::new(&Profile::from(&user))).unwrap()
}

#[tokio::test]
async fn profile_from_memory_is_the_fresh_rendering_byte_for_byte() {
    let app = TestApp::new().await;
    app.svc
        .create_user(UserSpec {
            username: "zoe".into(),
            password: Some(SecretString::new("pw-secret-99x")),
            display_name: Some("Zoë \"Z\" \\ <b>\u{1}\t</b> 東京".into()),
            email: Some("zoe@example.org".into()),
            phone: Some("+39 06 1234".into()),
            external_id: Some("ext/\"42\"".into()),
            role: Some("admin".into()),
        })
        .await
        .unwrap();
    // No phone, no external id: `null`, as before.
    app.add_user("bob", "pw-secret-99x").await;
    for name in ["zoe", "bob"] {
        let t = app.login(name, "pw-secret-99x").await;
        let first = app.me(&t).await;
        assert_eq!(first.status, StatusCode::OK);
        assert_eq!(first.headers["content-type"], "application/json");
        let expected = fresh(&app, name).await;
        assert_eq!(
            String::from_utf8_lossy(&first.bytes),
            String::from_utf8_lossy(&expected),
            "{name}"
        );
        // The second and third answers come from the remembered check.
        for _ in 0..2 {
            let again = app.me(&t).await;
            assert_eq!(again.status, StatusCode::OK);
            assert_eq!(again.bytes, expected, "{name} from memory");
        }
    }
}

#[tokio::test]
async fn a_profile_change_shows_on_the_next_me() {
    let app = TestApp::new().await;
    app.add_user("alice", "pw-secret-99x").await;
    let t = app.login("alice", "pw-secret-99x").await;
    assert_eq!(app.me(&t).await.body["display_name"], "alice");
    assert_eq!(app.me(&t).await.body["display_name"], "alice");
    // This process.
    app.svc
        .update_user(
            "alice",
            ProfileChange {
                display_name: Some("Alice A.".into()),
                ..ProfileChange::default()
            },
        )
        .await
        .unwrap();
    let r = app.me(&t).await;
    assert_eq!(r.body["display_name"], "Alice A.");
    assert_eq!(r.body["data"]["display_name"], "Alice A.");
    assert_eq!(r.bytes, fresh(&app, "alice").await);
    assert_eq!(app.me(&t).await.bytes, r.bytes);
    // Another process on the same store (the CLI's `user set`).
    app.other_process()
        .await
        .update_user(
            "alice",
            ProfileChange {
                phone: Some(Some("+1 555 0100".into())),
                role: Some("admin".into()),
                ..ProfileChange::default()
            },
        )
        .await
        .unwrap();
    let r = app.me(&t).await;
    assert_eq!(r.body["phone"], "+1 555 0100");
    assert_eq!(r.body["data"]["role"], "admin");
    assert_eq!(r.bytes, fresh(&app, "alice").await);
}

#[tokio::test]
async fn enabling_two_factor_shows_on_the_next_me() {
    let app = TestApp::new().await;
    app.add_user("carol", "pw-secret-99x").await;
    let t = app.login("carol", "pw-secret-99x").await;
    assert_eq!(app.me(&t).await.body["two_factor"], false);
    assert_eq!(app.me(&t).await.body["two_factor"], false);
    let (verified, _) = app.enrol("carol", "pw-secret-99x").await;
    let r = app.me(&verified).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body["two_factor"], true);
    assert_eq!(r.body["data"]["two_factor"], true);
    assert_eq!(r.bytes, fresh(&app, "carol").await);
    // The token from before 2FA was remembered (twice served above);
    // enabling 2FA revoked it, and that commit dropped the remembered
    // answer with its body.
    assert_error(&app.me(&t).await, StatusCode::UNAUTHORIZED, "token_revoked");
}
