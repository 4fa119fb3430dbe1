//! Secrets at rest (issue 8 item 7): after a full scenario on the real
//! binary (passwords, TOTP enrolment, recovery codes, out-of-band codes
//! through Single Connect and Capillary, an API key from `otpgate app add`,
//! a legacy challenge login), a dump of the database holds none of the
//! secrets the clients saw: no password, no TOTP seed (base32, raw bytes or
//! their hex), no recovery code, no out-of-band code, no API key secret, no
//! legacy token, no Capillary session id.
//!
//! SQLite: every byte of `otpgate.db`, `-wal` and `-shm`, read while the
//! server runs and again after SIGKILL. The out-of-band codes go to a
//! webhook here, not to the outbox: the outbox notifier stores each code
//! for delivery on purpose (a mail spool, API.md §8), and a raw byte dump
//! cannot leave out one column.
//!
//! PostgreSQL: `pg_dump` of the whole database with the outbox table's data
//! left out, plus every column of every table `SELECT`ed as text except
//! `outbox.code` — the one column that holds a code by design (the
//! development notifier's spool; the verifier keeps only `oob_codes.code_hash`).

use std::path::Path;
use std::process::Command;

use hmac::{Hmac, KeyInit, Mac};
use serde_json::{Value, json};
use sha1::Sha1;
use sqlx::{Connection, Row};

use crate::clients::cap_who;
use crate::several_instances::{TestDb, env_for, pg_url};
use crate::support::{Gateway, Http, Server, add_app, have_tool, now_secs, oathtool_code, text};

const PW_ALICE: &str = "Alice-pass-7Qx!long";
const PW_BOB: &str = "Bob-pass-9Kz!longer";

/// Where the scenario reads the out-of-band codes from.
enum Codes<'a> {
    Outbox,
    Webhook(&'a Gateway),
}

/// Every secret a client saw during the scenario, as a label and the bytes
/// that must not appear in a dump.
#[derive(Default)]
struct Seen {
    /// Needles searched as they are.
    plain: Vec<(String, Vec<u8>)>,
    /// Short decimal codes, searched where no ASCII digit touches them (a
    /// longer number that happens to contain six digits is not a code).
    codes: Vec<(String, String)>,
}

impl Seen {
    fn secret(&mut self, label: &str, s: &str) {
        self.plain.push((label.to_owned(), s.as_bytes().to_vec()));
    }
    fn code(&mut self, label: &str, s: &str) {
        assert!(s.len() >= 6 && s.bytes().all(|b| b.is_ascii_digit()), "{s}");
        self.codes.push((label.to_owned(), s.to_owned()));
    }

    /// The labels of the secrets found in `hay`.
    fn found_in(&self, hay: &[u8]) -> Vec<String> {
        let mut hits = Vec::new();
        for (label, needle) in &self.plain {
            if hay.windows(needle.len()).any(|w| w == needle.as_slice()) {
                hits.push(label.clone());
            }
        }
        for (label, code) in &self.codes {
            let n = code.as_bytes();
            let found = hay.windows(n.len()).enumerate().any(|(i, w)| {
                w == n
                    && (i == 0 || !hay[i - 1].is_ascii_digit())
                    && hay.get(i + n.len()).is_none_or(|b| !b.is_ascii_digit())
            });
            if found {
                hits.push(label.clone());
            }
        }
        hits
    }
}

pub(crate) fn legacy_token(user: &str, password: &str, nonce: &str) -> String {
    let mut mac = <Hmac<Sha1> as KeyInit>::new_from_slice(password.as_bytes()).unwrap();
    mac.update(format!("{user}:{password}:{nonce}").as_bytes());
    data_encoding::HEXLOWER.encode(&mac.finalize().into_bytes())
}

