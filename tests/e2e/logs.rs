//! What the server writes about a full scenario: JSON logs at debug level,
//! and at trace level with every route, Socket.IO and the proxy exercised
//! (the libraries' own output included), that never contain a password,
//! OTP code, recovery code, token, API key, session id or TOTP secret; the
//! fail2ban filter in `deploy/fail2ban` matching the real
//! failure lines (and no success line); and `otpgate audit` listing the
//! scenario's records after a graceful shutdown.

use std::collections::HashSet;

use serde_json::{Value, json};

use std::time::Duration;

use crate::clients::cap_who;
use crate::secrets_at_rest::legacy_token;
use crate::support::{
    Http, NodeSocket, Server, SmtpSink, add_app, code_in, have_node_client, have_python_module,
    have_tool, now_secs, oathtool_code, text,
};

const FILTER: &str = include_str!("../../deploy/fail2ban/otpgate.conf");

/// Everything secret the scenario used, to be looked for in the logs.
#[derive(Default)]
struct Secrets(Vec<String>);

impl Secrets {
    fn add(&mut self, s: &str) {
        assert!(s.len() >= 6, "too short to grep for: {s:?}");
        self.0.push(s.to_owned());
    }
}

/// Login, enrolment with oathtool's code, verify, recovery codes, a
/// recovery-code login, wrong passwords and codes, logout, disable.
/// Returns the secrets it saw.
async fn scenario(server: &Server) -> Secrets {
    let mut secrets = Secrets::default();
    let http = Http::new();
    let password = "Corr3ct-Horse-Battery";
    secrets.add(password);
    let out = server.cli(
        &["user", "add", "alice", "--password-stdin"],
        Some(&format!("{password}\n")),
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let login = async |pw: &str| http.try_login(&server.base, "alice", pw).await;
    for wrong in ["Wr0ng-Passw0rd-1", "Wr0ng-Passw0rd-2"] {
        secrets.add(wrong);
        assert_eq!(login(wrong).await.0, 401);
    }
    let (s, body) = login(password).await;
    assert_eq!(s, 200);
    let token = body["token"].as_str().unwrap().to_owned();
    secrets.add(&token);
    let (s, qr) = http.qr_code(&server.base, &token).await;
    assert_eq!(s, 200);
    let key = qr["data"]["key"].as_str().unwrap().to_owned();
    secrets.add(&key);
    secrets.add(&key.to_lowercase());
    let t0 = now_secs();
    let code = oathtool_code(&key, t0);
    secrets.add(&code);
    let verify =
        async |tok: &str, otp: &str| http.verify_otp(&server.base, tok, "alice", otp).await;
    let (s, v) = verify(&token, &code).await;
    assert_eq!(s, 200, "{v}");
    let verified = v["data"]["token"].as_str().unwrap().to_owned();
    secrets.add(&verified);
    let (s, rc) = http
        .new_recovery_codes(&server.base, &verified, password)
        .await;
    assert_eq!(s, 200);
    let codes = Http::recovery_codes_in(&rc);
    for c in &codes {
        secrets.add(c);
    }
    // A wrong code, then a replay of the enrolment code.
    let (_, body) = login(password).await;
    let pre = body["token"].as_str().unwrap().to_owned();
    secrets.add(&pre);
    let wrong_code = if code == "123456" { "654321" } else { "123456" };
    assert_eq!(verify(&pre, wrong_code).await.0, 400);
    assert_eq!(verify(&pre, &code).await.0, 400, "a replay");
    // A recovery-code login.
    let (s, v) = verify(&pre, &codes[0]).await;
    assert_eq!(s, 200, "{v}");
    let rescued = v["data"]["token"].as_str().unwrap().to_owned();
    secrets.add(&rescued);
    let (s, _) = http.logout(&server.base, &verified).await;
    assert_eq!(s, 200);
    let (s, _) = http
        .post(
            &server.url("/api/2fa/disable"),
            Some(&rescued),
            json!({"username": "alice", "password": password}),
        )
        .await;
    assert_eq!(s, 200);
    // A revoked token presented again.
    let (s, _) = http.me(&server.base, &rescued).await;
    assert_eq!(s, 401);
    secrets
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_debug_logs_of_a_full_scenario_hold_no_secret() {
    if !have_tool("oathtool", "apt-get install oathtool") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mut server = Server::start_capturing(
        dir.path(),
        &[("OTPGATE_LOG_FORMAT", "json"), ("OTPGATE_LOG", "debug")],
    );
    let secrets = scenario(&server).await;
    server.terminate();
    let lines = server.stderr_lines();
    // The logs were captured, at debug level, with the auth events.
    assert!(lines.len() > 20, "{lines:?}");
    let mut events = HashSet::new();
    for line in &lines {
        let v: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("not a JSON line ({e}): {line}"));
        if v["target"] == "otpgate::auth" {
            let msg = v["fields"]["message"].as_str().unwrap();
            events.insert(msg.split(' ').nth(2).unwrap().to_owned());
        }
    }
    for e in [
        "event=login_failed",
        "event=login_ok",
        "event=2fa_enabled",
        "event=otp_failed",
        "event=otp_replayed",
        "event=recovery_code_used",
        "event=token_revoked",
        "event=2fa_disabled",
        "event=all_tokens_revoked",
    ] {
        assert!(events.contains(e), "{e} not logged: {events:?}");
    }
    assert!(lines.iter().any(|l| l.contains("\"level\":\"DEBUG\"")));
    let all = lines.join("\n");
    for s in &secrets.0 {
        assert!(!all.contains(s.as_str()), "a secret is in the logs: {s}");
    }

    // The records were flushed on the graceful shutdown; the CLI lists them.
    let out = server.cli(
        &["audit", "--user", "Alice", "--since", "1h", "--json"],
        None,
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let records: Vec<serde_json::Value> = text(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let names: Vec<&str> = records
        .iter()
        .map(|r| r["event"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "login_failed",
            "login_failed",
            "login_ok",
            "2fa_enabled",
            "recovery_codes_regenerated",
            "login_ok",
            "otp_failed",
            "otp_replayed",
            "otp_failed",
            "recovery_code_used",
            "token_revoked",
            "2fa_disabled",
            "all_tokens_revoked",
        ]
    );
    for r in &records {
        assert_eq!(r["user"], "alice");
        assert_eq!(r["ip"], "127.0.0.1");
        assert_eq!(r["dialect"], "native");
        assert!(r["time"].as_str().unwrap().ends_with('Z'));
    }
    let listed = text(&out.stdout);
    for s in &secrets.0 {
        assert!(
            !listed.contains(s.as_str()),
            "a secret is in the audit: {s}"
        );
    }
    // Text form, and the CLI's own events (dialect cli). A reset-2fa of a
    // user whose 2FA is already off changes nothing and records nothing.
    let out = server.cli(&["user", "reset-2fa", "alice"], None);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let out = server.cli(&["token", "revoke-all", "alice"], None);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let out = server.cli(&["audit", "--since", "2020-01-01T00:00:00Z"], None);
    let lines: Vec<String> = text(&out.stdout).lines().map(str::to_owned).collect();
    let last = lines.last().unwrap();
    assert!(
        last.contains(" all_tokens_revoked user=alice ip=- dialect=cli"),
        "{last}"
    );
    assert!(
        !lines
            .iter()
            .any(|l| l.contains("2fa_disabled user=alice ip=- dialect=cli")),
        "{lines:?}"
    );
    let out = server.cli(&["audit", "--since", "yesterday"], None);
    assert!(!out.status.success());
}

/// An upstream application that counts what reaches it.
async fn counting_upstream() -> (String, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let hits = std::sync::Arc::new(AtomicUsize::new(0));
    let seen = hits.clone();
    let app = axum::Router::new().fallback(async move || {
        seen.fetch_add(1, Ordering::SeqCst);
        "upstream data"
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, hits)
}

/// After [`scenario`] (the native routes): Socket.IO login, the reverse
/// proxy, the legacy login, Single Connect, Capillary and Mudbase, with
/// codes delivered by SMTP (lettre's transcript would show them).
async fn more_of_every_route(server: &Server, smtp: &SmtpSink, secrets: &mut Secrets) {
    let http = Http::new();
    let password = "Bob-S3cret-Passw0rd";
    secrets.add(password);
    let out = server.cli(
        &[
            "user",
            "add",
            "bob",
            "--email",
            "bob@example.org",
            "--password-stdin",
        ],
        Some(&format!("{password}\n")),
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let (s, body) = http.try_login(&server.base, "bob", password).await;
    assert_eq!(s, 200);
    let token = body["token"].as_str().unwrap().to_owned();
    secrets.add(&token);
    // Socket.IO: the login payload carries the JWT.
    let login = json!({"accessKeyId": "bob", "token": token, "uaType": "desktop"});
    let c = NodeSocket::start(server, "/api/ws/", "websocket", Some(login), 8000);
    c.expect("connect", Duration::from_secs(5));
    c.expect("authe_ok", Duration::from_secs(5));
    drop(c);
    // The proxy, with a body and the token.
    let body_secret = "proxied-body-Secret-42";
    secrets.add(body_secret);
    let (s, _) = http
        .post(
            &server.url("/api/app/data"),
            Some(&token),
            json!({"note": body_secret}),
        )
        .await;
    assert_eq!(s, 200, "forwarded");
    // The legacy challenge login.
    let nonce = http.legacy_nonce(&server.base, "bob", password).await;
    let legacy = legacy_token("bob", password, &nonce);
    secrets.add(&legacy);
    let me = http
        .webrest(
            &server.base,
            reqwest::Method::GET,
            "/webrest/user/me",
            &format!("bob:{legacy}"),
        )
        .await;
    assert_eq!(me, 200, "legacy login");
    // Single Connect, with the application's key and an e-mailed code.
    let key = add_app(server, "shop");
    secrets.add(&key);
    secrets.add(key.split('.').nth(1).unwrap());
    let (s, _, body) = http
        .sc_status(
            &server.base,
            &key,
            &[("username", "bob"), ("applicationname", "shop")],
        )
        .await;
    assert_eq!((s, body.as_str()), (200, "true"));
    let code = code_in(&smtp.wait_for_message(1));
    secrets.add(&code);
    let (s, _, _) = http
        .sc_valid(&server.base, &key, "bob", &code, "shop")
        .await;
    assert_eq!(s, 200);
    // Capillary: password, session id, e-mailed code, the brand's token.
    let who = cap_who("USERNAME", "bob", "device-1", "shop");
    let (s, r) = http.cap_token(&server.base, &who, password).await;
    assert_eq!(s, 200, "{r}");
    let sid = r["user"]["sessionId"].as_str().unwrap().to_owned();
    secrets.add(&sid);
    let (s, r) = http.cap_otp(&server.base, &who, &sid).await;
    assert_eq!(s, 200, "{r}");
    let code = code_in(&smtp.wait_for_message(2));
    secrets.add(&code);
    let (s, r) = http
        .cap_validate(&server.base, &who, &sid, json!(code))
        .await;
    assert_eq!(s, 200, "{r}");
    secrets.add(r["auth"]["token"].as_str().unwrap());
    // Mudbase: enrol bob with oathtool's code.
    let (s, qr) = http.qr_code(&server.base, &token).await;
    assert_eq!(s, 200);
    let secret = qr["data"]["key"].as_str().unwrap().to_owned();
    secrets.add(&secret);
    secrets.add(&secret.to_lowercase());
    let code = oathtool_code(&secret, now_secs());
    secrets.add(&code);
    let (s, r) = http.mudbase_verify(&server.base, &token, &code).await;
    assert_eq!(s, 200, "{r}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trace_logs_of_every_route_socket_io_and_the_proxy_hold_no_secret() {
    if !have_tool("oathtool", "apt-get install oathtool")
        || !have_node_client()
        || !have_python_module("aiosmtpd", "apt-get install python3-aiosmtpd")
    {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mut smtp = SmtpSink::start(dir.path(), None);
    let (upstream, hits) = counting_upstream().await;
    let smtp_port = smtp.port.to_string();
    let mut server = Server::start_capturing(
        dir.path(),
        &[
            ("OTPGATE_LOG_FORMAT", "json"),
            ("OTPGATE_LOG", "trace"),
            ("OTPGATE_UPSTREAM_URL", &upstream),
            ("OTPGATE_LEGACY_ENABLED", "true"),
            ("OTPGATE_NOTIFIER_EMAIL", "smtp"),
            ("OTPGATE_SMTP_HOST", "127.0.0.1"),
            ("OTPGATE_SMTP_PORT", &smtp_port),
            ("OTPGATE_SMTP_TLS", "none"),
            ("OTPGATE_SMTP_FROM", "otpgate <no-reply@example.org>"),
        ],
    );
    let mut secrets = scenario(&server).await;
    more_of_every_route(&server, &smtp, &mut secrets).await;
    assert_eq!(hits.load(std::sync::atomic::Ordering::SeqCst), 1);
    server.terminate();
    smtp.stop();
    let lines = server.stderr_lines();
    // The filter let everything through (the libraries' debug lines that
    // hold no payload are there); only the caps held the rest back.
    assert!(lines.len() > 50, "{lines:?}");
    let targets: HashSet<String> = lines
        .iter()
        .filter(|l| l.contains("\"level\":\"DEBUG\"") || l.contains("\"level\":\"TRACE\""))
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter_map(|v| v["target"].as_str().map(str::to_owned))
        .collect();
    eprintln!("debug/trace targets: {targets:?}");
    assert!(!targets.is_empty(), "{lines:?}");
    let all = lines.join("\n");
    for s in &secrets.0 {
        assert!(
            !all.contains(s.as_str()),
            "a secret is in the trace logs: {s}"
        );
    }
}

/// The filter's `failregex`/`ignoreregex` as Rust regexes (`<HOST>`
/// becomes an IP capture, as fail2ban's tag matches one).
fn filter_regexes() -> (regex::Regex, regex::Regex) {
    let get = |key: &str| {
        FILTER
            .lines()
            .find_map(|l| l.strip_prefix(key)?.trim_start().strip_prefix('='))
            .unwrap()
            .trim()
            .replace("<HOST>", r"(?P<host>[0-9A-Fa-f.:]+)")
    };
    (
        regex::Regex::new(&get("failregex")).unwrap(),
        regex::Regex::new(&get("ignoreregex")).unwrap(),
    )
}

fn banned_host(line: &str) -> Option<String> {
    let (fail, ignore) = filter_regexes();
    let host = fail.captures(line)?.name("host")?.as_str().to_owned();
    (!ignore.is_match(line)).then_some(host)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_fail2ban_filter_matches_the_servers_failure_lines_only() {
    for format in ["text", "json"] {
        let dir = tempfile::tempdir().unwrap();
        let mut server = Server::start_capturing(
            dir.path(),
            &[("OTPGATE_LOG_FORMAT", format), ("OTPGATE_LOG", "info")],
        );
        server.add_user("bob", "Bob-Passw0rd");
        let http = Http::new();
        let login = async |pw: &str| http.try_login(&server.base, "bob", pw).await.0;
        assert_eq!(login("wrong-1").await, 401);
        assert_eq!(login("wrong-2").await, 401);
        assert_eq!(login("Bob-Passw0rd").await, 200);
        assert_eq!(http.me(&server.base, "not-a-token").await.0, 401);
        server.terminate();
        let lines = server.stderr_lines();
        let auth: Vec<&String> = lines
            .iter()
            .filter(|l| l.contains("otpgate auth "))
            .collect();
        assert!(auth.len() >= 3, "{format}: {lines:?}");
        let mut bans = 0;
        for line in &auth {
            let banned = banned_host(line);
            if line.contains("event=login_failed") {
                assert_eq!(banned.as_deref(), Some("127.0.0.1"), "{format}: {line}");
                bans += 1;
            } else if line.contains("event=login_ok") {
                assert_eq!(banned, None, "{format}: a success matched: {line}");
            }
        }
        assert_eq!(bans, 2, "{format}: {auth:?}");
    }
}

#[test]
fn the_filter_ignores_application_servers_but_not_bad_api_keys() {
    let line = |event: &str, dialect: &str| {
        format!(
            "2026-11-22T01:02:03.456Z  WARN otpgate::auth: otpgate auth event={event} user=alice ip=10.0.0.5 dialect={dialect} app=shop enduserip=203.0.113.9"
        )
    };
    assert_eq!(banned_host(&line("otp_invalid", "single_connect")), None);
    assert_eq!(banned_host(&line("otp_failed", "capillary")), None);
    assert_eq!(
        banned_host(&line("api_key_refused", "single_connect")).as_deref(),
        Some("10.0.0.5")
    );
    assert_eq!(
        banned_host(&line("otp_failed", "mudbase")).as_deref(),
        Some("10.0.0.5")
    );
    assert_eq!(banned_host(&line("otp_ok", "native")), None);
    assert_eq!(
        banned_host("otpgate auth event=otp_replayed user=a ip=2001:db8::1 dialect=socketio")
            .as_deref(),
        Some("2001:db8::1")
    );
}
