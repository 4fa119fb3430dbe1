//! The PostgreSQL backend, for several otpgate instances sharing one
//! database.
//!
//! It mirrors the SQLite backend method by method, with the same
//! semantics. Single-use operations are single conditional statements
//! (PostgreSQL re-checks the `WHERE` of an `UPDATE`/`DELETE` against the
//! latest row version after waiting for a concurrent writer, so exactly one
//! caller wins). Multi-statement changes run in transactions that lock the
//! user row first, so they serialise with each other and never deadlock.

use std::io::ErrorKind;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use otpgate_core::config::ThrottlePolicy;
use otpgate_core::model::{
    Application, AuditQuery, AuditRecord, Channel, ContactField, LegacyGrant, LegacyNonce,
    LiveState, MfaSession, NewApplication, NewOobCode, NewOutboxMessage, NewUser, OobClaim,
    OtpCounter, OtpStatusRecord, OtpStatusUse, OutboxMessage, PersistentToken, ProfileChange,
    RecoveryCodeRecord, Reservation, RevokeToken, SecondFactorProof, SecondFactorWrite,
    ThrottleKind, ThrottleState, TokenState, TotpState, TwoFactorGroup, User, UserLiveState,
};
use otpgate_core::secret::SecretString;
use otpgate_core::store::ChangeStamp;
use otpgate_core::{Store, StoreError};
use sqlx::postgres::{PgConnectOptions, PgConnection, PgPool, PgPoolOptions, PgRow};
use sqlx::{Connection, Row};

use crate::error::map;
use crate::pg_feed::Feed;

use crate::migrations;

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

/// A second-factor success in one statement (migration 0010).
const COMPLETE_SECOND_FACTOR: &str = "SELECT otpgate_complete_second_factor(\
     $1, $2, $3, $4, $5, $6, $7, $8, $9, $10)";

/// Uses up an application's unexpired OTP status for a user.
const CONSUME_OTP_STATUS: &str =
    "DELETE FROM otp_status WHERE user_id = $1 AND app_id = $2 AND expires_at > $3";
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

/// A [`Store`] on a PostgreSQL database.
#[derive(Debug, Clone)]
pub struct PostgresStore {
    pool: PgPool,
    /// The change feed behind [`Store::change_stamp`].
    feed: Arc<Feed>,
}

const USER_COLUMNS: &str = "id, username, display_name, email, phone, external_id, role, \
     password_hash, totp_state, totp_secret, totp_last_step, tokens_valid_after, created_at, \
     require_two_factor, backend, upstream_session";

