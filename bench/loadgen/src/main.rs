//! Load generator behind `bench/run.sh`.
//!
//! `seed` creates users with 2FA on directly through the core and the
//! store (with the server's key files, so the pre-OTP tokens it mints are
//! valid for the server); the other subcommands drive a running server
//! over HTTP/1.1 keep-alive connections and print one JSON line of
//! figures. It is a benchmark tool, not part of the gateway.

#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use clap::{Parser, Subcommand};
use data_encoding::BASE32_NOPAD;
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::{Method, Request};
use hyper_util::rt::TokioIo;
use otpgate_core::config::{Argon2Cost, Policy};
use otpgate_core::crypto::password::{Argon2idHasher, HashingPool};
use otpgate_core::crypto::totp::{code_at_step, step_of};
use otpgate_core::keys::KeyFiles;
use otpgate_core::model::{OtpStatusRecord, Principal, UnixTime};
use otpgate_core::secret::SecretString;
use otpgate_core::service::Caller;
use otpgate_core::service::admin::UserSpec;
use otpgate_core::{AuthService, Clock, SystemClock};
use otpgate_store::{PostgresOptions, SqliteOptions, StoreOptions};

#[derive(Parser)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Create N users with 2FA on and one pre-OTP token each; write
    /// `username TAB base32-secret TAB token` lines.
    Seed {
        #[arg(long)]
        data_dir: PathBuf,
        #[arg(long)]
        db: String,
        #[arg(long)]
        users: usize,
        #[arg(long, default_value = "bench")]
        prefix: String,
        #[arg(long)]
        out: PathBuf,
        /// Also register this application (Single Connect dialect) and
        /// record, for every user, that it asked for the user's OTP status.
        #[arg(long)]
        app: Option<String>,
        /// Where to write the application's API key.
        #[arg(long)]
        app_key_out: Option<PathBuf>,
    },
    /// POST verify-otp with correct codes, one seeded user per request.
    Verify {
        #[arg(long)]
        urls: String,
        #[arg(long)]
        input: PathBuf,
        #[arg(long, default_value_t = 64)]
        concurrency: usize,
        #[arg(long, default_value_t = 10)]
        seconds: u64,
    },
    /// POST the Single Connect `otpvalid` with correct codes, one seeded
    /// user per request (users seeded with `--app`).
    Otpvalid {
        #[arg(long)]
        urls: String,
        #[arg(long)]
        input: PathBuf,
        /// The application's API key (`seed --app-key-out`).
        #[arg(long)]
        key_file: PathBuf,
        #[arg(long)]
        app: String,
        #[arg(long, default_value_t = 64)]
        concurrency: usize,
        #[arg(long, default_value_t = 10)]
        seconds: u64,
    },
    /// Wrong-OTP flood against one account, with the right code sent every
    /// 100th request: counts answers and any success.
    Flood {
        #[arg(long)]
        url: String,
        #[arg(long)]
        input: PathBuf,
        #[arg(long, default_value_t = 32)]
        concurrency: usize,
        #[arg(long, default_value_t = 5)]
        seconds: u64,
    },
    /// GET a path with a bearer token and report latency percentiles.
    Get {
        #[arg(long)]
        urls: String,
        #[arg(long)]
        path: String,
        #[arg(long)]
        token: String,
        #[arg(long, default_value_t = 16)]
        concurrency: usize,
        #[arg(long, default_value_t = 10)]
        seconds: u64,
    },
    /// Time of one argon2id hash at the given cost (milliseconds), on one
    /// thread, in reused memory (`ms_per_hash`) and in fresh memory; with
    /// `--parallel N` also the time of one hash while N threads hash at
    /// once, in fresh memory and on the gateway's hashing pool.
    Hashtime {
        #[arg(long, default_value_t = 19456)]
        memory_kib: u32,
        #[arg(long, default_value_t = 2)]
        iterations: u32,
        #[arg(long, default_value_t = 20)]
        count: u32,
        #[arg(long, default_value_t = 0)]
        parallel: u32,
    },
    /// Log in (POST /api/login) and print the token.
    Login {
        #[arg(long)]
        url: String,
        #[arg(long)]
        user: String,
        #[arg(long)]
        password: String,
    },
}

