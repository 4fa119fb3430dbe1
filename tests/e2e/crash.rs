//! Crash safety under load (issue 8 item 3): clients run a mixed load
//! (password logins, TOTP enrolments, TOTP verifications, recovery-code
//! regeneration and use, logouts, 2FA disable) against the real binary,
//! which is killed with SIGKILL at random moments and restarted on the same
//! data. After each restart, from the clients' own records only:
//! - every logout answered 200: that token is refused (401);
//! - every enable/disable answered 200 (and not followed by an unanswered
//!   change): `2fa/status` shows it;
//! - the last recovery code answered 200 is refused;
//! - the last TOTP step answered 200 is refused if replayed (while it is
//!   still inside the ±1 window);
//!
//! and throughout the run no recovery code or TOTP step is ever answered
//! 200 twice. A request cut by the kill has an unknown outcome: the client
//! records nothing for it (and never reuses a secret it sent in it).
//!
//! CI runs 5 kills per backend (`OTPGATE_CRASH_KILLS`, default 5); the full
//! campaign, `tests/crash/run.sh`, runs 25 per backend and prints the
//! figures (docs/security.md quotes them).
//!
//! The OTP lockout threshold is 100 in these servers (the checks replay
//! spent codes on purpose; the lockout is not under test here) and argon2
//! is cheap (its cost is not under test either).

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use hmac::{Hmac, KeyInit, Mac};
use serde_json::{Value, json};
use sha1::Sha1;
use tokio::sync::{Mutex, RwLock};

use crate::several_instances::{TestDb, env_for, pg_url};
use crate::support::{Server, now_secs, text};

const USERS: usize = 6;

fn totp(key: &[u8], step: i64) -> String {
    let mut mac = <Hmac<Sha1> as KeyInit>::new_from_slice(key).unwrap();
    mac.update(&step.to_be_bytes());
    let h = mac.finalize().into_bytes();
    let off = usize::from(h[19] & 0x0f);
    let bin = (u32::from(h[off] & 0x7f) << 24)
        | (u32::from(h[off + 1]) << 16)
        | (u32::from(h[off + 2]) << 8)
        | u32::from(h[off + 3]);
    format!("{:06}", bin % 1_000_000)
}

/// A small xorshift, seeded from the clock (the seed is printed).
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// What a client knows about its user, from answers it received.
#[derive(Default)]
struct UserRecord {
    /// Expected 2FA state; `None` when a change went unanswered.
    two_factor: Option<bool>,
    /// The secret (raw) of the last enrolment answered 200, or pending.
    key: Option<Vec<u8>>,
    verified: Option<String>,
    codes: Vec<String>,
    /// Tokens whose logout (or the user's 2FA disable) was answered 200.
    revoked: Vec<String>,
    last_code_used: Option<String>,
    last_step: Option<(Vec<u8>, i64)>,
}

#[derive(Default)]
struct Journal {
    users: HashMap<String, UserRecord>,
    /// (user, code) answered 200, and (user, key, step) answered 200.
    codes_accepted: HashSet<(String, String)>,
    steps_accepted: HashSet<(String, Vec<u8>, i64)>,
    /// (user, key, step) sent by the load, whatever the answer.
    steps_tried: HashSet<(String, Vec<u8>, i64)>,
    violations: Vec<String>,
}

#[derive(Default)]
struct Figures {
    requests: AtomicU64,
    cut: AtomicU64,
    acked_changes: AtomicU64,
    checks: AtomicU64,
    inconclusive: AtomicU64,
}

struct Shared {
    base: RwLock<String>,
    gate: RwLock<()>,
    journal: Mutex<Journal>,
    figures: Figures,
    stop: AtomicBool,
    client: reqwest::Client,
}

enum Out {
    Answer(u16, Value),
    Cut,
}

