//! The Store contract: every method of the trait, including the atomic
//! single-use operations under concurrency, written once and run against
//! each backend.
//!
//! SQLite always runs. PostgreSQL runs when `OTPGATE_TEST_PG_URL` names a
//! server (e.g. `postgres://postgres@127.0.0.1:5432/postgres`, a role
//! allowed to create databases): each test then gets a fresh database of
//! its own, dropped afterwards, so tests run in parallel. Without the
//! variable the PostgreSQL tests pass as skipped (one line on stderr),
//! unless `OTPGATE_REQUIRE_PG=1` (as in CI), where they fail.

#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::hash::{BuildHasher, Hash, Hasher, RandomState};
use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Once};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use otpgate_core::StoreError;
use otpgate_core::config::ThrottlePolicy;
use otpgate_core::model::{
    AppId, AuditQuery, AuditRecord, Channel, ContactField, LegacyNonce, MfaSession, NewApplication,
    NewOobCode, NewOutboxMessage, NewUser, OtpCounter, OtpStatusRecord, PersistentToken,
    Reservation, ThrottleKind, TotpState, UnixMillis, UnixTime, UserId, UserLiveState,
};
use otpgate_core::secret::SecretString;
use otpgate_core::store::{SecondFactorStore, TokenStore, UserStore};
use otpgate_store::{
    PostgresOptions, PostgresStore, SqliteOptions, SqliteStore, StoreOptions, TestStore,
};
use sqlx::{AssertSqlSafe, Connection, PgConnection};

/// A time of the store's signatures, `secs` after the epoch.
fn t(secs: i64) -> UnixTime {
    UnixTime::new(secs)
}

/// A store under test and what must live as long as it (and be cleaned up
/// after it, even when the test panics).
struct Backend {
    store: Arc<dyn TestStore>,
    _dir: Option<tempfile::TempDir>,
    _db: Option<PgDatabase>,
}

async fn sqlite() -> Backend {
    let dir = tempfile::tempdir().expect("tmp");
    let path = dir.path().join("otpgate.db");
    let store = SqliteStore::open(path.to_str().expect("utf8"), &SqliteOptions::default())
        .await
        .expect("open sqlite");
    Backend {
        store: Arc::new(store),
        _dir: Some(dir),
        _db: None,
    }
}

const PG_URL_VAR: &str = "OTPGATE_TEST_PG_URL";
const REQUIRE_PG_VAR: &str = "OTPGATE_REQUIRE_PG";

/// The server URL for the PostgreSQL tests, or `None` to skip them (after
/// saying so once, on the real stderr so that it shows without
/// `--nocapture`). Fails instead when `OTPGATE_REQUIRE_PG=1`.
fn pg_admin_url() -> Option<String> {
    if let Ok(url) = std::env::var(PG_URL_VAR)
        && !url.trim().is_empty()
    {
        return Some(url.trim().to_owned());
    }
    let required = std::env::var(REQUIRE_PG_VAR).is_ok_and(|v| v.trim() == "1");
    assert!(
        !required,
        "{REQUIRE_PG_VAR}=1 but {PG_URL_VAR} is not set: set \
         {PG_URL_VAR}=postgres://postgres@127.0.0.1:5432/postgres to run the PostgreSQL contract tests"
    );
    static SKIP_NOTICE: Once = Once::new();
    SKIP_NOTICE.call_once(|| {
        let _ = writeln!(
            std::io::stderr(),
            "SKIPPED (PostgreSQL): set {PG_URL_VAR}=postgres://postgres@127.0.0.1:5432/postgres \
             to run the PostgreSQL contract tests"
        );
    });
    // For the summary at the end of `cargo test` (tests/skipped_checks.rs).
    let test = std::thread::current()
        .name()
        .unwrap_or("contract")
        .to_owned();
    if let Ok(mut f) = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("skipped-checks.txt"))
    {
        let _ = writeln!(f, "contract {test}: PostgreSQL: set {PG_URL_VAR}");
    }
    None
}

/// 16 hex digits, unique per call within the process and across processes.
fn random_hex() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut h = RandomState::new().build_hasher();
    std::process::id().hash(&mut h);
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0)
        .hash(&mut h);
    COUNTER.fetch_add(1, Ordering::Relaxed).hash(&mut h);
    format!("{:016x}", h.finish())
}

/// `url` with its database (the path) replaced by `name`, query kept.
fn with_database(url: &str, name: &str) -> String {
    let (base, query) = url.split_at(url.find('?').unwrap_or(url.len()));
    let authority = base.find("://").map_or(0, |i| i + 3);
    let path = base[authority..]
        .find('/')
        .map_or(base.len(), |i| authority + i);
    format!("{}/{name}{query}", &base[..path])
}

/// A fresh database on the test server, dropped (connections and all)
/// when this is dropped.
struct PgDatabase {
    admin_url: String,
    name: String,
    url: String,
}

impl PgDatabase {
    async fn create(admin_url: &str) -> Self {
        let name = format!("otpgate_test_{}", random_hex());
        let mut conn = PgConnection::connect(admin_url)
            .await
            .unwrap_or_else(|e| panic!("connect to {PG_URL_VAR}={admin_url}: {e}"));
        sqlx::raw_sql(AssertSqlSafe(format!("CREATE DATABASE \"{name}\"")))
            .execute(&mut conn)
            .await
            .unwrap_or_else(|e| panic!("CREATE DATABASE {name}: {e}"));
        let _ = conn.close().await;
        Self {
            url: with_database(admin_url, &name),
            admin_url: admin_url.to_owned(),
            name,
        }
    }
}

/// A fresh database and a store open on it with the default options;
/// `None` when no PostgreSQL test server is configured (the test skips).
async fn fresh_pg() -> Option<(PgDatabase, PostgresStore)> {
    let db = PgDatabase::create(&pg_admin_url()?).await;
    let s = PostgresStore::open(&db.url, &PostgresOptions::default())
        .await
        .expect("open");
    Some((db, s))
}

impl Drop for PgDatabase {
    fn drop(&mut self) {
        // Drop runs inside the test's runtime (and maybe while unwinding):
        // do the async clean-up on a thread of its own.
        let admin_url = self.admin_url.clone();
        let name = self.name.clone();
        let outcome = std::thread::spawn(move || -> Result<(), String> {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| e.to_string())?;
            rt.block_on(async {
                let mut conn = PgConnection::connect(&admin_url)
                    .await
                    .map_err(|e| e.to_string())?;
                sqlx::raw_sql(AssertSqlSafe(format!(
                    "DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"
                )))
                .execute(&mut conn)
                .await
                .map_err(|e| e.to_string())?;
                let _ = conn.close().await;
                Ok(())
            })
        })
        .join();
        match outcome {
            Ok(Ok(())) => {}
            Ok(Err(e)) => eprintln!("could not drop test database {}: {e}", self.name),
            Err(_) => eprintln!(
                "could not drop test database {}: clean-up panicked",
                self.name
            ),
        }
    }
}

/// A PostgresStore on a fresh database, or `None` when PostgreSQL tests
/// are skipped.
async fn postgres() -> Option<Backend> {
    let admin_url = pg_admin_url()?;
    let db = PgDatabase::create(&admin_url).await;
    let store = PostgresStore::open(&db.url, &PostgresOptions::default())
        .await
        .expect("open postgres");
    Some(Backend {
        store: Arc::new(store),
        _dir: None,
        _db: Some(db),
    })
}

fn new_user(name: &str) -> NewUser {
    NewUser {
        username: name.into(),
        display_name: name.to_uppercase(),
        email: Some(format!("{name}@example.org")),
        phone: None,
        external_id: Some(format!("ext-{name}")),
        role: "user".into(),
        password_hash: "$argon2id$fake".into(),
        backend: "local".into(),
        tokens_valid_after: t(100),
        created_at: t(99),
    }
}

/// Instantiates each contract test for every backend.
macro_rules! contract {
    ($($name:ident),* $(,)?) => {
        mod sqlite_backend {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    let b = super::sqlite().await;
                    super::$name(b.store.clone()).await;
                }
            )*
        }
        mod postgres_backend {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    let Some(b) = super::postgres().await else {
                        return;
                    };
                    super::$name(b.store.clone()).await;
                }
            )*
        }
    };
}

contract!(
    users_are_created_found_listed_and_deleted,
    a_users_backend_and_sealed_upstream_session_are_kept,
    duplicate_username_is_a_conflict,
    concurrent_writes_fail_alone_and_all_land,
    password_change_moves_the_cutoff_forward_only,
    token_state_reports_revocation,
    second_factor_success_is_one_all_or_nothing_write,
    second_factor_success_wins_once_under_concurrency,
    second_factor_success_uses_up_the_otp_status_or_writes_nothing,
    totp_lifecycle_pending_enable_accept_disable,
    totp_step_is_accepted_once_under_concurrency,
    enabling_happens_once_under_concurrency,
    recovery_codes_replace_and_consume_once_under_concurrency,
    recovery_codes_need_2fa_on,
    throttle_counts_locks_and_clears,
    throttle_window_restarts_the_count,
    throttle_counts_every_concurrent_failure,
    reservations_admit_exactly_the_threshold_under_concurrency,
    returned_attempts_no_longer_count,
    unreserved_second_factor_success_respects_the_lock,
    second_factor_outcomes_take_the_same_precedence_in_both_backends,
    purge_removes_only_expired_rows,
    state_survives_reopening,
    legacy_nonce_is_redeemed_once_under_concurrency,
    legacy_nonce_expires_and_grants_end,
    live_state_reports_users_revocations_and_grants,
    applications_are_created_found_listed_and_deleted,
    users_are_found_by_contact,
    oob_code_attempts_are_bounded_replaced_and_expire,
    oob_attempts_are_bounded_under_concurrency,
    oob_code_is_consumed_once_under_concurrency,
    mfa_session_is_used_once_from_its_device_under_concurrency,
    otp_status_is_renewed_expires_and_is_consumed_once,
    outbox_lists_unexpired_messages_per_user,
    purge_expired_oob_removes_only_expired_rows,
    deleting_a_user_or_application_removes_what_is_bound_to_it,
    audit_records_are_appended_filtered_limited_and_purged,
    audit_records_survive_their_user_and_keep_odd_text,
    a_pending_secret_is_cleared_and_an_enabled_one_kept,
    profile_fields_change_alone_and_clear,
    the_2fa_requirement_override_is_kept_and_counted,
    a_persistent_token_replaces_and_revokes_the_previous_one,
    persistent_token_replacement_leaves_one_under_concurrency,
    a_user_has_live_tokens_until_the_last_one_goes,
    concurrent_second_factors_of_many_users_are_each_recorded_once,
    a_locked_gone_or_replayed_second_factor_fails_alone,
    concurrent_point_reads_each_get_their_own_row,
);

/// Login tokens, persistent tokens and legacy grants each keep a user
/// "with tokens" (API.md §9) until expired, revoked by id or cut off.
async fn a_user_has_live_tokens_until_the_last_one_goes(s: Arc<dyn TestStore>) {
    let a = s.create_user(&new_user("alice")).await.expect("alice");
    let b = s.create_user(&new_user("bob")).await.expect("bob");
    let live = |id: UserId, now: i64| {
        let s = s.clone();
        async move { s.has_live_tokens(id, t(now)).await.expect("live") }
    };
    assert!(!live(a.id, 200).await, "none recorded");
    assert!(!live(UserId::new(9_999_999), 200).await, "unknown user");
    s.record_login_token(a.id, "l1", t(150), t(1_000))
        .await
        .expect("l1");
    s.record_login_token(a.id, "l2", t(160), t(2_000))
        .await
        .expect("l2");
    s.record_login_token(a.id, "l2", t(160), t(2_000))
        .await
        .expect("recording twice is harmless");
    assert!(live(a.id, 200).await);
    assert!(!live(b.id, 200).await, "another user's tokens");
    // Revoked by id: the other one remains; then none.
    s.revoke_token("l1", a.id, t(1_000))
        .await
        .expect("revoke l1");
    assert!(live(a.id, 200).await);
    s.revoke_token("l2", a.id, t(2_000))
        .await
        .expect("revoke l2");
    assert!(!live(a.id, 200).await);
    // Expiry.
    s.record_login_token(a.id, "l3", t(170), t(1_500))
        .await
        .expect("l3");
    assert!(live(a.id, 1_499).await);
    assert!(!live(a.id, 1_500).await);
    // A persistent token counts, until revoked.
    s.replace_persistent_token(&persistent(a.id, "phone-island", "p1"))
        .await
        .expect("p1");
    assert!(live(a.id, 1_600).await);
    s.remove_persistent_token(a.id, "phone-island")
        .await
        .expect("remove p1");
    assert!(!live(a.id, 1_600).await);
    // A legacy grant counts, until deleted.
    s.create_legacy_nonce(&nonce("g1", a.id, 180, 5_000))
        .await
        .expect("nonce");
    let grant = s
        .redeem_legacy_nonce("g1", t(181), t(5_000))
        .await
        .expect("redeem")
        .expect("grant");
    assert!(live(a.id, 1_600).await);
    assert!(s.delete_legacy_grant(&grant.token_hash).await.expect("del"));
    assert!(!live(a.id, 1_600).await);
    // The cut-off ends them all at once.
    s.record_login_token(a.id, "l4", t(190), t(9_000))
        .await
        .expect("l4");
    s.replace_persistent_token(&persistent(a.id, "mobile-app", "p2"))
        .await
        .expect("p2");
    assert!(live(a.id, 1_600).await);
    s.revoke_all_tokens(a.id, t(1_001)).await.expect("cut-off");
    assert!(!live(a.id, 1_600).await);
    // Expired records are purged; a user's go with the user.
    s.record_login_token(b.id, "b1", t(150), t(300))
        .await
        .expect("b1");
    s.record_login_token(b.id, "b2", t(150), t(9_000))
        .await
        .expect("b2");
    s.purge_expired(t(400)).await.expect("purge");
    assert!(live(b.id, 200).await, "b2 remains (b1 purged)");
    s.revoke_token("b2", b.id, t(9_000))
        .await
        .expect("revoke b2");
    assert!(!live(b.id, 200).await);
    assert!(s.delete_user(a.id).await.expect("delete"));
    assert!(!live(a.id, 200).await);
}

fn persistent(user_id: UserId, audience: &str, jti: &str) -> PersistentToken {
    PersistentToken {
        user_id,
        audience: audience.into(),
        jti: jti.into(),
        issued_at: t(1_000),
        expires_at: t(9_000),
    }
}

