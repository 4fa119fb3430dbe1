//! Races on every single-use thing (issue 8 item 4): 50 concurrent
//! attempts with the same value, over HTTP against the real binary, give
//! exactly one success — on one instance (SQLite) and across two real
//! processes on one PostgreSQL database (attempts alternate between them).
//!
//! The single-use things: a TOTP time step (`verify-otp`), a recovery code
//! (`verify-otp`), an out-of-band code (Single Connect `otpvalid`), a
//! Capillary MFA session (`otp/validate`) and a legacy nonce (its first use
//! turns it into the legacy session exactly once: all concurrent first uses
//! share that one session, and once it is logged out the nonce is never
//! redeemed again).
//!
//! These servers run with the global rate limit off and the OTP lockout
//! threshold raised to 100 (the highest the configuration accepts, NIST
//! 800-63B's ceiling; the 49 losers of a race stay under it, and a success
//! resets the count): with the default of 5 the 49 losing attempts would
//! lock the user after 5 of them and the rest would be answered 429 before
//! the single-use check ever ran, so the test would measure the lockout,
//! not the atomicity of consumption; worse, a lockout triggered by losers
//! that happen to run first would also refuse the winner. The lockout has
//! its own tests (crates/http/tests/it/lockout.rs, several_instances.rs).
//! Argon2 is made cheap for the same reason: its cost is not under test.
//!
//! The lockout itself races too (issue 15): with the default thresholds,
//! 50 concurrent wrong codes (for a user with and without recovery codes)
//! or wrong passwords are exactly five evaluations, then 429s, on one
//! instance and across two on one PostgreSQL.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use crate::clients::{SC_VALID, cap_who, with};
use crate::race::{count_where, race, tally};
use crate::several_instances::{TestDb, env_for, pg_url};
use crate::support::{Http, Server, add_app, have_tool, now_secs, oathtool_code, text};

const N: usize = 50;

fn race_env() -> Vec<(&'static str, String)> {
    vec![
        ("OTPGATE_RATE_LIMIT_AVERAGE", "0".into()),
        ("OTPGATE_LOCKOUT_OTP_MAX_FAILURES", "100".into()),
        ("OTPGATE_LEGACY_ENABLED", "true".into()),
        ("OTPGATE_ARGON2_MEMORY_KIB", "1024".into()),
        ("OTPGATE_ARGON2_ITERATIONS", "1".into()),
        ("OTPGATE_ARGON2_PARALLELISM", "1".into()),
        ("OTPGATE_HASHING_QUEUE", "1000".into()),
    ]
}

/// One request of a race: method, path, headers, body.
#[derive(Clone)]
enum Req {
    Json {
        path: String,
        bearer: Option<String>,
        body: Value,
    },
    Form {
        path: String,
        key: String,
        fields: Vec<(String, String)>,
    },
    Get {
        path: String,
        authorization: String,
    },
}

impl Req {
    /// The request to `base`, ready to send.
    fn build(self, client: &reqwest::Client, base: &str) -> reqwest::RequestBuilder {
        match self {
            Req::Json { path, bearer, body } => {
                let mut r = client
                    .post(format!("{base}{path}"))
                    .header("content-type", "application/json")
                    .body(body.to_string());
                if let Some(t) = bearer {
                    r = r.bearer_auth(t);
                }
                r
            }
            Req::Form { path, key, fields } => client
                .post(format!("{base}{path}"))
                .header("content-type", "application/x-www-form-urlencoded")
                .header("x-api-key", key)
                .body(serde_urlencoded::to_string(&fields).unwrap()),
            Req::Get {
                path,
                authorization,
            } => client
                .get(format!("{base}{path}"))
                .header("authorization", authorization),
        }
    }
}