impl Shared {
    async fn call(
        &self,
        method: &str,
        path: &str,
        bearer: Option<&str>,
        body: Option<Value>,
    ) -> Out {
        let base = self.base.read().await.clone();
        let url = format!("{base}{path}");
        let mut r = if method == "GET" {
            self.client.get(url)
        } else {
            self.client
                .post(url)
                .header("content-type", "application/json")
                .body(body.unwrap_or(json!({})).to_string())
        };
        if let Some(t) = bearer {
            r = r.bearer_auth(t);
        }
        self.figures.requests.fetch_add(1, Ordering::Relaxed);
        match r.timeout(Duration::from_secs(10)).send().await {
            Ok(resp) => {
                let s = resp.status().as_u16();
                match resp.text().await {
                    Ok(t) => Out::Answer(s, serde_json::from_str(&t).unwrap_or(Value::Null)),
                    Err(_) => {
                        self.figures.cut.fetch_add(1, Ordering::Relaxed);
                        Out::Cut
                    }
                }
            }
            Err(_) => {
                self.figures.cut.fetch_add(1, Ordering::Relaxed);
                Out::Cut
            }
        }
    }

    async fn login(&self, user: &str) -> Option<String> {
        match self
            .call(
                "POST",
                "/api/login",
                None,
                Some(json!({"username": user, "password": format!("pw-{user}")})),
            )
            .await
        {
            Out::Answer(200, b) => b["token"].as_str().map(str::to_owned),
            _ => None,
        }
    }

    async fn violation(&self, v: String) {
        self.journal.lock().await.violations.push(v);
    }
}

/// A verified token lost (logout, cut, settled) is replaced by a TOTP
/// success at a step not used yet.
async fn ensure_verified(sh: &Shared, user: &str) {
    let need = {
        let j = sh.journal.lock().await;
        let u = &j.users[user];
        u.two_factor == Some(true) && u.verified.is_none()
    };
    if need {
        let key = sh.journal.lock().await.users[user].key.clone();
        let Some(key) = key else { return };
        let step = now_secs() / 30;
        // Each step is tried once, whatever the answer (a cut request may
        // have spent it; retrying would only pile up failures).
        if !sh
            .journal
            .lock()
            .await
            .steps_tried
            .insert((user.to_owned(), key.clone(), step))
        {
            return;
        }
        let Some(pre) = sh.login(user).await else {
            return;
        };
        let body = json!({"username": user, "otp": totp(&key, step)});
        if let Out::Answer(200, v) = sh
            .call("POST", "/api/2fa/verify-otp", Some(&pre), Some(body))
            .await
        {
            let mut j = sh.journal.lock().await;
            if !j
                .steps_accepted
                .insert((user.to_owned(), key.clone(), step))
            {
                j.violations
                    .push(format!("{user}: TOTP step accepted twice"));
            }
            let u = j.users.get_mut(user).unwrap();
            u.last_step = Some((key, step));
            u.verified = v["data"]["token"].as_str().map(str::to_owned);
        }
    }
}

/// Spends `code` (removed from the client's records first: never reused,
/// whatever the answer).
async fn spend_recovery_code(sh: &Shared, user: &str, code: String) {
    sh.journal
        .lock()
        .await
        .users
        .get_mut(user)
        .unwrap()
        .codes
        .retain(|c| *c != code);
    let Some(pre) = sh.login(user).await else {
        return;
    };
    let body = json!({"username": user, "otp": code});
    if let Out::Answer(200, v) = sh
        .call("POST", "/api/2fa/verify-otp", Some(&pre), Some(body))
        .await
    {
        sh.figures.acked_changes.fetch_add(1, Ordering::Relaxed);
        let mut j = sh.journal.lock().await;
        if !j.codes_accepted.insert((user.to_owned(), code.clone())) {
            j.violations
                .push(format!("{user}: recovery code accepted twice"));
        }
        let u = j.users.get_mut(user).unwrap();
        u.last_code_used = Some(code);
        u.verified = v["data"]["token"].as_str().map(str::to_owned);
    }
}

