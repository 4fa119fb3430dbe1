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

use std::sync::Arc;

use serde_json::{Value, json};
use tokio::sync::Barrier;

use crate::several_instances::{TestDb, env_for, pg_url};
use crate::support::{Server, add_app, have_tool, now_secs, oathtool_code, text};

const N: usize = 50;
const SC: &str = "/twofactorauth-ui/rest/tfa";

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

/// Sends `req` `N` times at once, alternating over `bases`; returns the
/// (status, body) of each attempt.
async fn fire(bases: &[String], req: Req) -> Vec<(u16, Value)> {
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(N)
        .build()
        .unwrap();
    let barrier = Arc::new(Barrier::new(N));
    let mut set = tokio::task::JoinSet::new();
    for i in 0..N {
        let base = bases[i % bases.len()].clone();
        let client = client.clone();
        let barrier = barrier.clone();
        let req = req.clone();
        set.spawn(async move {
            let r = match req {
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
            };
            barrier.wait().await;
            let resp = r.send().await.unwrap();
            let status = resp.status().as_u16();
            let body = resp.text().await.unwrap();
            (
                status,
                serde_json::from_str(&body).unwrap_or(Value::String(body)),
            )
        });
    }
    let mut out = Vec::new();
    while let Some(r) = set.join_next().await {
        out.push(r.unwrap());
    }
    assert_eq!(out.len(), N);
    out
}

fn statuses(results: &[(u16, Value)]) -> std::collections::BTreeMap<u16, usize> {
    let mut m = std::collections::BTreeMap::new();
    for (s, _) in results {
        *m.entry(*s).or_insert(0) += 1;
    }
    m
}

fn exactly_one_200(what: &str, results: &[(u16, Value)]) {
    let ok = results.iter().filter(|(s, _)| *s == 200).count();
    assert_eq!(ok, 1, "{what}: {:?}", statuses(results));
    assert!(
        results.iter().all(|(s, _)| *s < 500),
        "{what}: {:?}",
        statuses(results)
    );
}

async fn post(base: &str, path: &str, bearer: Option<&str>, body: Value) -> (u16, Value) {
    let mut r = reqwest::Client::new()
        .post(format!("{base}{path}"))
        .json(&body);
    if let Some(t) = bearer {
        r = r.bearer_auth(t);
    }
    let resp = r.send().await.unwrap();
    let s = resp.status().as_u16();
    (s, resp.json().await.unwrap_or(Value::Null))
}

async fn login(base: &str, user: &str, pw: &str) -> String {
    let (s, b) = post(
        base,
        "/api/login",
        None,
        json!({"username": user, "password": pw}),
    )
    .await;
    assert_eq!(s, 200, "{b}");
    b["token"].as_str().unwrap().to_owned()
}

fn outbox_last(server: &Server, user: &str) -> String {
    let out = server.cli(&["outbox", "list", "--user", user, "--json"], None);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let last: Value = serde_json::from_str(text(&out.stdout).lines().last().unwrap()).unwrap();
    last["code"].as_str().unwrap().to_owned()
}