async fn latest_code(server: &Server, codes: &Codes<'_>, user: &str, before: usize) -> String {
    match codes {
        Codes::Outbox => {
            let out = server.cli(&["outbox", "list", "--user", user, "--json"], None);
            assert!(out.status.success(), "{}", text(&out.stderr));
            let msgs: Vec<Value> = text(&out.stdout)
                .lines()
                .map(|l| serde_json::from_str(l).unwrap())
                .collect();
            assert!(msgs.len() > before, "no new outbox message");
            msgs.last().unwrap()["code"].as_str().unwrap().to_owned()
        }
        Codes::Webhook(g) => {
            let got = g.received();
            assert!(got.len() > before, "no new webhook delivery");
            got.last().unwrap().1["code"].as_str().unwrap().to_owned()
        }
    }
}

/// The full scenario; returns what the clients saw.
async fn scenario(server: &Server, codes: Codes<'_>) -> Seen {
    let http = Http::new();
    let mut seen = Seen::default();
    for (user, pw, extra) in [
        ("alice", PW_ALICE, vec!["--email", "alice@example.org"]),
        ("bob", PW_BOB, vec!["--email", "bob@example.org"]),
    ] {
        let mut args = vec!["user", "add", user];
        args.extend(extra);
        args.push("--password-stdin");
        let out = server.cli(&args, Some(&format!("{pw}\n")));
        assert!(out.status.success(), "{}", text(&out.stderr));
        seen.secret(&format!("password of {user}"), pw);
    }
    // A generated password, printed once by the CLI.
    let out = server.cli(&["user", "add", "carol"], None);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    let generated = stdout
        .lines()
        .find_map(|l| l.strip_prefix("password (shown once): "))
        .expect("a generated password")
        .trim()
        .to_owned();
    let (s, _) = http.try_login(&server.base, "carol", &generated).await;
    assert_eq!(s, 200, "the generated password logs in");
    seen.secret("generated password of carol", &generated);

    // TOTP enrolment and recovery codes (one used).
    let (s, login) = http.try_login(&server.base, "alice", PW_ALICE).await;
    assert_eq!(s, 200, "{login}");
    let t = login["token"].as_str().unwrap().to_owned();
    let (_, qr) = http.qr_code(&server.base, &t).await;
    let b32 = qr["data"]["key"].as_str().unwrap().to_owned();
    let raw = data_encoding::BASE32_NOPAD
        .decode(b32.as_bytes())
        .expect("base32 seed");
    assert_eq!(raw.len(), 20);
    seen.secret("TOTP seed (base32)", &b32);
    seen.secret("TOTP seed (base32, lower case)", &b32.to_lowercase());
    seen.secret("TOTP seed (hex)", &data_encoding::HEXLOWER.encode(&raw));
    seen.plain.push(("TOTP seed (raw bytes)".into(), raw));
    let (s, v) = http
        .verify_otp(&server.base, &t, "alice", &oathtool_code(&b32, now_secs()))
        .await;
    assert_eq!(s, 200, "{v}");
    let verified = v["data"]["token"].as_str().unwrap().to_owned();
    let (s, rc) = http
        .new_recovery_codes(&server.base, &verified, PW_ALICE)
        .await;
    assert_eq!(s, 200, "{rc}");
    let rcodes = Http::recovery_codes_in(&rc);
    assert_eq!(rcodes.len(), 5);
    for (i, c) in rcodes.iter().enumerate() {
        seen.code(&format!("recovery code {i}"), c);
    }
    let (_, login) = http.try_login(&server.base, "alice", PW_ALICE).await;
    let pre = login["token"].as_str().unwrap().to_owned();
    let (s, v) = http
        .verify_otp(&server.base, &pre, "alice", &rcodes[0])
        .await;
    assert_eq!(s, 200, "recovery code: {v}");

    // An application key; Single Connect with an out-of-band code for bob.
    let key = add_app(server, "shop");
    let (_, secret) = key.split_once('.').unwrap();
    seen.secret("API key", &key);
    seen.secret("API key secret", secret);
    let sent_before = match &codes {
        Codes::Outbox => 0,
        Codes::Webhook(g) => g.received().len(),
    };
    let (s, _, body) = http
        .sc_status(
            &server.base,
            &key,
            &[
                ("username", "bob"),
                ("enduserip", "10.0.0.1"),
                ("applicationname", "shop"),
            ],
        )
        .await;
    assert_eq!((s, body.as_str()), (200, "true"));
    let oob1 = latest_code(server, &codes, "bob", sent_before).await;
    seen.code("out-of-band code (Single Connect)", &oob1);
    let (s, _, _) = http
        .sc_valid(&server.base, &key, "bob", &oob1, "shop")
        .await;
    assert_eq!(s, 200);

    // Capillary: a session and a code, validated; and a second code left
    // pending (its hash is still in the store).
    let who = cap_who("EMAIL", "bob@example.org", "dev-1", "shop");
    for round in 0..2 {
        let (s, r) = http.cap_token(&server.base, &who, PW_BOB).await;
        assert_eq!(s, 200, "{r}");
        let sid = r["user"]["sessionId"].as_str().unwrap().to_owned();
        seen.secret(&format!("Capillary session id {round}"), &sid);
        let before = match &codes {
            Codes::Outbox => {
                let out = server.cli(&["outbox", "list", "--user", "bob", "--json"], None);
                text(&out.stdout).lines().count()
            }
            Codes::Webhook(g) => g.received().len(),
        };
        let (s, r) = http.cap_otp(&server.base, &who, &sid).await;
        assert_eq!(s, 200, "{r}");
        let code = latest_code(server, &codes, "bob", before).await;
        seen.code(&format!("out-of-band code (Capillary {round})"), &code);
        if round == 0 {
            let (s, r) = http
                .cap_validate(&server.base, &who, &sid, json!(code))
                .await;
            assert_eq!(s, 200, "{r}");
            assert_eq!(r["status"]["success"], true, "{r}");
        }
    }

    // A legacy challenge login for bob (no 2FA).
    let (s, _) = http
        .post(
            &server.url("/webrest/authentication/login"),
            None,
            json!({"username": "bob", "password": PW_BOB}),
        )
        .await;
    assert_eq!(s, 401);
    let nonce = http.legacy_nonce(&server.base, "bob", PW_BOB).await;
    let token = legacy_token("bob", PW_BOB, &nonce);
    let me = http
        .webrest(
            &server.base,
            reqwest::Method::GET,
            "/webrest/user/me",
            &format!("bob:{token}"),
        )
        .await;
    assert_eq!(me, 200, "legacy login");
    seen.secret("legacy token", &token);
    seen
}

