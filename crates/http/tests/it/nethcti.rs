//! The `nethcti` password backend (API.md §9) against the CTI-server
//! stand-in ([`crate::cti_server`]): the challenge as it goes out, wrong
//! passwords, a CTI server down or misbehaving (503, never counted, never
//! a 500), passwords changed there, users created at their first login,
//! the CTI session sealed at rest and ended with the user's tokens, and
//! the throttles in front of it all.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::http::{Method, StatusCode};
use otpgate_core::AuthError;
use otpgate_core::config::{LegacyPolicy, Policy};
use otpgate_http::nethcti::NethctiBackend;
use serde_json::json;

use crate::cti_server::{CtiServer, Fault, challenge_token};
use crate::race::tally;
use crate::support::{TestApp, cheap_policy, claims, test_settings};

const PW: &str = "pw-secret-9";

/// otpgate with the `nethcti` backend at `cti`, each call bounded by
/// `timeout`.
async fn app_before(cti: &CtiServer, timeout: Duration) -> TestApp {
    app_with(cti, timeout, cheap_policy()).await
}

async fn app_with(cti: &CtiServer, timeout: Duration, policy: Policy) -> TestApp {
    let backend = NethctiBackend::new(&cti.v1(), timeout).unwrap();
    TestApp::with_password_backend(test_settings(), policy, Arc::new(backend)).await
}

async fn setup() -> (CtiServer, TestApp) {
    let cti = CtiServer::start(&[("carol", PW), ("dave", "pw-dave-secret-9")]).await;
    let app = app_before(&cti, Duration::from_secs(10)).await;
    (cti, app)
}

#[tokio::test]
async fn the_challenge_goes_out_as_api_9_says_and_a_cti_user_is_created() {
    let (cti, app) = setup().await;
    assert!(matches!(
        app.svc.show_user("carol").await,
        Err(AuthError::UserNotFound)
    ));
    let token = app.login("carol", PW).await;
    assert_eq!(claims(&token)["sub"], "carol");

    let got = cti.received();
    let paths: Vec<_> = got
        .iter()
        .map(|r| (r.method.clone(), r.path.as_str()))
        .collect();
    assert_eq!(
        paths,
        [
            (Method::POST, "/authentication/login"),
            (Method::GET, "/user/me"),
            (Method::POST, "/authentication/phone_island_token_login"),
        ]
    );
    assert_eq!(got[0].body, json!({"username": "carol", "password": PW}));
    assert_eq!(got[0].authorization, None);
    let nonce = &cti.nonces()[0];
    assert_eq!(nonce.len(), 40);
    let grant = format!("carol:{}", challenge_token("carol", PW, nonce));
    assert_eq!(got[1].authorization.as_deref(), Some(grant.as_str()));
    assert_eq!(got[2].authorization.as_deref(), Some(grant.as_str()));
    assert_eq!(got[2].body, json!({"subtype": "user"}));

    // Created at the first login, with no hash, from the CTI profile.
    let user = app.svc.show_user("carol").await.unwrap();
    assert_eq!(user.backend, "nethcti");
    assert_eq!(user.password_hash, "");
    assert_eq!(user.display_name, "CTI carol");
    let sealed = user.upstream_session.clone().expect("CTI session kept");
    // T is sealed at rest: not in the SQLite files in plaintext.
    let t = cti.persistent_token("carol").expect("T issued");
    assert!(!String::from_utf8_lossy(&sealed).contains(&t));
    let mut on_disk = Vec::new();
    for entry in std::fs::read_dir(app.dir.path()).unwrap() {
        let path = entry.unwrap().path();
        if path.to_string_lossy().contains("otpgate.db") {
            on_disk.extend(std::fs::read(&path).unwrap());
        }
    }
    assert!(!on_disk.is_empty());
    assert!(
        !on_disk.windows(t.len()).any(|w| w == t.as_bytes()),
        "T is in the store in plaintext"
    );
    // The profile shows nothing of T.
    let me = app.me(&token).await;
    assert_eq!(me.status, StatusCode::OK, "{:?}", me.body);
    assert!(!String::from_utf8_lossy(&me.bytes).contains(&t));

    // A second login replaces the session (a new T) on the same user.
    app.login("carol", PW).await;
    let again = app.svc.show_user("carol").await.unwrap();
    assert_eq!(again.id, user.id);
    assert_ne!(again.upstream_session, Some(sealed));
    assert_ne!(cti.persistent_token("carol"), Some(t));
}