async fn a_persistent_token_replaces_and_revokes_the_previous_one(s: Arc<dyn TestStore>) {
    let a = s.create_user(&new_user("alice")).await.expect("alice");
    let b = s.create_user(&new_user("bob")).await.expect("bob");
    let first = persistent(a.id, "phone-island", "j1");
    assert_eq!(s.replace_persistent_token(&first).await.expect("put"), None);
    s.replace_persistent_token(&persistent(a.id, "mobile-app", "m1"))
        .await
        .expect("other audience");
    s.replace_persistent_token(&persistent(b.id, "phone-island", "b1"))
        .await
        .expect("other user");
    let revoked = |jti: &'static str, who: &'static str| {
        let s = s.clone();
        async move {
            s.token_state(who, jti)
                .await
                .expect("state")
                .expect("user")
                .jti_revoked
        }
    };
    assert!(!revoked("j1", "alice").await);
    // A second one for the same user and audience: the first is returned
    // and revoked; the other audience and the other user are untouched.
    let old = s
        .replace_persistent_token(&persistent(a.id, "phone-island", "j2"))
        .await
        .expect("replace");
    assert_eq!(old, Some(first));
    assert!(revoked("j1", "alice").await);
    assert!(!revoked("j2", "alice").await);
    assert!(!revoked("m1", "alice").await);
    assert!(!revoked("b1", "bob").await);
    let listed = s.persistent_tokens(a.id).await.expect("list");
    assert_eq!(
        listed,
        vec![
            persistent(a.id, "mobile-app", "m1"),
            persistent(a.id, "phone-island", "j2"),
        ]
    );
    // Removed: revoked and forgotten; removing again finds nothing.
    let gone = s
        .remove_persistent_token(a.id, "phone-island")
        .await
        .expect("remove");
    assert_eq!(gone, Some(persistent(a.id, "phone-island", "j2")));
    assert!(revoked("j2", "alice").await);
    assert_eq!(
        s.remove_persistent_token(a.id, "phone-island")
            .await
            .expect("again"),
        None
    );
    assert_eq!(s.persistent_tokens(a.id).await.expect("list").len(), 1);
    // Deleting the user removes the user's rows.
    assert!(s.delete_user(a.id).await.expect("delete"));
    assert!(s.persistent_tokens(a.id).await.expect("list").is_empty());
    assert_eq!(s.persistent_tokens(b.id).await.expect("list").len(), 1);
}

async fn persistent_token_replacement_leaves_one_under_concurrency(s: Arc<dyn TestStore>) {
    let a = s.create_user(&new_user("alice")).await.expect("alice");
    let mut tasks = Vec::new();
    for i in 0..50 {
        let s = s.clone();
        tasks.push(tokio::spawn(async move {
            let jti = format!("j{i}");
            s.replace_persistent_token(&persistent(a.id, "nethlink", &jti))
                .await
                .map(|old| (jti, old))
        }));
    }
    let mut replaced = Vec::new();
    for t in tasks {
        let (_, old) = t.await.expect("join").expect("store");
        replaced.extend(old.map(|o| o.jti));
    }
    // Every write but the first replaced exactly one other, each once.
    assert_eq!(replaced.len(), 49);
    replaced.sort();
    replaced.dedup();
    assert_eq!(replaced.len(), 49, "no token replaced twice");
    let listed = s.persistent_tokens(a.id).await.expect("list");
    assert_eq!(listed.len(), 1);
    let live = &listed[0].jti;
    assert!(!replaced.contains(live), "the live one was never replaced");
    let mut unrevoked = 0;
    for i in 0..50 {
        let state = s
            .token_state("alice", &format!("j{i}"))
            .await
            .expect("state")
            .expect("user");
        if !state.jti_revoked {
            unrevoked += 1;
        }
    }
    assert_eq!(unrevoked, 1, "exactly one of the 50 is live");
}

async fn a_pending_secret_is_cleared_and_an_enabled_one_kept(s: Arc<dyn TestStore>) {
    let a = s.create_user(&new_user("alice")).await.expect("alice");
    assert!(!s.clear_pending_secret(a.id).await.expect("nothing pending"));
    s.set_pending_secret(a.id, b"sealed")
        .await
        .expect("pending");
    assert!(s.clear_pending_secret(a.id).await.expect("cleared"));
    let u = s.user_by_name("alice").await.expect("find").expect("some");
    assert_eq!(u.totp, TotpState::Off);
    assert_eq!(u.tokens_valid_after.get(), 100, "tokens are not touched");
    assert!(!s.clear_pending_secret(a.id).await.expect("once"));
    // An enabled secret is not "pending": it stays.
    s.set_pending_secret(a.id, b"sealed-2")
        .await
        .expect("pending");
    assert!(s.enable_totp(a.id, 5, t(200)).await.expect("enable"));
    assert!(!s.clear_pending_secret(a.id).await.expect("enabled"));
    let u = s.user_by_name("alice").await.expect("find").expect("some");
    assert_eq!(u.totp, TotpState::Enabled(b"sealed-2".to_vec()));
}

async fn profile_fields_change_alone_and_clear(s: Arc<dyn TestStore>) {
    use otpgate_core::model::ProfileChange;
    let a = s.create_user(&new_user("alice")).await.expect("alice");
    let b = s.create_user(&new_user("bob")).await.expect("bob");
    let change = ProfileChange {
        phone: Some(Some("+39 555 0100".into())),
        display_name: Some("Alice A.".into()),
        ..ProfileChange::default()
    };
    assert!(s.update_profile(a.id, &change).await.expect("update"));
    let u = s.user_by_name("alice").await.expect("find").expect("some");
    assert_eq!(u.phone.as_deref(), Some("+39 555 0100"));
    assert_eq!(u.display_name, "Alice A.");
    assert_eq!(u.email.as_deref(), Some("alice@example.org"), "left alone");
    assert_eq!(u.external_id.as_deref(), Some("ext-alice"), "left alone");
    assert_eq!(u.role, "user", "left alone");
    let change = ProfileChange {
        email: Some(None),
        external_id: Some(Some("42".into())),
        role: Some("admin".into()),
        ..ProfileChange::default()
    };
    assert!(s.update_profile(a.id, &change).await.expect("update"));
    let u = s.user_by_name("alice").await.expect("find").expect("some");
    assert_eq!(u.email, None, "cleared");
    assert_eq!(u.external_id.as_deref(), Some("42"));
    assert_eq!(u.role, "admin");
    assert_eq!(u.phone.as_deref(), Some("+39 555 0100"), "kept");
    let other = s.user_by_name("bob").await.expect("find").expect("some");
    assert_eq!(
        other.email.as_deref(),
        Some("bob@example.org"),
        "only alice"
    );
    assert_eq!(other.role, "user");
    // Found by the new contact, no longer by the old one.
    let found = s
        .users_by_contact(ContactField::Phone, "+39 555 0100")
        .await
        .expect("by phone");
    assert_eq!(found.len(), 1);
    assert!(s.delete_user(b.id).await.expect("del"));
    assert!(!s.update_profile(b.id, &change).await.expect("gone"));
}

/// The password backend (API.md §9): a user created by the `nethcti`
/// backend has no hash and says so on every read; its sealed CTI session
/// is replaced, read back by the token check's read, and forgotten.
async fn a_users_backend_and_sealed_upstream_session_are_kept(s: Arc<dyn TestStore>) {
    let local = s.create_user(&new_user("alice")).await.expect("alice");
    assert_eq!(local.backend, "local");
    assert_eq!(local.upstream_session, None);
    let cti = s
        .create_user(&NewUser {
            password_hash: String::new(),
            backend: "nethcti".into(),
            ..new_user("bob")
        })
        .await
        .expect("bob");
    assert_eq!(cti.backend, "nethcti");
    assert_eq!(cti.password_hash, "");
    assert!(
        s.set_upstream_session(cti.id, Some(b"sealed-1"))
            .await
            .expect("set")
    );
    assert!(
        s.set_upstream_session(cti.id, Some(b"sealed-2"))
            .await
            .expect("replace")
    );
    assert!(
        !s.set_upstream_session(UserId::new(-1), Some(b"x"))
            .await
            .expect("nobody")
    );
    let read = s.user_by_name("bob").await.expect("read").expect("some");
    assert_eq!(read.backend, "nethcti");
    assert_eq!(read.upstream_session.as_deref(), Some(&b"sealed-2"[..]));
    let st = s
        .token_state("bob", "j")
        .await
        .expect("state")
        .expect("some");
    assert_eq!(st.user.upstream_session.as_deref(), Some(&b"sealed-2"[..]));
    let listed = s.list_users().await.expect("list");
    assert_eq!(
        listed
            .iter()
            .map(|u| u.backend.as_str())
            .collect::<Vec<_>>(),
        ["local", "nethcti"]
    );
    assert!(s.set_upstream_session(cti.id, None).await.expect("forget"));
    let read = s.user_by_name("bob").await.expect("read").expect("some");
    assert_eq!(read.upstream_session, None);
    assert_eq!(
        s.user_by_name("alice")
            .await
            .expect("read")
            .expect("some")
            .upstream_session,
        None
    );
}

/// `user require-2fa`: the override round-trips through every read of a
/// user, and the census groups users by (2FA on, override).
async fn the_2fa_requirement_override_is_kept_and_counted(s: Arc<dyn TestStore>) {
    let a = s.create_user(&new_user("alice")).await.expect("alice");
    let b = s.create_user(&new_user("bob")).await.expect("bob");
    s.create_user(&new_user("carol")).await.expect("carol");
    assert_eq!(a.require_two_factor, None, "new users follow the setting");
    assert!(
        s.set_require_two_factor(a.id, Some(true))
            .await
            .expect("yes")
    );
    assert!(
        s.set_require_two_factor(b.id, Some(false))
            .await
            .expect("no")
    );
    assert!(
        !s.set_require_two_factor(UserId::new(-1), Some(true))
            .await
            .expect("nobody")
    );
    let read = |name: &'static str| {
        let s = s.clone();
        async move { s.user_by_name(name).await.expect("read").expect("some") }
    };
    assert_eq!(read("alice").await.require_two_factor, Some(true));
    assert_eq!(read("bob").await.require_two_factor, Some(false));
    assert_eq!(read("carol").await.require_two_factor, None);
    let st = s
        .token_state("alice", "j")
        .await
        .expect("state")
        .expect("some");
    assert_eq!(st.user.require_two_factor, Some(true));
    assert!(
        !st.jti_revoked,
        "the columns after the user's still line up"
    );
    let listed = s.list_users().await.expect("list");
    assert_eq!(
        listed
            .iter()
            .filter(|u| u.require_two_factor.is_some())
            .count(),
        2
    );
    let live = s
        .live_state(&[a.id, b.id], &[], &[], t(0))
        .await
        .expect("live");
    let mut overrides: Vec<(UserId, Option<bool>)> = live
        .users
        .iter()
        .map(|u| (u.user_id, u.require_two_factor))
        .collect();
    overrides.sort();
    assert_eq!(overrides, vec![(a.id, Some(true)), (b.id, Some(false))]);

    // Alice enrols; the census counts (on, override) groups.
    assert!(
        s.set_pending_secret(a.id, b"sealed")
            .await
            .expect("pending")
    );
    assert!(s.enable_totp(a.id, 7, t(0)).await.expect("enable"));
    let mut census: Vec<(bool, Option<bool>, u64)> = s
        .two_factor_census()
        .await
        .expect("census")
        .into_iter()
        .map(|g| (g.enabled, g.require_two_factor, g.users))
        .collect();
    census.sort();
    assert_eq!(
        census,
        vec![
            (false, None, 1),
            (false, Some(false), 1),
            (true, Some(true), 1)
        ]
    );
    // Back to the setting.
    assert!(s.set_require_two_factor(a.id, None).await.expect("default"));
    assert_eq!(read("alice").await.require_two_factor, None);
}

async fn users_are_created_found_listed_and_deleted(s: Arc<dyn TestStore>) {
    assert_eq!(s.count_users().await.expect("count"), 0);
    let a = s.create_user(&new_user("alice")).await.expect("alice");
    s.create_user(&new_user("bob")).await.expect("bob");
    assert_eq!(a.username, "alice");
    assert_eq!(a.display_name, "ALICE");
    assert_eq!(a.email.as_deref(), Some("alice@example.org"));
    assert_eq!(a.totp, TotpState::Off);
    assert_eq!(a.tokens_valid_after.get(), 100);
    let found = s.user_by_name("alice").await.expect("find").expect("some");
    assert_eq!(found.id, a.id);
    assert!(s.user_by_name("carol").await.expect("find").is_none());
    let names: Vec<String> = s
        .list_users()
        .await
        .expect("list")
        .into_iter()
        .map(|u| u.username)
        .collect();
    assert_eq!(names, ["alice", "bob"]);
    assert_eq!(s.count_users().await.expect("count"), 2);
    s.revoke_token("j1", a.id, t(10_000)).await.expect("revoke");
    assert!(s.delete_user(a.id).await.expect("delete"));
    assert!(!s.delete_user(a.id).await.expect("delete again"));
    assert!(s.user_by_name("alice").await.expect("find").is_none());
    s.ping().await.expect("ping");
}

async fn duplicate_username_is_a_conflict(s: Arc<dyn TestStore>) {
    s.create_user(&new_user("alice")).await.expect("alice");
    let err = s.create_user(&new_user("alice")).await.expect_err("dup");
    assert!(matches!(err, StoreError::Conflict(_)), "{err:?}");
}

/// Many writes at once (which SQLite commits together in one group),
/// some of which fail: each failure is reported to its own caller only,
/// and every write answered OK is there afterwards.
async fn concurrent_writes_fail_alone_and_all_land(s: Arc<dyn TestStore>) {
    let mut tasks = Vec::new();
    for i in 0..120 {
        let s = s.clone();
        // Every fourth name is taken twice.
        let name = if i % 4 == 3 {
            format!("user{}", i - 1)
        } else {
            format!("user{i}")
        };
        tasks.push(tokio::spawn(async move {
            (name.clone(), s.create_user(&new_user(&name)).await)
        }));
    }
    let mut created = std::collections::BTreeSet::new();
    let mut conflicts = 0;
    for t in tasks {
        let (name, result) = t.await.expect("task");
        match result {
            Ok(u) => {
                assert_eq!(u.username, name);
                assert!(created.insert(name), "one create per name succeeds");
            }
            Err(StoreError::Conflict(_)) => conflicts += 1,
            Err(e) => panic!("unexpected {e:?}"),
        }
    }
    assert_eq!(conflicts, 30);
    assert_eq!(created.len(), 90);
    let listed: std::collections::BTreeSet<String> = s
        .list_users()
        .await
        .expect("list")
        .into_iter()
        .map(|u| u.username)
        .collect();
    assert_eq!(listed, created);
}

