//! Usernames at the routes' edge (API.md §1; issue 15 finding 8): NFKC,
//! then lower case, so a compatibility spelling is the same user; a name
//! with a format (zero-width) character or mixed scripts is 400
//! `invalid_username` on login and verify-otp; a user stored before these
//! rules still logs in by its stored name.

use axum::http::StatusCode;
use otpgate_core::model::NewUser;

use crate::support::{TestApp, assert_error, claims};

const LOOK_ALIKES: [&str; 3] = [
    "v\u{131}ctim",       // dotless i
    "v\u{456}ct\u{456}m", // Cyrillic і
    "victim\u{200B}",     // zero-width space
];

#[tokio::test]
async fn login_refuses_look_alikes_and_folds_compatibility_forms() {
    let app = TestApp::new().await;
    app.add_user("victim", "pw-v-secret-9").await;
    for name in LOOK_ALIKES {
        let r = app.try_login(name, "pw-v-secret-9").await;
        assert_error(&r, StatusCode::BAD_REQUEST, "invalid_username");
    }
    // Fullwidth and circled letters are `victim` itself (NFKC).
    for name in ["ｖｉｃｔｉｍ", "ⓥictim", "VICTIM"] {
        let token = app.login(name, "pw-v-secret-9").await;
        assert_eq!(claims(&token)["sub"], "victim", "{name}");
    }
}

#[tokio::test]
async fn verify_otp_refuses_a_look_alike_in_the_body() {
    let app = TestApp::new().await;
    let (_, secret) = app.user_with_2fa("victim", "pw-v-secret-9").await;
    let pre = app.login("victim", "pw-v-secret-9").await;
    for name in LOOK_ALIKES {
        let r = app.verify(&pre, name, &app.code(&secret, 0)).await;
        assert_error(&r, StatusCode::BAD_REQUEST, "invalid_username");
    }
    // Another valid name is still a mismatch; the fullwidth spelling matches.
    let r = app.verify(&pre, "other", &app.code(&secret, 0)).await;
    assert_error(&r, StatusCode::FORBIDDEN, "username_mismatch");
    let r = app
        .verify(&pre, "ｖｉｃｔｉｍ", &app.code(&secret, 0))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
}

#[tokio::test]
async fn a_user_stored_before_the_rules_still_logs_in() {
    let app = TestApp::new().await;
    app.add_user("template", "pw-old-secret-9").await;
    let store = &app.store;
    let hash = store
        .user_by_name("template")
        .await
        .unwrap()
        .unwrap()
        .password_hash;
    // A name the rules now refuse (mixed scripts), stored as it was then.
    let old = "v\u{456}ct\u{456}m";
    store
        .create_user(&NewUser {
            username: old.into(),
            display_name: String::new(),
            email: None,
            phone: None,
            external_id: None,
            role: "user".into(),
            password_hash: hash,
            backend: "local".into(),
            tokens_valid_after: otpgate_core::model::UnixTime::new(0),
            created_at: otpgate_core::model::UnixTime::new(0),
        })
        .await
        .unwrap();
    let token = app.login(old, "pw-old-secret-9").await;
    assert_eq!(claims(&token)["sub"], old);
    let me = app.me(&token).await;
    assert_eq!(me.body["username"], old, "{:?}", me.body);
    // Its look-alikes are not it.
    let r = app
        .try_login("v\u{456}ct\u{456}m\u{200B}", "pw-old-secret-9")
        .await;
    assert_error(&r, StatusCode::BAD_REQUEST, "invalid_username");
}
