//! The PostgreSQL backend, for several otpgate instances sharing one
//! database.
//!
//! Its `Store` methods come from the table both backends share
//! (`statements.rs`), over `Exec`; below are those PostgreSQL does its
//! own way, marked `backend-specific`. Single-use operations are single conditional statements
//! (PostgreSQL re-checks the `WHERE` of an `UPDATE`/`DELETE` against the
//! latest row version after waiting for a concurrent writer, so exactly one
//! caller wins). Multi-statement changes run in transactions that lock the
//! user row first, so they serialise with each other and never deadlock.

use std::io::ErrorKind;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use otpgate_core::StoreError;
use otpgate_core::config::ThrottlePolicy;
use otpgate_core::model::{
    AuditRecord, LegacyGrant, LiveState, OtpCounter, OtpStatusUse, Reservation, RevokeToken,
    SecondFactorProof, SecondFactorWrite, ThrottleKind, ThrottleState, UnixTime, UserId,
    UserLiveState,
};
use otpgate_core::store::ChangeStamp;
use sqlx::postgres::{
    PgArguments, PgConnectOptions, PgConnection, PgPool, PgPoolOptions, Postgres,
};
use sqlx::query::Query;
use sqlx::{Connection, Row};

use crate::error::map;
use crate::migrations;
use crate::pg_feed::Feed;
use crate::pg_reads::Reads;
use crate::pg_second_factor::{Batcher, Element};
use crate::rows::{FromRow, audit_columns};
use crate::sql::{Exec, Mode, Sql, Step, Value};
use crate::statements::THROTTLE;

/// Reserves one attempt in ONE conditional statement: refused (no row)
/// while locked; otherwise the count goes up (restarting an expired
/// window) and the key is locked when the count reaches the threshold.
/// `$1` kind, `$2` key, `$3` now, `$4` window (0: none), `$5` threshold,
/// `$6` lock lengths by doublings past it.
const RESERVE_ATTEMPT: &str = "\
    INSERT INTO throttles AS t (kind, key, failures, window_start, last_failure, locked_until) \
    VALUES ($1, $2, 1, $3, $3, \
            CASE WHEN 1 >= $5 THEN $3 + ($6::BIGINT[])[(LEAST(1 - $5, 30) + 1)::INT] ELSE 0 END) \
    ON CONFLICT (kind, key) DO UPDATE SET \
      failures = CASE WHEN $4 > 0 AND t.window_start <= $3 - $4 THEN 1 ELSE t.failures + 1 END, \
      window_start = CASE WHEN $4 > 0 AND t.window_start <= $3 - $4 THEN $3 \
                          ELSE t.window_start END, \
      last_failure = $3, \
      locked_until = CASE \
        WHEN (CASE WHEN $4 > 0 AND t.window_start <= $3 - $4 THEN 1 ELSE t.failures + 1 END) >= $5 \
        THEN GREATEST(t.locked_until, $3 + ($6::BIGINT[])[(LEAST( \
          (CASE WHEN $4 > 0 AND t.window_start <= $3 - $4 THEN 1 ELSE t.failures + 1 END) - $5, \
          30) + 1)::INT]) \
        ELSE t.locked_until END \
    WHERE t.locked_until <= $3 \
    RETURNING failures, failures >= $5 AS locks";

/// Audit records, one array per column, in one statement.
const APPEND_AUDIT: &str = concat!(
    "INSERT INTO audit_log (",
    audit_columns!(),
    ") SELECT * FROM UNNEST($1::BIGINT[], $2::TEXT[], $3::TEXT[], $4::TEXT[], $5::TEXT[], \
     $6::TEXT[], $7::TEXT[])"
);

/// PostgreSQL tuning knobs.
#[derive(Debug, Clone)]
pub struct PostgresOptions {
    /// Connections in the pool (per otpgate instance).
    pub max_connections: u32,
    /// How long a request waits for a free (or new) pooled connection
    /// before the store reports itself unavailable.
    pub acquire_timeout: Duration,
    /// How long [`PostgresStore::open`] waits for the server at start,
    /// retrying while the connection is refused (the database may still be
    /// starting).
    pub connect_timeout: Duration,
}

