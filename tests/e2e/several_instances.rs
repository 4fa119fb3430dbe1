//! Several instances on one PostgreSQL database: two real server processes
//! (shared key files) prove over HTTP that every security rule holds
//! across instances; a lost database answers 503 and service recovers by
//! itself; an unreachable database at start is a one-line error.
//!
//! Needs `OTPGATE_TEST_PG_URL` (e.g. postgres://postgres@127.0.0.1:5432/postgres);
//! without it these tests print SKIPPED, unless OTPGATE_REQUIRE_PG=1.

use std::sync::Arc;
use std::time::{Duration, Instant};

use sqlx::Connection;
use tokio::net::TcpListener;
use tokio::sync::Mutex;
use tokio::task::JoinHandle;

use crate::support::{Http, Server, cli_in, have_tool, now_secs, oathtool_code, text};

/// A fresh database on the test server, dropped when the value is dropped.
pub(crate) struct TestDb {
    admin_url: String,
    name: String,
    pub(crate) url: String,
}

pub(crate) fn pg_url() -> Option<String> {
    match std::env::var("OTPGATE_TEST_PG_URL") {
        Ok(u) if !u.is_empty() => Some(u),
        _ => {
            if std::env::var("OTPGATE_REQUIRE_PG").as_deref() == Ok("1") {
                panic!("OTPGATE_REQUIRE_PG=1 but OTPGATE_TEST_PG_URL is not set");
            }
            crate::support::skipped(
                "PostgreSQL: set OTPGATE_TEST_PG_URL=postgres://postgres@127.0.0.1:5432/postgres",
            );
            None
        }
    }
}

/// `url` with its database name replaced by `db` (and host:port by `hostport` if given).
fn with_db(url: &str, db: &str, hostport: Option<&str>) -> String {
    let (scheme, rest) = url.split_once("://").unwrap();
    let (authority, _) = rest.split_once('/').unwrap_or((rest, ""));
    let authority = match hostport {
        Some(hp) => match authority.rsplit_once('@') {
            Some((user, _)) => format!("{user}@{hp}"),
            None => hp.to_owned(),
        },
        None => authority.to_owned(),
    };
    format!("{scheme}://{authority}/{db}")
}

impl TestDb {
    pub(crate) async fn create(admin_url: &str) -> Self {
        let name = format!(
            "otpgate_e2e_{}",
            now_secs() as u64 * 1000 + u64::from(std::process::id() % 1000)
        );
        let name = format!("{name}_{}", rand_suffix());
        let mut conn = sqlx::PgConnection::connect(admin_url)
            .await
            .expect("connect to PostgreSQL");
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut conn)
            .await
            .unwrap();
        conn.close().await.unwrap();
        Self {
            admin_url: admin_url.to_owned(),
            url: with_db(admin_url, &name, None),
            name,
        }
    }

    pub(crate) async fn drop_now(self) {
        if let Ok(mut conn) = sqlx::PgConnection::connect(&self.admin_url).await {
            let _ = sqlx::query(sqlx::AssertSqlSafe(format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                self.name
            )))
            .execute(&mut conn)
            .await;
        }
    }
}

fn rand_suffix() -> String {
    let mut buf = [0u8; 6];
    let f = std::fs::File::open("/dev/urandom").unwrap();
    std::io::Read::read_exact(&mut &f, &mut buf).unwrap();
    data_encoding::HEXLOWER.encode(&buf)
}

pub(crate) fn env_for(url: &str) -> Vec<(&'static str, String)> {
    vec![
        ("OTPGATE_DATABASE_URL", url.to_owned()),
        ("OTPGATE_RATE_LIMIT_AVERAGE", "0".to_owned()),
        ("OTPGATE_POSTGRES_ACQUIRE_TIMEOUT_MS", "1000".to_owned()),
        ("OTPGATE_POSTGRES_CONNECT_TIMEOUT_MS", "1000".to_owned()),
    ]
}