fn user_from_row(row: &PgRow) -> Result<User, sqlx::Error> {
    let state: i16 = row.try_get("totp_state")?;
    let secret: Option<Vec<u8>> = row.try_get("totp_secret")?;
    let totp = match (state, secret) {
        (1, Some(s)) => TotpState::Pending(s),
        (2, Some(s)) => TotpState::Enabled(s),
        _ => TotpState::Off,
    };
    Ok(User {
        id: row.try_get("id")?,
        username: row.try_get("username")?,
        display_name: row.try_get("display_name")?,
        email: row.try_get("email")?,
        phone: row.try_get("phone")?,
        external_id: row.try_get("external_id")?,
        role: row.try_get("role")?,
        password_hash: row.try_get("password_hash")?,
        totp,
        totp_last_step: row.try_get("totp_last_step")?,
        tokens_valid_after: row.try_get("tokens_valid_after")?,
        created_at: row.try_get("created_at")?,
        require_two_factor: row.try_get("require_two_factor")?,
        backend: row.try_get("backend")?,
        upstream_session: row.try_get("upstream_session")?,
    })
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
            .connect_lazy_with(connect.clone());
        let feed = Arc::new(Feed::new(pool.clone(), &connect));
        Ok(Self { pool, feed })
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

#[async_trait]
impl Store for PostgresStore {
    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1")
            .execute(&self.pool)
            .await
            .map_err(map)?;
        Ok(())
    }

    async fn create_user(&self, u: &NewUser) -> Result<User, StoreError> {
        let sql = sqlx::AssertSqlSafe(format!(
            "INSERT INTO users (username, display_name, email, phone, external_id, role, \
             password_hash, tokens_valid_after, created_at, backend) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) \
             RETURNING {USER_COLUMNS}"
        ));
        let row = sqlx::query(sql)
            .bind(&u.username)
            .bind(&u.display_name)
            .bind(&u.email)
            .bind(&u.phone)
            .bind(&u.external_id)
            .bind(&u.role)
            .bind(&u.password_hash)
            .bind(u.tokens_valid_after)
            .bind(u.created_at)
            .bind(&u.backend)
            .fetch_one(&self.pool)
            .await
            .map_err(map)?;
        self.feed.changed().await;
        user_from_row(&row).map_err(map)
    }

    async fn user_by_name(&self, username: &str) -> Result<Option<User>, StoreError> {
        let sql = sqlx::AssertSqlSafe(format!(
            "SELECT {USER_COLUMNS} FROM users WHERE username = $1"
        ));
        let row = sqlx::query(sql)
            .bind(username)
            .fetch_optional(&self.pool)
            .await
            .map_err(map)?;
        row.as_ref().map(user_from_row).transpose().map_err(map)
    }

    async fn list_users(&self) -> Result<Vec<User>, StoreError> {
        // COLLATE "C": byte order, like SQLite's default BINARY collation,
        // whatever the database's locale.
        let sql = sqlx::AssertSqlSafe(format!(
            "SELECT {USER_COLUMNS} FROM users ORDER BY username COLLATE \"C\""
        ));
        let rows = sqlx::query(sql).fetch_all(&self.pool).await.map_err(map)?;
        rows.iter()
            .map(user_from_row)
            .collect::<Result<_, _>>()
            .map_err(map)
    }

    async fn count_users(&self) -> Result<u64, StoreError> {
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM users")
            .fetch_one(&self.pool)
            .await
            .map_err(map)?;
        Ok(u64::try_from(n).unwrap_or(0))
    }

    async fn delete_user(&self, user_id: i64) -> Result<bool, StoreError> {
        let mut tx = self.pool.begin().await.map_err(map)?;
        let deleted = sqlx::query("DELETE FROM users WHERE id = $1")
            .bind(user_id)
            .execute(&mut *tx)
            .await
            .map_err(map)?
            .rows_affected();
        sqlx::query("DELETE FROM throttles WHERE kind = 'otp' AND key = $1")
            .bind(user_id.to_string())
            .execute(&mut *tx)
            .await
            .map_err(map)?;
        tx.commit().await.map_err(map)?;
        self.feed.changed().await;
        Ok(deleted == 1)
    }

    async fn set_password(
        &self,
        user_id: i64,
        hash: &str,
        valid_after: i64,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE users SET password_hash = $1, \
             tokens_valid_after = GREATEST(tokens_valid_after + 1, $2) WHERE id = $3",
        )
        .bind(hash)
        .bind(valid_after)
        .bind(user_id)
        .execute(&self.pool)
        .await
        .map_err(map)?;
        self.feed.changed().await;
        Ok(())
    }

    async fn update_profile(
        &self,
        user_id: i64,
        change: &ProfileChange,
    ) -> Result<bool, StoreError> {
        // One statement: each field is replaced only when its flag is set.
        let n = sqlx::query(
            "UPDATE users SET \
             display_name = CASE WHEN $1 THEN $2 ELSE display_name END, \
             email = CASE WHEN $3 THEN $4 ELSE email END, \
             phone = CASE WHEN $5 THEN $6 ELSE phone END, \
             external_id = CASE WHEN $7 THEN $8 ELSE external_id END, \
             role = CASE WHEN $9 THEN $10 ELSE role END \
             WHERE id = $11",
        )
        .bind(change.display_name.is_some())
        .bind(change.display_name.as_deref())
        .bind(change.email.is_some())
        .bind(change.email.clone().flatten())
        .bind(change.phone.is_some())
        .bind(change.phone.clone().flatten())
        .bind(change.external_id.is_some())
        .bind(change.external_id.clone().flatten())
        .bind(change.role.is_some())
        .bind(change.role.as_deref())
        .bind(user_id)
        .execute(&self.pool)
        .await
        .map_err(map)?
        .rows_affected();
        self.feed.changed().await;
        Ok(n == 1)
    }

    async fn set_require_two_factor(
        &self,
        user_id: i64,
        required: Option<bool>,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query("UPDATE users SET require_two_factor = $1 WHERE id = $2")
            .bind(required)
            .bind(user_id)
            .execute(&self.pool)
            .await
            .map_err(map)?;
        self.feed.changed().await;
        Ok(done.rows_affected() == 1)
    }

    async fn set_upstream_session(
        &self,
        user_id: i64,
        sealed: Option<&[u8]>,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query("UPDATE users SET upstream_session = $1 WHERE id = $2")
            .bind(sealed)
            .bind(user_id)
            .execute(&self.pool)
            .await
            .map_err(map)?;
        self.feed.changed().await;
        Ok(done.rows_affected() == 1)
    }

    async fn two_factor_census(&self) -> Result<Vec<TwoFactorGroup>, StoreError> {
        let rows = sqlx::query(
            "SELECT totp_state = 2 AS enabled, require_two_factor, COUNT(*) AS users \
             FROM users GROUP BY 1, 2",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(map)?;
        rows.iter()
            .map(|r| {
                Ok(TwoFactorGroup {
                    enabled: r.try_get("enabled")?,
                    require_two_factor: r.try_get("require_two_factor")?,
                    users: u64::try_from(r.try_get::<i64, _>("users")?).unwrap_or(0),
                })
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(map)
    }

    fn change_stamp(&self) -> Option<ChangeStamp> {
        self.feed.stamp()
    }

    async fn token_state(
        &self,
        username: &str,
        jti: &str,
    ) -> Result<Option<TokenState>, StoreError> {
        let sql = sqlx::AssertSqlSafe(format!(
            "SELECT {USER_COLUMNS}, \
             EXISTS (SELECT 1 FROM revoked_tokens r WHERE r.jti = $1) AS revoked \
             FROM users WHERE username = $2"
        ));
        let row = sqlx::query(sql)
            .bind(jti)
            .bind(username)
            .fetch_optional(&self.pool)
            .await
            .map_err(map)?;
        let Some(row) = row else { return Ok(None) };
        Ok(Some(TokenState {
            user: user_from_row(&row).map_err(map)?,
            jti_revoked: row.try_get::<bool, _>("revoked").map_err(map)?,
        }))
    }

    async fn revoke_token(
        &self,
        jti: &str,
        user_id: i64,
        expires_at: i64,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO revoked_tokens (jti, user_id, expires_at) VALUES ($1, $2, $3) \
             ON CONFLICT (jti) DO NOTHING",
        )
        .bind(jti)
        .bind(user_id)
        .bind(expires_at)
        .execute(&self.pool)
        .await
        .map_err(map)?;
        self.feed.changed().await;
        Ok(())
    }

    async fn revoke_all_tokens(&self, user_id: i64, valid_after: i64) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE users SET tokens_valid_after = GREATEST(tokens_valid_after + 1, $1) WHERE id = $2",
        )
        .bind(valid_after)
        .bind(user_id)
        .execute(&self.pool)
        .await
        .map_err(map)?;
        self.feed.changed().await;
        Ok(())
    }

    async fn set_pending_secret(&self, user_id: i64, sealed: &[u8]) -> Result<bool, StoreError> {
        let n = sqlx::query(
            "UPDATE users SET totp_state = 1, totp_secret = $1 WHERE id = $2 AND totp_state = 0",
        )
        .bind(sealed)
        .bind(user_id)
        .execute(&self.pool)
        .await
        .map_err(map)?
        .rows_affected();
        self.feed.changed().await;
        Ok(n == 1)
    }

    async fn clear_pending_secret(&self, user_id: i64) -> Result<bool, StoreError> {
        let n = sqlx::query(
            "UPDATE users SET totp_state = 0, totp_secret = NULL WHERE id = $1 AND totp_state = 1",
        )
        .bind(user_id)
        .execute(&self.pool)
        .await
        .map_err(map)?
        .rows_affected();
        self.feed.changed().await;
        Ok(n == 1)
    }

    async fn enable_totp(
        &self,
        user_id: i64,
        step: i64,
        valid_after: i64,
    ) -> Result<bool, StoreError> {
        let n = sqlx::query(
            "UPDATE users SET totp_state = 2, totp_last_step = $1, \
             tokens_valid_after = GREATEST(tokens_valid_after + 1, $2) \
             WHERE id = $3 AND totp_state = 1",
        )
        .bind(step)
        .bind(valid_after)
        .bind(user_id)
        .execute(&self.pool)
        .await
        .map_err(map)?
        .rows_affected();
        self.feed.changed().await;
        Ok(n == 1)
    }

    async fn accept_totp_step(&self, user_id: i64, step: i64) -> Result<bool, StoreError> {
        let n = sqlx::query(
            "UPDATE users SET totp_last_step = $1 WHERE id = $2 AND totp_state = 2 \
             AND (totp_last_step IS NULL OR totp_last_step < $1)",
        )
        .bind(step)
        .bind(user_id)
        .execute(&self.pool)
        .await
        .map_err(map)?
        .rows_affected();
        self.feed.changed().await;
        Ok(n == 1)
    }

    async fn disable_totp(&self, user_id: i64, valid_after: i64) -> Result<bool, StoreError> {
        let mut tx = self.pool.begin().await.map_err(map)?;
        // The UPDATE locks the user row until commit, so a concurrent
        // replace_recovery_codes (which locks it too) runs wholly before or
        // wholly after this.
        let n = sqlx::query(
            "UPDATE users SET totp_state = 0, totp_secret = NULL, totp_last_step = NULL, \
             tokens_valid_after = GREATEST(tokens_valid_after + 1, $1) \
             WHERE id = $2 AND totp_state = 2",
        )
        .bind(valid_after)
        .bind(user_id)
        .execute(&mut *tx)
        .await
        .map_err(map)?
        .rows_affected();
        if n != 1 {
            tx.rollback().await.map_err(map)?;
            return Ok(false);
        }
        sqlx::query("DELETE FROM recovery_codes WHERE user_id = $1")
            .bind(user_id)
            .execute(&mut *tx)
            .await
            .map_err(map)?;
        tx.commit().await.map_err(map)?;
        self.feed.changed().await;
        Ok(true)
    }

    async fn replace_recovery_codes(
        &self,
        user_id: i64,
        hashes: &[String],
    ) -> Result<bool, StoreError> {
        let mut tx = self.pool.begin().await.map_err(map)?;
        // FOR UPDATE: 2FA cannot be turned off (and no other replacement
        // can interleave) until this transaction ends.
        let state: Option<i16> =
            sqlx::query_scalar("SELECT totp_state FROM users WHERE id = $1 FOR UPDATE")
                .bind(user_id)
                .fetch_optional(&mut *tx)
                .await
                .map_err(map)?;
        if state != Some(2) {
            tx.rollback().await.map_err(map)?;
            return Ok(false);
        }
        sqlx::query("DELETE FROM recovery_codes WHERE user_id = $1")
            .bind(user_id)
            .execute(&mut *tx)
            .await
            .map_err(map)?;
        for hash in hashes {
            sqlx::query("INSERT INTO recovery_codes (user_id, code_hash) VALUES ($1, $2)")
                .bind(user_id)
                .bind(hash)
                .execute(&mut *tx)
                .await
                .map_err(map)?;
        }
        tx.commit().await.map_err(map)?;
        Ok(true)
    }

    async fn recovery_codes(&self, user_id: i64) -> Result<Vec<RecoveryCodeRecord>, StoreError> {
        let rows =
            sqlx::query("SELECT id, code_hash FROM recovery_codes WHERE user_id = $1 ORDER BY id")
                .bind(user_id)
                .fetch_all(&self.pool)
                .await
                .map_err(map)?;
        rows.iter()
            .map(|r| {
                Ok(RecoveryCodeRecord {
                    id: r.try_get("id")?,
                    hash: r.try_get("code_hash")?,
                })
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(map)
    }

    async fn consume_recovery_code(&self, code_id: i64) -> Result<bool, StoreError> {
        let n = sqlx::query("DELETE FROM recovery_codes WHERE id = $1")
            .bind(code_id)
            .execute(&self.pool)
            .await
            .map_err(map)?
            .rows_affected();
        Ok(n == 1)
    }

    async fn throttle(
        &self,
        kind: ThrottleKind,
        key: &str,
    ) -> Result<Option<ThrottleState>, StoreError> {
        let row = sqlx::query(
            "SELECT failures, locked_until FROM throttles WHERE kind = $1 AND key = $2",
        )
        .bind(kind.as_str())
        .bind(key)
        .fetch_optional(&self.pool)
        .await
        .map_err(map)?;
        let Some(row) = row else { return Ok(None) };
        Ok(Some(ThrottleState {
            failures: u32::try_from(row.try_get::<i64, _>("failures").map_err(map)?)
                .unwrap_or(u32::MAX),
            locked_until: row.try_get("locked_until").map_err(map)?,
        }))
    }

    async fn reserve_attempt(
        &self,
        kind: ThrottleKind,
        key: &str,
        now: i64,
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
                .bind(now)
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
            if let Some(state) = self.throttle(kind, key).await?
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

    async fn return_attempt(
        &self,
        kind: ThrottleKind,
        key: &str,
        max_failures: u32,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE throttles SET failures = failures - 1, \
             locked_until = CASE WHEN failures - 1 < $1 THEN 0 ELSE locked_until END \
             WHERE kind = $2 AND key = $3 AND failures > 0",
        )
        .bind(i64::from(max_failures))
        .bind(kind.as_str())
        .bind(key)
        .execute(&self.pool)
        .await
        .map_err(map)?;
        Ok(())
    }

    async fn clear_throttle(&self, kind: ThrottleKind, key: &str) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM throttles WHERE kind = $1 AND key = $2")
            .bind(kind.as_str())
            .bind(key)
            .execute(&self.pool)
            .await
            .map_err(map)?;
        Ok(())
    }

    async fn purge_expired(&self, now: i64) -> Result<u64, StoreError> {
        let a = sqlx::query("DELETE FROM revoked_tokens WHERE expires_at < $1")
            .bind(now)
            .execute(&self.pool)
            .await
            .map_err(map)?
            .rows_affected();
        let b = sqlx::query("DELETE FROM throttles WHERE locked_until < $1 AND last_failure < $2")
            .bind(now)
            .bind(now - 24 * 3600)
            .execute(&self.pool)
            .await
            .map_err(map)?
            .rows_affected();
        let t = sqlx::query("DELETE FROM login_tokens WHERE expires_at < $1")
            .bind(now)
            .execute(&self.pool)
            .await
            .map_err(map)?
            .rows_affected();
        self.feed.changed().await;
        Ok(a + b + t)
    }

    async fn complete_second_factor(
        &self,
        user_id: i64,
        proof: SecondFactorProof,
        revoke: Option<&RevokeToken>,
        otp_status: Option<OtpStatusUse>,
        otp_counter: OtpCounter,
    ) -> Result<SecondFactorWrite, StoreError> {
        // One statement, one round trip: the server-side function of
        // migration 0010 does what a transaction of five statements did,
        // in the same lock order (status, user row, counter).
        let (kind, step, cutoff, code): (i16, Option<i64>, Option<i64>, Option<i64>) = match proof {
            SecondFactorProof::TotpStep(step) => (0, Some(step), None, None),
            SecondFactorProof::Enable { step, cutoff } => (1, Some(step), Some(cutoff), None),
            SecondFactorProof::RecoveryCode(id) => (2, None, None, Some(id)),
        };
        let unreserved_now = match otp_counter {
            OtpCounter::Unreserved { now } => Some(now),
            OtpCounter::Reserved => None,
        };
        let outcome = sqlx::query_scalar::<_, i64>(COMPLETE_SECOND_FACTOR)
            .bind(user_id)
            .bind(kind)
            .bind(step)
            .bind(cutoff)
            .bind(code)
            .bind(revoke.map(|r| r.jti.as_str()))
            .bind(revoke.map(|r| r.expires_at))
            .bind(otp_status.map(|s| s.app_id))
            .bind(otp_status.map(|s| s.now))
            .bind(unreserved_now)
            .fetch_one(&self.pool)
            .await;
        match outcome {
            Ok(0) => {
                self.feed.changed().await;
                Ok(SecondFactorWrite::Recorded)
            }
            Ok(-1) => Ok(SecondFactorWrite::StatusGone),
            Ok(-2) => Ok(SecondFactorWrite::ProofLost),
            Ok(other) => Err(StoreError::Other(format!(
                "complete_second_factor: unexpected outcome {other}"
            ))),
            Err(sqlx::Error::Database(db)) if db.code().as_deref() == Some("OG001") => {
                Ok(SecondFactorWrite::ProofLost)
            }
            Err(sqlx::Error::Database(db)) if db.code().as_deref() == Some("OG002") => {
                let until = db.message().trim().parse::<i64>().map_err(|_| {
                    StoreError::Other("complete_second_factor: lock without its end".into())
                })?;
                Ok(SecondFactorWrite::Locked { until })
            }
            Err(e) => Err(map(e)),
        }
    }
    async fn create_application(&self, a: &NewApplication) -> Result<Application, StoreError> {
        let row = sqlx::query(
            "INSERT INTO applications (name, key_id, secret_hash, created_at) VALUES ($1, $2, $3, $4) \
             RETURNING id, name, key_id, secret_hash, created_at",
        )
        .bind(&a.name)
        .bind(&a.key_id)
        .bind(&a.secret_hash)
        .bind(a.created_at)
        .fetch_one(&self.pool)
        .await
        .map_err(map)?;
        application_from_row(&row).map_err(map)
    }

    async fn application_by_key_id(&self, key_id: &str) -> Result<Option<Application>, StoreError> {
        let row = sqlx::query(
            "SELECT id, name, key_id, secret_hash, created_at FROM applications WHERE key_id = $1",
        )
        .bind(key_id)
        .fetch_optional(&self.pool)
        .await
        .map_err(map)?;
        row.as_ref()
            .map(application_from_row)
            .transpose()
            .map_err(map)
    }

    async fn application_by_name(&self, name: &str) -> Result<Option<Application>, StoreError> {
        let row = sqlx::query(
            "SELECT id, name, key_id, secret_hash, created_at FROM applications WHERE name = $1",
        )
        .bind(name)
        .fetch_optional(&self.pool)
        .await
        .map_err(map)?;
        row.as_ref()
            .map(application_from_row)
            .transpose()
            .map_err(map)
    }

    async fn list_applications(&self) -> Result<Vec<Application>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, name, key_id, secret_hash, created_at FROM applications ORDER BY name",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(map)?;
        rows.iter()
            .map(application_from_row)
            .collect::<Result<_, _>>()
            .map_err(map)
    }

    async fn delete_application(&self, name: &str) -> Result<bool, StoreError> {
        let n = sqlx::query("DELETE FROM applications WHERE name = $1")
            .bind(name)
            .execute(&self.pool)
            .await
            .map_err(map)?
            .rows_affected();
        Ok(n == 1)
    }

    async fn users_by_contact(
        &self,
        field: ContactField,
        value: &str,
    ) -> Result<Vec<User>, StoreError> {
        let (condition, value) = match field {
            ContactField::Email => ("lower(email) = lower($1)", value.trim().to_owned()),
            ContactField::Phone => {
                let digits: String = value.chars().filter(char::is_ascii_digit).collect();
                if digits.is_empty() {
                    return Ok(Vec::new());
                }
                (PHONE_DIGITS_MATCH, digits)
            }
            ContactField::ExternalId => ("external_id = $1", value.trim().to_owned()),
        };
        let sql = sqlx::AssertSqlSafe(format!(
            "SELECT {USER_COLUMNS} FROM users WHERE {condition} ORDER BY id LIMIT 2"
        ));
        let rows = sqlx::query(sql)
            .bind(value)
            .fetch_all(&self.pool)
            .await
            .map_err(map)?;
        rows.iter()
            .map(user_from_row)
            .collect::<Result<_, _>>()
            .map_err(map)
    }

    async fn put_oob_code(&self, c: &NewOobCode) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO oob_codes (user_id, binding, code_hash, attempts, created_at, expires_at) \
             VALUES ($1, $2, $3, 0, $4, $5) \
             ON CONFLICT (user_id, binding) DO UPDATE SET code_hash = excluded.code_hash, \
               attempts = 0, created_at = excluded.created_at, expires_at = excluded.expires_at",
        )
        .bind(c.user_id)
        .bind(&c.binding)
        .bind(&c.code_hash)
        .bind(c.created_at)
        .bind(c.expires_at)
        .execute(&self.pool)
        .await
        .map_err(map)?;
        Ok(())
    }

    async fn claim_oob_attempt(
        &self,
        user_id: i64,
        binding: &str,
        now: i64,
        max_attempts: u32,
    ) -> Result<Option<OobClaim>, StoreError> {
        let row = sqlx::query(
            "UPDATE oob_codes SET attempts = attempts + 1 \
             WHERE user_id = $1 AND binding = $2 AND expires_at > $3 AND attempts < $4 \
             RETURNING id, code_hash, attempts",
        )
        .bind(user_id)
        .bind(binding)
        .bind(now)
        .bind(i64::from(max_attempts))
        .fetch_optional(&self.pool)
        .await
        .map_err(map)?;
        let Some(row) = row else { return Ok(None) };
        Ok(Some(OobClaim {
            id: row.try_get("id").map_err(map)?,
            code_hash: row.try_get("code_hash").map_err(map)?,
            attempts: u32::try_from(row.try_get::<i64, _>("attempts").map_err(map)?)
                .unwrap_or(u32::MAX),
        }))
    }

    async fn consume_oob_code(&self, id: i64, code_hash: &str) -> Result<bool, StoreError> {
        let n = sqlx::query("DELETE FROM oob_codes WHERE id = $1 AND code_hash = $2")
            .bind(id)
            .bind(code_hash)
            .execute(&self.pool)
            .await
            .map_err(map)?
            .rows_affected();
        Ok(n == 1)
    }

    async fn delete_oob_code(&self, user_id: i64, binding: &str) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM oob_codes WHERE user_id = $1 AND binding = $2")
            .bind(user_id)
            .bind(binding)
            .execute(&self.pool)
            .await
            .map_err(map)?;
        Ok(())
    }

    async fn create_mfa_session(&self, m: &MfaSession) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO mfa_sessions (id_hash, user_id, app_id, device_id, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&m.id_hash)
        .bind(m.user_id)
        .bind(m.app_id)
        .bind(&m.device_id)
        .bind(m.created_at)
        .bind(m.expires_at)
        .execute(&self.pool)
        .await
        .map_err(map)?;
        Ok(())
    }

    async fn mfa_session(&self, id_hash: &str, now: i64) -> Result<Option<MfaSession>, StoreError> {
        let row = sqlx::query(
            "SELECT id_hash, user_id, app_id, device_id, created_at, expires_at \
             FROM mfa_sessions WHERE id_hash = $1 AND expires_at > $2",
        )
        .bind(id_hash)
        .bind(now)
        .fetch_optional(&self.pool)
        .await
        .map_err(map)?;
        let Some(r) = row else { return Ok(None) };
        Ok(Some(MfaSession {
            id_hash: r.try_get("id_hash").map_err(map)?,
            user_id: r.try_get("user_id").map_err(map)?,
            app_id: r.try_get("app_id").map_err(map)?,
            device_id: r.try_get("device_id").map_err(map)?,
            created_at: r.try_get("created_at").map_err(map)?,
            expires_at: r.try_get("expires_at").map_err(map)?,
        }))
    }

    async fn consume_mfa_session(
        &self,
        id_hash: &str,
        user_id: i64,
        app_id: i64,
        device_id: &str,
        now: i64,
    ) -> Result<bool, StoreError> {
        let n = sqlx::query(
            "DELETE FROM mfa_sessions WHERE id_hash = $1 AND user_id = $2 AND app_id = $3 \
             AND device_id = $4 AND expires_at > $5",
        )
        .bind(id_hash)
        .bind(user_id)
        .bind(app_id)
        .bind(device_id)
        .bind(now)
        .execute(&self.pool)
        .await
        .map_err(map)?
        .rows_affected();
        Ok(n == 1)
    }

    async fn put_otp_status(&self, r: &OtpStatusRecord) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO otp_status (user_id, app_id, end_user_ip, expires_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (user_id, app_id) DO UPDATE SET end_user_ip = excluded.end_user_ip, \
               expires_at = excluded.expires_at",
        )
        .bind(r.user_id)
        .bind(r.app_id)
        .bind(&r.end_user_ip)
        .bind(r.expires_at)
        .execute(&self.pool)
        .await
        .map_err(map)?;
        Ok(())
    }

    async fn otp_status(
        &self,
        user_id: i64,
        app_id: i64,
        now: i64,
    ) -> Result<Option<OtpStatusRecord>, StoreError> {
        let row = sqlx::query(
            "SELECT user_id, app_id, end_user_ip, expires_at FROM otp_status \
             WHERE user_id = $1 AND app_id = $2 AND expires_at > $3",
        )
        .bind(user_id)
        .bind(app_id)
        .bind(now)
        .fetch_optional(&self.pool)
        .await
        .map_err(map)?;
        let Some(r) = row else { return Ok(None) };
        Ok(Some(OtpStatusRecord {
            user_id: r.try_get("user_id").map_err(map)?,
            app_id: r.try_get("app_id").map_err(map)?,
            end_user_ip: r.try_get("end_user_ip").map_err(map)?,
            expires_at: r.try_get("expires_at").map_err(map)?,
        }))
    }

    async fn consume_otp_status(
        &self,
        user_id: i64,
        app_id: i64,
        now: i64,
    ) -> Result<bool, StoreError> {
        let n = sqlx::query(CONSUME_OTP_STATUS)
            .bind(user_id)
            .bind(app_id)
            .bind(now)
            .execute(&self.pool)
            .await
            .map_err(map)?
            .rows_affected();
        Ok(n == 1)
    }

    async fn put_outbox_message(&self, m: &NewOutboxMessage) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO outbox (user_id, channel, recipient, code, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(m.user_id)
        .bind(m.channel.as_str())
        .bind(&m.to)
        .bind(m.code.expose())
        .bind(m.created_at)
        .bind(m.expires_at)
        .execute(&self.pool)
        .await
        .map_err(map)?;
        Ok(())
    }

    async fn outbox_messages(
        &self,
        user_id: Option<i64>,
        now: i64,
    ) -> Result<Vec<OutboxMessage>, StoreError> {
        let rows = sqlx::query(
            "SELECT o.id, u.username, o.channel, o.recipient, o.code, o.created_at, o.expires_at \
             FROM outbox o JOIN users u ON u.id = o.user_id \
             WHERE o.expires_at > $1 AND ($2::BIGINT IS NULL OR o.user_id = $2) ORDER BY o.id",
        )
        .bind(now)
        .bind(user_id)
        .fetch_all(&self.pool)
        .await
        .map_err(map)?;
        rows.iter()
            .map(outbox_from_row)
            .collect::<Result<_, _>>()
            .map_err(map)
    }

    async fn purge_expired_oob(&self, now: i64) -> Result<u64, StoreError> {
        let mut removed = 0;
        for sql in [
            "DELETE FROM oob_codes WHERE expires_at <= $1",
            "DELETE FROM mfa_sessions WHERE expires_at <= $1",
            "DELETE FROM otp_status WHERE expires_at <= $1",
            "DELETE FROM outbox WHERE expires_at <= $1",
        ] {
            removed += sqlx::query(sql)
                .bind(now)
                .execute(&self.pool)
                .await
                .map_err(map)?
                .rows_affected();
        }
        Ok(removed)
    }

    async fn create_legacy_nonce(&self, n: &LegacyNonce) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO legacy_nonces (token_hash, nonce, user_id, issued_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(&n.token_hash)
        .bind(&n.nonce)
        .bind(n.user_id)
        .bind(n.issued_at)
        .bind(n.expires_at)
        .execute(&self.pool)
        .await
        .map_err(map)?;
        Ok(())
    }

    async fn redeem_legacy_nonce(
        &self,
        token_hash: &str,
        now: i64,
        grant_expires_at: i64,
    ) -> Result<Option<LegacyGrant>, StoreError> {
        // One statement: the DELETE is the single use (PostgreSQL re-checks
        // its WHERE after waiting for a concurrent deleter, so one wins),
        // and the grant is written from what it returned.
        let row = sqlx::query(
            "WITH used AS ( \
               DELETE FROM legacy_nonces WHERE token_hash = $1 AND expires_at > $2 \
               RETURNING token_hash, user_id, issued_at) \
             INSERT INTO legacy_grants (token_hash, user_id, issued_at, expires_at) \
             SELECT token_hash, user_id, issued_at, $3 FROM used \
             RETURNING user_id, issued_at",
        )
        .bind(token_hash)
        .bind(now)
        .bind(grant_expires_at)
        .fetch_optional(&self.pool)
        .await
        .map_err(map)?;
        let Some(row) = row else { return Ok(None) };
        Ok(Some(LegacyGrant {
            token_hash: token_hash.to_owned(),
            user_id: row.try_get("user_id").map_err(map)?,
            issued_at: row.try_get("issued_at").map_err(map)?,
            expires_at: grant_expires_at,
        }))
    }

    async fn legacy_grant(&self, token_hash: &str) -> Result<Option<LegacyGrant>, StoreError> {
        let row = sqlx::query(
            "SELECT user_id, issued_at, expires_at FROM legacy_grants WHERE token_hash = $1",
        )
        .bind(token_hash)
        .fetch_optional(&self.pool)
        .await
        .map_err(map)?;
        let Some(row) = row else { return Ok(None) };
        Ok(Some(LegacyGrant {
            token_hash: token_hash.to_owned(),
            user_id: row.try_get("user_id").map_err(map)?,
            issued_at: row.try_get("issued_at").map_err(map)?,
            expires_at: row.try_get("expires_at").map_err(map)?,
        }))
    }

    async fn delete_legacy_grant(&self, token_hash: &str) -> Result<bool, StoreError> {
        let n = sqlx::query("DELETE FROM legacy_grants WHERE token_hash = $1")
            .bind(token_hash)
            .execute(&self.pool)
            .await
            .map_err(map)?
            .rows_affected();
        Ok(n == 1)
    }

    async fn purge_expired_legacy(&self, now: i64) -> Result<u64, StoreError> {
        let a = sqlx::query("DELETE FROM legacy_nonces WHERE expires_at <= $1")
            .bind(now)
            .execute(&self.pool)
            .await
            .map_err(map)?
            .rows_affected();
        let b = sqlx::query("DELETE FROM legacy_grants WHERE expires_at <= $1")
            .bind(now)
            .execute(&self.pool)
            .await
            .map_err(map)?
            .rows_affected();
        Ok(a + b)
    }

    async fn live_state(
        &self,
        user_ids: &[i64],
        jtis: &[String],
        grant_hashes: &[String],
        now: i64,
    ) -> Result<LiveState, StoreError> {
        // Each list is one array parameter (= ANY($1)): three statements
        // whatever the number of sockets.
        let mut out = LiveState::default();
        if !user_ids.is_empty() {
            let rows = sqlx::query(
                "SELECT id, tokens_valid_after, totp_state, require_two_factor FROM users \
                 WHERE id = ANY($1)",
            )
            .bind(user_ids)
            .fetch_all(&self.pool)
            .await
            .map_err(map)?;
            for r in &rows {
                out.users.push(UserLiveState {
                    user_id: r.try_get("id").map_err(map)?,
                    tokens_valid_after: r.try_get("tokens_valid_after").map_err(map)?,
                    two_factor: r.try_get::<i16, _>("totp_state").map_err(map)? == 2,
                    require_two_factor: r.try_get("require_two_factor").map_err(map)?,
                });
            }
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
            .bind(now)
            .fetch_all(&self.pool)
            .await
            .map_err(map)?;
        }
        Ok(out)
    }
    async fn append_audit(&self, records: &[AuditRecord]) -> Result<(), StoreError> {
        if records.is_empty() {
            return Ok(());
        }
        let mut tx = self.pool.begin().await.map_err(map)?;
        for r in records {
            sqlx::query(
                "INSERT INTO audit_log (at_ms, event, username, ip, user_agent, dialect, app) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7)",
            )
            .bind(r.at_ms)
            .bind(&r.event)
            .bind(&r.username)
            .bind(r.ip.as_deref())
            .bind(r.user_agent.as_deref())
            .bind(&r.dialect)
            .bind(r.app.as_deref())
            .execute(&mut *tx)
            .await
            .map_err(map)?;
        }
        tx.commit().await.map_err(map)
    }

    async fn audit_records(&self, query: &AuditQuery) -> Result<Vec<AuditRecord>, StoreError> {
        // The newest `limit` matching rows, returned oldest first.
        let rows = sqlx::query(
            "SELECT at_ms, event, username, ip, user_agent, dialect, app FROM ( \
               SELECT id, at_ms, event, username, ip, user_agent, dialect, app FROM audit_log \
               WHERE ($1 IS NULL OR username = $2) AND at_ms >= $3 \
               ORDER BY at_ms DESC, id DESC LIMIT $4 \
             ) AS newest ORDER BY at_ms, id",
        )
        .bind(query.username.as_deref())
        .bind(query.username.as_deref())
        .bind(query.since_ms.unwrap_or(i64::MIN))
        .bind(i64::from(query.limit))
        .fetch_all(&self.pool)
        .await
        .map_err(map)?;
        rows.iter()
            .map(audit_from_row)
            .collect::<Result<_, _>>()
            .map_err(map)
    }

    async fn purge_audit(&self, before_ms: i64) -> Result<u64, StoreError> {
        Ok(sqlx::query("DELETE FROM audit_log WHERE at_ms < $1")
            .bind(before_ms)
            .execute(&self.pool)
            .await
            .map_err(map)?
            .rows_affected())
    }

    async fn replace_persistent_token(
        &self,
        token: &PersistentToken,
    ) -> Result<Option<PersistentToken>, StoreError> {
        let mut tx = self.pool.begin().await.map_err(map)?;
        // The user's row lock orders concurrent calls for one user: each
        // sees the token the previous one wrote (READ COMMITTED reads
        // afresh per statement), so exactly one stays unrevoked.
        sqlx::query("SELECT id FROM users WHERE id = $1 FOR UPDATE")
            .bind(token.user_id)
            .fetch_optional(&mut *tx)
            .await
            .map_err(map)?;
        let old = take_persistent(&mut tx, token.user_id, &token.audience).await?;
        sqlx::query(
            "INSERT INTO persistent_tokens (user_id, audience, jti, issued_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(token.user_id)
        .bind(&token.audience)
        .bind(&token.jti)
        .bind(token.issued_at)
        .bind(token.expires_at)
        .execute(&mut *tx)
        .await
        .map_err(map)?;
        tx.commit().await.map_err(map)?;
        self.feed.changed().await;
        Ok(old)
    }

    async fn remove_persistent_token(
        &self,
        user_id: i64,
        audience: &str,
    ) -> Result<Option<PersistentToken>, StoreError> {
        let mut tx = self.pool.begin().await.map_err(map)?;
        let old = take_persistent(&mut tx, user_id, audience).await?;
        tx.commit().await.map_err(map)?;
        self.feed.changed().await;
        Ok(old)
    }

    async fn persistent_tokens(&self, user_id: i64) -> Result<Vec<PersistentToken>, StoreError> {
        let rows = sqlx::query(
            "SELECT user_id, audience, jti, issued_at, expires_at FROM persistent_tokens \
             WHERE user_id = $1 ORDER BY audience",
        )
        .bind(user_id)
        .fetch_all(&self.pool)
        .await
        .map_err(map)?;
        rows.iter()
            .map(persistent_from_row)
            .collect::<Result<_, sqlx::Error>>()
            .map_err(map)
    }

    async fn record_login_token(
        &self,
        user_id: i64,
        jti: &str,
        issued_at: i64,
        expires_at: i64,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO login_tokens (jti, user_id, issued_at, expires_at) \
             VALUES ($1, $2, $3, $4) ON CONFLICT (jti) DO NOTHING",
        )
        .bind(jti)
        .bind(user_id)
        .bind(issued_at)
        .bind(expires_at)
        .execute(&self.pool)
        .await
        .map_err(map)?;
        Ok(())
    }

    async fn has_live_tokens(&self, user_id: i64, now: i64) -> Result<bool, StoreError> {
        sqlx::query_scalar::<_, bool>(
            "SELECT EXISTS (SELECT 1 FROM users u WHERE u.id = $1 AND ( \
             EXISTS (SELECT 1 FROM login_tokens t WHERE t.user_id = u.id \
               AND t.expires_at > $2 AND t.issued_at >= u.tokens_valid_after \
               AND NOT EXISTS (SELECT 1 FROM revoked_tokens r WHERE r.jti = t.jti)) \
             OR EXISTS (SELECT 1 FROM persistent_tokens p WHERE p.user_id = u.id \
               AND p.expires_at > $2 AND p.issued_at >= u.tokens_valid_after \
               AND NOT EXISTS (SELECT 1 FROM revoked_tokens r WHERE r.jti = p.jti)) \
             OR EXISTS (SELECT 1 FROM legacy_grants g WHERE g.user_id = u.id \
               AND g.expires_at > $2 AND g.issued_at >= u.tokens_valid_after)))",
        )
        .bind(user_id)
        .bind(now)
        .fetch_one(&self.pool)
        .await
        .map_err(map)
    }
}

