//! The real binary in front of a CTI server (API.md §9), configured with
//! the NethCTI middleware's own variables: a user who exists only on the
//! CTI server logs in and is created, the CLI names the backend, a CTI
//! server that is down is a 503 that locks nobody out, and the CLI's
//! `token revoke-all` ends the CTI session.

use serde_json::json;

use crate::cti_server::CtiServer;
use crate::support::{Http, Server, text};

const PW: &str = "pw-secret-9";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cti_user_logs_in_through_the_binary_configured_with_the_v1_variables() {
    let cti = CtiServer::start(&[("carol", PW)]).await;
    let dir = tempfile::tempdir().unwrap();
    let endpoint = cti.addr.to_string();
    let server = Server::start(
        dir.path(),
        &[
            ("NETHVOICE_MIDDLEWARE_V1_API_ENDPOINT", &endpoint),
            ("NETHVOICE_MIDDLEWARE_V1_API_PATH", "/webrest"),
        ],
    );
    let http = Http::new();
    let login = |pw: &'static str| {
        let (http, url) = (&http, server.url("/api/login"));
        async move {
            http.post(&url, None, json!({"username": "carol", "password": pw}))
                .await
        }
    };
    let (s, body) = login(PW).await;
    assert_eq!(s, 200, "{body}");
    assert!(body["token"].is_string());
    let show = server.cli(&["user", "show", "carol"], None);
    assert!(
        text(&show.stdout).contains("backend: nethcti"),
        "{}",
        text(&show.stdout)
    );
    let t = cti.persistent_token("carol").expect("CTI session opened");
    // No first `admin` with a password of ours: the CTI server's users
    // are the users.
    let list = server.cli(&["user", "list", "--json"], None);
    let users: Vec<serde_json::Value> = text(&list.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(users.len(), 1, "{users:?}");
    assert_eq!(users[0]["username"], "carol");
    assert_eq!(users[0]["backend"], "nethcti");

    // Down: 503, never counted (more attempts than the lockout allows).
    cti.set_down(true);
    for _ in 0..7 {
        let (s, body) = login(PW).await;
        assert_eq!(s, 503, "{body}");
        assert_eq!(body["message"], "upstream_unavailable", "{body}");
    }
    cti.set_down(false);
    let (s, body) = login(PW).await;
    assert_eq!(s, 200, "{body}");
    let t = cti
        .persistent_token("carol")
        .filter(|new| *new != t)
        .expect("a new CTI session replaced the old one");

    // The CLI ends the CTI session with the user's tokens.
    let out = server.cli(&["token", "revoke-all", "carol"], None);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let removed = cti.received_on("/authentication/persistent_token_remove");
    assert_eq!(removed.len(), 1);
    assert_eq!(
        removed[0].authorization.as_deref(),
        Some(format!("carol:{t}").as_str())
    );
    assert_eq!(cti.persistent_token("carol"), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binary_forwards_to_the_cti_server_with_user_t_under_an_empty_prefix() {
    let cti = CtiServer::start(&[("carol", PW)]).await;
    let dir = tempfile::tempdir().unwrap();
    let endpoint = cti.addr.to_string();
    // As behind Traefik, which strips `/api`; a FreePBX list of our own.
    let server = Server::start(
        dir.path(),
        &[
            ("NETHVOICE_MIDDLEWARE_V1_API_ENDPOINT", &endpoint),
            ("NETHVOICE_MIDDLEWARE_V1_API_PATH", "/webrest"),
            ("NETHVOICE_MIDDLEWARE_FREEPBX_APIS", "/astproxy/extension"),
            ("OTPGATE_API_PREFIX", ""),
        ],
    );
    let http = Http::new();
    let (s, body) = http
        .post(
            &server.url("/login"),
            None,
            json!({"username": "carol", "password": PW}),
        )
        .await;
    assert_eq!(s, 200, "{body}");
    let jwt = body["token"].as_str().unwrap().to_owned();
    let t = cti.persistent_token("carol").expect("CTI session opened");
    cti.clear_received();

    let (s, body) = http
        .get(&server.url("/astproxy/extensions?x=1"), &jwt)
        .await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(body["201"]["owner"], "carol");
    let got = cti.received_on("/astproxy/extensions");
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].query.as_deref(), Some("x=1"));
    assert_eq!(
        got[0].authorization.as_deref(),
        Some(format!("carol:{t}").as_str())
    );
    assert!(
        got[0]
            .headers
            .values()
            .all(|v| !v.to_str().unwrap_or_default().contains(&jwt)),
        "the JWT reached the CTI server"
    );
    let (s, body) = http.get(&server.url("/user/me"), &jwt).await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(body["mainPresence"], "online", "{body}");
    let (s, body) = http.get(&server.url("/nowhere"), &jwt).await;
    assert_eq!(
        (s, body),
        (404, json!({"code": 404, "message": "API not found"}))
    );

    // The list from the variable: /astproxy/extensions is not in it.
    let client = reqwest::Client::new();
    let freepbx = |path: &str| {
        client
            .get(server.url(path))
            .header("User", "admin")
            .header("Secretkey", crate::cti_server::FREEPBX_KEY)
            .send()
    };
    let r = freepbx("/astproxy/extension/201").await.unwrap();
    assert_eq!(r.status(), 200);
    let r = freepbx("/astproxy/extensions").await.unwrap();
    assert_eq!(r.status(), 401);

    cti.set_down(true);
    let (s, body) = http.get(&server.url("/astproxy/extensions"), &jwt).await;
    assert_eq!(s, 503, "{body}");
    assert_eq!(body["message"], "upstream_unavailable");
}