/// One cycle of a client's load for `user`.
async fn cycle(sh: &Shared, user: &str, rng: &mut Rng) {
    let _g = sh.gate.read().await;
    ensure_verified(sh, user).await;
    let state = {
        let j = sh.journal.lock().await;
        let u = &j.users[user];
        (
            u.two_factor,
            u.verified.clone(),
            u.codes.clone(),
            u.key.clone(),
        )
    };
    let (two_factor, verified, codes, key) = state;
    match two_factor {
        // In doubt: the next check settles it.
        None => tokio::time::sleep(Duration::from_millis(100)).await,
        Some(false) => {
            // Enrol: login, qr-code, verify with the current step.
            let Some(t) = sh.login(user).await else {
                return;
            };
            let Out::Answer(200, qr) = sh.call("GET", "/api/2fa/qr-code", Some(&t), None).await
            else {
                return;
            };
            let Some(b32) = qr["data"]["key"].as_str() else {
                return;
            };
            let raw = data_encoding::BASE32_NOPAD.decode(b32.as_bytes()).unwrap();
            sh.journal.lock().await.users.get_mut(user).unwrap().key = Some(raw.clone());
            let step = now_secs() / 30;
            if !sh
                .journal
                .lock()
                .await
                .steps_tried
                .insert((user.to_owned(), raw.clone(), step))
            {
                // This step was tried already for this secret: wait.
                tokio::time::sleep(Duration::from_millis(100)).await;
                return;
            }
            let body = json!({"username": user, "otp": totp(&raw, step)});
            match sh
                .call("POST", "/api/2fa/verify-otp", Some(&t), Some(body))
                .await
            {
                Out::Answer(200, v) => {
                    sh.figures.acked_changes.fetch_add(1, Ordering::Relaxed);
                    let mut j = sh.journal.lock().await;
                    j.steps_accepted
                        .insert((user.to_owned(), raw.clone(), step));
                    let u = j.users.get_mut(user).unwrap();
                    u.two_factor = Some(true);
                    u.verified = v["data"]["token"].as_str().map(str::to_owned);
                    u.codes.clear();
                    u.last_step = Some((raw, step));
                }
                Out::Answer(_, _) => {}
                Out::Cut => {
                    sh.journal
                        .lock()
                        .await
                        .users
                        .get_mut(user)
                        .unwrap()
                        .two_factor = None
                }
            }
        }
        Some(true) => {
            let Some(key) = key else { return };
            let Some(verified) = verified else {
                // No verified token (logged out, or settled after a
                // restart) and this step's TOTP spent: a recovery code, or
                // wait for the next step.
                match codes.first() {
                    Some(c) => spend_recovery_code(sh, user, c.clone()).await,
                    None => tokio::time::sleep(Duration::from_millis(100)).await,
                }
                return;
            };
            match rng.below(6) {
                0 if codes.is_empty() => {
                    let body = json!({"password": format!("pw-{user}")});
                    match sh
                        .call(
                            "POST",
                            "/api/2fa/recovery-codes",
                            Some(&verified),
                            Some(body),
                        )
                        .await
                    {
                        Out::Answer(200, rc) => {
                            sh.figures.acked_changes.fetch_add(1, Ordering::Relaxed);
                            let codes = rc["codes"]
                                .as_array()
                                .map(|a| {
                                    a.iter()
                                        .filter_map(|c| c.as_str().map(str::to_owned))
                                        .collect()
                                })
                                .unwrap_or_default();
                            sh.journal.lock().await.users.get_mut(user).unwrap().codes = codes;
                        }
                        Out::Answer(401, _) => {
                            sh.journal
                                .lock()
                                .await
                                .users
                                .get_mut(user)
                                .unwrap()
                                .verified = None;
                        }
                        _ => {}
                    }
                }
                0 | 1 if !codes.is_empty() => {
                    spend_recovery_code(sh, user, codes[0].clone()).await;
                }
                2 | 3 => {
                    // TOTP at the current step, once per step.
                    let step = now_secs() / 30;
                    let id = (user.to_owned(), key.clone(), step);
                    if !sh.journal.lock().await.steps_tried.insert(id.clone()) {
                        return;
                    }
                    let Some(pre) = sh.login(user).await else {
                        return;
                    };
                    let body = json!({"username": user, "otp": totp(&key, step)});
                    if let Out::Answer(200, v) = sh
                        .call("POST", "/api/2fa/verify-otp", Some(&pre), Some(body))
                        .await
                    {
                        let mut j = sh.journal.lock().await;
                        if !j.steps_accepted.insert(id) {
                            j.violations
                                .push(format!("{user}: TOTP step accepted twice"));
                        }
                        let u = j.users.get_mut(user).unwrap();
                        u.last_step = Some((key.clone(), step));
                        u.verified = v["data"]["token"].as_str().map(str::to_owned);
                    }
                }
                4 => {
                    // Logout of the verified token (never used again,
                    // whatever the answer).
                    let out = sh.call("POST", "/api/logout", Some(&verified), None).await;
                    let mut j = sh.journal.lock().await;
                    let u = j.users.get_mut(user).unwrap();
                    u.verified = None;
                    if let Out::Answer(200, _) = out {
                        sh.figures.acked_changes.fetch_add(1, Ordering::Relaxed);
                        u.revoked.push(verified.clone());
                    }
                }
                _ if rng.below(3) == 0 => {
                    let body = json!({"password": format!("pw-{user}")});
                    match sh
                        .call("POST", "/api/2fa/disable", Some(&verified), Some(body))
                        .await
                    {
                        Out::Answer(200, _) => {
                            sh.figures.acked_changes.fetch_add(1, Ordering::Relaxed);
                            let mut j = sh.journal.lock().await;
                            let u = j.users.get_mut(user).unwrap();
                            u.two_factor = Some(false);
                            u.revoked.push(verified.clone());
                            u.verified = None;
                            u.codes.clear();
                            u.last_code_used = None;
                            u.last_step = None;
                        }
                        Out::Answer(401, _) => {
                            sh.journal
                                .lock()
                                .await
                                .users
                                .get_mut(user)
                                .unwrap()
                                .verified = None;
                        }
                        Out::Answer(_, _) => {}
                        Out::Cut => {
                            sh.journal
                                .lock()
                                .await
                                .users
                                .get_mut(user)
                                .unwrap()
                                .two_factor = None;
                        }
                    }
                }
                _ => {
                    // A plain login, logged out at once.
                    let Some(t) = sh.login(user).await else {
                        return;
                    };
                    if let Out::Answer(200, _) =
                        sh.call("POST", "/api/logout", Some(&t), None).await
                    {
                        sh.figures.acked_changes.fetch_add(1, Ordering::Relaxed);
                        let mut j = sh.journal.lock().await;
                        j.users.get_mut(user).unwrap().revoked.push(t);
                    }
                }
            }
        }
    }
}