fn persistent_from_row(row: &PgRow) -> Result<PersistentToken, sqlx::Error> {
    Ok(PersistentToken {
        user_id: row.try_get("user_id")?,
        audience: row.try_get("audience")?,
        jti: row.try_get("jti")?,
        issued_at: row.try_get("issued_at")?,
        expires_at: row.try_get("expires_at")?,
    })
}

/// Deletes the user's persistent token for `audience` and revokes its id,
/// inside the caller's transaction; returns it.
async fn take_persistent(
    tx: &mut PgConnection,
    user_id: i64,
    audience: &str,
) -> Result<Option<PersistentToken>, StoreError> {
    let old = sqlx::query(
        "DELETE FROM persistent_tokens WHERE user_id = $1 AND audience = $2 \
         RETURNING user_id, audience, jti, issued_at, expires_at",
    )
    .bind(user_id)
    .bind(audience)
    .fetch_optional(&mut *tx)
    .await
    .map_err(map)?
    .map(|r| persistent_from_row(&r))
    .transpose()
    .map_err(map)?;
    if let Some(o) = &old {
        sqlx::query(
            "INSERT INTO revoked_tokens (jti, user_id, expires_at) VALUES ($1, $2, $3) \
             ON CONFLICT (jti) DO NOTHING",
        )
        .bind(&o.jti)
        .bind(o.user_id)
        .bind(o.expires_at)
        .execute(&mut *tx)
        .await
        .map_err(map)?;
    }
    Ok(old)
}