fn sqlite_bytes(dir: &Path) -> Vec<u8> {
    let data = dir.join("otpgate-data");
    let mut all = Vec::new();
    let mut files = 0;
    for name in ["otpgate.db", "otpgate.db-wal", "otpgate.db-shm"] {
        if let Ok(b) = std::fs::read(data.join(name)) {
            files += 1;
            all.extend(b);
        }
    }
    assert!(files >= 1 && all.len() > 4096, "no database file");
    all
}

fn assert_clean(seen: &Seen, hay: &[u8], what: &str) {
    let hits = seen.found_in(hay);
    assert!(hits.is_empty(), "{what} holds in plaintext: {hits:?}");
}

/// The check itself must see a secret that is there (else a broken search
/// would pass everything).
fn check_the_check(seen: &Seen) {
    let mut hay = b"x".to_vec();
    for (_, n) in &seen.plain {
        hay.extend(n);
        hay.push(b'|');
    }
    for (_, c) in &seen.codes {
        hay.extend(c.as_bytes());
        hay.push(b'|');
    }
    assert_eq!(
        seen.found_in(&hay).len(),
        seen.plain.len() + seen.codes.len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_files_hold_no_secret_in_plaintext() {
    if !have_tool("oathtool", "apt-get install oathtool") {
        return;
    }
    let gateway = Gateway::start(0, 200).await;
    let dir = tempfile::tempdir().unwrap();
    let env = [
        ("OTPGATE_LEGACY_ENABLED", "true"),
        ("OTPGATE_RATE_LIMIT_AVERAGE", "0"),
        ("OTPGATE_NOTIFIER_EMAIL", "webhook"),
        ("OTPGATE_NOTIFIER_SMS", "webhook"),
        ("OTPGATE_WEBHOOK_URL", gateway.url.as_str()),
    ];
    let server = Server::start(dir.path(), &env);
    let seen = scenario(&server, Codes::Webhook(&gateway)).await;
    check_the_check(&seen);
    assert_clean(&seen, &sqlite_bytes(dir.path()), "the live SQLite files");
    server.kill();
    assert_clean(
        &seen,
        &sqlite_bytes(dir.path()),
        "the SQLite files after SIGKILL",
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_dump_holds_no_secret_in_plaintext() {
    let Some(admin) = pg_url() else { return };
    if !have_tool("oathtool", "apt-get install oathtool") {
        return;
    }
    let db = TestDb::create(&admin).await;
    let dir = tempfile::tempdir().unwrap();
    let mut env = env_for(&db.url);
    env.push(("OTPGATE_LEGACY_ENABLED", "true".to_owned()));
    let server = crate::several_instances::start(dir.path(), &env);
    let seen = scenario(&server, Codes::Outbox).await;
    check_the_check(&seen);

    // Every column of every table as text, but outbox.code.
    let mut conn = sqlx::PgConnection::connect(&db.url).await.unwrap();
    let cols = sqlx::query(
        "SELECT table_name::text, column_name::text FROM information_schema.columns \
         WHERE table_schema = 'public' ORDER BY table_name, ordinal_position",
    )
    .fetch_all(&mut conn)
    .await
    .unwrap();
    let mut dump = Vec::new();
    let mut tables = std::collections::BTreeSet::new();
    let mut outbox_rows = 0;
    for row in &cols {
        let table: String = row.get(0);
        let column: String = row.get(1);
        tables.insert(table.clone());
        if table == "outbox" && column == "code" {
            continue;
        }
        let values: Vec<Option<String>> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
            "SELECT \"{column}\"::text FROM \"{table}\""
        )))
        .fetch_all(&mut conn)
        .await
        .unwrap();
        if table == "outbox" {
            outbox_rows = values.len();
        }
        for v in values.into_iter().flatten() {
            dump.extend(v.into_bytes());
            dump.push(b'\n');
        }
    }
    for t in [
        "users",
        "recovery_codes",
        "applications",
        "oob_codes",
        "mfa_sessions",
        "legacy_grants",
    ] {
        assert!(tables.contains(t), "table {t} was dumped");
    }
    assert!(outbox_rows >= 3, "the outbox kept the codes it delivers");
    assert_clean(
        &seen,
        &dump,
        "every column of every table (but outbox.code)",
    );
    conn.close().await.unwrap();

    // pg_dump of the whole database, the outbox's rows left out.
    if have_tool("pg_dump", "apt-get install postgresql-client") {
        let out = Command::new("pg_dump")
            .args(["--no-owner", "--exclude-table-data=outbox", "-d", &db.url])
            .output()
            .unwrap();
        if out.status.success() {
            let text_dump = out.stdout;
            assert!(
                String::from_utf8_lossy(&text_dump).contains("COPY public.users"),
                "a real dump"
            );
            assert_clean(&seen, &text_dump, "pg_dump");
        } else {
            // A pg_dump older than the server refuses to dump it; the
            // column-by-column dump above covers the same data.
            let _ = std::io::Write::write_all(
                &mut std::io::stderr(),
                format!("pg_dump unusable here: {}\n", text(&out.stderr)).as_bytes(),
            );
        }
    }
    drop(server);
    db.drop_now().await;
}