/// A probe answered 429 (the user's OTP lockout, reached by earlier
/// probes) was not evaluated: it proves nothing either way.
async fn inconclusive_or_violation(sh: &Shared, status: u16, v: String) {
    if status == 429 {
        sh.figures.inconclusive.fetch_add(1, Ordering::Relaxed);
    } else {
        sh.violation(v).await;
    }
}

/// After a restart, with every client paused: the clients' records hold.
async fn check(sh: &Shared, user: &str) {
    let (revoked, expected, last_code, last_step, key) = {
        let j = sh.journal.lock().await;
        let u = &j.users[user];
        let n = u.revoked.len();
        (
            u.revoked[n.saturating_sub(10)..].to_vec(),
            u.two_factor,
            u.last_code_used.clone(),
            u.last_step.clone(),
            u.key.clone(),
        )
    };
    for t in revoked {
        sh.figures.checks.fetch_add(1, Ordering::Relaxed);
        match sh.call("GET", "/api/user/me", Some(&t), None).await {
            Out::Answer(401, _) => {}
            Out::Answer(s, _) => {
                sh.violation(format!("{user}: a token logged out (200) answered {s}"))
                    .await;
            }
            Out::Cut => {
                sh.violation(format!("{user}: no answer after restart"))
                    .await
            }
        }
    }
    let Some(pre) = sh.login(user).await else {
        sh.violation(format!("{user}: login failed after restart"))
            .await;
        return;
    };
    let actual = match sh.call("GET", "/api/2fa/status", Some(&pre), None).await {
        Out::Answer(200, b) => b["status"].as_bool(),
        _ => None,
    };
    let Some(actual) = actual else {
        sh.violation(format!("{user}: no 2FA status")).await;
        return;
    };
    sh.figures.checks.fetch_add(1, Ordering::Relaxed);
    match expected {
        Some(e) if e != actual => {
            sh.violation(format!(
                "{user}: 2FA answered 200 as {e}, found {actual} after restart"
            ))
            .await;
        }
        Some(_) => {}
        None => {
            // Settled from the server: an unanswered change may or may not
            // have happened.
            let mut j = sh.journal.lock().await;
            let u = j.users.get_mut(user).unwrap();
            u.two_factor = Some(actual);
            u.verified = if actual { None } else { Some(pre.clone()) };
            u.codes.clear();
            u.last_code_used = None;
            u.last_step = None;
            if actual && key.is_none() {
                u.two_factor = None;
            }
            return;
        }
    }
    if !actual {
        let mut j = sh.journal.lock().await;
        j.users.get_mut(user).unwrap().verified = Some(pre);
        return;
    }
    if let Some(code) = last_code {
        sh.figures.checks.fetch_add(1, Ordering::Relaxed);
        let body = json!({"username": user, "otp": code});
        if let Out::Answer(s, _) = sh
            .call("POST", "/api/2fa/verify-otp", Some(&pre), Some(body))
            .await
            && s != 400
        {
            inconclusive_or_violation(sh, s, format!("{user}: a spent recovery code answered {s}"))
                .await;
        }
    }
    if let Some((k, step)) = last_step
        && (now_secs() / 30 - step).abs() <= 1
    {
        sh.figures.checks.fetch_add(1, Ordering::Relaxed);
        let body = json!({"username": user, "otp": totp(&k, step)});
        if let Out::Answer(s, _) = sh
            .call("POST", "/api/2fa/verify-otp", Some(&pre), Some(body))
            .await
            && s != 400
        {
            inconclusive_or_violation(sh, s, format!("{user}: a spent TOTP step answered {s}"))
                .await;
        }
    }
}