impl Default for PostgresOptions {
    fn default() -> Self {
        Self {
            max_connections: 16,
            acquire_timeout: Duration::from_secs(5),
            connect_timeout: Duration::from_secs(10),
        }
    }
}

/// A [`otpgate_core::Store`] on a PostgreSQL database.
#[derive(Debug, Clone)]
pub struct PostgresStore {
    pool: PgPool,
    /// The change feed behind `Store::change_stamp`.
    feed: Arc<Feed>,
    /// Concurrent second-factor successes, sent as one statement.
    second_factors: Arc<Batcher>,
    /// Concurrent point reads, one statement per statement of the table.
    reads: Arc<Reads>,
}

/// `host:port/database as user`, for messages (never the password).
fn describe(connect: &PgConnectOptions) -> String {
    let user = connect.get_username();
    let database = connect.get_database().unwrap_or(user);
    match connect.get_socket() {
        Some(socket) => format!("{}/{database} as {user}", socket.display()),
        None => format!(
            "{}:{}/{database} as {user}",
            connect.get_host(),
            connect.get_port()
        ),
    }
}

/// A message on one line, whatever the driver put in it.
fn one_line(message: &str) -> String {
    message.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// What went wrong while connecting, without the driver's noise (the
/// server's source line of the error).
fn connect_error(err: &sqlx::Error) -> String {
    match err {
        sqlx::Error::Database(db) => match db.code() {
            Some(code) => format!("{} (SQLSTATE {code})", db.message()),
            None => db.message().to_owned(),
        },
        other => other.to_string(),
    }
}

fn unreachable(target: &str, why: &str) -> StoreError {
    StoreError::Unavailable(one_line(&format!(
        "cannot connect to PostgreSQL at {target}: {why}"
    )))
}

/// Opens one connection at start, retrying while the server refuses
/// connections or says it is starting, until `timeout`.
async fn connect_at_start(
    connect: &PgConnectOptions,
    target: &str,
    timeout: Duration,
) -> Result<PgConnection, StoreError> {
    let started = tokio::time::Instant::now();
    let deadline = started + timeout;
    let mut backoff = Duration::from_millis(50);
    loop {
        let err = match tokio::time::timeout_at(deadline, PgConnection::connect_with(connect)).await
        {
            Ok(Ok(conn)) => return Ok(conn),
            Ok(Err(e)) => e,
            Err(_) => {
                return Err(unreachable(
                    target,
                    &format!("no answer within {} ms", timeout.as_millis()),
                ));
            }
        };
        let transient = match &err {
            sqlx::Error::Io(io) => io.kind() == ErrorKind::ConnectionRefused,
            sqlx::Error::Database(db) => {
                matches!(db.code().as_deref(), Some("57P03" | "53300"))
            }
            _ => false,
        };
        if !transient {
            return Err(unreachable(target, &connect_error(&err)));
        }
        if tokio::time::Instant::now() + backoff >= deadline {
            return Err(unreachable(
                target,
                &format!(
                    "{} (gave up retrying after {} ms)",
                    connect_error(&err),
                    started.elapsed().as_millis()
                ),
            ));
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(Duration::from_secs(1));
    }
}

/// A pooled connection idle this long is checked (one round trip) before
/// it is handed out, so one that died meanwhile (a server restart, a
/// failover) is replaced instead of failing a request. sqlx checks every
/// connection it hands out by default: under load that was one more round
/// trip per statement for connections idle a few microseconds
/// (docs/performance.md, session 26).
const PING_AFTER_IDLE: Duration = Duration::from_secs(1);

/// `connect`, its statements run with their generic plan (planned once
/// per connection) unless the URL's `options` chose a `plan_cache_mode`.
/// The statements are point reads and writes by key, whose plan does not
/// depend on the values; the custom plans PostgreSQL otherwise makes
/// first (and keeps making for the grouped statements, whose arrays it
/// sizes) cost more database CPU per verify-otp success than the
/// success's own writes (docs/performance.md, session 26).
fn generic_plans(connect: PgConnectOptions) -> PgConnectOptions {
    if connect
        .get_options()
        .is_some_and(|o| o.contains("plan_cache_mode"))
    {
        connect
    } else {
        connect.options([("plan_cache_mode", "force_generic_plan")])
    }
}

impl PostgresStore {
    /// Connects to the database at `url` (`postgres://` or
    /// `postgresql://`) and migrates it. A server that cannot be reached
    /// within `options.connect_timeout` gives [`StoreError::Unavailable`].
    pub async fn open(url: &str, options: &PostgresOptions) -> Result<Self, StoreError> {
        let connect = PgConnectOptions::from_str(url.trim())
            .map_err(|e| StoreError::Other(one_line(&format!("database URL: {e}"))))?;
        let target = describe(&connect);
        // One dedicated connection checks the server answers (with a clear
        // error if not) and runs the migrations; the migrator holds an
        // advisory lock, so instances starting together migrate once.
        let mut conn = connect_at_start(&connect, &target, options.connect_timeout).await?;
        let migrated = match migrations::migrator(migrations::POSTGRES).await {
            Ok(migrator) => migrator
                .run(&mut conn)
                .await
                .map_err(|e| StoreError::Other(one_line(&format!("migrations: {e}")))),
            Err(e) => Err(e),
        };
        // Closing is a courtesy to the server; a failure changes nothing.
        let _ = conn.close().await;
        migrated?;
        let pool = PgPoolOptions::new()
            .max_connections(options.max_connections.max(1))
            .acquire_timeout(options.acquire_timeout)
            .test_before_acquire(false)
            .before_acquire(|conn, meta| {
                Box::pin(async move {
                    if meta.idle_for >= PING_AFTER_IDLE {
                        conn.ping().await?;
                    }
                    Ok(true)
                })
            })
            .connect_lazy_with(generic_plans(connect.clone()));
        let feed = Arc::new(Feed::new(pool.clone(), &connect));
        Ok(Self {
            pool,
            feed,
            second_factors: Arc::default(),
            reads: Arc::default(),
        })
    }

    /// The `application_name` of the change feed's listening connection
    /// (tests find its backend in `pg_stat_activity` by it).
    pub fn feed_application_name(&self) -> &str {
        self.feed.application_name()
    }

    /// The pool (for tests that inspect the raw database, or close it).
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }
}

/// `sql` with `args` bound.
fn query<'q>(sql: &'static Sql, args: &'q [Value<'_>]) -> Query<'q, Postgres, PgArguments> {
    args.iter().fold(sqlx::query(sql.pg), |q, v| match v {
        Value::Int(v) => q.bind(*v),
        Value::Bool(v) => q.bind(*v),
        Value::Text(v) => q.bind(v.as_deref()),
        Value::Blob(v) => q.bind(v.as_deref()),
    })
}

