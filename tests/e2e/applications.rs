//! Applications from the CLI to the wire, on the real binary with the
//! default (outbox) notifier: `app add` prints the key alone on the last
//! line, `outbox list --json` shows the codes, and the Single Connect,
//! Capillary and Mudbase dialects work with them; `app revoke` kills the
//! key at once.

use serde_json::{Value, json};

use crate::clients::cap_who;
use crate::support::{Http, Server, add_app, have_tool, now_secs, oathtool_code, text};

fn outbox_codes(server: &Server, user: &str) -> Vec<Value> {
    let out = server.cli(&["outbox", "list", "--user", user, "--json"], None);
    assert!(out.status.success(), "{}", text(&out.stderr));
    text(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn applications_and_the_dialects_with_the_outbox() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[]);
    let http = Http::new();
    let out = server.cli(
        &[
            "user",
            "add",
            "alice",
            "--email",
            "alice@example.org",
            "--phone",
            "+1 876 743 1754",
            "--external-id",
            "CRM-7",
            "--role",
            "operator",
            "--password-stdin",
        ],
        Some("S3cret-Alice\n"),
    );
    assert!(out.status.success(), "{}", text(&out.stderr));

    // app add: the key alone on the last line, `<16 hex>.<secret>`.
    let key = add_app(&server, "Shop");
    let (id, secret) = key.split_once('.').expect("<id>.<secret>");
    assert_eq!(id.len(), 16);
    assert!(secret.len() >= 40);
    let list = text(&server.cli(&["app", "list"], None).stdout);
    assert!(list.contains("shop") && list.contains(id), "{list}");
    assert!(!list.contains(secret), "the secret is never shown again");
    let dup = server.cli(&["app", "add", "shop"], None);
    assert!(!dup.status.success());
    assert_eq!(
        text(&dup.stderr).lines().count(),
        1,
        "{}",
        text(&dup.stderr)
    );

    // Single Connect: otpstatus sends a code (outbox), otpvalid takes it.
    let (s, ct, body) = http
        .sc_status(
            &server.base,
            &key,
            &[
                ("username", "alice"),
                ("enduserip", "1.2.3.4"),
                ("applicationname", "shop"),
            ],
        )
        .await;
    assert_eq!((s, body.as_str()), (200, "true"));
    assert!(ct.starts_with("text/plain"), "{ct}");
    let msgs = outbox_codes(&server, "alice");
    assert_eq!(msgs.len(), 1);
    let m = msgs[0].as_object().unwrap();
    let mut keys: Vec<&str> = m.keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(keys, ["channel", "code", "created_at", "to", "user"]);
    assert_eq!(m["user"], "alice");
    assert_eq!(m["channel"], "email");
    assert_eq!(m["to"], "alice@example.org");
    let code = m["code"].as_str().unwrap().to_owned();
    let (s, _, body) = http
        .sc_valid(&server.base, &key, "alice", &code, "shop")
        .await;
    assert_eq!((s, body.as_str()), (200, ""));
    let (s, ct, body) = http
        .sc_valid(&server.base, &key, "alice", &code, "shop")
        .await;
    assert_eq!(s, 403);
    assert!(
        ct.starts_with("text/html") && body.contains("HTTP Status 403"),
        "{body}"
    );

    // Capillary: brand = the application; MOBILE -> SMS in the outbox.
    let who = cap_who("MOBILE", "18767431754", "1234", "Shop");
    let (s, r) = http.cap_token(&server.base, &who, "S3cret-Alice").await;
    assert_eq!(s, 200, "{r}");
    let sid = r["user"]["sessionId"].as_str().unwrap().to_owned();
    let (s, r) = http.cap_otp(&server.base, &who, &sid).await;
    assert_eq!(s, 200, "{r}");
    let last = outbox_codes(&server, "alice").pop().unwrap();
    assert_eq!(last["channel"], "sms");
    let code: String = last["code"].as_str().unwrap().to_owned();
    let (s, r) = http
        .cap_validate(
            &server.base,
            &who,
            &sid,
            json!(code.parse::<u64>().unwrap()),
        )
        .await;
    assert_eq!(s, 200, "{r}");
    assert_eq!(
        r["status"],
        json!({"success": true, "code": 200, "message": "SUCCESS"})
    );
    let token = r["auth"]["token"].as_str().unwrap().to_owned();
    assert_eq!(r["user"]["role"], "operator");
    // The application's token (API.md §6b): the native API refuses it.
    let (s, me) = http.me(&server.base, &token).await;
    assert_eq!(s, 403, "{me}");
    assert_eq!(me["message"], "token_audience_mismatch");

    // JWT-only routes refuse the API key.
    let (s, r) = http
        .post_with(
            &server.url("/api/2fa/verify-otp"),
            &[
                ("x-api-key", &key),
                ("authorization", &format!("Bearer {token}")),
            ],
            json!({"username": "alice", "otp": "123456"}),
        )
        .await;
    assert_eq!(s, 403, "{r}");

    // Mudbase: enable 2FA with a code computed by oathtool.
    if have_tool("oathtool", "apt-get install oathtool") {
        let (_, login) = http.try_login(&server.base, "alice", "S3cret-Alice").await;
        let t = login["token"].as_str().unwrap().to_owned();
        let (_, qr) = http.qr_code(&server.base, &t).await;
        let b32 = qr["data"]["key"].as_str().unwrap().to_owned();
        let (s, r) = http
            .post_with(
                &server.url("/api/users/2fa/verify"),
                &[
                    ("x-api-key", &key),
                    ("authorization", &format!("Bearer {t}")),
                ],
                json!({"token": oathtool_code(&b32, now_secs())}),
            )
            .await;
        assert_eq!(s, 403, "{r}");
        assert_eq!(r["message"], "API keys are not supported for this endpoint");
        let (s, r) = http
            .mudbase_verify(&server.base, &t, &oathtool_code(&b32, now_secs()))
            .await;
        assert_eq!(s, 200, "{r}");
        assert_eq!(r, json!({"message": "2FA enabled successfully"}));
    }

    // Revoke: the key stops working at once.
    let out = server.cli(&["app", "revoke", "shop"], None);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let (s, _, _) = http
        .sc_status(
            &server.base,
            &key,
            &[
                ("username", "alice"),
                ("enduserip", "1.2.3.4"),
                ("applicationname", "shop"),
            ],
        )
        .await;
    assert_eq!(s, 401);
    let out = server.cli(&["app", "revoke", "shop"], None);
    assert!(!out.status.success(), "revoking twice is an error");
}