async fn password_change_moves_the_cutoff_forward_only(s: Arc<dyn TestStore>) {
    let a = s.create_user(&new_user("alice")).await.expect("alice");
    s.set_password(a.id, "$argon2id$new", t(500))
        .await
        .expect("set");
    let u = s.user_by_name("alice").await.expect("find").expect("some");
    assert_eq!(u.password_hash, "$argon2id$new");
    assert_eq!(u.tokens_valid_after.get(), 500);
    s.revoke_all_tokens(a.id, t(400))
        .await
        .expect("older cutoff");
    let u = s.user_by_name("alice").await.expect("find").expect("some");
    assert_eq!(
        u.tokens_valid_after.get(),
        501,
        "never moves back, always moves past the last cut-off"
    );
    s.revoke_all_tokens(a.id, t(501))
        .await
        .expect("same cutoff again");
    let u = s.user_by_name("alice").await.expect("find").expect("some");
    assert_eq!(
        u.tokens_valid_after.get(),
        502,
        "a second revocation in the same instant still revokes"
    );
    s.revoke_all_tokens(a.id, t(600))
        .await
        .expect("newer cutoff");
    let u = s.user_by_name("alice").await.expect("find").expect("some");
    assert_eq!(u.tokens_valid_after.get(), 600);
}

async fn token_state_reports_revocation(s: Arc<dyn TestStore>) {
    let a = s.create_user(&new_user("alice")).await.expect("alice");
    let st = s
        .token_state("alice", "j1")
        .await
        .expect("state")
        .expect("some");
    assert_eq!(
        st.user, a,
        "the whole user row, so a request needs no second read"
    );
    assert!(!st.jti_revoked);
    assert!(!st.user.totp.is_enabled());
    assert_eq!(st.user.tokens_valid_after.get(), 100);
    s.revoke_token("j1", a.id, t(10_000)).await.expect("revoke");
    s.revoke_token("j1", a.id, t(10_000))
        .await
        .expect("revoke twice is fine");
    assert!(
        s.token_state("alice", "j1")
            .await
            .expect("state")
            .expect("some")
            .jti_revoked
    );
    assert!(
        !s.token_state("alice", "j2")
            .await
            .expect("state")
            .expect("some")
            .jti_revoked
    );
    assert!(
        s.token_state("nobody", "j1")
            .await
            .expect("state")
            .is_none()
    );
}

async fn totp_lifecycle_pending_enable_accept_disable(s: Arc<dyn TestStore>) {
    let a = s.create_user(&new_user("alice")).await.expect("alice");
    assert!(
        !s.enable_totp(a.id, 5, t(200))
            .await
            .expect("nothing pending")
    );
    assert!(
        s.set_pending_secret(a.id, b"sealed-1")
            .await
            .expect("pending")
    );
    assert!(
        !s.set_pending_secret(a.id, b"sealed-2")
            .await
            .expect("kept first")
    );
    let u = s.user_by_name("alice").await.expect("find").expect("some");
    assert_eq!(u.totp, TotpState::Pending(b"sealed-1".to_vec()));
    assert!(!s.accept_totp_step(a.id, 9).await.expect("not enabled yet"));
    assert!(s.enable_totp(a.id, 10, t(200)).await.expect("enable"));
    let u = s.user_by_name("alice").await.expect("find").expect("some");
    assert_eq!(u.totp, TotpState::Enabled(b"sealed-1".to_vec()));
    assert_eq!(u.totp_last_step, Some(10));
    assert_eq!(u.tokens_valid_after.get(), 200);
    assert!(
        s.token_state("alice", "x")
            .await
            .expect("s")
            .expect("u")
            .user
            .totp
            .is_enabled()
    );
    assert!(
        !s.set_pending_secret(a.id, b"sealed-3")
            .await
            .expect("enabled: no pending")
    );
    assert!(!s.accept_totp_step(a.id, 10).await.expect("same step"));
    assert!(!s.accept_totp_step(a.id, 9).await.expect("older step"));
    assert!(s.accept_totp_step(a.id, 11).await.expect("later step"));
    assert!(
        s.replace_recovery_codes(a.id, &["h1".into()])
            .await
            .expect("codes")
    );
    assert!(s.disable_totp(a.id, t(300)).await.expect("disable"));
    assert!(!s.disable_totp(a.id, t(400)).await.expect("already off"));
    let u = s.user_by_name("alice").await.expect("find").expect("some");
    assert_eq!(u.totp, TotpState::Off);
    assert_eq!(u.totp_last_step, None);
    assert_eq!(
        u.tokens_valid_after.get(),
        300,
        "a refused disable writes nothing"
    );
    assert!(s.recovery_codes(a.id).await.expect("codes").is_empty());
}

async fn totp_step_is_accepted_once_under_concurrency(s: Arc<dyn TestStore>) {
    let a = s.create_user(&new_user("alice")).await.expect("alice");
    s.set_pending_secret(a.id, b"x").await.expect("pending");
    s.enable_totp(a.id, 1, t(0)).await.expect("enable");
    let mut tasks = Vec::new();
    for _ in 0..50 {
        let s = s.clone();
        tasks.push(tokio::spawn(
            async move { s.accept_totp_step(a.id, 2).await },
        ));
    }
    let mut wins = 0;
    for t in tasks {
        if t.await.expect("join").expect("store") {
            wins += 1;
        }
    }
    assert_eq!(wins, 1);
}

async fn enabling_happens_once_under_concurrency(s: Arc<dyn TestStore>) {
    let a = s.create_user(&new_user("alice")).await.expect("alice");
    s.set_pending_secret(a.id, b"x").await.expect("pending");
    let mut tasks = Vec::new();
    for _ in 0..50 {
        let s = s.clone();
        tasks.push(tokio::spawn(
            async move { s.enable_totp(a.id, 7, t(0)).await },
        ));
    }
    let mut wins = 0;
    for t in tasks {
        if t.await.expect("join").expect("store") {
            wins += 1;
        }
    }
    assert_eq!(wins, 1);
}

async fn recovery_codes_replace_and_consume_once_under_concurrency(s: Arc<dyn TestStore>) {
    let a = s.create_user(&new_user("alice")).await.expect("alice");
    s.set_pending_secret(a.id, b"x").await.expect("pending");
    s.enable_totp(a.id, 1, t(0)).await.expect("enable");
    assert!(
        s.replace_recovery_codes(a.id, &["old".into()])
            .await
            .expect("first set")
    );
    let hashes: Vec<String> = (0..5).map(|i| format!("h{i}")).collect();
    assert!(
        s.replace_recovery_codes(a.id, &hashes)
            .await
            .expect("second set")
    );
    let codes = s.recovery_codes(a.id).await.expect("codes");
    let stored: Vec<&str> = codes.iter().map(|c| c.hash.as_str()).collect();
    assert_eq!(
        stored,
        ["h0", "h1", "h2", "h3", "h4"],
        "the new set replaced the old"
    );
    let target = codes[2].id;
    let mut tasks = Vec::new();
    for _ in 0..50 {
        let s = s.clone();
        tasks.push(tokio::spawn(async move {
            s.consume_recovery_code(target).await
        }));
    }
    let mut wins = 0;
    for t in tasks {
        if t.await.expect("join").expect("store") {
            wins += 1;
        }
    }
    assert_eq!(wins, 1);
    assert_eq!(s.recovery_codes(a.id).await.expect("codes").len(), 4);
}

async fn recovery_codes_need_2fa_on(s: Arc<dyn TestStore>) {
    let a = s.create_user(&new_user("alice")).await.expect("alice");
    assert!(
        !s.replace_recovery_codes(a.id, &["h".into()])
            .await
            .expect("off")
    );
    s.set_pending_secret(a.id, b"x").await.expect("pending");
    assert!(
        !s.replace_recovery_codes(a.id, &["h".into()])
            .await
            .expect("pending")
    );
    assert!(s.recovery_codes(a.id).await.expect("codes").is_empty());
}

/// The lockout rule of the OTP and per-username counters: 5 consecutive
/// failures, then 30 s doubling up to 15 minutes.
fn consecutive() -> ThrottlePolicy {
    ThrottlePolicy {
        max_failures: 5,
        window_secs: None,
        base_secs: 30,
        cap_secs: 900,
    }
}

/// A rule that never locks, to watch the count alone.
fn counting(window_secs: Option<i64>) -> ThrottlePolicy {
    ThrottlePolicy {
        max_failures: u32::MAX,
        window_secs,
        base_secs: 30,
        cap_secs: 900,
    }
}

/// Reserves an attempt that must be admitted; returns its count.
async fn admitted(
    s: &Arc<dyn TestStore>,
    k: ThrottleKind,
    key: &str,
    now: i64,
    p: &ThrottlePolicy,
) -> u32 {
    match s.reserve_attempt(k, key, t(now), p).await.expect("reserve") {
        Reservation::Admitted { count, .. } => count,
        Reservation::Locked { until } => panic!("locked until {until}"),
    }
}

async fn throttle_counts_locks_and_clears(s: Arc<dyn TestStore>) {
    let k = ThrottleKind::Otp;
    let p = consecutive();
    assert!(s.throttle(k, "1").await.expect("t").is_none());
    for i in 1..=4 {
        assert_eq!(
            s.reserve_attempt(k, "1", t(1000 + i), &p).await.expect("r"),
            Reservation::Admitted {
                count: i as u32,
                locks: false
            }
        );
    }
    // The 5th reservation is admitted and locks the key in the same write.
    assert_eq!(
        s.reserve_attempt(k, "1", t(1005), &p).await.expect("r"),
        Reservation::Admitted {
            count: 5,
            locks: true
        }
    );
    let st = s.throttle(k, "1").await.expect("t").expect("some");
    assert_eq!((st.failures, st.locked_until.get()), (5, 1035));
    // Locked: refused, nothing counted.
    assert_eq!(
        s.reserve_attempt(k, "1", t(1034), &p).await.expect("r"),
        Reservation::Locked { until: t(1035) }
    );
    assert_eq!(
        s.throttle(k, "1").await.expect("t").expect("some").failures,
        5
    );
    // After the lock, each attempt is admitted and locks twice as long,
    // up to the cap.
    assert_eq!(
        s.reserve_attempt(k, "1", t(1035), &p).await.expect("r"),
        Reservation::Admitted {
            count: 6,
            locks: true
        }
    );
    assert_eq!(
        s.throttle(k, "1")
            .await
            .expect("t")
            .expect("some")
            .locked_until,
        t(1095)
    );
    let mut now = 1095;
    for _ in 0..10 {
        admitted(&s, k, "1", now, &p).await;
        now = s
            .throttle(k, "1")
            .await
            .expect("t")
            .expect("some")
            .locked_until
            .get();
    }
    let st = s.throttle(k, "1").await.expect("t").expect("some");
    assert_eq!(st.failures, 16);
    admitted(&s, k, "1", now, &p).await;
    assert_eq!(
        s.throttle(k, "1")
            .await
            .expect("t")
            .expect("some")
            .locked_until,
        t(now + 900),
        "capped"
    );
    assert!(
        s.throttle(ThrottleKind::LoginUser, "1")
            .await
            .expect("t")
            .is_none(),
        "kinds are separate"
    );
    s.clear_throttle(k, "1").await.expect("clear");
    assert!(s.throttle(k, "1").await.expect("t").is_none());
}

async fn throttle_window_restarts_the_count(s: Arc<dyn TestStore>) {
    let k = ThrottleKind::LoginIp;
    let p = counting(Some(600));
    for _ in 0..3 {
        admitted(&s, k, "10.0.0.1", 1000, &p).await;
    }
    assert_eq!(admitted(&s, k, "10.0.0.1", 1599, &p).await, 4, "in window");
    assert_eq!(
        admitted(&s, k, "10.0.0.1", 1600, &p).await,
        1,
        "window over"
    );
    assert_eq!(admitted(&s, k, "10.0.0.1", 1601, &p).await, 2, "new window");
}

async fn throttle_counts_every_concurrent_failure(s: Arc<dyn TestStore>) {
    let mut tasks = Vec::new();
    for _ in 0..40 {
        let s = s.clone();
        tasks.push(tokio::spawn(async move {
            admitted(&s, ThrottleKind::LoginUser, "alice", 1000, &counting(None)).await
        }));
    }
    let mut seen: Vec<u32> = Vec::new();
    for t in tasks {
        seen.push(t.await.expect("join"));
    }
    seen.sort_unstable();
    assert_eq!(
        seen,
        (1..=40).collect::<Vec<u32>>(),
        "each failure counted exactly once"
    );
}

/// 50 attempts reserved at once: exactly `max_failures` are admitted (the
/// last of them locking the key), every other one is refused, for a
/// counter of consecutive failures and for a windowed one.
async fn reservations_admit_exactly_the_threshold_under_concurrency(s: Arc<dyn TestStore>) {
    let window = ThrottlePolicy {
        max_failures: 20,
        window_secs: Some(600),
        base_secs: 600,
        cap_secs: 600,
    };
    for (kind, key, policy) in [
        (ThrottleKind::Otp, "7", consecutive()),
        (ThrottleKind::LoginIp, "2001:db8::/64", window),
    ] {
        let mut tasks = Vec::new();
        for _ in 0..50 {
            let s = s.clone();
            let key = key.to_owned();
            tasks.push(tokio::spawn(async move {
                s.reserve_attempt(kind, &key, t(1000), &policy).await
            }));
        }
        let mut counts = Vec::new();
        let mut locking = 0;
        let mut refused = 0;
        for t in tasks {
            match t.await.expect("join").expect("store") {
                Reservation::Admitted { count, locks } => {
                    counts.push(count);
                    locking += usize::from(locks);
                }
                Reservation::Locked { until } => {
                    assert_eq!(until, UnixTime::new(1000 + policy.base_secs));
                    refused += 1;
                }
            }
        }
        counts.sort_unstable();
        let max = policy.max_failures;
        assert_eq!(counts, (1..=max).collect::<Vec<u32>>(), "{kind:?}");
        assert_eq!(locking, 1, "{kind:?}: one reservation locked");
        assert_eq!(refused, 50 - max as usize, "{kind:?}");
        let st = s.throttle(kind, key).await.expect("t").expect("some");
        assert_eq!(
            (st.failures, st.locked_until),
            (max, t(1000 + policy.base_secs))
        );
    }
}

/// A returned attempt no longer counts, and the lock it set goes with it;
/// it never goes below zero.
async fn returned_attempts_no_longer_count(s: Arc<dyn TestStore>) {
    let k = ThrottleKind::LoginIp;
    let p = ThrottlePolicy {
        max_failures: 3,
        window_secs: Some(600),
        base_secs: 600,
        cap_secs: 600,
    };
    for _ in 0..3 {
        admitted(&s, k, "10.0.0.1", 1000, &p).await;
    }
    assert!(matches!(
        s.reserve_attempt(k, "10.0.0.1", t(1001), &p)
            .await
            .expect("r"),
        Reservation::Locked { until } if until == t(1600)
    ));
    s.return_attempt(k, "10.0.0.1", 3).await.expect("return");
    let st = s.throttle(k, "10.0.0.1").await.expect("t").expect("some");
    assert_eq!((st.failures, st.locked_until.get()), (2, 0));
    assert_eq!(admitted(&s, k, "10.0.0.1", 1002, &p).await, 3);
    for _ in 0..5 {
        s.return_attempt(k, "10.0.0.1", 3).await.expect("return");
    }
    assert_eq!(
        s.throttle(k, "10.0.0.1")
            .await
            .expect("t")
            .expect("some")
            .failures,
        0
    );
    s.return_attempt(k, "nobody", 3)
        .await
        .expect("nothing to return");
    assert!(s.throttle(k, "nobody").await.expect("t").is_none());
}