#[tokio::main]
async fn main() {
    match Cli::parse().cmd {
        Cmd::Seed {
            data_dir,
            db,
            users,
            prefix,
            out,
            app,
            app_key_out,
        } => seed(data_dir, db, users, prefix, out, app, app_key_out).await,
        Cmd::Verify {
            urls,
            input,
            concurrency,
            seconds,
        } => correct_codes(urls, input, concurrency, seconds, Target::VerifyOtp).await,
        Cmd::Otpvalid {
            urls,
            input,
            key_file,
            app,
            concurrency,
            seconds,
        } => {
            let key = std::fs::read_to_string(key_file).expect("key file");
            let target = Target::OtpValid {
                key: key.trim().to_owned(),
                app,
            };
            correct_codes(urls, input, concurrency, seconds, target).await;
        }
        Cmd::Flood {
            url,
            input,
            concurrency,
            seconds,
        } => flood(url, input, concurrency, seconds).await,
        Cmd::Get {
            urls,
            path,
            token,
            concurrency,
            seconds,
        } => get(urls, path, token, concurrency, seconds).await,
        Cmd::Hashtime {
            memory_kib,
            iterations,
            count,
            parallel,
        } => hashtime(memory_kib, iterations, count, parallel).await,
        Cmd::Login {
            url,
            user,
            password,
        } => {
            let mut c = Conn::open(&url).await;
            let body = serde_json::json!({"username": user, "password": password}).to_string();
            let (status, bytes) = c.send(Method::POST, "/api/login", None, Some(body)).await;
            assert_eq!(status, 200, "{}", String::from_utf8_lossy(&bytes));
            let v: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
            println!("{}", v["token"].as_str().unwrap());
        }
    }
}

/// The seeding's own database URL: on PostgreSQL its commits are not
/// waited for (`synchronous_commit=off`, this connection's only; SQLite's
/// seeding runs with `synchronous=normal` likewise). A seeding of 64,000
/// users that waited for each commit took over ten minutes, longer than
/// the 5 minutes a seeded OTP status lasts. The server measured
/// afterwards connects with the URL as given.
fn unflushed(db: String) -> String {
    if !(db.starts_with("postgres://") || db.starts_with("postgresql://")) {
        return db;
    }
    let joint = if db.contains('?') { '&' } else { '?' };
    format!("{db}{joint}options=-c%20synchronous_commit%3Doff")
}

async fn seed(
    data_dir: PathBuf,
    db: String,
    users: usize,
    prefix: String,
    out: PathBuf,
    app: Option<String>,
    app_key_out: Option<PathBuf>,
) {
    let (keys, _) = KeyFiles::load_or_create(&data_dir).expect("keys");
    let store = otpgate_store::open_for_tests(&StoreOptions {
        url: unflushed(db),
        // Seeding only: the server measured afterwards runs with its own settings.
        sqlite: SqliteOptions {
            synchronous_full: false,
            ..SqliteOptions::default()
        },
        postgres: PostgresOptions::default(),
    })
    .await
    .expect("open store");
    let policy = Policy {
        argon2: Argon2Cost {
            memory_kib: 8,
            iterations: 1,
            parallelism: 1,
        },
        ..Policy::default()
    };
    let svc = Arc::new(
        AuthService::new(store.clone(), Arc::new(SystemClock), policy, &keys).expect("service"),
    );
    let app_id = match (app, app_key_out) {
        (Some(name), Some(key_out)) => {
            let (app, key) = svc.create_application(&name).await.expect("application");
            std::fs::write(key_out, key.expose()).expect("key file");
            Some(app.id)
        }
        (None, None) => None,
        _ => panic!("--app and --app-key-out go together"),
    };
    let next = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    // 32 at once: PostgreSQL commits each write with its own flush, so the
    // seeding is bound by how many wait on one flush together (8 took over
    // ten minutes for 64,000 users, past the 5 minutes an OTP status lasts).
    for _ in 0..32 {
        let (svc, store, next, prefix) = (svc.clone(), store.clone(), next.clone(), prefix.clone());
        tasks.push(tokio::spawn(async move {
            let mut lines = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::SeqCst);
                if i >= users {
                    break;
                }
                let name = format!("{prefix}{i}");
                let pw = SecretString::new("bench-password");
                let (user, _) = svc
                    .create_user(UserSpec {
                        username: name.clone(),
                        password: Some(pw.clone()),
                        ..UserSpec::default()
                    })
                    .await
                    .expect("create");
                let t = svc
                    .login(&name, &pw, &Caller::default())
                    .await
                    .expect("login");
                let who = svc
                    .authenticate(&t.token, otpgate_core::service::Access::Verified)
                    .await
                    .expect("auth");
                let e = svc.enrolment(&who).await.expect("enrol");
                let secret = BASE32_NOPAD.decode(e.key.as_bytes()).expect("b32");
                // Enable with the step before the current one, so the current
                // and next steps stay free for the benchmark.
                let step = step_of(SystemClock.now_secs()) - 1;
                let u = store
                    .user_by_name(&name)
                    .await
                    .expect("read")
                    .expect("user");
                store
                    .enable_totp(u.id, step, UnixTime::new(0))
                    .await
                    .expect("enable");
                if let Some(app_id) = app_id {
                    // What `otpstatus` records (valid for its 5 minutes).
                    store
                        .put_otp_status(&OtpStatusRecord {
                            user_id: u.id,
                            app_id,
                            end_user_ip: Some("192.0.2.1".into()),
                            expires_at: SystemClock.now().plus_secs(300),
                        })
                        .await
                        .expect("otp status");
                }
                let pre = svc
                    .login(&name, &pw, &Caller::default())
                    .await
                    .expect("pre-otp login");
                let _ = (&user, &who as &Principal);
                lines.push(format!("{name}\t{}\t{}", e.key, pre.token));
                let _ = secret;
            }
            lines
        }));
    }
    let mut f = std::fs::File::create(&out).expect("out");
    for t in tasks {
        for line in t.await.expect("join") {
            writeln!(f, "{line}").expect("write");
        }
    }
}