/// The whole campaign against servers started by `start`; returns the
/// summary line.
async fn campaign(start: impl Fn() -> Server, kills: usize) -> String {
    let seed = u64::try_from(now_secs()).unwrap() ^ u64::from(std::process::id()) << 32 | 1;
    let mut rng = Rng(seed);
    let mut server = start();
    let names: Vec<String> = (0..USERS).map(|i| format!("crash{i}")).collect();
    for n in &names {
        let out = server.cli(
            &["user", "add", n, "--password-stdin"],
            Some(&format!("pw-{n}\n")),
        );
        assert!(out.status.success(), "{}", text(&out.stderr));
    }
    let sh = Arc::new(Shared {
        base: RwLock::new(server.base.clone()),
        gate: RwLock::new(()),
        journal: Mutex::new(Journal {
            users: names
                .iter()
                .map(|n| {
                    (
                        n.clone(),
                        UserRecord {
                            two_factor: Some(false),
                            ..UserRecord::default()
                        },
                    )
                })
                .collect(),
            ..Journal::default()
        }),
        figures: Figures::default(),
        stop: AtomicBool::new(false),
        client: reqwest::Client::new(),
    });
    let mut clients = Vec::new();
    for (i, n) in names.iter().enumerate() {
        let sh = sh.clone();
        let n = n.clone();
        let mut r = Rng(seed.wrapping_mul(31).wrapping_add(i as u64 * 7919) | 1);
        clients.push(tokio::spawn(async move {
            let mut cycles = 0u64;
            while !sh.stop.load(Ordering::Relaxed) && cycles < 1_000_000 {
                cycle(&sh, &n, &mut r).await;
                cycles += 1;
            }
        }));
    }
    let began = Instant::now();
    for _ in 0..kills {
        tokio::time::sleep(Duration::from_millis(300 + rng.below(1200))).await;
        // SIGKILL mid-load: in-flight requests are cut.
        let _ = server.child.kill();
        let _ = server.child.wait();
        // Pause the clients between requests, restart, check.
        let gate = sh.gate.write().await;
        server = start();
        *sh.base.write().await = server.base.clone();
        for n in &names {
            check(&sh, n).await;
        }
        drop(gate);
    }
    sh.stop.store(true, Ordering::Relaxed);
    for c in clients {
        c.await.unwrap();
    }
    drop(server);
    let j = sh.journal.lock().await;
    let f = &sh.figures;
    let summary = format!(
        "crash: seed={seed} kills={kills} in {:.1}s; requests={} cut-by-kill={} changes-answered-200={} recovery-codes-accepted={} totp-steps-accepted={} checks-after-restart={} (of which 429, inconclusive: {}) violations={}",
        began.elapsed().as_secs_f64(),
        f.requests.load(Ordering::Relaxed),
        f.cut.load(Ordering::Relaxed),
        f.acked_changes.load(Ordering::Relaxed),
        j.codes_accepted.len(),
        j.steps_accepted.len(),
        f.checks.load(Ordering::Relaxed),
        f.inconclusive.load(Ordering::Relaxed),
        j.violations.len()
    );
    let _ = std::io::Write::write_all(&mut std::io::stderr(), format!("{summary}\n").as_bytes());
    assert!(j.violations.is_empty(), "{summary}: {:?}", j.violations);
    assert!(
        f.acked_changes.load(Ordering::Relaxed) >= kills as u64,
        "the load did change things: {summary}"
    );
    assert!(
        f.checks.load(Ordering::Relaxed) >= kills as u64,
        "{summary}"
    );
    summary
}