/// An unreserved second-factor success (a matching TOTP) is refused while
/// the user's OTP counter is locked, with nothing written; once the lock
/// is over it is recorded and forgets the counter.
async fn unreserved_second_factor_success_respects_the_lock(s: Arc<dyn TestStore>) {
    use otpgate_core::model::{RevokeToken, SecondFactorProof, SecondFactorWrite};
    let u = enabled_user(&s, "alice", 10).await;
    let key = u.id.to_string();
    for i in 0..5 {
        admitted(&s, ThrottleKind::Otp, &key, 1000 + i, &consecutive()).await;
    }
    let revoke = RevokeToken {
        jti: "pre-otp".into(),
        expires_at: t(9999),
    };
    assert_eq!(
        s.complete_second_factor(
            u.id,
            SecondFactorProof::TotpStep(11),
            Some(&revoke),
            None,
            OtpCounter::Unreserved { now: t(1010) }
        )
        .await
        .expect("locked"),
        SecondFactorWrite::Locked { until: t(1034) }
    );
    let alice = s.user_by_name("alice").await.expect("r").expect("u");
    assert_eq!(alice.totp_last_step, Some(10), "nothing written");
    assert!(
        !s.token_state("alice", "pre-otp")
            .await
            .expect("s")
            .expect("u")
            .jti_revoked
    );
    assert_eq!(
        s.complete_second_factor(
            u.id,
            SecondFactorProof::TotpStep(11),
            Some(&revoke),
            None,
            OtpCounter::Unreserved { now: t(1034) }
        )
        .await
        .expect("after the lock"),
        SecondFactorWrite::Recorded
    );
    assert!(
        s.throttle(ThrottleKind::Otp, &key)
            .await
            .expect("t")
            .is_none()
    );
}

/// Both backends take a second factor's steps in one order (status,
/// proof, revocation, counter), so when several things are wrong the
/// same one is reported, and nothing is written.
async fn second_factor_outcomes_take_the_same_precedence_in_both_backends(s: Arc<dyn TestStore>) {
    use otpgate_core::model::{OtpStatusUse, SecondFactorProof, SecondFactorWrite};
    let u = enabled_user(&s, "alice", 10).await;
    let key = u.id.to_string();
    for i in 0..5 {
        admitted(&s, ThrottleKind::Otp, &key, 1000 + i, &consecutive()).await;
    }
    let app = s
        .create_application(&NewApplication {
            name: "app".into(),
            key_id: "kid".into(),
            secret_hash: "h".into(),
            created_at: t(1),
        })
        .await
        .expect("app");
    let status = Some(OtpStatusUse {
        app_id: app.id,
        now: t(1010),
    });
    let locked = OtpCounter::Unreserved { now: t(1010) };
    let replayed = SecondFactorProof::TotpStep(10);
    let outcome = |proof, status| {
        let s = s.clone();
        async move {
            s.complete_second_factor(u.id, proof, None, status, locked)
                .await
                .expect("write")
        }
    };
    // No status, a replayed step, a locked counter: the status first.
    assert_eq!(
        outcome(replayed, status).await,
        SecondFactorWrite::StatusGone
    );
    s.put_otp_status(&OtpStatusRecord {
        user_id: u.id,
        app_id: app.id,
        end_user_ip: None,
        expires_at: t(2000),
    })
    .await
    .expect("status");
    // A replayed step and a locked counter: the proof, and the status
    // it had used up is back.
    assert_eq!(
        outcome(replayed, status).await,
        SecondFactorWrite::ProofLost
    );
    assert!(
        s.otp_status(u.id, app.id, t(1010))
            .await
            .expect("r")
            .is_some()
    );
    // Only the counter: locked, nothing written.
    let fresh = SecondFactorProof::TotpStep(11);
    assert_eq!(
        outcome(fresh, status).await,
        SecondFactorWrite::Locked { until: t(1034) }
    );
    assert!(
        s.otp_status(u.id, app.id, t(1010))
            .await
            .expect("r")
            .is_some()
    );
    let alice = s.user_by_name("alice").await.expect("r").expect("u");
    assert_eq!(alice.totp_last_step, Some(10), "nothing written");
    assert!(
        s.throttle(ThrottleKind::Otp, &key)
            .await
            .expect("t")
            .is_some()
    );
}

async fn purge_removes_only_expired_rows(s: Arc<dyn TestStore>) {
    let a = s.create_user(&new_user("alice")).await.expect("alice");
    s.revoke_token("old", a.id, t(1000)).await.expect("r");
    s.revoke_token("new", a.id, t(5000)).await.expect("r");
    admitted(&s, ThrottleKind::LoginUser, "stale", 1000, &consecutive()).await;
    admitted(
        &s,
        ThrottleKind::LoginUser,
        "fresh",
        100_000,
        &consecutive(),
    )
    .await;
    let removed = s.purge_expired(t(100_500)).await.expect("purge");
    assert_eq!(removed, 3);
    assert!(
        !s.token_state("alice", "old")
            .await
            .expect("s")
            .expect("u")
            .jti_revoked
    );
    assert!(
        s.throttle(ThrottleKind::LoginUser, "fresh")
            .await
            .expect("t")
            .is_some()
    );
    assert!(
        s.throttle(ThrottleKind::LoginUser, "stale")
            .await
            .expect("t")
            .is_none()
    );
}

async fn state_survives_reopening(s: Arc<dyn TestStore>) {
    // The backend-specific reopen test lives below; here: reads after writes
    // on other connections of the pool see the committed state.
    let a = s.create_user(&new_user("alice")).await.expect("alice");
    s.revoke_token("j", a.id, t(9999)).await.expect("r");
    for _ in 0..10 {
        assert!(
            s.token_state("alice", "j")
                .await
                .expect("s")
                .expect("u")
                .jti_revoked
        );
    }
}

#[tokio::test]
async fn sqlite_state_survives_closing_and_reopening_the_file() {
    let dir = tempfile::tempdir().expect("tmp");
    let path = dir.path().join("otpgate.db");
    let url = path.to_str().expect("utf8").to_owned();
    {
        let s = SqliteStore::open(&url, &SqliteOptions::default())
            .await
            .expect("open");
        let a = s.create_user(&new_user("alice")).await.expect("alice");
        s.set_pending_secret(a.id, b"sealed")
            .await
            .expect("pending");
        s.enable_totp(a.id, 42, t(0)).await.expect("enable");
        s.revoke_token("j", a.id, t(9999)).await.expect("revoke");
        s.close();
    }
    let s = SqliteStore::open(&url, &SqliteOptions::default())
        .await
        .expect("reopen");
    let u = s.user_by_name("alice").await.expect("find").expect("some");
    assert_eq!(u.totp, TotpState::Enabled(b"sealed".to_vec()));
    assert_eq!(u.totp_last_step, Some(42));
    assert!(
        s.token_state("alice", "j")
            .await
            .expect("s")
            .expect("u")
            .jti_revoked
    );
}

#[tokio::test]
async fn postgres_state_survives_closing_and_reopening_the_database() {
    let Some(admin_url) = pg_admin_url() else {
        return;
    };
    let db = PgDatabase::create(&admin_url).await;
    {
        let s = PostgresStore::open(&db.url, &PostgresOptions::default())
            .await
            .expect("open");
        let a = s.create_user(&new_user("alice")).await.expect("alice");
        s.set_pending_secret(a.id, b"sealed")
            .await
            .expect("pending");
        s.enable_totp(a.id, 42, t(0)).await.expect("enable");
        s.revoke_token("j", a.id, t(9999)).await.expect("revoke");
        s.pool().close().await;
    }
    let s = PostgresStore::open(&db.url, &PostgresOptions::default())
        .await
        .expect("reopen");
    let u = s.user_by_name("alice").await.expect("find").expect("some");
    assert_eq!(u.totp, TotpState::Enabled(b"sealed".to_vec()));
    assert_eq!(u.totp_last_step, Some(42));
    assert!(
        s.token_state("alice", "j")
            .await
            .expect("s")
            .expect("u")
            .jti_revoked
    );
    s.pool().close().await;
}

/// Nothing listens on port 1: connecting is refused at once.
const UNREACHABLE_PG: &str = "postgres://otpgate:s3cret@127.0.0.1:1/otpgate";

fn quick_pg_options() -> PostgresOptions {
    PostgresOptions {
        connect_timeout: Duration::from_millis(300),
        ..PostgresOptions::default()
    }
}

#[tokio::test]
async fn postgres_unreachable_at_start_is_unavailable_with_one_line() {
    let err = PostgresStore::open(UNREACHABLE_PG, &quick_pg_options())
        .await
        .expect_err("nothing listens there");
    let StoreError::Unavailable(msg) = &err else {
        panic!("expected Unavailable, got {err:?}");
    };
    assert!(msg.contains("127.0.0.1:1/otpgate"), "{msg}");
    assert!(!msg.contains('\n'), "one line: {msg}");
    assert!(!msg.contains("s3cret"), "never the password: {msg}");
}

#[tokio::test]
async fn open_dispatches_postgres_urls_to_postgres() {
    for url in [
        UNREACHABLE_PG.to_owned(),
        UNREACHABLE_PG.replacen("postgres://", "postgresql://", 1),
    ] {
        let options = StoreOptions {
            url,
            sqlite: SqliteOptions::default(),
            postgres: quick_pg_options(),
        };
        let err = otpgate_store::open(&options)
            .await
            .err()
            .expect("nothing listens there");
        assert!(matches!(err, StoreError::Unavailable(_)), "{err:?}");
    }
}

#[test]
fn test_database_urls_keep_server_and_parameters() {
    assert_eq!(
        with_database("postgres://postgres@127.0.0.1:5432/postgres", "x"),
        "postgres://postgres@127.0.0.1:5432/x"
    );
    assert_eq!(
        with_database("postgres://u:p@h/db?sslmode=disable", "x"),
        "postgres://u:p@h/x?sslmode=disable"
    );
    assert_eq!(
        with_database("postgres://h:5432", "x"),
        "postgres://h:5432/x"
    );
}

/// A server and CLI commands started at once on a fresh file: every one
/// of them opens it (the migrations run once, not once per process).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_fresh_file_opened_by_several_at_once() {
    let dir = tempfile::tempdir().expect("tmp");
    let path = dir.path().join("otpgate.db");
    let url = path.to_str().expect("utf8").to_owned();
    let opens: Vec<_> = (0..6)
        .map(|_| {
            let url = url.clone();
            tokio::spawn(async move { SqliteStore::open(&url, &SqliteOptions::default()).await })
        })
        .collect();
    for open in opens {
        let s = open.await.expect("join").expect("open");
        s.count_users().await.expect("schema in place");
    }
}

/// SQLite's change stamp: unchanged by reads, changed by every commit of
/// this store and of another process (the CLI) on the same file, so token
/// checks remembered under a stamp are never served after a revocation.
#[tokio::test]
async fn sqlite_change_stamp_moves_with_every_commit_of_any_process() {
    let dir = tempfile::tempdir().expect("tmp");
    let url = dir
        .path()
        .join("otpgate.db")
        .to_str()
        .expect("utf8")
        .to_owned();
    let server = SqliteStore::open(&url, &SqliteOptions::default())
        .await
        .expect("open");
    let cli = SqliteStore::open(&url, &SqliteOptions::default())
        .await
        .expect("open");
    let alice = server.create_user(&new_user("alice")).await.expect("user");
    let mut seen = vec![server.change_stamp().expect("SQLite has stamps")];
    for _ in 0..3 {
        server.token_state("alice", "j1").await.expect("read");
        assert_eq!(server.change_stamp().as_ref(), seen.last(), "reads");
    }
    cli.revoke_token("j1", alice.id, t(i64::MAX))
        .await
        .expect("revoke");
    seen.push(server.change_stamp().expect("stamp"));
    cli.revoke_all_tokens(alice.id, t(5_000))
        .await
        .expect("cut-off");
    seen.push(server.change_stamp().expect("stamp"));
    server
        .revoke_token("j2", alice.id, t(i64::MAX))
        .await
        .expect("revoke");
    seen.push(server.change_stamp().expect("stamp"));
    assert!(cli.delete_user(alice.id).await.expect("delete"));
    seen.push(server.change_stamp().expect("stamp"));
    assert_eq!(
        cli.change_stamp(),
        seen.last().copied(),
        "one file, one stamp"
    );
    for (i, stamp) in seen.iter().enumerate() {
        assert_eq!(
            seen.iter().filter(|s| *s == stamp).count(),
            1,
            "commit {i} moved the stamp"
        );
    }
}

#[tokio::test]
async fn sqlite_files_are_private_to_the_owner() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().expect("tmp");
    let path = dir.path().join("otpgate.db");
    let s = SqliteStore::open(path.to_str().expect("utf8"), &SqliteOptions::default())
        .await
        .expect("open");
    s.create_user(&new_user("alice"))
        .await
        .expect("write, so the WAL exists");
    for name in ["otpgate.db", "otpgate.db-wal", "otpgate.db-shm"] {
        let p = dir.path().join(name);
        if p.exists() {
            let mode = std::fs::metadata(&p).expect("meta").permissions().mode() & 0o777;
            assert_eq!(mode, 0o600, "{name}");
        }
    }
}

async fn enabled_user(
    s: &Arc<dyn TestStore>,
    name: &str,
    last_step: i64,
) -> otpgate_core::model::User {
    let u = s.create_user(&new_user(name)).await.expect("user");
    s.set_pending_secret(u.id, b"sealed")
        .await
        .expect("pending");
    assert!(s.enable_totp(u.id, last_step, t(0)).await.expect("enable"));
    u
}