#[tokio::test]
async fn a_wrong_password_is_401_and_opens_no_cti_session() {
    let (cti, app) = setup().await;
    let r = app.try_login("carol", "pw-wrong-guess-1").await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{:?}", r.body);
    assert_eq!(r.body["code"], 401, "{:?}", r.body);
    let r = app.try_login("nobody", PW).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{:?}", r.body);
    let paths: Vec<_> = cti.received().iter().map(|r| r.path.clone()).collect();
    assert_eq!(paths, ["/authentication/login", "/authentication/login"]);
    assert_eq!(cti.persistent_token("carol"), None);
    assert!(matches!(
        app.svc.show_user("carol").await,
        Err(AuthError::UserNotFound)
    ));
    assert!(matches!(
        app.svc.show_user("nobody").await,
        Err(AuthError::UserNotFound)
    ));
}

#[tokio::test]
async fn with_the_cti_server_down_login_is_503_and_the_lockout_counts_nothing() {
    let (cti, app) = setup().await;
    cti.set_down(true);
    for _ in 0..10 {
        let r = app.try_login("carol", PW).await;
        assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE, "{:?}", r.body);
        assert_eq!(r.body["message"], "upstream_unavailable", "{:?}", r.body);
    }
    cti.set_down(false);
    app.login("carol", PW).await;
}

#[tokio::test]
async fn a_password_changed_on_the_cti_server_counts_at_once() {
    let (cti, app) = setup().await;
    app.login("carol", PW).await;
    cti.set_password("carol", "pw-changed-secret-7");
    let r = app.try_login("carol", PW).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{:?}", r.body);
    app.login("carol", "pw-changed-secret-7").await;
}

#[tokio::test]
async fn bad_answers_from_the_cti_server_are_503_never_500_nor_counted() {
    let cti = CtiServer::start(&[("carol", PW)]).await;
    let app = app_before(&cti, Duration::from_secs(1)).await;
    let cases = [
        ("/authentication/login", Fault::Html),
        ("/authentication/login", Fault::ServerError),
        ("/user/me", Fault::Html),
        ("/user/me", Fault::ServerError),
        ("/authentication/phone_island_token_login", Fault::Html),
        (
            "/authentication/phone_island_token_login",
            Fault::ServerError,
        ),
        ("/authentication/phone_island_token_login", Fault::NoToken),
        ("/authentication/login", Fault::Hang),
        ("/user/me", Fault::Hang),
    ];
    for (path, fault) in cases {
        cti.fault(path, Some(fault));
        let started = Instant::now();
        let r = app.try_login("carol", PW).await;
        assert_eq!(
            r.status,
            StatusCode::SERVICE_UNAVAILABLE,
            "{path} {fault:?}: {:?}",
            r.body
        );
        assert_eq!(r.body["message"], "upstream_unavailable", "{:?}", r.body);
        assert!(
            started.elapsed() < Duration::from_secs(3),
            "{path} {fault:?}: bounded by the timeout, took {:?}",
            started.elapsed()
        );
        cti.fault(path, None);
    }
    // Nine failures of the CTI server, none counted: the lockout (5) is
    // untouched, and no user was created on a half-done login.
    assert!(matches!(
        app.svc.show_user("carol").await,
        Err(AuthError::UserNotFound)
    ));
    app.login("carol", PW).await;
}

#[tokio::test]
async fn the_lockout_holds_for_cti_users_and_spares_the_cti_server() {
    let (cti, app) = setup().await;
    for _ in 0..5 {
        let r = app.try_login("carol", "pw-wrong-guess-1").await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{:?}", r.body);
    }
    let r = app.try_login("carol", PW).await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS, "{:?}", r.body);
    assert_eq!(
        cti.received_on("/authentication/login").len(),
        5,
        "a locked account costs the CTI server nothing"
    );
}