/// Sends `req` `N` times at once ([`race`]), alternating over `bases`;
/// returns the (status, body) of each attempt.
async fn fire(bases: &[String], req: Req) -> Vec<(u16, Value)> {
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(N)
        .build()
        .unwrap();
    race(N, |i| {
        let r = req.clone().build(&client, &bases[i % bases.len()]);
        async move {
            let resp = r.send().await.unwrap();
            let status = resp.status().as_u16();
            let body = resp.text().await.unwrap();
            (
                status,
                serde_json::from_str(&body).unwrap_or(Value::String(body)),
            )
        }
    })
    .await
}

fn statuses(results: &[(u16, Value)]) -> BTreeMap<u16, usize> {
    tally(results.iter().map(|(s, _)| *s))
}

fn exactly_one_200(what: &str, results: &[(u16, Value)]) {
    let ok = count_where(results, |(s, _)| *s == 200);
    assert_eq!(ok, 1, "{what}: {:?}", statuses(results));
    assert!(
        results.iter().all(|(s, _)| *s < 500),
        "{what}: {:?}",
        statuses(results)
    );
}

fn outbox_last(server: &Server, user: &str) -> String {
    let out = server.cli(&["outbox", "list", "--user", user, "--json"], None);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let last: Value = serde_json::from_str(text(&out.stdout).lines().last().unwrap()).unwrap();
    last["code"].as_str().unwrap().to_owned()
}

/// Every race of the module against `server` (for the CLI) and `bases`.
async fn all_races(server: &Server, bases: &[String]) {
    let http = Http::new();
    let b0 = bases[0].as_str();
    for (user, extra) in [
        ("tina", vec![]),
        ("olga", vec!["--email", "olga@example.org"]),
        ("lee", vec![]),
    ] {
        let mut args = vec!["user", "add", user];
        args.extend(extra);
        args.push("--password-stdin");
        let out = server.cli(&args, Some(&format!("pw-{user}-secret\n")));
        assert!(out.status.success(), "{}", text(&out.stderr));
    }

    // 1. A TOTP step: enrol at the current step, then race the next one.
    let t = http.login_token(b0, "tina", "pw-tina-secret").await;
    let (s, qr) = http.qr_code(b0, &t).await;
    assert_eq!(s, 200, "{qr}");
    let key = qr["data"]["key"].as_str().unwrap().to_owned();
    let now = now_secs();
    let (s, v) = http
        .verify_otp(b0, &t, "tina", &oathtool_code(&key, now))
        .await;
    assert_eq!(s, 200, "{v}");
    let verified = v["data"]["token"].as_str().unwrap().to_owned();
    let pre = http.login_token(b0, "tina", "pw-tina-secret").await;
    let next = oathtool_code(&key, now + 30);
    let r = fire(
        bases,
        Req::Json {
            path: "/api/2fa/verify-otp".into(),
            bearer: Some(pre.clone()),
            body: json!({"username": "tina", "otp": next}),
        },
    )
    .await;
    exactly_one_200("TOTP step", &r);

    // 2. A recovery code.
    let (s, rc) = http
        .new_recovery_codes(b0, &verified, "pw-tina-secret")
        .await;
    assert_eq!(s, 200, "{rc}");
    let code = rc["codes"][0].as_str().unwrap().to_owned();
    let pre = http.login_token(b0, "tina", "pw-tina-secret").await;
    let r = fire(
        bases,
        Req::Json {
            path: "/api/2fa/verify-otp".into(),
            bearer: Some(pre),
            body: json!({"username": "tina", "otp": code}),
        },
    )
    .await;
    exactly_one_200("recovery code", &r);

    // 3. An out-of-band code (Single Connect).
    let app = add_app(server, "shop");
    let (s, _, body) = http
        .sc_status(
            b0,
            &app,
            &[
                ("username", "olga"),
                ("enduserip", "10.1.1.1"),
                ("applicationname", "shop"),
            ],
        )
        .await;
    assert_eq!(s, 200);
    assert_eq!(body, "true");
    let oob = outbox_last(server, "olga");
    let fields = [
        ("username", "olga"),
        ("token", oob.as_str()),
        ("applicationname", "shop"),
    ]
    .iter()
    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
    .collect();
    let r = fire(
        bases,
        Req::Form {
            path: SC_VALID.into(),
            key: app.clone(),
            fields,
        },
    )
    .await;
    exactly_one_200("out-of-band code", &r);

    // 4. A Capillary MFA session (with its out-of-band code).
    let who = cap_who("EMAIL", "olga@example.org", "dev-7", "shop");
    let (s, g) = http.cap_token(b0, &who, "pw-olga-secret").await;
    assert_eq!(s, 200, "{g}");
    let sid = g["user"]["sessionId"].as_str().unwrap().to_owned();
    let (s, g) = http.cap_otp(b0, &who, &sid).await;
    assert_eq!(s, 200, "{g}");
    let code = outbox_last(server, "olga");
    let r = fire(
        bases,
        Req::Json {
            path: "/auth/v1/mfa/otp/validate".into(),
            bearer: None,
            body: with(who, json!({"sessionId": sid, "otp": code})),
        },
    )
    .await;
    let wins: Vec<&(u16, Value)> = r
        .iter()
        .filter(|(_, b)| b["status"]["success"] == true)
        .collect();
    assert_eq!(wins.len(), 1, "Capillary session: {:?}", statuses(&r));
    assert_eq!(wins[0].0, 200);
    assert!(
        wins[0].1["auth"]["token"]
            .as_str()
            .is_some_and(|t| !t.is_empty())
    );
    exactly_one_200("Capillary session", &r);

    // 5. A legacy nonce: concurrent first uses redeem it once (one legacy
    // session, which they all share, as API.md §2 sends the token on every
    // request); after that session's logout it is never redeemed again.
    let nonce = http.legacy_nonce(b0, "lee", "pw-lee-secret").await;
    let token = crate::secrets_at_rest::legacy_token("lee", "pw-lee-secret", &nonce);
    let use_it = Req::Get {
        path: "/webrest/user/me".into(),
        authorization: format!("lee:{token}"),
    };
    let r = fire(bases, use_it.clone()).await;
    assert_eq!(
        statuses(&r),
        [(200, N)].into_iter().collect(),
        "concurrent first uses share one session"
    );
    let out = http
        .webrest(
            &bases[bases.len() - 1],
            reqwest::Method::POST,
            "/webrest/authentication/logout",
            &format!("lee:{token}"),
        )
        .await;
    assert_eq!(out, 200);
    let r = fire(bases, use_it).await;
    assert_eq!(
        statuses(&r),
        [(401, N)].into_iter().collect(),
        "one logout ends the only session the nonce made, and the nonce is spent"
    );
}