async fn second_factor_success_is_one_all_or_nothing_write(s: Arc<dyn TestStore>) {
    use otpgate_core::model::{RevokeToken, SecondFactorProof};
    let u = enabled_user(&s, "alice", 10).await;
    let revoke = RevokeToken {
        jti: "pre-otp".into(),
        expires_at: t(9999),
    };
    admitted(&s, ThrottleKind::Otp, &u.id.to_string(), 1, &consecutive()).await;
    // A replayed step loses: nothing is written, not even the revocation.
    assert!(
        !s.complete_second_factor(
            u.id,
            SecondFactorProof::TotpStep(10),
            Some(&revoke),
            None,
            OtpCounter::Reserved
        )
        .await
        .expect("replay")
        .recorded()
    );
    assert!(
        !s.token_state("alice", "pre-otp")
            .await
            .expect("s")
            .expect("u")
            .jti_revoked
    );
    assert!(
        s.throttle(ThrottleKind::Otp, &u.id.to_string())
            .await
            .expect("t")
            .is_some()
    );
    // A later step wins: step recorded, token revoked, counter cleared.
    assert!(
        s.complete_second_factor(
            u.id,
            SecondFactorProof::TotpStep(11),
            Some(&revoke),
            None,
            OtpCounter::Reserved
        )
        .await
        .expect("win")
        .recorded()
    );
    assert_eq!(
        s.user_by_name("alice")
            .await
            .expect("r")
            .expect("u")
            .totp_last_step,
        Some(11)
    );
    assert!(
        s.token_state("alice", "pre-otp")
            .await
            .expect("s")
            .expect("u")
            .jti_revoked
    );
    assert!(
        s.throttle(ThrottleKind::Otp, &u.id.to_string())
            .await
            .expect("t")
            .is_none()
    );
    // Enable: only from pending, and it moves the cut-off.
    let b = s.create_user(&new_user("bob")).await.expect("bob");
    let enable = SecondFactorProof::Enable {
        step: 5,
        cutoff: t(500),
    };
    assert!(
        !s.complete_second_factor(b.id, enable, None, None, OtpCounter::Reserved)
            .await
            .expect("not pending")
            .recorded()
    );
    s.set_pending_secret(b.id, b"sealed")
        .await
        .expect("pending");
    assert!(
        s.complete_second_factor(b.id, enable, None, None, OtpCounter::Reserved)
            .await
            .expect("enable")
            .recorded()
    );
    let bob = s.user_by_name("bob").await.expect("r").expect("u");
    assert!(bob.totp.is_enabled());
    assert_eq!(
        (bob.totp_last_step, bob.tokens_valid_after.get()),
        (Some(5), 500)
    );
    assert!(
        !s.complete_second_factor(b.id, enable, None, None, OtpCounter::Reserved)
            .await
            .expect("enabled once")
            .recorded()
    );
    // Recovery codes: only the owner's code, once.
    assert!(
        s.replace_recovery_codes(u.id, &["h".into()])
            .await
            .expect("codes")
    );
    let code = s.recovery_codes(u.id).await.expect("codes")[0].id;
    assert!(
        !s.complete_second_factor(
            b.id,
            SecondFactorProof::RecoveryCode(code),
            None,
            None,
            OtpCounter::Reserved
        )
        .await
        .expect("not bob's")
        .recorded()
    );
    assert!(
        s.complete_second_factor(
            u.id,
            SecondFactorProof::RecoveryCode(code),
            None,
            None,
            OtpCounter::Reserved
        )
        .await
        .expect("use")
        .recorded()
    );
    assert!(
        !s.complete_second_factor(
            u.id,
            SecondFactorProof::RecoveryCode(code),
            None,
            None,
            OtpCounter::Reserved
        )
        .await
        .expect("reuse")
        .recorded()
    );
}

async fn second_factor_success_wins_once_under_concurrency(s: Arc<dyn TestStore>) {
    use otpgate_core::model::{RevokeToken, SecondFactorProof};
    let u = enabled_user(&s, "alice", 1).await;
    assert!(
        s.replace_recovery_codes(u.id, &["h".into()])
            .await
            .expect("codes")
    );
    let code = s.recovery_codes(u.id).await.expect("codes")[0].id;
    for proof in [
        SecondFactorProof::TotpStep(2),
        SecondFactorProof::RecoveryCode(code),
    ] {
        let mut tasks = Vec::new();
        for i in 0..50 {
            let s = s.clone();
            tasks.push(tokio::spawn(async move {
                let revoke = RevokeToken {
                    jti: format!("t{i}"),
                    expires_at: t(9999),
                };
                s.complete_second_factor(u.id, proof, Some(&revoke), None, OtpCounter::Reserved)
                    .await
            }));
        }
        let mut wins = 0;
        for t in tasks {
            if t.await.expect("join").expect("store").recorded() {
                wins += 1;
            }
        }
        assert_eq!(wins, 1, "{proof:?}");
    }
}
// --- Applications, out-of-band codes, dialect sessions, outbox. ---

fn new_app(name: &str) -> NewApplication {
    NewApplication {
        name: name.into(),
        key_id: format!("id-{name}"),
        secret_hash: format!("hash-{name}"),
        created_at: t(50),
    }
}

fn oob(user_id: UserId, binding: &str, hash: &str, expires_at: i64) -> NewOobCode {
    NewOobCode {
        user_id,
        binding: binding.into(),
        code_hash: hash.into(),
        created_at: t(100),
        expires_at: t(expires_at),
    }
}

fn session(id_hash: &str, user_id: UserId, app_id: AppId, device: &str) -> MfaSession {
    MfaSession {
        id_hash: id_hash.into(),
        user_id,
        app_id,
        device_id: device.into(),
        created_at: t(100),
        expires_at: t(1000),
    }
}