fn kills() -> usize {
    std::env::var("OTPGATE_CRASH_KILLS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5)
        .clamp(1, 1000)
}

fn crash_env() -> Vec<(&'static str, String)> {
    vec![
        ("OTPGATE_LOG", "error".into()),
        ("OTPGATE_RATE_LIMIT_AVERAGE", "0".into()),
        ("OTPGATE_LOCKOUT_OTP_MAX_FAILURES", "100".into()),
        ("OTPGATE_ARGON2_MEMORY_KIB", "1024".into()),
        ("OTPGATE_ARGON2_ITERATIONS", "1".into()),
        ("OTPGATE_ARGON2_PARALLELISM", "1".into()),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crash_sigkill_under_load_sqlite() {
    let _machine = crate::support::MACHINE_WIDE.lock().await;
    let dir = tempfile::tempdir().unwrap();
    let env = crash_env();
    let path = dir.path().to_path_buf();
    campaign(
        move || {
            let pairs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
            Server::start(&path, &pairs)
        },
        kills(),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crash_sigkill_under_load_postgres() {
    let _machine = crate::support::MACHINE_WIDE.lock().await;
    let Some(admin) = pg_url() else { return };
    let db = TestDb::create(&admin).await;
    let dir = tempfile::tempdir().unwrap();
    let mut env = env_for(&db.url);
    env.extend(crash_env());
    let path = dir.path().to_path_buf();
    campaign(
        move || crate::several_instances::start(&path, &env),
        kills(),
    )
    .await;
    db.drop_now().await;
}