/// Matches `phone` on its digits only (the bound value is digits only).
const PHONE_DIGITS_MATCH: &str = "replace(replace(replace(replace(replace(replace(\
     phone, '+', ''), ' ', ''), '-', ''), '.', ''), '(', ''), ')', '') = $1";

fn application_from_row(row: &PgRow) -> Result<Application, sqlx::Error> {
    Ok(Application {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        key_id: row.try_get("key_id")?,
        secret_hash: row.try_get("secret_hash")?,
        created_at: row.try_get("created_at")?,
    })
}

fn audit_from_row(row: &PgRow) -> Result<AuditRecord, sqlx::Error> {
    Ok(AuditRecord {
        at_ms: row.try_get("at_ms")?,
        event: row.try_get("event")?,
        username: row.try_get("username")?,
        ip: row.try_get("ip")?,
        user_agent: row.try_get("user_agent")?,
        dialect: row.try_get("dialect")?,
        app: row.try_get("app")?,
    })
}

fn outbox_from_row(row: &PgRow) -> Result<OutboxMessage, sqlx::Error> {
    let channel: String = row.try_get("channel")?;
    Ok(OutboxMessage {
        id: row.try_get("id")?,
        username: row.try_get("username")?,
        channel: Channel::parse(&channel).unwrap_or(Channel::Email),
        to: row.try_get("recipient")?,
        code: SecretString::new(row.try_get::<String, _>("code")?),
        created_at: row.try_get("created_at")?,
        expires_at: row.try_get("expires_at")?,
    })
}