async fn applications_are_created_found_listed_and_deleted(s: Arc<dyn TestStore>) {
    let shop = s.create_application(&new_app("shop")).await.expect("shop");
    assert_eq!(shop.name, "shop");
    assert_eq!(shop.key_id, "id-shop");
    assert_eq!(shop.secret_hash, "hash-shop");
    assert_eq!(shop.created_at.get(), 50);
    s.create_application(&new_app("bank")).await.expect("bank");
    let dup = s.create_application(&new_app("shop")).await;
    assert!(matches!(dup, Err(StoreError::Conflict(_))), "{dup:?}");
    let mut other_name_same_key = new_app("other");
    other_name_same_key.key_id = "id-shop".into();
    assert!(matches!(
        s.create_application(&other_name_same_key).await,
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(
        s.application_by_key_id("id-shop").await.expect("by key"),
        Some(shop.clone())
    );
    assert_eq!(
        s.application_by_name("shop").await.expect("by name"),
        Some(shop.clone())
    );
    assert_eq!(s.application_by_key_id("nope").await.expect("none"), None);
    let names: Vec<String> = s
        .list_applications()
        .await
        .expect("list")
        .into_iter()
        .map(|a| a.name)
        .collect();
    assert_eq!(names, ["bank", "shop"]);
    assert!(s.delete_application("shop").await.expect("delete"));
    assert!(!s.delete_application("shop").await.expect("again"));
    assert_eq!(
        s.application_by_key_id("id-shop").await.expect("gone"),
        None
    );
}

async fn users_are_found_by_contact(s: Arc<dyn TestStore>) {
    let mut a = new_user("alice");
    a.email = Some("Alice@Example.org".into());
    a.phone = Some("+1 (876) 743-1754".into());
    a.external_id = Some("EXT-1".into());
    let a = s.create_user(&a).await.expect("alice");
    let mut b = new_user("bob");
    b.email = Some("shared@example.org".into());
    b.phone = Some("+39.333.1234567".into());
    s.create_user(&b).await.expect("bob");
    let mut c = new_user("carol");
    c.email = Some("SHARED@example.org".into());
    s.create_user(&c).await.expect("carol");

    let ids = |v: Vec<otpgate_core::model::User>| v.into_iter().map(|u| u.id).collect::<Vec<_>>();
    assert_eq!(
        ids(s
            .users_by_contact(ContactField::Email, "alice@example.ORG")
            .await
            .expect("email")),
        [a.id],
        "e-mail is matched case-insensitively"
    );
    assert_eq!(
        ids(s
            .users_by_contact(ContactField::Phone, "18767431754")
            .await
            .expect("phone")),
        [a.id],
        "phone is matched on its digits"
    );
    assert_eq!(
        s.users_by_contact(ContactField::Phone, "+39 333 1234567")
            .await
            .expect("phone")
            .len(),
        1
    );
    assert!(
        s.users_by_contact(ContactField::Phone, "+-")
            .await
            .expect("no digits")
            .is_empty()
    );
    assert_eq!(
        ids(s
            .users_by_contact(ContactField::ExternalId, "EXT-1")
            .await
            .expect("ext")),
        [a.id]
    );
    assert!(
        s.users_by_contact(ContactField::ExternalId, "ext-1")
            .await
            .expect("ext")
            .is_empty(),
        "external ids are exact"
    );
    assert_eq!(
        s.users_by_contact(ContactField::Email, "shared@example.org")
            .await
            .expect("shared")
            .len(),
        2,
        "an ambiguous value finds both, so the caller can refuse it"
    );
}

async fn oob_code_attempts_are_bounded_replaced_and_expire(s: Arc<dyn TestStore>) {
    let a = s.create_user(&new_user("alice")).await.expect("alice");
    assert_eq!(
        s.claim_oob_attempt(a.id, "app:1", t(100), 5)
            .await
            .expect("none"),
        None
    );
    s.put_oob_code(&oob(a.id, "app:1", "h1", 700))
        .await
        .expect("put");
    for n in 1..=5 {
        let claim = s
            .claim_oob_attempt(a.id, "app:1", t(100), 5)
            .await
            .expect("claim")
            .expect("live");
        assert_eq!(claim.code_hash, "h1");
        assert_eq!(claim.attempts, n);
    }
    assert_eq!(
        s.claim_oob_attempt(a.id, "app:1", t(100), 5)
            .await
            .expect("used up"),
        None,
        "a sixth attempt is refused"
    );
    // A new code replaces the old one, with fresh attempts.
    s.put_oob_code(&oob(a.id, "app:1", "h2", 700))
        .await
        .expect("replace");
    let claim = s
        .claim_oob_attempt(a.id, "app:1", t(100), 5)
        .await
        .expect("claim")
        .expect("live");
    assert_eq!((claim.code_hash.as_str(), claim.attempts), ("h2", 1));
    assert!(
        !s.consume_oob_code(claim.id, "h1").await.expect("stale"),
        "a replaced code's hash does not consume the new one"
    );
    // Other bindings are other codes.
    assert_eq!(
        s.claim_oob_attempt(a.id, "app:2", t(100), 5)
            .await
            .expect("other"),
        None
    );
    // Expiry.
    assert_eq!(
        s.claim_oob_attempt(a.id, "app:1", t(700), 5)
            .await
            .expect("expired"),
        None
    );
    assert!(s.consume_oob_code(claim.id, "h2").await.expect("consume"));
    assert!(!s.consume_oob_code(claim.id, "h2").await.expect("twice"));
    s.put_oob_code(&oob(a.id, "app:1", "h3", 700))
        .await
        .expect("put");
    s.delete_oob_code(a.id, "app:1").await.expect("delete");
    assert_eq!(
        s.claim_oob_attempt(a.id, "app:1", t(100), 5)
            .await
            .expect("deleted"),
        None
    );
}

async fn oob_attempts_are_bounded_under_concurrency(s: Arc<dyn TestStore>) {
    let a = s.create_user(&new_user("alice")).await.expect("alice");
    s.put_oob_code(&oob(a.id, "session:x", "h", 700))
        .await
        .expect("put");
    let mut tasks = Vec::new();
    for _ in 0..50 {
        let s = s.clone();
        tasks.push(tokio::spawn(async move {
            s.claim_oob_attempt(a.id, "session:x", t(100), 5).await
        }));
    }
    let mut claims = 0;
    for t in tasks {
        if t.await.expect("join").expect("store").is_some() {
            claims += 1;
        }
    }
    assert_eq!(claims, 5, "never more than 5 attempts, however concurrent");
}

async fn oob_code_is_consumed_once_under_concurrency(s: Arc<dyn TestStore>) {
    let a = s.create_user(&new_user("alice")).await.expect("alice");
    s.put_oob_code(&oob(a.id, "app:1", "h", 700))
        .await
        .expect("put");
    let id = s
        .claim_oob_attempt(a.id, "app:1", t(100), 5)
        .await
        .expect("claim")
        .expect("live")
        .id;
    let mut tasks = Vec::new();
    for _ in 0..50 {
        let s = s.clone();
        tasks.push(tokio::spawn(
            async move { s.consume_oob_code(id, "h").await },
        ));
    }
    let mut wins = 0;
    for t in tasks {
        if t.await.expect("join").expect("store") {
            wins += 1;
        }
    }
    assert_eq!(wins, 1);
}

async fn mfa_session_is_used_once_from_its_device_under_concurrency(s: Arc<dyn TestStore>) {
    let a = s.create_user(&new_user("alice")).await.expect("alice");
    let b = s.create_user(&new_user("bob")).await.expect("bob");
    let app = s.create_application(&new_app("shop")).await.expect("app");
    let other = s.create_application(&new_app("bank")).await.expect("app");
    s.create_mfa_session(&session("sid", a.id, app.id, "dev-1"))
        .await
        .expect("create");
    assert!(matches!(
        s.create_mfa_session(&session("sid", a.id, app.id, "dev-1"))
            .await,
        Err(StoreError::Conflict(_))
    ));
    let found = s
        .mfa_session("sid", t(999))
        .await
        .expect("read")
        .expect("live");
    assert_eq!(found, session("sid", a.id, app.id, "dev-1"));
    assert_eq!(s.mfa_session("sid", t(1000)).await.expect("expired"), None);
    assert_eq!(s.mfa_session("other", t(100)).await.expect("unknown"), None);
    for (user, app_id, device, now) in [
        (a.id, app.id, "dev-2", 100),
        (b.id, app.id, "dev-1", 100),
        (a.id, other.id, "dev-1", 100),
        (a.id, app.id, "dev-1", 1000),
    ] {
        assert!(
            !s.consume_mfa_session("sid", user, app_id, device, t(now))
                .await
                .expect("refused"),
            "{user} {app_id} {device} {now}"
        );
    }
    let mut tasks = Vec::new();
    for _ in 0..50 {
        let s = s.clone();
        let (user, app_id) = (a.id, app.id);
        tasks.push(tokio::spawn(async move {
            s.consume_mfa_session("sid", user, app_id, "dev-1", t(100))
                .await
        }));
    }
    let mut wins = 0;
    for t in tasks {
        if t.await.expect("join").expect("store") {
            wins += 1;
        }
    }
    assert_eq!(wins, 1);
    assert_eq!(s.mfa_session("sid", t(100)).await.expect("used"), None);
}

/// The Single Connect check: the success and the use of the application's
/// OTP status are one write; without a live status nothing is written.
async fn second_factor_success_uses_up_the_otp_status_or_writes_nothing(s: Arc<dyn TestStore>) {
    use otpgate_core::model::{OtpStatusUse, SecondFactorProof, SecondFactorWrite};
    let u = enabled_user(&s, "alice", 10).await;
    let app = s.create_application(&new_app("shop")).await.expect("app");
    let status = |now: i64| {
        Some(OtpStatusUse {
            app_id: app.id,
            now: t(now),
        })
    };
    let step = SecondFactorProof::TotpStep;
    let last_step = |s: Arc<dyn TestStore>| async move {
        s.user_by_name("alice")
            .await
            .expect("read")
            .expect("alice")
            .totp_last_step
    };
    // No status asked: nothing written, the step stays unused.
    assert_eq!(
        s.complete_second_factor(u.id, step(11), None, status(100), OtpCounter::Reserved)
            .await
            .expect("write"),
        SecondFactorWrite::StatusGone
    );
    assert_eq!(last_step(s.clone()).await, Some(10));
    s.put_otp_status(&OtpStatusRecord {
        user_id: u.id,
        app_id: app.id,
        end_user_ip: None,
        expires_at: t(400),
    })
    .await
    .expect("status");
    // Expired by then: the same.
    assert_eq!(
        s.complete_second_factor(u.id, step(11), None, status(400), OtpCounter::Reserved)
            .await
            .expect("write"),
        SecondFactorWrite::StatusGone
    );
    // A replayed step loses and leaves the status in place.
    assert_eq!(
        s.complete_second_factor(u.id, step(10), None, status(100), OtpCounter::Reserved)
            .await
            .expect("write"),
        SecondFactorWrite::ProofLost
    );
    assert!(
        s.otp_status(u.id, app.id, t(100))
            .await
            .expect("read")
            .is_some()
    );
    // A good step wins and uses the status up, once.
    assert_eq!(
        s.complete_second_factor(u.id, step(11), None, status(100), OtpCounter::Reserved)
            .await
            .expect("write"),
        SecondFactorWrite::Recorded
    );
    assert_eq!(last_step(s.clone()).await, Some(11));
    assert_eq!(
        s.otp_status(u.id, app.id, t(100)).await.expect("read"),
        None
    );
    assert_eq!(
        s.complete_second_factor(u.id, step(12), None, status(100), OtpCounter::Reserved)
            .await
            .expect("write"),
        SecondFactorWrite::StatusGone
    );
    assert_eq!(last_step(s.clone()).await, Some(11));
}

async fn otp_status_is_renewed_expires_and_is_consumed_once(s: Arc<dyn TestStore>) {
    let a = s.create_user(&new_user("alice")).await.expect("alice");
    let app = s.create_application(&new_app("shop")).await.expect("app");
    assert_eq!(
        s.otp_status(a.id, app.id, t(100)).await.expect("none"),
        None
    );
    let rec = |ip: &str, exp: i64| OtpStatusRecord {
        user_id: a.id,
        app_id: app.id,
        end_user_ip: Some(ip.into()),
        expires_at: t(exp),
    };
    s.put_otp_status(&rec("1.2.3.4", 400)).await.expect("put");
    s.put_otp_status(&rec("5.6.7.8", 500)).await.expect("renew");
    assert_eq!(
        s.otp_status(a.id, app.id, t(450)).await.expect("live"),
        Some(rec("5.6.7.8", 500))
    );
    assert_eq!(
        s.otp_status(a.id, app.id, t(500)).await.expect("expired"),
        None
    );
    assert!(
        !s.consume_otp_status(a.id, app.id, t(500))
            .await
            .expect("expired")
    );
    let mut tasks = Vec::new();
    for _ in 0..50 {
        let s = s.clone();
        let (user, app_id) = (a.id, app.id);
        tasks.push(tokio::spawn(async move {
            s.consume_otp_status(user, app_id, t(100)).await
        }));
    }
    let mut wins = 0;
    for t in tasks {
        if t.await.expect("join").expect("store") {
            wins += 1;
        }
    }
    assert_eq!(wins, 1);
    assert_eq!(
        s.otp_status(a.id, app.id, t(100)).await.expect("used"),
        None
    );
}

async fn outbox_lists_unexpired_messages_per_user(s: Arc<dyn TestStore>) {
    let a = s.create_user(&new_user("alice")).await.expect("alice");
    let b = s.create_user(&new_user("bob")).await.expect("bob");
    let msg = |user_id, channel, to: &str, code: &str, exp: i64| NewOutboxMessage {
        user_id,
        channel,
        to: to.into(),
        code: SecretString::new(code),
        created_at: t(100),
        expires_at: t(exp),
    };
    for m in [
        msg(a.id, Channel::Email, "alice@example.org", "111111", 700),
        msg(b.id, Channel::Sms, "+391", "222222", 700),
        msg(a.id, Channel::Sms, "+392", "333333", 800),
    ] {
        s.put_outbox_message(&m).await.expect("put");
    }
    let all = s.outbox_messages(None, t(100)).await.expect("all");
    let view: Vec<(&str, Channel, &str, &str)> = all
        .iter()
        .map(|m| {
            (
                m.username.as_str(),
                m.channel,
                m.to.as_str(),
                m.code.expose(),
            )
        })
        .collect();
    assert_eq!(
        view,
        [
            ("alice", Channel::Email, "alice@example.org", "111111"),
            ("bob", Channel::Sms, "+391", "222222"),
            ("alice", Channel::Sms, "+392", "333333"),
        ]
    );
    assert_eq!(all[0].created_at.get(), 100);
    assert_eq!(all[0].expires_at.get(), 700);
    let alice = s.outbox_messages(Some(a.id), t(100)).await.expect("alice");
    assert_eq!(alice.len(), 2);
    let later = s.outbox_messages(None, t(700)).await.expect("later");
    assert_eq!(later.len(), 1, "expired messages are not listed");
    assert_eq!(later[0].code.expose(), "333333");
}

async fn purge_expired_oob_removes_only_expired_rows(s: Arc<dyn TestStore>) {
    let a = s.create_user(&new_user("alice")).await.expect("alice");
    let app = s.create_application(&new_app("shop")).await.expect("app");
    s.put_oob_code(&oob(a.id, "old", "h", 500))
        .await
        .expect("c");
    s.put_oob_code(&oob(a.id, "new", "h", 900))
        .await
        .expect("c");
    let mut old = session("old", a.id, app.id, "d");
    old.expires_at = t(500);
    s.create_mfa_session(&old).await.expect("s");
    s.create_mfa_session(&session("new", a.id, app.id, "d"))
        .await
        .expect("s");
    s.put_otp_status(&OtpStatusRecord {
        user_id: a.id,
        app_id: app.id,
        end_user_ip: None,
        expires_at: t(500),
    })
    .await
    .expect("st");
    for exp in [500, 900] {
        s.put_outbox_message(&NewOutboxMessage {
            user_id: a.id,
            channel: Channel::Email,
            to: "a@x".into(),
            code: SecretString::new("123456"),
            created_at: t(100),
            expires_at: t(exp),
        })
        .await
        .expect("o");
    }
    assert_eq!(s.purge_expired_oob(t(500)).await.expect("purge"), 4);
    assert!(
        s.claim_oob_attempt(a.id, "new", t(600), 5)
            .await
            .expect("kept")
            .is_some()
    );
    assert!(s.mfa_session("new", t(600)).await.expect("kept").is_some());
    assert_eq!(
        s.outbox_messages(None, t(600)).await.expect("kept").len(),
        1
    );
    assert_eq!(s.purge_expired_oob(t(500)).await.expect("again"), 0);
}

async fn deleting_a_user_or_application_removes_what_is_bound_to_it(s: Arc<dyn TestStore>) {
    let a = s.create_user(&new_user("alice")).await.expect("alice");
    let app = s.create_application(&new_app("shop")).await.expect("app");
    s.create_mfa_session(&session("sid", a.id, app.id, "d"))
        .await
        .expect("s");
    s.put_otp_status(&OtpStatusRecord {
        user_id: a.id,
        app_id: app.id,
        end_user_ip: None,
        expires_at: t(900),
    })
    .await
    .expect("st");
    assert!(s.delete_application("shop").await.expect("delete app"));
    assert_eq!(s.mfa_session("sid", t(100)).await.expect("gone"), None);
    assert_eq!(
        s.otp_status(a.id, app.id, t(100)).await.expect("gone"),
        None
    );

    s.put_oob_code(&oob(a.id, "app:1", "h", 900))
        .await
        .expect("c");
    s.put_outbox_message(&NewOutboxMessage {
        user_id: a.id,
        channel: Channel::Sms,
        to: "+1".into(),
        code: SecretString::new("123456"),
        created_at: t(100),
        expires_at: t(900),
    })
    .await
    .expect("o");
    assert!(s.delete_user(a.id).await.expect("delete user"));
    assert!(
        s.outbox_messages(None, t(100))
            .await
            .expect("gone")
            .is_empty()
    );
    let again = s
        .create_user(&new_user("alice"))
        .await
        .expect("alice again");
    assert_eq!(
        s.claim_oob_attempt(again.id, "app:1", t(100), 5)
            .await
            .expect("none"),
        None
    );
}

fn nonce(hash: &str, user_id: UserId, issued_at: i64, expires_at: i64) -> LegacyNonce {
    LegacyNonce {
        token_hash: hash.into(),
        nonce: format!("nonce-of-{hash}"),
        user_id,
        issued_at: t(issued_at),
        expires_at: t(expires_at),
    }
}

async fn legacy_nonce_is_redeemed_once_under_concurrency(s: Arc<dyn TestStore>) {
    let a = s.create_user(&new_user("alice")).await.expect("alice");
    s.create_legacy_nonce(&nonce("h1", a.id, 150, 160))
        .await
        .expect("nonce");
    let mut tasks = Vec::new();
    for _ in 0..50 {
        let s = s.clone();
        tasks.push(tokio::spawn(async move {
            s.redeem_legacy_nonce("h1", t(155), t(5000)).await
        }));
    }
    let mut grants = Vec::new();
    for t in tasks {
        if let Some(g) = t.await.expect("join").expect("store") {
            grants.push(g);
        }
    }
    assert_eq!(grants.len(), 1, "exactly one caller redeems a nonce");
    let g = &grants[0];
    assert_eq!(
        (g.user_id, g.issued_at.get(), g.expires_at.get()),
        (a.id, 150, 5000)
    );
    assert_eq!(
        s.legacy_grant("h1").await.expect("read").as_ref(),
        Some(g),
        "the grant is stored"
    );
    assert!(
        s.redeem_legacy_nonce("h1", t(156), t(5000))
            .await
            .expect("again")
            .is_none(),
        "a used nonce never redeems again"
    );
    assert!(s.legacy_grant("nope").await.expect("read").is_none());
}

async fn legacy_nonce_expires_and_grants_end(s: Arc<dyn TestStore>) {
    let a = s.create_user(&new_user("alice")).await.expect("alice");
    s.create_legacy_nonce(&nonce("old", a.id, 100, 160))
        .await
        .expect("nonce");
    assert!(
        s.redeem_legacy_nonce("old", t(160), t(5000))
            .await
            .expect("late")
            .is_none(),
        "not at or after its expiry"
    );
    s.create_legacy_nonce(&nonce("fresh", a.id, 200, 260))
        .await
        .expect("nonce");
    s.create_legacy_nonce(&nonce("kept", a.id, 200, 900))
        .await
        .expect("nonce");
    s.redeem_legacy_nonce("fresh", t(201), t(300))
        .await
        .expect("redeem")
        .expect("grant");
    s.redeem_legacy_nonce("kept", t(201), t(800))
        .await
        .expect("redeem")
        .expect("grant");
    assert!(s.delete_legacy_grant("kept").await.expect("delete"));
    assert!(!s.delete_legacy_grant("kept").await.expect("delete again"));
    assert!(s.legacy_grant("kept").await.expect("read").is_none());
    // At 300: the "old" nonce (160) and the "fresh" grant (300) are expired.
    assert_eq!(s.purge_expired_legacy(t(300)).await.expect("purge"), 2);
    assert!(s.legacy_grant("fresh").await.expect("read").is_none());
    // Deleting the user deletes their legacy rows.
    s.create_legacy_nonce(&nonce("n2", a.id, 400, 460))
        .await
        .expect("nonce");
    s.create_legacy_nonce(&nonce("n3", a.id, 400, 460))
        .await
        .expect("nonce");
    s.redeem_legacy_nonce("n3", t(401), t(9000))
        .await
        .expect("redeem")
        .expect("grant");
    assert!(s.delete_user(a.id).await.expect("delete user"));
    assert!(s.legacy_grant("n3").await.expect("read").is_none());
    assert!(
        s.redeem_legacy_nonce("n2", t(401), t(9000))
            .await
            .expect("redeem")
            .is_none()
    );
}

async fn live_state_reports_users_revocations_and_grants(s: Arc<dyn TestStore>) {
    let a = s.create_user(&new_user("alice")).await.expect("alice");
    let b = s.create_user(&new_user("bob")).await.expect("bob");
    s.set_pending_secret(b.id, b"x").await.expect("pending");
    s.enable_totp(b.id, 1, t(0)).await.expect("enable");
    s.revoke_token("gone", a.id, t(10_000))
        .await
        .expect("revoke");
    s.create_legacy_nonce(&nonce("g1", a.id, 100, 200))
        .await
        .expect("nonce");
    s.redeem_legacy_nonce("g1", t(150), t(1000))
        .await
        .expect("redeem")
        .expect("grant");
    s.create_legacy_nonce(&nonce("g2", a.id, 100, 200))
        .await
        .expect("nonce");
    s.redeem_legacy_nonce("g2", t(150), t(400))
        .await
        .expect("redeem")
        .expect("grant");
    let b_cutoff = s
        .user_by_name("bob")
        .await
        .expect("find")
        .expect("bob")
        .tokens_valid_after;
    let empty = s.live_state(&[], &[], &[], t(500)).await.expect("empty");
    assert!(
        empty.users.is_empty() && empty.revoked_jtis.is_empty() && empty.live_grants.is_empty()
    );
    // Many ids in one call (a busy instance asks about thousands).
    let mut jtis: Vec<String> = (0..3000).map(|i| format!("jti-{i}")).collect();
    jtis.push("gone".into());
    let st = s
        .live_state(
            &[a.id, b.id, UserId::new(999_999)],
            &jtis,
            &["g1".into(), "g2".into(), "g3".into()],
            t(500),
        )
        .await
        .expect("live state");
    let mut users = st.users.clone();
    users.sort_by_key(|u| u.user_id);
    assert_eq!(
        users,
        vec![
            UserLiveState {
                user_id: a.id,
                tokens_valid_after: t(100),
                two_factor: false,
                require_two_factor: None,
            },
            UserLiveState {
                user_id: b.id,
                tokens_valid_after: b_cutoff,
                two_factor: true,
                require_two_factor: None,
            },
        ]
    );
    assert_eq!(st.revoked_jtis, vec!["gone".to_owned()]);
    assert_eq!(st.live_grants, vec!["g1".to_owned()], "g2 expired at 400");
}

fn audit(at_ms: i64, event: &str, user: &str) -> AuditRecord {
    AuditRecord {
        at_ms: UnixMillis::new(at_ms),
        event: event.into(),
        username: user.into(),
        ip: Some("203.0.113.9".into()),
        user_agent: Some("curl/8.0".into()),
        dialect: "native".into(),
        app: None,
    }
}

async fn audit_records_are_appended_filtered_limited_and_purged(s: Arc<dyn TestStore>) {
    s.append_audit(&[]).await.expect("empty batch");
    let batch: Vec<AuditRecord> = (0..10)
        .map(|i| {
            audit(
                1_000 + i,
                if i % 2 == 0 {
                    "login_ok"
                } else {
                    "login_failed"
                },
                if i < 6 { "alice" } else { "bob" },
            )
        })
        .collect();
    s.append_audit(&batch).await.expect("append");
    let all = s
        .audit_records(&AuditQuery {
            limit: 100,
            ..AuditQuery::default()
        })
        .await
        .expect("all");
    assert_eq!(all, batch, "every field round-trips, oldest first");
    let alice = s
        .audit_records(&AuditQuery {
            username: Some("alice".into()),
            limit: 100,
            ..AuditQuery::default()
        })
        .await
        .expect("alice");
    assert_eq!(alice.len(), 6);
    assert!(alice.iter().all(|r| r.username == "alice"));
    let since = s
        .audit_records(&AuditQuery {
            since_ms: Some(UnixMillis::new(1_007)),
            limit: 100,
            ..AuditQuery::default()
        })
        .await
        .expect("since");
    assert_eq!(
        since.iter().map(|r| r.at_ms.get()).collect::<Vec<_>>(),
        [1_007, 1_008, 1_009]
    );
    // The limit keeps the newest, still oldest first.
    let newest = s
        .audit_records(&AuditQuery {
            limit: 2,
            ..AuditQuery::default()
        })
        .await
        .expect("newest");
    assert_eq!(
        newest.iter().map(|r| r.at_ms.get()).collect::<Vec<_>>(),
        [1_008, 1_009]
    );
    let both = s
        .audit_records(&AuditQuery {
            username: Some("alice".into()),
            since_ms: Some(UnixMillis::new(1_004)),
            limit: 100,
        })
        .await
        .expect("both");
    assert_eq!(
        both.iter().map(|r| r.at_ms.get()).collect::<Vec<_>>(),
        [1_004, 1_005]
    );
    // Purge removes what is strictly older than the bound, and only that.
    assert_eq!(
        s.purge_audit(UnixMillis::new(1_005)).await.expect("purge"),
        5
    );
    assert_eq!(
        s.purge_audit(UnixMillis::new(1_005)).await.expect("again"),
        0
    );
    let left = s
        .audit_records(&AuditQuery {
            limit: 100,
            ..AuditQuery::default()
        })
        .await
        .expect("left");
    assert_eq!(left.first().map(|r| r.at_ms.get()), Some(1_005));
    assert_eq!(left.len(), 5);
}

async fn audit_records_survive_their_user_and_keep_odd_text(s: Arc<dyn TestStore>) {
    let a = s.create_user(&new_user("alice")).await.expect("alice");
    let odd = AuditRecord {
        ip: None,
        user_agent: Some("Mozilla/5.0 (X11; \u{00e9}t\u{00e9}) 'quoted' \"x\"".into()),
        dialect: "single_connect".into(),
        app: Some("shop".into()),
        ..audit(5, "otp_valid", "alice")
    };
    s.append_audit(std::slice::from_ref(&odd))
        .await
        .expect("append");
    assert!(s.delete_user(a.id).await.expect("delete"));
    let got = s
        .audit_records(&AuditQuery {
            username: Some("alice".into()),
            limit: 10,
            ..AuditQuery::default()
        })
        .await
        .expect("read");
    assert_eq!(got, [odd]);
}

/// Tables whose names say they exist in one backend only, on purpose:
/// migration bookkeeping (kept apart by each migrator) and PostgreSQL's
/// change feed (migration 0009: SQLite's stamp is its wal-index).
const NOT_SHARED_TABLES: &[&str] = &["_sqlx_migrations", "change_feed"];

/// Table -> column names.
type Schema = std::collections::BTreeMap<String, std::collections::BTreeSet<String>>;

fn schema_of(pairs: Vec<(String, String)>) -> Schema {
    let mut schema = Schema::new();
    for (table, column) in pairs {
        if !NOT_SHARED_TABLES.contains(&table.as_str()) {
            schema.entry(table).or_default().insert(column);
        }
    }
    schema
}

/// The two migration trees build the same tables with the same columns,
/// so one statement (statements.rs) means the same in both.
#[tokio::test]
async fn both_backends_migrate_to_the_same_tables_and_columns() {
    let dir = tempfile::tempdir().expect("tmp");
    let path = dir.path().join("otpgate.db");
    SqliteStore::open(path.to_str().expect("utf8"), &SqliteOptions::default())
        .await
        .expect("open sqlite")
        .close();
    let conn = rusqlite::Connection::open(&path).expect("open file");
    let sqlite: Vec<(String, String)> = conn
        .prepare(
            "SELECT m.name, p.name FROM sqlite_master m JOIN pragma_table_info(m.name) p \
             WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%'",
        )
        .expect("prepare")
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .expect("query")
        .collect::<Result<_, _>>()
        .expect("rows");
    let sqlite = schema_of(sqlite);
    assert!(sqlite.contains_key("users"), "{sqlite:?}");

    let Some(admin_url) = pg_admin_url() else {
        return;
    };
    let db = PgDatabase::create(&admin_url).await;
    let store = PostgresStore::open(&db.url, &PostgresOptions::default())
        .await
        .expect("open postgres");
    let postgres: Vec<(String, String)> = sqlx::query_as(
        "SELECT table_name::TEXT, column_name::TEXT FROM information_schema.columns \
         WHERE table_schema = current_schema()",
    )
    .fetch_all(store.pool())
    .await
    .expect("columns");
    store.pool().close().await;
    assert_eq!(
        sqlite,
        schema_of(postgres),
        "SQLite's schema, then PostgreSQL's"
    );
}

// --- Second-factor successes at the same time (PostgreSQL sends them as
// one statement: src/pg_second_factor.rs, migration 0012). ---

/// The pre-OTP token `tag` of user `id`, to revoke with its success.
fn pre_otp(id: UserId, tag: &str) -> otpgate_core::model::RevokeToken {
    otpgate_core::model::RevokeToken {
        jti: format!("pre-{id}-{tag}"),
        expires_at: t(9999),
    }
}

/// User `id` proves TOTP `step` at second 1000 (its counter not reserved),
/// revoking its pre-OTP token `tag`.
async fn prove_step(
    s: &Arc<dyn TestStore>,
    id: UserId,
    step: i64,
    tag: &str,
) -> Result<otpgate_core::model::SecondFactorWrite, StoreError> {
    s.complete_second_factor(
        id,
        otpgate_core::model::SecondFactorProof::TotpStep(step),
        Some(&pre_otp(id, tag)),
        None,
        OtpCounter::Unreserved {
            now: UnixTime::new(1000),
        },
    )
    .await
}

/// 50 users, each proving the same step twice at once: every user has
/// exactly one success, with its own revocation and step written.
async fn concurrent_second_factors_of_many_users_are_each_recorded_once(s: Arc<dyn TestStore>) {
    use otpgate_core::model::SecondFactorWrite;
    let mut users = Vec::new();
    for i in 0..50 {
        users.push(enabled_user(&s, &format!("u{i}"), 10).await);
    }
    let mut tasks = Vec::new();
    for u in &users {
        for tag in ["a", "b"] {
            let (s, id) = (s.clone(), u.id);
            tasks.push(tokio::spawn(async move {
                let written = prove_step(&s, id, 11, tag).await.expect("store");
                (id, tag, written)
            }));
        }
    }
    let mut won = std::collections::HashMap::new();
    for t in tasks {
        let (id, tag, written) = t.await.expect("join");
        match written {
            SecondFactorWrite::Recorded => {
                assert!(won.insert(id, tag).is_none(), "user {id} recorded twice");
            }
            SecondFactorWrite::ProofLost => {}
            other => panic!("user {id}: {other:?}"),
        }
    }
    assert_eq!(won.len(), users.len(), "one success per user");
    for u in &users {
        let found = s.user_by_name(&u.username).await.expect("r").expect("u");
        assert_eq!(found.totp_last_step, Some(11));
        for tag in ["a", "b"] {
            let jti = pre_otp(u.id, tag).jti;
            let revoked = s
                .token_state(&u.username, &jti)
                .await
                .expect("s")
                .expect("u")
                .jti_revoked;
            assert_eq!(revoked, won[&u.id] == tag, "{jti}");
        }
    }
}

/// Among many successes sent at once, a locked counter, a gone status and
/// a replayed step each fail with their own outcome and write nothing,
/// and every other one is recorded.
async fn a_locked_gone_or_replayed_second_factor_fails_alone(s: Arc<dyn TestStore>) {
    use otpgate_core::model::{OtpStatusUse, SecondFactorProof, SecondFactorWrite};
    let app = s.create_application(&new_app("app")).await.expect("app");
    let mut good = Vec::new();
    for i in 0..30 {
        good.push(enabled_user(&s, &format!("g{i}"), 10).await);
    }
    let locked = enabled_user(&s, "locked", 10).await;
    for i in 0..5 {
        let key = locked.id.to_string();
        admitted(&s, ThrottleKind::Otp, &key, 1000 + i, &consecutive()).await;
    }
    let gone = enabled_user(&s, "gone", 10).await;
    let replayed = enabled_user(&s, "replayed", 10).await;
    // (user, step, status, expected)
    let mut cases: Vec<(UserId, i64, bool, SecondFactorWrite)> = good
        .iter()
        .map(|u| (u.id, 11, false, SecondFactorWrite::Recorded))
        .collect();
    let middle = cases.len() / 2;
    cases.insert(
        middle,
        (
            locked.id,
            11,
            false,
            SecondFactorWrite::Locked { until: t(1034) },
        ),
    );
    cases.insert(
        middle + 1,
        (gone.id, 11, true, SecondFactorWrite::StatusGone),
    );
    cases.insert(
        middle + 2,
        (replayed.id, 10, false, SecondFactorWrite::ProofLost),
    );
    let tasks: Vec<_> = cases
        .iter()
        .map(|&(id, step, status, _)| {
            let s = s.clone();
            let status = status.then_some(OtpStatusUse {
                app_id: app.id,
                now: t(1010),
            });
            tokio::spawn(async move {
                let revoke = pre_otp(id, "x");
                s.complete_second_factor(
                    id,
                    SecondFactorProof::TotpStep(step),
                    Some(&revoke),
                    status,
                    OtpCounter::Unreserved { now: t(1010) },
                )
                .await
                .expect("store")
            })
        })
        .collect();
    for (task, (id, _, _, expected)) in tasks.into_iter().zip(&cases) {
        assert_eq!(task.await.expect("join"), *expected, "user {id}");
    }
    for u in good.iter().chain([&locked, &gone, &replayed]) {
        let recorded = good.iter().any(|g| g.id == u.id);
        let found = s.user_by_name(&u.username).await.expect("r").expect("u");
        let step = if recorded { 11 } else { 10 };
        assert_eq!(found.totp_last_step, Some(step), "{}", u.username);
        let revoked = s
            .token_state(&u.username, &pre_otp(u.id, "x").jti)
            .await
            .expect("s")
            .expect("u")
            .jti_revoked;
        assert_eq!(revoked, recorded, "{}", u.username);
    }
    let counter = s.throttle(ThrottleKind::Otp, &locked.id.to_string()).await;
    assert!(counter.expect("t").is_some(), "the lock stays");
}

/// A PostgresStore on `db` whose server counts calls of functions.
async fn counting_pg(db: &PgDatabase) -> PostgresStore {
    let mut conn = PgConnection::connect(&db.admin_url).await.expect("connect");
    sqlx::raw_sql(AssertSqlSafe(format!(
        "ALTER DATABASE \"{}\" SET track_functions = 'all'",
        db.name
    )))
    .execute(&mut conn)
    .await
    .expect("track functions");
    let _ = conn.close().await;
    PostgresStore::open(&db.url, &PostgresOptions::default())
        .await
        .expect("open")
}

/// How many times the batch function ran: backends report their counts
/// when idle, at most once a second, so the figure is read until it
/// stays the same for a second (at most 15 s).
async fn batch_calls(s: &PostgresStore) -> i64 {
    let read = || async {
        sqlx::query_scalar::<_, i64>(
            "SELECT coalesce(sum(calls), 0)::BIGINT FROM pg_stat_user_functions \
             WHERE funcname = 'otpgate_complete_second_factors'",
        )
        .fetch_one(s.pool())
        .await
        .expect("calls")
    };
    let mut last = read().await;
    for _ in 0..15 {
        tokio::time::sleep(Duration::from_millis(1100)).await;
        let now = read().await;
        if now == last {
            return now;
        }
        last = now;
    }
    last
}

/// 50 successes of distinct users at once on PostgreSQL: all recorded,
/// in far fewer statements than successes.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_concurrent_second_factors_share_statements() {
    use otpgate_core::model::SecondFactorWrite;
    let Some(admin_url) = pg_admin_url() else {
        return;
    };
    let db = PgDatabase::create(&admin_url).await;
    let s = counting_pg(&db).await;
    let t: Arc<dyn TestStore> = Arc::new(s.clone());
    let mut users = Vec::new();
    for i in 0..50 {
        users.push(enabled_user(&t, &format!("u{i}"), 10).await);
    }
    let before = batch_calls(&s).await;
    let tasks: Vec<_> = users
        .iter()
        .map(|u| {
            let (s, id) = (t.clone(), u.id);
            tokio::spawn(async move { prove_step(&s, id, 11, "a").await.expect("store") })
        })
        .collect();
    for task in tasks {
        assert_eq!(task.await.expect("join"), SecondFactorWrite::Recorded);
    }
    let mut calls = batch_calls(&s).await - before;
    if calls == 0 {
        // Not reported yet (a loaded machine): once more.
        calls = batch_calls(&s).await - before;
    }
    assert!(
        (1..=25).contains(&calls),
        "50 successes in {calls} statements"
    );
    s.pool().close().await;
}

/// Two instances on one database, each sending the same users' successes
/// in batches of its own in opposite orders: no deadlock reaches a caller,
/// and each step is recorded exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_two_instances_batches_neither_deadlock_nor_double_record() {
    use otpgate_core::model::SecondFactorWrite;
    let Some(admin_url) = pg_admin_url() else {
        return;
    };
    let db = PgDatabase::create(&admin_url).await;
    let options = PostgresOptions::default();
    let a = PostgresStore::open(&db.url, &options).await.expect("a");
    let b = PostgresStore::open(&db.url, &options).await.expect("b");
    let t: Arc<dyn TestStore> = Arc::new(a.clone());
    let u: Arc<dyn TestStore> = Arc::new(b.clone());
    let mut ids = Vec::new();
    for i in 0..40 {
        ids.push(enabled_user(&t, &format!("u{i}"), 10).await.id);
    }
    for step in 11..14 {
        let mut tasks = Vec::new();
        for (k, store) in [&t, &u].into_iter().enumerate() {
            let order: Vec<UserId> = if k == 0 {
                ids.clone()
            } else {
                ids.iter().rev().copied().collect()
            };
            for id in order {
                let s = store.clone();
                tasks.push(tokio::spawn(async move {
                    let written = prove_step(&s, id, step, &format!("{step}-{k}")).await;
                    (id, written)
                }));
            }
        }
        let mut wins = std::collections::HashMap::new();
        for task in tasks {
            let (id, written) = task.await.expect("join");
            match written.expect("no store error") {
                SecondFactorWrite::Recorded => *wins.entry(id).or_insert(0) += 1,
                SecondFactorWrite::ProofLost => {}
                other => panic!("user {id}: {other:?}"),
            }
        }
        assert_eq!(wins.len(), ids.len(), "step {step}");
        assert!(wins.values().all(|&n| n == 1), "step {step}: {wins:?}");
    }
    a.pool().close().await;
    b.pool().close().await;
}