pub(crate) fn start(dir: &std::path::Path, env: &[(&'static str, String)]) -> Server {
    let pairs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    Server::start(dir, &pairs)
}

async fn login(http: &Http, s: &Server, user: &str, pw: &str) -> String {
    let (status, body) = http.try_login(&s.base, user, pw).await;
    assert_eq!(status, 200, "{body}");
    body["token"].as_str().unwrap().to_owned()
}

/// `GET /api/user/me` on `s` until it answers 401, for at most 2 s: a
/// revocation committed by another process is refused once this
/// instance's change feed has heard it (within 100 ms at p99, asserted in
/// crates/store/tests/change_feed.rs; 2 s here for a loaded CI machine).
/// The last status.
async fn me_once_heard(http: &Http, s: &Server, token: &str) -> u16 {
    let deadline = Instant::now() + Duration::from_secs(2);
    let mut status = http.me(&s.base, token).await.0;
    while status != 401 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
        status = http.me(&s.base, token).await.0;
    }
    status
}

async fn verify(
    http: &Http,
    s: &Server,
    token: &str,
    user: &str,
    otp: &str,
) -> (u16, serde_json::Value) {
    http.verify_otp(&s.base, token, user, otp).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_on_one_database_enforce_every_rule_together() {
    let Some(admin) = pg_url() else { return };
    if !have_tool("oathtool", "apt-get install oathtool") {
        return;
    }
    let db = TestDb::create(&admin).await;
    // One data directory: the instances share jwt.key and secret.key.
    let dir = tempfile::tempdir().unwrap();
    let env = env_for(&db.url);
    let a = start(dir.path(), &env);
    let b = start(dir.path(), &env);
    let http = Http::new();
    a.add_user("erin", "pw-erin-secret");

    // A token issued by A is accepted by B; enrol on A, confirm on B.
    let t = login(&http, &a, "erin", "pw-erin-secret").await;
    let (_, qr) = http.qr_code(&b.base, &t).await;
    let key = qr["data"]["key"].as_str().unwrap().to_owned();
    let (_, qr_a) = http.qr_code(&a.base, &t).await;
    assert_eq!(
        qr_a["data"]["key"],
        key.as_str(),
        "one pending secret across instances"
    );
    let t0 = now_secs();
    let (s, v) = verify(&http, &b, &t, "erin", &oathtool_code(&key, t0)).await;
    assert_eq!(s, 200, "{v}");
    let verified = v["data"]["token"].as_str().unwrap().to_owned();

    // A TOTP step accepted on A is refused on B.
    let pre_a = login(&http, &a, "erin", "pw-erin-secret").await;
    let pre_b = login(&http, &b, "erin", "pw-erin-secret").await;
    let next = oathtool_code(&key, t0 + 30);
    assert_eq!(verify(&http, &a, &pre_a, "erin", &next).await.0, 200);
    assert_eq!(
        verify(&http, &b, &pre_b, "erin", &next).await.0,
        400,
        "replay across instances"
    );

    // A recovery code is consumed once across both.
    let (s, rc) = http
        .new_recovery_codes(&a.base, &verified, "pw-erin-secret")
        .await;
    assert_eq!(s, 200);
    let code = rc["codes"][0].as_str().unwrap().to_owned();
    let p1 = login(&http, &a, "erin", "pw-erin-secret").await;
    let p2 = login(&http, &b, "erin", "pw-erin-secret").await;
    let (r1, r2) = tokio::join!(
        verify(&http, &a, &p1, "erin", &code),
        verify(&http, &b, &p2, "erin", &code)
    );
    let mut statuses = [r1.0, r2.0];
    statuses.sort_unstable();
    assert_eq!(
        statuses,
        [200, 400],
        "exactly one instance accepts the recovery code"
    );

    // Logout on A is refused on B once B's change feed has heard it
    // (within 100 ms at p99, asserted in crates/store/tests/change_feed.rs;
    // 2 s here for a loaded CI machine).
    let (s, _) = http.logout(&a.base, &verified).await;
    assert_eq!(s, 200);
    assert_eq!(me_once_heard(&http, &b, &verified).await, 401);

    // Failures split over A and B lock the user on both (a fresh user, so
    // the failures above do not count).
    let out = a.cli(
        &["user", "add", "gail", "--password-stdin"],
        Some("pw-gail-secret\n"),
    );
    assert!(out.status.success());
    let g = login(&http, &b, "gail", "pw-gail-secret").await;
    let (_, qr) = http.qr_code(&b.base, &g).await;
    let gkey = qr["data"]["key"].as_str().unwrap().to_owned();
    assert_eq!(
        verify(&http, &a, &g, "gail", &oathtool_code(&gkey, now_secs()))
            .await
            .0,
        200
    );
    let pa = login(&http, &a, "gail", "pw-gail-secret").await;
    let pb = login(&http, &b, "gail", "pw-gail-secret").await;
    for i in 0..5 {
        let (s, p) = if i % 2 == 0 { (&a, &pa) } else { (&b, &pb) };
        assert_eq!(
            verify(&http, s, p, "gail", "000000").await.0,
            400,
            "failure {i}"
        );
    }
    let right = oathtool_code(&gkey, now_secs() + 30);
    assert_eq!(verify(&http, &a, &pa, "gail", &right).await.0, 429);
    assert_eq!(verify(&http, &b, &pb, "gail", &right).await.0, 429);

    // 2FA disable on A revokes on B; revoke-all from the CLI reaches both.
    let out = a.cli(&["user", "reset-2fa", "erin"], None);
    assert!(out.status.success());
    let fresh = login(&http, &b, "erin", "pw-erin-secret").await;
    assert_eq!(http.me(&a.base, &fresh).await.0, 200);
    // The CLI is a third process: its commit reaches A and B through the
    // change feed, like a logout on another instance.
    a.cli(&["token", "revoke-all", "erin"], None);
    assert_eq!(me_once_heard(&http, &a, &fresh).await, 401);
    assert_eq!(me_once_heard(&http, &b, &fresh).await, 401);

    drop(a);
    drop(b);
    db.drop_now().await;
}

/// A TCP forwarder that can be cut (listener closed, connections dropped)
/// and restored on the same port: a database outage on demand.
struct Forwarder {
    port: u16,
    target: String,
    tasks: Arc<Mutex<Vec<JoinHandle<()>>>>,
}

impl Forwarder {
    async fn start(target: &str) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let f = Self {
            port: listener.local_addr().unwrap().port(),
            target: target.to_owned(),
            tasks: Arc::new(Mutex::new(Vec::new())),
        };
        f.serve(listener).await;
        f
    }

    async fn serve(&self, listener: TcpListener) {
        let target = self.target.clone();
        let tasks = self.tasks.clone();
        let accept = tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                let target = target.clone();
                let conn = tokio::spawn(async move {
                    if let Ok(mut outbound) = tokio::net::TcpStream::connect(&target).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
                tasks.lock().await.push(conn);
            }
        });
        self.tasks.lock().await.push(accept);
    }

    async fn cut(&self) {
        for t in self.tasks.lock().await.drain(..) {
            t.abort();
        }
    }

    async fn restore(&self) {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            match TcpListener::bind(("127.0.0.1", self.port)).await {
                Ok(l) => return self.serve(l).await,
                Err(e) => {
                    assert!(Instant::now() < deadline, "rebind: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_database_answers_503_and_service_recovers_by_itself() {
    let Some(admin) = pg_url() else { return };
    let db = TestDb::create(&admin).await;
    let pg_hostport = {
        let rest = db.url.split_once("://").unwrap().1;
        let authority = rest.split_once('/').unwrap().0;
        authority
            .rsplit_once('@')
            .map_or(authority, |(_, h)| h)
            .to_owned()
    };
    let fwd = Forwarder::start(&pg_hostport).await;
    let url = with_db(&db.url, &db.name, Some(&format!("127.0.0.1:{}", fwd.port)));
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path(), &env_for(&url));
    let http = Http::new();
    server.cli(
        &["user", "add", "frank", "--password-stdin"],
        Some("pw-frank\n"),
    );
    let token = login(&http, &server, "frank", "pw-frank").await;
    let ready = reqwest::get(server.url("/readyz")).await.unwrap();
    assert_eq!(ready.status().as_u16(), 200);

    fwd.cut().await;
    let ready = reqwest::get(server.url("/readyz")).await.unwrap();
    assert_eq!(ready.status().as_u16(), 503);
    let (s, body) = http.me(&server.base, &token).await;
    assert_eq!(
        (s, body["message"].as_str()),
        (503, Some("store_unavailable")),
        "{body}"
    );
    let (s, body) = http.try_login(&server.base, "frank", "pw-frank").await;
    assert_eq!(s, 503, "{body}");
    assert_eq!(body["code"], 503);

    fwd.restore().await;
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let (s, _) = http.me(&server.base, &token).await;
        if s == 200 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "service did not recover (last status {s})"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(
        reqwest::get(server.url("/readyz"))
            .await
            .unwrap()
            .status()
            .as_u16(),
        200
    );
    login(&http, &server, "frank", "pw-frank").await;
    drop(server);
    fwd.cut().await;
    db.drop_now().await;
}

#[test]
fn an_unreachable_database_at_start_is_a_one_line_error() {
    let dir = tempfile::tempdir().unwrap();
    let port = crate::support::free_port();
    let env = vec![
        (
            "OTPGATE_DATABASE_URL".to_owned(),
            format!("postgres://postgres:hunter2@127.0.0.1:{port}/otpgate"),
        ),
        (
            "OTPGATE_POSTGRES_CONNECT_TIMEOUT_MS".to_owned(),
            "500".to_owned(),
        ),
    ];
    let out = cli_in(dir.path(), &env, &["serve"], None);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    let lines: Vec<&str> = err.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "{err}");
    assert!(lines[0].starts_with("error: "), "{err}");
    assert!(
        !err.contains("hunter2"),
        "no password in the message: {err}"
    );
    assert!(!err.contains("panicked"));
}
