//! PostgreSQL's change feed (`src/pg_feed.rs`): token checks answered from
//! memory on two instances of one database, and forgotten by every commit
//! of either, whatever happens to the listening connection.
//!
//! Each test runs two `AuthService`s (instance A and instance B), each on
//! its own `PostgresStore`, on a fresh database of the server named by
//! `OTPGATE_TEST_PG_URL` (skipped without it, failed when
//! `OTPGATE_REQUIRE_PG=1`).

#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use otpgate_core::config::Argon2Cost;
use otpgate_core::error::TokenProblem;
use otpgate_core::keys::KeyFiles;
use otpgate_core::model::Authenticated;
use otpgate_core::secret::SecretString;
use otpgate_core::service::admin::UserSpec;
use otpgate_core::service::{Access, Caller};
use otpgate_core::store::TokenStore;
use otpgate_core::{AuthError, AuthService, ManualClock, Policy};
use otpgate_store::{PostgresOptions, PostgresStore};
use sqlx::{AssertSqlSafe, Connection, PgConnection};

fn admin_url() -> Option<String> {
    match std::env::var("OTPGATE_TEST_PG_URL") {
        Ok(u) if !u.trim().is_empty() => Some(u.trim().to_owned()),
        _ => {
            assert!(
                std::env::var("OTPGATE_REQUIRE_PG").as_deref() != Ok("1"),
                "OTPGATE_REQUIRE_PG=1 but OTPGATE_TEST_PG_URL is not set"
            );
            let _ = writeln!(
                std::io::stderr(),
                "SKIPPED (PostgreSQL): set OTPGATE_TEST_PG_URL to run the change feed tests"
            );
            None
        }
    }
}

/// A fresh database, dropped (with its connections) at the end.
struct Db {
    admin: String,
    name: String,
    url: String,
}

impl Db {
    async fn create(admin: &str) -> Self {
        static N: AtomicU64 = AtomicU64::new(0);
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        let name = format!(
            "otpgate_feed_{}_{}_{}",
            std::process::id(),
            nanos % 1_000_000_000,
            N.fetch_add(1, Ordering::Relaxed)
        );
        let mut conn = PgConnection::connect(admin).await.expect("connect");
        sqlx::raw_sql(AssertSqlSafe(format!("CREATE DATABASE \"{name}\"")))
            .execute(&mut conn)
            .await
            .expect("create database");
        let _ = conn.close().await;
        let base = admin.rsplit_once('/').map_or(admin, |(b, _)| b);
        Self {
            url: format!("{base}/{name}"),
            admin: admin.to_owned(),
            name,
        }
    }

    /// Runs `sql` on a connection of its own (an operator, or a writer
    /// whose notification never arrives).
    async fn exec(&self, sql: &str) {
        let mut conn = PgConnection::connect(&self.url).await.expect("connect");
        sqlx::raw_sql(AssertSqlSafe(sql.to_owned()))
            .execute(&mut conn)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
        let _ = conn.close().await;
    }
}

impl Drop for Db {
    fn drop(&mut self) {
        let (admin, name) = (self.admin.clone(), self.name.clone());
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("rt");
            rt.block_on(async {
                if let Ok(mut conn) = PgConnection::connect(&admin).await {
                    let _ = sqlx::raw_sql(AssertSqlSafe(format!(
                        "DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"
                    )))
                    .execute(&mut conn)
                    .await;
                }
            });
        })
        .join();
    }
}

/// Two instances (A and B) on one database, one user `alice`.
struct Pair {
    db: Db,
    clock: Arc<ManualClock>,
    a: AuthService,
    b: AuthService,
    b_store: Arc<PostgresStore>,
    a_store: Arc<PostgresStore>,
    _keys: tempfile::TempDir,
}

const PASSWORD: &str = "pw-secret-9";