/// Every race of the module against `server` (for the CLI) and `bases`.
async fn all_races(server: &Server, bases: &[String]) {
    let b0 = bases[0].as_str();
    for (user, extra) in [
        ("tina", vec![]),
        ("olga", vec!["--email", "olga@example.org"]),
        ("lee", vec![]),
    ] {
        let mut args = vec!["user", "add", user];
        args.extend(extra);
        args.push("--password-stdin");
        let out = server.cli(&args, Some(&format!("pw-{user}\n")));
        assert!(out.status.success(), "{}", text(&out.stderr));
    }

    // 1. A TOTP step: enrol at the current step, then race the next one.
    let t = login(b0, "tina", "pw-tina").await;
    let (s, qr) = {
        let resp = reqwest::Client::new()
            .get(format!("{b0}/api/2fa/qr-code"))
            .bearer_auth(&t)
            .send()
            .await
            .unwrap();
        (resp.status().as_u16(), resp.json::<Value>().await.unwrap())
    };
    assert_eq!(s, 200, "{qr}");
    let key = qr["data"]["key"].as_str().unwrap().to_owned();
    let now = now_secs();
    let (s, v) = post(
        b0,
        "/api/2fa/verify-otp",
        Some(&t),
        json!({"username": "tina", "otp": oathtool_code(&key, now)}),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    let verified = v["data"]["token"].as_str().unwrap().to_owned();
    let pre = login(b0, "tina", "pw-tina").await;
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
    let (s, rc) = post(
        b0,
        "/api/2fa/recovery-codes",
        Some(&verified),
        json!({"password": "pw-tina"}),
    )
    .await;
    assert_eq!(s, 200, "{rc}");
    let code = rc["codes"][0].as_str().unwrap().to_owned();
    let pre = login(b0, "tina", "pw-tina").await;
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
    let status_req = reqwest::Client::new()
        .post(format!("{b0}{SC}/otpstatus"))
        .header("x-api-key", &app)
        .header("content-type", "application/x-www-form-urlencoded")
        .body("username=olga&enduserip=10.1.1.1&applicationname=shop")
        .send()
        .await
        .unwrap();
    assert_eq!(status_req.status().as_u16(), 200);
    assert_eq!(status_req.text().await.unwrap(), "true");
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
            path: format!("{SC}/otpvalid"),
            key: app.clone(),
            fields,
        },
    )
    .await;
    exactly_one_200("out-of-band code", &r);

    // 4. A Capillary MFA session (with its out-of-band code).
    let who = |extra: Value| {
        let mut b = json!({"identifierType": "EMAIL", "identifierValue": "olga@example.org",
                           "deviceId": "dev-7", "brand": "shop"});
        b.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        b
    };
    let (s, g) = post(
        b0,
        "/auth/v1/mfa/token/generate",
        None,
        who(json!({"password": "pw-olga"})),
    )
    .await;
    assert_eq!(s, 200, "{g}");
    let sid = g["user"]["sessionId"].as_str().unwrap().to_owned();
    let (s, g) = post(
        b0,
        "/auth/v1/mfa/otp/generate",
        None,
        who(json!({"sessionId": sid})),
    )
    .await;
    assert_eq!(s, 200, "{g}");
    let code = outbox_last(server, "olga");
    let r = fire(
        bases,
        Req::Json {
            path: "/auth/v1/mfa/otp/validate".into(),
            bearer: None,
            body: who(json!({"sessionId": sid, "otp": code})),
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
    let resp = reqwest::Client::new()
        .post(format!("{b0}/webrest/authentication/login"))
        .json(&json!({"username": "lee", "password": "pw-lee"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 401);
    let nonce = resp.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .strip_prefix("Digest ")
        .unwrap()
        .to_owned();
    let token = crate::secrets_at_rest::legacy_token("lee", "pw-lee", &nonce);
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
    let out = reqwest::Client::new()
        .post(format!(
            "{}/webrest/authentication/logout",
            bases[bases.len() - 1]
        ))
        .header("authorization", format!("lee:{token}"))
        .send()
        .await
        .unwrap();
    assert_eq!(out.status().as_u16(), 200);
    let r = fire(bases, use_it).await;
    assert_eq!(
        statuses(&r),
        [(401, N)].into_iter().collect(),
        "one logout ends the only session the nonce made, and the nonce is spent"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fifty_concurrent_uses_of_a_single_use_value_one_instance() {
    if !have_tool("oathtool", "apt-get install oathtool") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let env = race_env();
    let pairs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let server = Server::start(dir.path(), &pairs);
    all_races(&server, std::slice::from_ref(&server.base)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fifty_concurrent_uses_of_a_single_use_value_two_instances_one_postgres() {
    let Some(admin) = pg_url() else { return };
    if !have_tool("oathtool", "apt-get install oathtool") {
        return;
    }
    let db = TestDb::create(&admin).await;
    let dir = tempfile::tempdir().unwrap();
    let mut env = env_for(&db.url);
    env.extend(race_env());
    let a = crate::several_instances::start(dir.path(), &env);
    let b = crate::several_instances::start(dir.path(), &env);
    all_races(&a, &[a.base.clone(), b.base.clone()]).await;
    drop(a);
    drop(b);
    db.drop_now().await;
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
    let out = server.cli(
        &["user", "add", user, "--password-stdin"],
        Some(&format!("pw-{user}-secret\n")),
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let t = login(base, user, &format!("pw-{user}-secret")).await;
    let resp = reqwest::Client::new()
        .get(format!("{base}/api/2fa/qr-code"))
        .bearer_auth(&t)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    let qr: Value = resp.json().await.unwrap();
    let key = qr["data"]["key"].as_str().unwrap().to_owned();
    let (s, v) = post(
        base,
        "/api/2fa/verify-otp",
        Some(&t),
        json!({"username": user, "otp": oathtool_code(&key, now_secs())}),
    )
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
    let b0 = bases[0].as_str();
    for (user, recovery) in [("rex", false), ("rita", true)] {
        let (verified, key) = user_with_2fa(server, b0, user).await;
        let mut avoid = Vec::new();
        if recovery {
            let (s, rc) = post(
                b0,
                "/api/2fa/recovery-codes",
                Some(&verified),
                json!({"password": format!("pw-{user}-secret")}),
            )
            .await;
            assert_eq!(s, 200, "{rc}");
            for c in rc["codes"].as_array().unwrap() {
                avoid.push(c.as_str().unwrap().to_owned());
            }
        }
        let now = now_secs();
        for offset in [-60, -30, 0, 30, 60] {
            avoid.push(oathtool_code(&key, now + offset));
        }
        let wrong = (100_000..)
            .map(|n: u32| n.to_string())
            .find(|g| !avoid.contains(g))
            .unwrap();
        let pre = login(b0, user, &format!("pw-{user}-secret")).await;
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
            let (s, _) = post(
                base,
                "/api/2fa/verify-otp",
                Some(&pre),
                json!({"username": user, "otp": oathtool_code(&key, now_secs())}),
            )
            .await;
            assert_eq!(s, 429);
        }
    }

    let out = server.cli(
        &["user", "add", "pat", "--password-stdin"],
        Some("pw-pat-secret\n"),
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
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
        let (s, _) = post(
            base,
            "/api/login",
            None,
            json!({"username": "pat", "password": "pw-pat-secret"}),
        )
        .await;
        assert_eq!(s, 429);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fifty_concurrent_wrong_codes_or_passwords_are_five_evaluations_one_instance() {
    if !have_tool("oathtool", "apt-get install oathtool") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let env = lockout_env();
    let pairs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let server = Server::start(dir.path(), &pairs);
    lockout_races(&server, std::slice::from_ref(&server.base)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fifty_concurrent_wrong_codes_or_passwords_are_five_evaluations_two_instances_one_postgres()
{
    let Some(admin) = pg_url() else { return };
    if !have_tool("oathtool", "apt-get install oathtool") {
        return;
    }
    let db = TestDb::create(&admin).await;
    let dir = tempfile::tempdir().unwrap();
    let mut env = env_for(&db.url);
    env.extend(lockout_env());
    let a = crate::several_instances::start(dir.path(), &env);
    let b = crate::several_instances::start(dir.path(), &env);
    lockout_races(&a, &[a.base.clone(), b.base.clone()]).await;
    drop(a);
    drop(b);
    db.drop_now().await;
}