#[tokio::test]
async fn fifty_wrong_passwords_at_once_reach_the_cti_server_five_times() {
    let (cti, app) = setup().await;
    let statuses = app
        .race_post(
            50,
            "/api/login",
            None,
            json!({"username": "carol", "password": "pw-wrong-guess-1"}),
        )
        .await;
    assert_eq!(
        tally(statuses.iter().copied()),
        [
            (StatusCode::UNAUTHORIZED, 5),
            (StatusCode::TOO_MANY_REQUESTS, 45)
        ]
        .into(),
        "{statuses:?}"
    );
    assert_eq!(cti.received_on("/authentication/login").len(), 5);
}

#[tokio::test]
async fn a_cti_user_enrols_2fa_and_passes_the_gate() {
    let (cti, app) = setup().await;
    let (_, secret) = app.enrol("dave", "pw-dave-secret-9").await;
    let pre = app.login("dave", "pw-dave-secret-9").await;
    assert_eq!(claims(&pre)["2fa"], true);
    assert_eq!(claims(&pre)["otp_verified"], false);
    let r = app.get("/api/2fa/recovery-codes", &pre).await;
    assert!(r.status.is_client_error(), "{:?}", r.body);
    let r = app.verify(&pre, "dave", &app.code(&secret, 0)).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(
        claims(r.body["data"]["token"].as_str().unwrap())["otp_verified"],
        true
    );
    assert!(cti.persistent_token("dave").is_some());
}

#[tokio::test]
async fn the_password_of_disable_and_recovery_codes_is_checked_by_the_cti_server() {
    let (cti, app) = setup().await;
    let t = app.login("carol", PW).await;
    let secret = app.pending_secret(&t).await;
    let r = app.verify(&t, "carol", &app.code(&secret, 0)).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let verified = r.body["data"]["token"].as_str().unwrap().to_owned();
    let t_cti = cti.persistent_token("carol").expect("CTI session");
    cti.clear_received();

    // Recovery codes: wrong → 401, CTI down → 503 (not counted), right → 200;
    // a re-authentication opens no CTI session.
    let codes = |pw: &'static str| app.new_recovery_codes(&verified, pw);
    let r = codes("pw-wrong-guess-1").await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{:?}", r.body);
    cti.set_down(true);
    for _ in 0..6 {
        let r = codes(PW).await;
        assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE, "{:?}", r.body);
    }
    cti.set_down(false);
    let r = codes(PW).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert!(
        cti.received_on("/authentication/phone_island_token_login")
            .is_empty()
    );
    assert!(
        cti.received_on("/authentication/persistent_token_remove")
            .is_empty()
    );

    // Disable: the CTI session ends with the user's last token.
    let r = app.disable_2fa(&verified, PW).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let removed = cti.received_on("/authentication/persistent_token_remove");
    assert_eq!(removed.len(), 1);
    assert_eq!(
        removed[0].authorization.as_deref(),
        Some(format!("carol:{t_cti}").as_str())
    );
    assert_eq!(
        removed[0].body,
        json!({"type": "phone-island", "subtype": "user"})
    );
    assert_eq!(cti.persistent_token("carol"), None);
    assert_eq!(
        app.svc.show_user("carol").await.unwrap().upstream_session,
        None
    );
}

#[tokio::test]
async fn revoke_all_and_user_del_end_the_cti_session() {
    let (cti, app) = setup().await;
    app.login("carol", PW).await;
    let t1 = cti.persistent_token("carol").unwrap();
    app.svc.revoke_all_tokens("carol").await.unwrap();
    let removed = cti.received_on("/authentication/persistent_token_remove");
    assert_eq!(removed.len(), 1);
    assert_eq!(
        removed[0].authorization.as_deref(),
        Some(format!("carol:{t1}").as_str())
    );
    assert_eq!(cti.persistent_token("carol"), None);
    assert_eq!(
        app.svc.show_user("carol").await.unwrap().upstream_session,
        None
    );
    // Nothing left to end: revoke-all again sends nothing.
    app.svc.revoke_all_tokens("carol").await.unwrap();
    assert_eq!(
        cti.received_on("/authentication/persistent_token_remove")
            .len(),
        1
    );

    app.login("carol", PW).await;
    let t2 = cti.persistent_token("carol").unwrap();
    app.svc.delete_user("carol").await.unwrap();
    let removed = cti.received_on("/authentication/persistent_token_remove");
    assert_eq!(removed.len(), 2);
    assert_eq!(
        removed[1].authorization.as_deref(),
        Some(format!("carol:{t2}").as_str())
    );
    assert!(matches!(
        app.svc.show_user("carol").await,
        Err(AuthError::UserNotFound)
    ));
    // Best effort: the CTI server down does not stop revoke-all.
    app.login("carol", PW).await;
    cti.set_down(true);
    app.svc.revoke_all_tokens("carol").await.unwrap();
    assert_eq!(
        app.svc.show_user("carol").await.unwrap().upstream_session,
        None
    );
}