async fn pair() -> Option<Pair> {
    let admin = admin_url()?;
    let db = Db::create(&admin).await;
    let keys_dir = tempfile::tempdir().expect("tmp");
    let (keys, _) = KeyFiles::load_or_create(keys_dir.path()).expect("keys");
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_secs();
    let clock = Arc::new(ManualClock::at_secs(i64::try_from(now).expect("secs")));
    let policy = Policy {
        argon2: Argon2Cost {
            memory_kib: 1024,
            iterations: 1,
            parallelism: 1,
        },
        ..Policy::default()
    };
    let a_store = Arc::new(
        PostgresStore::open(&db.url, &PostgresOptions::default())
            .await
            .expect("open A"),
    );
    let b_store = Arc::new(
        PostgresStore::open(&db.url, &PostgresOptions::default())
            .await
            .expect("open B"),
    );
    let a = AuthService::new(a_store.clone(), clock.clone(), policy.clone(), &keys).expect("A");
    let b = AuthService::new(b_store.clone(), clock.clone(), policy, &keys).expect("B");
    a.create_user(UserSpec {
        username: "alice".into(),
        password: Some(SecretString::new(PASSWORD)),
        display_name: None,
        email: None,
        phone: None,
        external_id: None,
        role: None,
    })
    .await
    .expect("alice");
    let p = Pair {
        db,
        clock,
        a,
        b,
        b_store,
        a_store,
        _keys: keys_dir,
    };
    // Both feeds up, as on a serving instance (the first token check
    // starts a store's feed).
    let deadline = Instant::now() + Duration::from_secs(10);
    while p.a_store.change_stamp().is_none() {
        assert!(Instant::now() < deadline, "A's feed never came up");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    p.wait_live().await;
    Some(p)
}

impl Pair {
    async fn token(&self) -> String {
        self.a
            .login("alice", &SecretString::new(PASSWORD), &Caller::cli())
            .await
            .expect("login")
            .token
    }

    /// Waits until B's feed gives out stamps (its first ping is back).
    async fn wait_live(&self) -> u128 {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(s) = self.b_store.change_stamp() {
                return s.0;
            }
            assert!(Instant::now() < deadline, "B's feed never came up");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// B checks `token` until it is remembered (B's stamp unchanged over
    /// the check), and returns the principal.
    async fn remembered_on_b(&self, token: &str) -> Authenticated {
        for _ in 0..200 {
            let before = self.b_store.change_stamp();
            let p = self
                .b
                .authenticate(token, Access::Verified)
                .await
                .expect("B");
            if before.is_some() && self.b_store.change_stamp() == before {
                return p;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("B never remembered the token");
    }
}

fn revoked(r: Result<Authenticated, AuthError>) -> bool {
    matches!(r, Err(AuthError::Token(TokenProblem::Revoked)))
}

/// A logout on A is refused by B as soon as B heard the commit: the
/// notification is sent at A's commit, so B hears it about when A answers
/// (the latency test below measures it). Counted: how often the very next
/// check, made the moment A returned, was already refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_logout_on_one_instance_is_refused_on_the_other_within_100_ms() {
    let Some(p) = pair().await else { return };
    let mut at_once = 0;
    for round in 0..30 {
        let t = p.token().await;
        let who = p.remembered_on_b(&t).await;
        p.a.logout(&who, &Caller::cli()).await.expect("logout");
        let started = Instant::now();
        if revoked(p.b.authenticate(&t, Access::Verified).await) {
            at_once += 1;
            continue;
        }
        while !revoked(p.b.authenticate(&t, Access::Verified).await) {
            assert!(
                started.elapsed() < Duration::from_millis(100),
                "round {round}: still accepted after 100 ms"
            );
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }
    let _ = writeln!(
        std::io::stderr(),
        "logout on A: refused by B's very next check in {at_once} of 30 rounds"
    );
    // The cut-off (revoke-all) too.
    let t = p.token().await;
    p.remembered_on_b(&t).await;
    p.a.revoke_all_tokens("alice").await.expect("revoke-all");
    let started = Instant::now();
    while !revoked(p.b.authenticate(&t, Access::Verified).await) {
        assert!(started.elapsed() < Duration::from_millis(100));
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

/// A remembered check is answered from memory: a revocation written with
/// the triggers switched off (no notification, no counter) is not seen by
/// B, until any commit that notifies empties B's memory. (An attempt where
/// B's feed went down meanwhile, a ping late on a loaded machine, proves
/// nothing and is repeated.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_remembered_check_reads_nothing_until_a_commit_is_heard() {
    let Some(p) = pair().await else { return };
    let mut proven = false;
    for _ in 0..5 {
        let t = p.token().await;
        let who = p.remembered_on_b(&t).await;
        let stamp = p.b_store.change_stamp();
        p.db.exec(&format!(
            "SET session_replication_role = replica; \
             INSERT INTO revoked_tokens (jti, user_id, expires_at) VALUES ('{}', {}, {});",
            who.jti, who.user_id, who.expires_at
        ))
        .await;
        let answer = p.b.authenticate(&t, Access::Verified).await;
        if p.b_store.change_stamp() != stamp {
            continue;
        }
        answer.expect("served from memory");
        proven = true;
        // Any commit that notifies (another token's logout) makes B forget.
        let other = p.token().await;
        let other_who = p.a.authenticate(&other, Access::Verified).await.expect("A");
        p.a.logout(&other_who, &Caller::cli())
            .await
            .expect("logout");
        let started = Instant::now();
        while !revoked(p.b.authenticate(&t, Access::Verified).await) {
            assert!(started.elapsed() < Duration::from_millis(100));
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        break;
    }
    assert!(proven, "B's feed never stayed up over one check");
}

/// The listening connection killed: B forgets and queries every check
/// (even a revocation whose notification never comes is refused), until
/// a new connection listens and its first ping is back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_listener_turns_the_memory_off_until_it_is_back() {
    let Some(p) = pair().await else { return };
    let t1 = p.token().await;
    let t2 = p.token().await;
    let who1 = p.remembered_on_b(&t1).await;
    let who2 = p.remembered_on_b(&t2).await;
    let stamp_before = p.wait_live().await;

    // Terminate B's listening backend, waiting until it is gone.
    let mut admin = PgConnection::connect(&p.db.url).await.expect("connect");
    let killed: Vec<bool> = sqlx::query_scalar(
        "SELECT pg_terminate_backend(pid, 5000) FROM pg_stat_activity WHERE application_name = $1",
    )
    .bind(p.b_store.feed_application_name())
    .fetch_all(&mut admin)
    .await
    .expect("terminate");
    assert_eq!(killed, vec![true], "one listening backend");

    // Revoked on A: refused on B at once.
    p.a.logout(&who1, &Caller::cli()).await.expect("logout");
    assert!(revoked(p.b.authenticate(&t1, Access::Verified).await));

    // No stamp while the feed is down; a revocation no one hears about
    // is then refused too.
    let deadline = Instant::now() + Duration::from_secs(2);
    while p.b_store.change_stamp().is_some() {
        assert!(Instant::now() < deadline, "B's feed still up");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    p.db.exec(&format!(
        "SET session_replication_role = replica; \
         INSERT INTO revoked_tokens (jti, user_id, expires_at) VALUES ('{}', {}, {});",
        who2.jti, who2.user_id, who2.expires_at
    ))
    .await;
    assert!(revoked(p.b.authenticate(&t2, Access::Verified).await));

    // Back: a new listening backend, and a stamp that was never given out.
    let stamp_after = p.wait_live().await;
    assert_ne!(stamp_after, stamp_before);
    let listening: i64 =
        sqlx::query_scalar("SELECT count(*) FROM pg_stat_activity WHERE application_name = $1")
            .bind(p.b_store.feed_application_name())
            .fetch_one(&mut admin)
            .await
            .expect("count");
    assert_eq!(listening, 1);
    let t3 = p.token().await;
    p.remembered_on_b(&t3).await;
    let _ = admin.close().await;
}

/// A commit whose notification is lost is still caught by the poll of
/// the counter, within a few polls.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_counter_poll_catches_a_commit_never_notified() {
    let Some(p) = pair().await else { return };
    let t = p.token().await;
    let who = p.remembered_on_b(&t).await;
    // The trigger's work minus its notification.
    p.db.exec(&format!(
        "BEGIN; SET LOCAL session_replication_role = replica; \
         INSERT INTO revoked_tokens (jti, user_id, expires_at) VALUES ('{}', {}, {}); \
         UPDATE change_feed SET changes = changes + 1 WHERE slot = 0; COMMIT;",
        who.jti, who.user_id, who.expires_at
    ))
    .await;
    let started = Instant::now();
    while !revoked(p.b.authenticate(&t, Access::Verified).await) {
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "the poll never caught the commit"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Expiry is checked on every use, remembered or not.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_remembered_token_still_expires_on_postgres() {
    let Some(p) = pair().await else { return };
    let t = p.token().await;
    let who = p.remembered_on_b(&t).await;
    p.clock.set_secs(who.expires_at);
    assert!(matches!(
        p.b.authenticate(&t, Access::Verified).await,
        Err(AuthError::Token(TokenProblem::Expired))
    ));
}

/// How long after a commit on A instance B has forgotten (its stamp
/// moved): the notification's way through PostgreSQL. p99 under 100 ms.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cross_instance_revocation_is_heard_within_100_ms_p99() {
    let Some(p) = pair().await else { return };
    let mut latencies = Vec::new();
    for _ in 0..200 {
        let t = p.token().await;
        let who = p.remembered_on_b(&t).await;
        let before = p.b_store.change_stamp().expect("live");
        let started = Instant::now();
        p.a.logout(&who, &Caller::cli()).await.expect("logout");
        let committed = started.elapsed();
        loop {
            if p.b_store.change_stamp() != Some(before) {
                break;
            }
            assert!(started.elapsed() < Duration::from_secs(2), "never heard");
            tokio::task::yield_now().await;
        }
        // From the logout call until B forgot, and B refuses.
        latencies.push((started.elapsed(), committed));
        assert!(revoked(p.b.authenticate(&t, Access::Verified).await));
    }
    latencies.sort_unstable();
    let pick = |q: f64| latencies[((latencies.len() as f64 - 1.0) * q) as usize];
    let (p50, p99, max) = (pick(0.5), pick(0.99), pick(1.0));
    let _ = writeln!(
        std::io::stderr(),
        "revocation on A heard by B (logout call to B's stamp moving; logout's own time): \
         p50 {:?} ({:?}), p99 {:?} ({:?}), max {:?} ({:?})",
        p50.0,
        p50.1,
        p99.0,
        p99.1,
        max.0,
        max.1
    );
    assert!(p99.0 < Duration::from_millis(100), "p99 {:?}", p99.0);
}