/// Runs `races` against one server started with `env` (SQLite).
async fn on_one_instance(
    env: Vec<(&'static str, String)>,
    races: impl AsyncFn(&Server, &[String]),
) {
    if !have_tool("oathtool", "apt-get install oathtool") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let pairs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let server = Server::start(dir.path(), &pairs);
    races(&server, std::slice::from_ref(&server.base)).await;
}

/// Runs `races` against two servers started with `env` on one fresh
/// PostgreSQL database (the first also for the CLI).
async fn on_two_instances_one_postgres(
    env: Vec<(&'static str, String)>,
    races: impl AsyncFn(&Server, &[String]),
) {
    let Some(admin) = pg_url() else { return };
    if !have_tool("oathtool", "apt-get install oathtool") {
        return;
    }
    let db = TestDb::create(&admin).await;
    let dir = tempfile::tempdir().unwrap();
    let mut all = env_for(&db.url);
    all.extend(env);
    let a = crate::several_instances::start(dir.path(), &all);
    let b = crate::several_instances::start(dir.path(), &all);
    races(&a, &[a.base.clone(), b.base.clone()]).await;
    drop(a);
    drop(b);
    db.drop_now().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fifty_concurrent_uses_of_a_single_use_value_one_instance() {
    on_one_instance(race_env(), all_races).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fifty_concurrent_uses_of_a_single_use_value_two_instances_one_postgres() {
    on_two_instances_one_postgres(race_env(), all_races).await;
}

/// The race servers' settings with the default lockout thresholds.
fn lockout_env() -> Vec<(&'static str, String)> {
    race_env()
        .into_iter()
        .filter(|(k, _)| *k != "OTPGATE_LOCKOUT_OTP_MAX_FAILURES")
        .collect()
}

/// Adds `user` with 2FA on; returns (verified token, base32 secret).
async fn user_with_2fa(server: &Server, base: &str, user: &str) -> (String, String) {
    let http = Http::new();
    let out = server.cli(
        &["user", "add", user, "--password-stdin"],
        Some(&format!("pw-{user}-secret\n")),
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let t = http
        .login_token(base, user, &format!("pw-{user}-secret"))
        .await;
    let (s, qr) = http.qr_code(base, &t).await;
    assert_eq!(s, 200);
    let key = qr["data"]["key"].as_str().unwrap().to_owned();
    let (s, v) = http
        .verify_otp(base, &t, user, &oathtool_code(&key, now_secs()))
        .await;
    assert_eq!(s, 200, "{v}");
    (v["data"]["token"].as_str().unwrap().to_owned(), key)
}

/// Exactly `evaluated` answers `status` and the rest 429.
fn evaluated_then_locked(what: &str, results: &[(u16, Value)], status: u16, evaluated: usize) {
    assert_eq!(
        statuses(results),
        [(status, evaluated), (429, N - evaluated)]
            .into_iter()
            .collect(),
        "{what}"
    );
}

/// Every lockout race against `server` (for the CLI) and `bases`.
async fn lockout_races(server: &Server, bases: &[String]) {
    let http = Http::new();
    let b0 = bases[0].as_str();
    for (user, recovery) in [("rex", false), ("rita", true)] {
        let (verified, key) = user_with_2fa(server, b0, user).await;
        let mut avoid = Vec::new();
        if recovery {
            let (s, rc) = http
                .new_recovery_codes(b0, &verified, &format!("pw-{user}-secret"))
                .await;
            assert_eq!(s, 200, "{rc}");
            avoid.extend(Http::recovery_codes_in(&rc));
        }
        let now = now_secs();
        for offset in [-60, -30, 0, 30, 60] {
            avoid.push(oathtool_code(&key, now + offset));
        }
        let wrong = (100_000..)
            .map(|n: u32| n.to_string())
            .find(|g| !avoid.contains(g))
            .unwrap();
        let pre = http
            .login_token(b0, user, &format!("pw-{user}-secret"))
            .await;
        let r = fire(
            bases,
            Req::Json {
                path: "/api/2fa/verify-otp".into(),
                bearer: Some(pre.clone()),
                body: json!({"username": user, "otp": wrong}),
            },
        )
        .await;
        evaluated_then_locked(
            &format!("wrong codes, recovery codes: {recovery}"),
            &r,
            400,
            5,
        );
        // Locked now, the right code included, on every instance.
        for base in bases {
            let (s, _) = http
                .verify_otp(base, &pre, user, &oathtool_code(&key, now_secs()))
                .await;
            assert_eq!(s, 429);
        }
    }

    server.add_user("pat", "pw-pat-secret");
    let r = fire(
        bases,
        Req::Json {
            path: "/api/login".into(),
            bearer: None,
            body: json!({"username": "pat", "password": "guess"}),
        },
    )
    .await;
    evaluated_then_locked("wrong passwords", &r, 401, 5);
    for base in bases {
        let (s, _) = http.try_login(base, "pat", "pw-pat-secret").await;
        assert_eq!(s, 429);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fifty_concurrent_wrong_codes_or_passwords_are_five_evaluations_one_instance() {
    on_one_instance(lockout_env(), lockout_races).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fifty_concurrent_wrong_codes_or_passwords_are_five_evaluations_two_instances_one_postgres()
{
    on_two_instances_one_postgres(lockout_env(), lockout_races).await;
}