impl PostgresStore {
    /// After a write that changes what a token check reads: notifies the
    /// change feed.
    async fn after(&self, mode: Mode) {
        if mode == Mode::Feed {
            self.feed.changed().await;
        }
    }
}

crate::statements::store_for!(PostgresStore);

impl Exec for PostgresStore {
    async fn opt<T: FromRow, const N: usize>(
        &self,
        mode: Mode,
        sql: &'static Sql,
        args: [Value<'_>; N],
    ) -> Result<Option<T>, StoreError> {
        // Point reads with parameters go together with those of the same
        // moment (pg_reads.rs); the rest, and reads outside a runtime, alone.
        let grouped = if mode == Mode::Read && N > 0 {
            self.reads.first_row(&self.pool, sql, &args).await
        } else {
            None
        };
        let row = match grouped {
            Some(row) => row?,
            None => query(sql, &args)
                .fetch_optional(&self.pool)
                .await
                .map_err(map)?,
        };
        self.after(mode).await;
        row.as_ref().map(T::from_row).transpose().map_err(map)
    }

    async fn all<T: FromRow, const N: usize>(
        &self,
        mode: Mode,
        sql: &'static Sql,
        args: [Value<'_>; N],
    ) -> Result<Vec<T>, StoreError> {
        let rows = query(sql, &args).fetch_all(&self.pool).await.map_err(map)?;
        self.after(mode).await;
        rows.iter()
            .map(T::from_row)
            .collect::<Result<_, _>>()
            .map_err(map)
    }

    async fn affected<const N: usize>(
        &self,
        mode: Mode,
        sql: &'static Sql,
        args: [Value<'_>; N],
    ) -> Result<u64, StoreError> {
        let done = query(sql, &args).execute(&self.pool).await.map_err(map)?;
        self.after(mode).await;
        Ok(done.rows_affected())
    }

    async fn batch_fetch<T: FromRow>(
        &self,
        mode: Mode,
        steps: Vec<Step>,
    ) -> Result<(Vec<u64>, Option<T>), StoreError> {
        let mut tx = self.pool.begin().await.map_err(map)?;
        let (mut out, mut row) = (Vec::with_capacity(steps.len()), None);
        for step in &steps {
            // A query's count is the rows it returned (its command tag).
            let n = if step.fetch {
                let fetched = query(step.sql, &step.args).fetch_optional(&mut *tx);
                row = fetched.await.map_err(map)?;
                u64::from(row.is_some())
            } else {
                let done = query(step.sql, &step.args).execute(&mut *tx).await;
                done.map_err(map)?.rows_affected()
            };
            out.push(n);
            if step.guard && n == 0 {
                break;
            }
        }
        tx.commit().await.map_err(map)?;
        self.after(mode).await;
        let row = row.as_ref().map(T::from_row).transpose().map_err(map)?;
        Ok((out, row))
    }

    fn stamp(&self) -> Option<ChangeStamp> {
        self.feed.stamp()
    }
}

/// The methods PostgreSQL writes its own way. Multi-statement changes run
/// in transactions that lock the user row first, so they serialise with
/// each other and never deadlock.
impl PostgresStore {
    // backend-specific: one statement for every call made at the same
    // time (pg_second_factor.rs): the server-side function of migration
    // 0012 takes the steps of each in the order SQLite's writer job does
    // (status, proof, revocation, counter).
    pub(crate) async fn complete_second_factor(
        &self,
        user_id: UserId,
        proof: SecondFactorProof,
        revoke: Option<&RevokeToken>,
        otp_status: Option<OtpStatusUse>,
        otp_counter: OtpCounter,
    ) -> Result<SecondFactorWrite, StoreError> {
        let element = Element::new(user_id, proof, revoke, otp_status, otp_counter);
        self.second_factors
            .complete(&self.pool, &self.feed, element)
            .await
    }

    // backend-specific: one conditional upsert ([`RESERVE_ATTEMPT`]);
    // SQLite works the count out between a read and a write of one job.
    pub(crate) async fn reserve_attempt(
        &self,
        kind: ThrottleKind,
        key: &str,
        now: UnixTime,
        policy: &ThrottlePolicy,
    ) -> Result<Reservation, StoreError> {
        let max = i64::from(policy.max_failures);
        // Lock lengths by doublings past the threshold (0..=30), as the
        // policy computes them, so the statement needs no arithmetic of its
        // own: `lengths[min(count - max, 30) + 1]`.
        let lengths: Vec<i64> = (0..=30)
            .map(|d| {
                policy
                    .lock_secs(policy.max_failures.saturating_add(d))
                    .unwrap_or(0)
            })
            .collect();
        // Tries again only if the lock that refused the write is gone by
        // the time it is read (a success cleared it meanwhile).
        for _ in 0..3 {
            let row = sqlx::query(RESERVE_ATTEMPT)
                .bind(kind.as_str())
                .bind(key)
                .bind(now.get())
                .bind(policy.window_secs.unwrap_or(0))
                .bind(max)
                .bind(&lengths)
                .fetch_optional(&self.pool)
                .await
                .map_err(map)?;
            if let Some(row) = row {
                let count: i64 = row.try_get("failures").map_err(map)?;
                let locks: bool = row.try_get("locks").map_err(map)?;
                return Ok(Reservation::Admitted {
                    count: u32::try_from(count).unwrap_or(u32::MAX),
                    locks,
                });
            }
            let state: Option<ThrottleState> = self
                .opt(Mode::Read, THROTTLE, [kind.as_str().into(), key.into()])
                .await?;
            if let Some(state) = state
                && state.locked_until > now
            {
                return Ok(Reservation::Locked {
                    until: state.locked_until,
                });
            }
        }
        Err(StoreError::Unavailable(
            "a throttle counter changed under every try".into(),
        ))
    }

    // backend-specific: one statement, the DELETE inside a WITH (which
    // SQLite lacks) is the single use: PostgreSQL re-checks its WHERE after
    // waiting for a concurrent deleter, so one wins.
    pub(crate) async fn redeem_legacy_nonce(
        &self,
        token_hash: &str,
        now: UnixTime,
        grant_expires_at: UnixTime,
    ) -> Result<Option<LegacyGrant>, StoreError> {
        let row = sqlx::query(
            "WITH used AS ( \
               DELETE FROM legacy_nonces WHERE token_hash = $1 AND expires_at > $2 \
               RETURNING token_hash, user_id, issued_at) \
             INSERT INTO legacy_grants (token_hash, user_id, issued_at, expires_at) \
             SELECT token_hash, user_id, issued_at, $3 FROM used \
             RETURNING token_hash, user_id, issued_at, expires_at",
        )
        .bind(token_hash)
        .bind(now.get())
        .bind(grant_expires_at.get())
        .fetch_optional(&self.pool)
        .await
        .map_err(map)?;
        row.as_ref()
            .map(LegacyGrant::from_row)
            .transpose()
            .map_err(map)
    }

    // backend-specific: every record in ONE statement, a column per array
    // parameter (SQLite: one INSERT per record in one write job).
    pub(crate) async fn append_audit(&self, records: &[AuditRecord]) -> Result<(), StoreError> {
        if records.is_empty() {
            return Ok(());
        }
        let text = |f: fn(&AuditRecord) -> Option<&str>| records.iter().map(f).collect::<Vec<_>>();
        sqlx::query(APPEND_AUDIT)
            .bind(records.iter().map(|r| r.at_ms.get()).collect::<Vec<_>>())
            .bind(text(|r| Some(r.event.as_str())))
            .bind(text(|r| Some(r.username.as_str())))
            .bind(text(|r| r.ip.as_deref()))
            .bind(text(|r| r.user_agent.as_deref()))
            .bind(text(|r| Some(r.dialect.as_str())))
            .bind(text(|r| r.app.as_deref()))
            .execute(&self.pool)
            .await
            .map_err(map)
            .map(drop)
    }

    // backend-specific: each list is one array parameter (= ANY($1)),
    // SQLite's one JSON array: three statements whatever the number of
    // sockets.
    pub(crate) async fn live_state(
        &self,
        user_ids: &[UserId],
        jtis: &[String],
        grant_hashes: &[String],
        now: UnixTime,
    ) -> Result<LiveState, StoreError> {
        let mut out = LiveState::default();
        if !user_ids.is_empty() {
            let rows = sqlx::query(
                "SELECT id, tokens_valid_after, totp_state, require_two_factor FROM users \
                 WHERE id = ANY($1)",
            )
            .bind(user_ids.iter().map(|u| u.get()).collect::<Vec<i64>>())
            .fetch_all(&self.pool)
            .await
            .map_err(map)?;
            out.users = rows
                .iter()
                .map(UserLiveState::from_row)
                .collect::<Result<_, _>>()
                .map_err(map)?;
        }
        if !jtis.is_empty() {
            out.revoked_jtis =
                sqlx::query_scalar("SELECT jti FROM revoked_tokens WHERE jti = ANY($1)")
                    .bind(jtis)
                    .fetch_all(&self.pool)
                    .await
                    .map_err(map)?;
        }
        if !grant_hashes.is_empty() {
            out.live_grants = sqlx::query_scalar(
                "SELECT token_hash FROM legacy_grants WHERE token_hash = ANY($1) AND expires_at > $2",
            )
            .bind(grant_hashes)
            .bind(now.get())
            .fetch_all(&self.pool)
            .await
            .map_err(map)?;
        }
        Ok(out)
    }
}