#[tokio::test]
async fn the_cti_session_ends_with_the_last_logout_not_before() {
    let (cti, app) = setup().await;
    let remove = "/authentication/persistent_token_remove";
    let first = app.login("carol", PW).await;
    let second = app.login("carol", PW).await;
    let t = cti.persistent_token("carol").unwrap();
    let logout = |token: String| {
        let app = &app;
        async move {
            let r = app.logout(&token).await;
            assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
        }
    };
    // Not the last token: the CTI session stays.
    logout(first).await;
    assert!(cti.received_on(remove).is_empty());
    assert_eq!(cti.persistent_token("carol").as_deref(), Some(t.as_str()));
    // A persistent token keeps it too.
    let r = app.mint_persistent(&second, "phone-island").await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    logout(second).await;
    assert!(
        cti.received_on(remove).is_empty(),
        "the persistent one lives"
    );
    // Removing it leaves the new login's token; that one's logout is the
    // last token going: the session ends, sent as §9 says, and otpgate
    // forgets T.
    let third = app.login("carol", PW).await;
    let t3 = cti.persistent_token("carol").unwrap();
    let r = app.remove_persistent(&third, "phone-island").await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{:?}", r.body);
    assert!(cti.received_on(remove).is_empty(), "the login token lives");
    logout(third).await;
    let removed = cti.received_on(remove);
    assert_eq!(removed.len(), 1, "{removed:?}");
    assert_eq!(
        removed[0].authorization.as_deref(),
        Some(format!("carol:{t3}").as_str())
    );
    assert_eq!(
        removed[0].body,
        json!({"type": "phone-island", "subtype": "user"})
    );
    assert_ne!(t, t3, "each login opened its own session");
    assert_eq!(cti.persistent_token("carol"), None);
    assert_eq!(
        app.svc.show_user("carol").await.unwrap().upstream_session,
        None
    );
}

#[tokio::test]
async fn the_legacy_and_capillary_logins_ask_the_cti_server_too() {
    let cti = CtiServer::start(&[("carol", PW)]).await;
    let policy = Policy {
        legacy: LegacyPolicy {
            enabled: Some(true),
            ..LegacyPolicy::default()
        },
        ..cheap_policy()
    };
    let app = app_with(&cti, Duration::from_secs(10), policy).await;
    // Legacy: otpgate's own challenge, after the CTI server's.
    let legacy = |pw: &'static str| {
        app.post(
            "/webrest/authentication/login",
            None,
            json!({"username": "carol", "password": pw}),
        )
    };
    let r = legacy(PW).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{:?}", r.body);
    assert!(
        r.headers.contains_key("www-authenticate"),
        "{:?}",
        r.headers
    );
    assert_eq!(cti.received_on("/authentication/login").len(), 1);
    assert_eq!(app.svc.show_user("carol").await.unwrap().backend, "nethcti");
    let r = legacy("pw-wrong-guess-1").await;
    assert!(
        !r.headers.contains_key("www-authenticate"),
        "{:?}",
        r.headers
    );
    cti.set_down(true);
    let r = legacy(PW).await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE, "{:?}", r.body);
    cti.set_down(false);

    // Capillary token/generate by username.
    app.app_key("Bukl").await;
    let generate = |pw: &'static str| {
        let body = json!({"identifierType": "USERNAME", "identifierValue": "carol",
                "deviceId": "dev-1", "brand": "Bukl", "password": pw});
        let app = &app;
        async move {
            app.post_json("/auth/v1/mfa/token/generate", None, &body)
                .await
        }
    };
    cti.clear_received();
    let r = generate(PW).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(cti.received_on("/authentication/login").len(), 1);
    let r = generate("pw-wrong-guess-1").await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{:?}", r.body);
    cti.set_down(true);
    let r = generate(PW).await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE, "{:?}", r.body);
}