/// One call of the batch function (migration 0012's parameters) with TOTP
/// steps (kind 0) at unix time 1010, none reserved: element i proves
/// `steps[i]` for `users[i]`, revokes `jtis[i]` (expiring at 9999) and
/// uses up the OTP status of application `status_app[i]`, when given.
async fn batch_of_steps<'e>(
    e: impl sqlx::PgExecutor<'e>,
    users: &[i64],
    steps: &[i64],
    jtis: &[Option<String>],
    status_app: &[Option<i64>],
) -> Vec<i64> {
    let n = users.len();
    sqlx::query_scalar(
        "SELECT otpgate_complete_second_factors($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
    )
    .bind(users)
    .bind(vec![0_i16; n])
    .bind(steps)
    .bind(vec![None::<i64>; n])
    .bind(vec![None::<i64>; n])
    .bind(jtis)
    .bind(vec![9999_i64; n])
    .bind(status_app)
    .bind(vec![1010_i64; n])
    .bind(vec![1010_i64; n])
    .fetch_one(e)
    .await
    .expect("batch")
}

/// The batch function itself, elements in one statement: a locked counter
/// in the middle, a gone status, a replayed step and a second use of one
/// step each get their own outcome; the others are recorded.
#[tokio::test]
async fn postgres_batch_function_gives_each_element_its_outcome() {
    let Some((_db, s)) = fresh_pg().await else {
        return;
    };
    let t: Arc<dyn TestStore> = Arc::new(s.clone());
    let mut ids = Vec::new();
    for i in 0..5 {
        ids.push(enabled_user(&t, &format!("u{i}"), 10).await.id);
    }
    for i in 0..5 {
        admitted(
            &t,
            ThrottleKind::Otp,
            &ids[2].to_string(),
            1000 + i,
            &consecutive(),
        )
        .await;
    }
    let app = t.create_application(&new_app("app")).await.expect("app");
    // u4 twice with one step, then u0, u1, u2 (locked), u3 (status gone),
    // u1 again with a replayed step.
    let users = [ids[4], ids[4], ids[0], ids[1], ids[2], ids[3], ids[1]];
    let steps = [11_i64, 11, 11, 11, 11, 11, 10];
    let status: Vec<Option<i64>> = (0..7).map(|i| (i == 5).then_some(app.id.get())).collect();
    let jtis: Vec<Option<String>> = (0..7).map(|i| Some(format!("j{i}"))).collect();
    let users: Vec<i64> = users.iter().map(|u| u.get()).collect();
    let outcomes = batch_of_steps(s.pool(), &users, &steps, &jtis, &status).await;
    assert_eq!(outcomes, vec![0, -2, 0, 0, 1034, -1, -2]);
    let revoked: Vec<String> = sqlx::query_scalar("SELECT jti FROM revoked_tokens ORDER BY jti")
        .fetch_all(s.pool())
        .await
        .expect("revoked");
    assert_eq!(revoked, ["j0", "j2", "j3"]);
    let steps: Vec<Option<i64>> =
        sqlx::query_scalar("SELECT totp_last_step FROM users ORDER BY id")
            .fetch_all(s.pool())
            .await
            .expect("steps");
    assert_eq!(steps, [Some(11), Some(11), Some(10), Some(10), Some(11)]);
    s.pool().close().await;
}