/// One HTTP/1.1 keep-alive connection.
struct Conn {
    send: hyper::client::conn::http1::SendRequest<Full<Bytes>>,
    host: String,
}

impl Conn {
    async fn open(base: &str) -> Self {
        let host = base
            .trim_start_matches("http://")
            .trim_end_matches('/')
            .to_owned();
        let stream = tokio::net::TcpStream::connect(&host)
            .await
            .expect("connect");
        stream.set_nodelay(true).expect("nodelay");
        let (send, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .expect("handshake");
        tokio::spawn(async move {
            let _ = conn.await;
        });
        Self { send, host }
    }

    async fn send(
        &mut self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<String>,
    ) -> (u16, Bytes) {
        let mut b = Request::builder()
            .method(method)
            .uri(path)
            .header("host", &self.host);
        if let Some(t) = token {
            b = b.header("authorization", format!("Bearer {t}"));
        }
        if body.is_some() {
            b = b.header("content-type", "application/json");
        }
        let req = b
            .body(Full::new(Bytes::from(body.unwrap_or_default())))
            .expect("request");
        self.round_trip(req).await
    }

    /// Sends a request with these headers (besides `host`) and body.
    async fn request(
        &mut self,
        method: Method,
        path: &str,
        headers: &[(&str, &str)],
        body: String,
    ) -> (u16, Bytes) {
        let mut b = Request::builder()
            .method(method)
            .uri(path)
            .header("host", &self.host);
        for (name, value) in headers {
            b = b.header(*name, *value);
        }
        let req = b.body(Full::new(Bytes::from(body))).expect("request");
        self.round_trip(req).await
    }

    async fn round_trip(&mut self, req: Request<Full<Bytes>>) -> (u16, Bytes) {
        self.send.ready().await.expect("ready");
        let resp = self.send.send_request(req).await.expect("send");
        let status = resp.status().as_u16();
        let bytes = resp.into_body().collect().await.expect("body").to_bytes();
        (status, bytes)
    }
}

fn percentile(sorted: &[u64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let idx = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[idx.min(sorted.len() - 1)] as f64 / 1000.0
}

/// The endpoint a run of correct codes drives.
#[derive(Clone)]
enum Target {
    /// `POST /api/2fa/verify-otp` with the user's pre-OTP token.
    VerifyOtp,
    /// Single Connect `otpvalid`, form-encoded, with the application's key.
    OtpValid { key: String, app: String },
}

/// Correct codes, one seeded user per request, on `concurrency`
/// keep-alive connections; prints the figures as one JSON line.
async fn correct_codes(
    urls: String,
    input: PathBuf,
    concurrency: usize,
    seconds: u64,
    target: Target,
) {
    let text = std::fs::read_to_string(&input).expect("input");
    let rows: Arc<Vec<(String, Vec<u8>, String)>> = Arc::new(
        text.lines()
            .filter_map(|l| {
                let mut p = l.split('\t');
                let (u, k, t) = (p.next()?, p.next()?, p.next()?);
                Some((
                    u.to_owned(),
                    BASE32_NOPAD.decode(k.as_bytes()).ok()?,
                    t.to_owned(),
                ))
            })
            .collect(),
    );
    let urls: Vec<String> = urls.split(',').map(str::to_owned).collect();
    let next = Arc::new(AtomicUsize::new(0));
    let ok = Arc::new(AtomicU64::new(0));
    let other = Arc::new(AtomicU64::new(0));
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let start = Instant::now();
    let mut tasks = Vec::new();
    for c in 0..concurrency {
        let (rows, next, ok, other) = (rows.clone(), next.clone(), ok.clone(), other.clone());
        let url = urls[c % urls.len()].clone();
        let target = target.clone();
        tasks.push(tokio::spawn(async move {
            let mut conn = Conn::open(&url).await;
            let mut lat = Vec::new();
            while Instant::now() < deadline {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some((user, secret, token)) = rows.get(i) else {
                    break;
                };
                let code = code_at_step(secret, step_of(SystemClock.now_secs()), 6);
                let t = Instant::now();
                let (status, _) = match &target {
                    Target::VerifyOtp => {
                        let body = serde_json::json!({"username": user, "otp": code}).to_string();
                        conn.send(Method::POST, "/api/2fa/verify-otp", Some(token), Some(body))
                            .await
                    }
                    Target::OtpValid { key, app } => {
                        let body = format!("username={user}&token={code}&applicationname={app}");
                        conn.request(
                            Method::POST,
                            "/twofactorauth-ui/rest/tfa/otpvalid",
                            &[
                                ("x-api-key", key.as_str()),
                                ("content-type", "application/x-www-form-urlencoded"),
                            ],
                            body,
                        )
                        .await
                    }
                };
                lat.push(t.elapsed().as_micros() as u64);
                if status == 200 {
                    ok.fetch_add(1, Ordering::Relaxed)
                } else {
                    other.fetch_add(1, Ordering::Relaxed)
                };
            }
            lat
        }));
    }
    let mut lat = Vec::new();
    for t in tasks {
        lat.extend(t.await.expect("join"));
    }
    let elapsed = start.elapsed().as_secs_f64();
    lat.sort_unstable();
    let ok = ok.load(Ordering::Relaxed);
    println!(
        "{}",
        serde_json::json!({
            "ok": ok, "other": other.load(Ordering::Relaxed), "seconds": elapsed,
            "ok_per_sec": ok as f64 / elapsed, "exhausted": next.load(Ordering::Relaxed) >= rows.len(),
            "p50_ms": percentile(&lat, 0.5), "p99_ms": percentile(&lat, 0.99),
        })
    );
}

async fn flood(url: String, input: PathBuf, concurrency: usize, seconds: u64) {
    let text = std::fs::read_to_string(&input).expect("input");
    let first = text.lines().next().expect("one seeded user");
    let mut p = first.split('\t');
    let (user, key, token) = (
        p.next().unwrap().to_owned(),
        p.next().unwrap().to_owned(),
        p.next().unwrap().to_owned(),
    );
    let secret = Arc::new(BASE32_NOPAD.decode(key.as_bytes()).expect("b32"));
    let answered = Arc::new(AtomicU64::new(0));
    let successes = Arc::new(AtomicU64::new(0));
    let right_attempts = Arc::new(AtomicU64::new(0));
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let start = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..concurrency {
        let (url, user, token, secret) = (url.clone(), user.clone(), token.clone(), secret.clone());
        let (answered, successes, right_attempts) =
            (answered.clone(), successes.clone(), right_attempts.clone());
        tasks.push(tokio::spawn(async move {
            let mut conn = Conn::open(&url).await;
            let mut n = 0u64;
            let mut lat = Vec::new();
            while Instant::now() < deadline {
                n += 1;
                let code = if n.is_multiple_of(100) {
                    right_attempts.fetch_add(1, Ordering::Relaxed);
                    code_at_step(&secret, step_of(SystemClock.now_secs()), 6)
                } else {
                    format!("{:06}", (n * 7919) % 1_000_000)
                };
                let body = serde_json::json!({"username": user, "otp": code}).to_string();
                let t0 = Instant::now();
                let (status, _) = conn
                    .send(
                        Method::POST,
                        "/api/2fa/verify-otp",
                        Some(&token),
                        Some(body),
                    )
                    .await;
                lat.push(t0.elapsed().as_micros() as u64);
                answered.fetch_add(1, Ordering::Relaxed);
                if status == 200 {
                    successes.fetch_add(1, Ordering::Relaxed);
                }
            }
            lat
        }));
    }
    let mut lat = Vec::new();
    for t in tasks {
        lat.extend(t.await.expect("join"));
    }
    lat.sort_unstable();
    let elapsed = start.elapsed().as_secs_f64();
    println!(
        "{}",
        serde_json::json!({
            "answered": answered.load(Ordering::Relaxed), "per_sec": answered.load(Ordering::Relaxed) as f64 / elapsed,
            "right_code_attempts": right_attempts.load(Ordering::Relaxed), "successes": successes.load(Ordering::Relaxed),
            "p99_ms": percentile(&lat, 0.99),
        })
    );
}

async fn get(urls: String, path: String, token: String, concurrency: usize, seconds: u64) {
    let urls: Vec<String> = urls.split(',').map(str::to_owned).collect();
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let start = Instant::now();
    let mut tasks = Vec::new();
    for c in 0..concurrency {
        let (url, path, token) = (urls[c % urls.len()].clone(), path.clone(), token.clone());
        tasks.push(tokio::spawn(async move {
            let mut conn = Conn::open(&url).await;
            let mut lat = Vec::new();
            let mut bad = 0u64;
            while Instant::now() < deadline {
                let t = Instant::now();
                let (status, _) = conn.send(Method::GET, &path, Some(&token), None).await;
                lat.push(t.elapsed().as_micros() as u64);
                if status != 200 {
                    bad += 1;
                }
            }
            (lat, bad)
        }));
    }
    let mut lat = Vec::new();
    let mut bad = 0;
    for t in tasks {
        let (l, b) = t.await.expect("join");
        lat.extend(l);
        bad += b;
    }
    let elapsed = start.elapsed().as_secs_f64();
    lat.sort_unstable();
    println!(
        "{}",
        serde_json::json!({
            "requests": lat.len(), "per_sec": lat.len() as f64 / elapsed, "non_200": bad,
            "p50_ms": percentile(&lat, 0.5), "p99_ms": percentile(&lat, 0.99), "max_ms": percentile(&lat, 1.0),
        })
    );
}

async fn hashtime(memory_kib: u32, iterations: u32, count: u32, parallel: u32) {
    let h = Argon2idHasher::new(Argon2Cost {
        memory_kib,
        iterations,
        parallelism: 1,
    })
    .expect("params");
    let pw = SecretString::new("bench-password");
    // The single-hash time of the bound: one thread, hashing as the
    // gateway does (on its pool, in one memory block reused). A hash in
    // freshly allocated memory (the plain API) also pays page faults whose
    // number depends on malloc's heuristics (from none to one per page);
    // it is reported beside, not used for the bound, which it would lower.
    let single = HashingPool::new(h.clone(), 1, usize::MAX);
    hash_on(&single, &pw, 1).await;
    let start = Instant::now();
    hash_on(&single, &pw, count).await;
    let ms = start.elapsed().as_secs_f64() * 1000.0 / f64::from(count);
    drop(single);
    let _ = h.hash(&pw);
    let start = Instant::now();
    for _ in 0..count {
        let _ = h.hash(&pw);
    }
    let ms_fresh = start.elapsed().as_secs_f64() * 1000.0 / f64::from(count);
    if parallel == 0 {
        println!(
            "{}",
            serde_json::json!({"ms_per_hash": ms, "ms_per_hash_fresh": ms_fresh})
        );
        return;
    }
    // N threads, each hashing `count` times: the wall time per round of N.
    let start = Instant::now();
    let threads: Vec<_> = (0..parallel)
        .map(|_| {
            let (h, pw) = (h.clone(), pw.clone());
            std::thread::spawn(move || {
                for _ in 0..count {
                    let _ = h.hash(&pw);
                }
            })
        })
        .collect();
    for t in threads {
        t.join().expect("hashing thread");
    }
    let fresh = start.elapsed().as_secs_f64() * 1000.0 / f64::from(count);
    // The same on the gateway's pool with N threads.
    let pool = HashingPool::new(h.clone(), parallel as usize, usize::MAX);
    hash_on(&pool, &pw, parallel).await;
    let start = Instant::now();
    hash_on(&pool, &pw, parallel * count).await;
    let pooled = start.elapsed().as_secs_f64() * 1000.0 / f64::from(count);
    println!(
        "{}",
        serde_json::json!({
            "ms_per_hash": ms, "ms_per_hash_fresh": ms_fresh, "parallel": parallel,
            "ms_per_hash_parallel_fresh": fresh, "ms_per_hash_parallel_pool": pooled,
        })
    );
}

/// `n` hashes submitted at once to `pool` (which runs as many as it has
/// threads), awaited.
async fn hash_on(pool: &HashingPool, pw: &SecretString, n: u32) {
    let tasks: Vec<_> = (0..n)
        .map(|_| {
            let (pool, pw) = (pool.clone(), pw.clone());
            tokio::spawn(async move { pool.hash(pw).await })
        })
        .collect();
    for t in tasks {
        t.await.expect("hash task").expect("hash");
    }
}