/// Two Single Connect successes of one user and application with two
/// right steps in one statement: the first uses the status up, the second
/// finds it gone (the status is deleted once, after the loop: migration
/// 0014 remembers it as used).
#[tokio::test]
async fn postgres_batch_function_uses_a_status_once_per_statement() {
    let Some((_db, s)) = fresh_pg().await else {
        return;
    };
    let t: Arc<dyn TestStore> = Arc::new(s.clone());
    let id = enabled_user(&t, "u0", 10).await.id;
    let app = t.create_application(&new_app("app")).await.expect("app");
    t.put_otp_status(&OtpStatusRecord {
        user_id: id,
        app_id: app.id,
        end_user_ip: None,
        expires_at: UnixTime::new(2000),
    })
    .await
    .expect("status");
    let outcomes = batch_of_steps(
        s.pool(),
        &[id.get(); 2],
        &[11, 12],
        &[None, None],
        &[Some(app.id.get()); 2],
    )
    .await;
    assert_eq!(outcomes, vec![0, -1]);
    let left: i64 = sqlx::query_scalar("SELECT count(*) FROM otp_status")
        .fetch_one(s.pool())
        .await
        .expect("count");
    assert_eq!(left, 0);
    let step: Option<i64> = sqlx::query_scalar("SELECT totp_last_step FROM users")
        .fetch_one(s.pool())
        .await
        .expect("step");
    assert_eq!(step, Some(11));
    s.pool().close().await;
}

/// The batch function finds every row it reads or writes through its key,
/// on tables of thousands of rows, with the generic plans the store's
/// connections use: no sequential scan of `users`, `otp_status`,
/// `throttles` or `revoked_tokens` in a group of 100 Single Connect
/// successes that also revoke a token and reset a counter (a join with
/// the arguments' subscripts was planned as a hash over the whole table).
#[tokio::test]
async fn postgres_batch_function_reads_rows_by_key() {
    let Some((_db, s)) = fresh_pg().await else {
        return;
    };
    sqlx::raw_sql(
        "INSERT INTO applications (name, key_id, secret_hash, created_at) VALUES ('app', 'k', 'x', 0); \
         INSERT INTO users (username, display_name, password_hash, tokens_valid_after, created_at, \
                            totp_state, totp_secret, totp_last_step) \
           SELECT 'user' || g, 'u', 'x', 0, 0, 2, '\\x00', 10 FROM generate_series(1, 4000) AS g; \
         INSERT INTO otp_status (user_id, app_id, expires_at) \
           SELECT id, (SELECT id FROM applications), 5000 FROM users; \
         INSERT INTO throttles (kind, key, failures, window_start, last_failure, locked_until) \
           SELECT 'otp', id::TEXT, 1, 0, 0, 0 FROM users; \
         INSERT INTO revoked_tokens (jti, user_id, expires_at) \
           SELECT 'old' || g, (SELECT min(id) FROM users), 9999999999 FROM generate_series(1, 4000) AS g; \
         ANALYZE;",
    )
    .execute(s.pool())
    .await
    .expect("fill");
    let (users, app): (Vec<i64>, i64) = (
        sqlx::query_scalar("SELECT id FROM users ORDER BY id LIMIT 100")
            .fetch_all(s.pool())
            .await
            .expect("ids"),
        sqlx::query_scalar("SELECT id FROM applications")
            .fetch_one(s.pool())
            .await
            .expect("app"),
    );
    let n = users.len();
    let mut tx = s.pool().begin().await.expect("begin");
    let jtis: Vec<Option<String>> = (0..n).map(|i| Some(format!("new{i}"))).collect();
    let outcomes = batch_of_steps(&mut *tx, &users, &vec![11; n], &jtis, &vec![Some(app); n]).await;
    assert_eq!(outcomes, vec![0; n]);
    let scans: Vec<(String, i64)> = sqlx::query_as(
        "SELECT relname::TEXT, seq_scan FROM pg_stat_xact_user_tables \
          WHERE relname IN ('users', 'otp_status', 'throttles', 'revoked_tokens') ORDER BY relname",
    )
    .fetch_all(&mut *tx)
    .await
    .expect("scans");
    tx.commit().await.expect("commit");
    assert!(scans.iter().all(|(_, n)| *n == 0), "{scans:?}");
    let counts: (i64, i64, i64) = sqlx::query_as(
        "SELECT (SELECT count(*) FROM otp_status), (SELECT count(*) FROM throttles), \
                (SELECT count(*) FROM revoked_tokens WHERE jti LIKE 'new%')",
    )
    .fetch_one(s.pool())
    .await
    .expect("counts");
    assert_eq!(counts, (3900, 3900, 100));
    s.pool().close().await;
}

/// Pooled connections the server ended while they sat idle (a restart, a
/// failover) are checked before they are handed out again and replaced:
/// the next reads succeed. (The store checks only connections idle a
/// second or more, not every one it hands out.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_connections_ended_while_idle_are_replaced() {
    let Some((db, s)) = fresh_pg().await else {
        return;
    };
    let t: Arc<dyn TestStore> = Arc::new(s.clone());
    t.create_user(&new_user("idle")).await.expect("user");
    // Several connections in the pool: reads at once.
    let reads: Vec<_> = (0..8)
        .map(|_| {
            let t = t.clone();
            tokio::spawn(async move { t.user_by_name("idle").await })
        })
        .collect();
    for r in reads {
        assert!(r.await.expect("join").expect("read").is_some());
    }
    let mut admin = PgConnection::connect(&db.admin_url).await.expect("admin");
    let ended: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM (SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
          WHERE datname = $1 AND pid <> pg_backend_pid()) AS x",
    )
    .bind(&db.name)
    .fetch_one(&mut admin)
    .await
    .expect("terminate");
    assert!(ended >= 2, "{ended} backends ended");
    let _ = admin.close().await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    for i in 0..8 {
        let user = t.user_by_name("idle").await;
        assert!(
            matches!(user, Ok(Some(_))),
            "read {i} after the server ended the connections: {user:?}"
        );
    }
    s.pool().close().await;
}

/// A grouped point read of a few hundred elements is planned as one index
/// probe per element, on tables of any size: never a hash over a whole
/// table (pulled up into a join, the token check's read was a hash join
/// over `users` and a hashed `EXISTS` over `revoked_tokens`, built again
/// for every group), in the first executions' custom plans and in the
/// generic plan the store's connections use.
#[tokio::test]
async fn postgres_grouped_reads_probe_the_index_per_element() {
    let Some((_db, s)) = fresh_pg().await else {
        return;
    };
    sqlx::raw_sql(
        "INSERT INTO users (username, display_name, password_hash, tokens_valid_after, created_at) \
           SELECT 'user' || g, 'u', 'x', 0, 0 FROM generate_series(1, 3000) AS g; \
         INSERT INTO revoked_tokens (jti, user_id, expires_at) \
           SELECT 'jti' || g, (SELECT min(id) FROM users), 9999999999 FROM generate_series(1, 20000) AS g; \
         ANALYZE users; ANALYZE revoked_tokens;",
    )
    .execute(s.pool())
    .await
    .expect("fill");
    let grouped = otpgate_store::pg_grouped_read(
        "SELECT id, EXISTS (SELECT 1 FROM revoked_tokens r WHERE r.jti = $1) \
         FROM users WHERE username = $2",
        &["TEXT[]", "TEXT[]"],
    );
    let jtis: Vec<String> = (0..300).map(|i| format!("jti{i}")).collect();
    let names: Vec<String> = (0..300).map(|i| format!("user{i}")).collect();
    let mut conn = s.pool().acquire().await.expect("conn");
    for mode in ["force_custom_plan", "force_generic_plan"] {
        sqlx::query(AssertSqlSafe(format!("SET plan_cache_mode = {mode}")))
            .execute(&mut *conn)
            .await
            .expect("mode");
        let plan: Vec<String> = sqlx::query_scalar(AssertSqlSafe(format!("EXPLAIN {grouped}")))
            .bind(&jtis)
            .bind(&names)
            .fetch_all(&mut *conn)
            .await
            .expect("explain");
        let plan = plan.join("\n");
        assert!(
            !plan.contains("Hash") && !plan.contains("Seq Scan"),
            "{mode}:\n{plan}"
        );
        assert!(plan.contains("users_username_key"), "{mode}:\n{plan}");
        let rows = sqlx::query(AssertSqlSafe(grouped.clone()))
            .bind(&jtis)
            .bind(&names)
            .fetch_all(&mut *conn)
            .await
            .expect("read");
        assert_eq!(rows.len(), 299, "{mode}: user0 does not exist");
    }
    drop(conn);
    s.pool().close().await;
}

/// Point reads made at the same moment (PostgreSQL groups them into one
/// statement per statement, src/pg_reads.rs) each get their own row: 100
/// users read by name and by token at once, with unknown names and
/// revoked token ids among them.
async fn concurrent_point_reads_each_get_their_own_row(s: Arc<dyn TestStore>) {
    let mut users = Vec::new();
    for i in 0..50 {
        let u = s
            .create_user(&new_user(&format!("r{i}")))
            .await
            .expect("user");
        if i % 3 == 0 {
            s.revoke_token(&format!("j{i}"), u.id, t(9999))
                .await
                .expect("revoke");
        }
        users.push(u);
    }
    let mut tasks = Vec::new();
    for i in 0..100 {
        let s = s.clone();
        tasks.push(tokio::spawn(async move {
            let name = format!("r{i}");
            let user = s.user_by_name(&name).await.expect("read");
            let state = s.token_state(&name, &format!("j{i}")).await.expect("read");
            (i, user, state)
        }));
    }
    for t in tasks {
        let (i, user, state) = t.await.expect("join");
        if i < 50 {
            let user = user.expect("known");
            assert_eq!(user.username, format!("r{i}"));
            assert_eq!(user.id, users[i].id);
            let state = state.expect("known");
            assert_eq!(state.user.id, users[i].id);
            assert_eq!(state.jti_revoked, i % 3 == 0, "r{i}");
        } else {
            assert!(user.is_none() && state.is_none(), "r{i}");
        }
    }
}
