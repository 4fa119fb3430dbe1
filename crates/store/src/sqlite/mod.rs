//! The embedded SQLite backend (the default: nothing to install).
//!
//! WAL mode with a busy timeout, so the CLI and a running server can share
//! the file; `synchronous` is configurable (FULL by default: a commit is on
//! disk before the response says OK, even across a power loss). Single-use
//! operations are single conditional statements; multi-statement changes
//! run together in one write job, so they commit or roll back as one.
//!
//! Its `Store` methods come from the table both backends share
//! (`statements.rs`), over `Exec`; below are those SQLite does its own
//! way, marked `backend-specific`. Statements run through rusqlite on
//! [`engine::Engine`]: point reads inline with cached prepared
//! statements, writes group-committed by one writer thread. The schema is
//! migrated once at open ([`migrate`]: the embedded migrations, recorded
//! in the `_sqlx_migrations` table that earlier versions' sqlx migrator
//! kept).

mod engine;
mod migrate;
mod wal_index;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use otpgate_core::StoreError;
use otpgate_core::config::ThrottlePolicy;
use otpgate_core::model::{
    AuditRecord, LegacyGrant, LiveState, OtpCounter, OtpStatusUse, Reservation, RevokeToken,
    SecondFactorProof, SecondFactorWrite, ThrottleKind, UnixTime, UserId, UserLiveState,
};
use otpgate_core::store::ChangeStamp;
use rusqlite::types::{ToSql, ToSqlOutput, ValueRef};
use rusqlite::{Connection, OptionalExtension, params, params_from_iter};

use crate::migrations;
use crate::rows::{Columns, FromRow, audit_columns};
use crate::sql::{Exec, Mode, Sql, Step, Value, sql};
use crate::statements::{
    ACCEPT_STEP, CLEAR_OTP_THROTTLE, CONSUME_OTP_STATUS, ENABLE_PENDING, REVOKE_JTI,
    USE_RECOVERY_CODE,
};
use engine::{Engine, Settings};
use wal_index::WalIndex;

/// SQLite tuning knobs.
#[derive(Debug, Clone)]
pub struct SqliteOptions {
    /// `FULL` (default, durable across power loss) or `NORMAL` (durable
    /// across a crash of the process, faster).
    pub synchronous_full: bool,
    /// How long a writer waits for the lock (another process holds it).
    pub busy_timeout: Duration,
    /// Read connections kept open.
    pub max_connections: u32,
}

impl Default for SqliteOptions {
    fn default() -> Self {
        Self {
            synchronous_full: true,
            busy_timeout: Duration::from_secs(5),
            max_connections: 8,
        }
    }
}

/// A [`otpgate_core::Store`] on one SQLite file.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    engine: Arc<Engine>,
    /// Where `Store::change_stamp` is read.
    wal_index: Arc<WalIndex>,
}

/// A count from SQLite (never negative) as the trait's unsigned type.
fn count(n: usize) -> u64 {
    u64::try_from(n).unwrap_or(u64::MAX)
}

/// A list serialised as a JSON array for `json_each(?)` (an empty array
/// in the impossible case that a list of numbers or strings fails).
fn json_array(encoded: Result<String, serde_json::Error>) -> String {
    encoded.unwrap_or_else(|_| "[]".to_owned())
}

/// The file path of a `sqlite://PATH`, `sqlite:PATH` or bare-path URL
/// (query parameters are ignored).
fn file_path(url: &str) -> Result<PathBuf, StoreError> {
    let path = url
        .trim_start_matches("sqlite://")
        .trim_start_matches("sqlite:")
        .split('?')
        .next()
        .unwrap_or("");
    let path = PathBuf::from(path);
    if engine::is_memory(&path) {
        return Err(StoreError::Other(format!(
            "database URL {url:?}: an in-memory SQLite database is not supported; give a file path"
        )));
    }
    Ok(path)
}

/// Creates the database file with mode 0600 if it does not exist yet:
/// SQLite gives its `-wal` and `-shm` files the mode of the database
/// file, so none of them is readable by other users.
fn create_private_file(path: &std::path::Path) -> Result<(), StoreError> {
    use std::os::unix::fs::OpenOptionsExt;
    match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
    {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(StoreError::Unavailable(format!(
            "cannot create {}: {e}",
            path.display()
        ))),
    }
}

/// Brings the schema up to date on one short-lived connection, holding an
/// exclusive `flock` on the database file meanwhile, so a server and a CLI
/// command started at once on a fresh file do not both run migration 1.
/// (`flock` locks are separate from the POSIX locks SQLite itself uses.)
async fn migrate(path: &std::path::Path, busy_timeout: Duration) -> Result<(), StoreError> {
    let lock = std::fs::File::open(path)
        .map_err(|e| StoreError::Unavailable(format!("cannot open {}: {e}", path.display())))?;
    let path = path.to_owned();
    tokio::task::spawn_blocking(move || {
        lock.lock()
            .map_err(|e| StoreError::Unavailable(format!("cannot lock {}: {e}", path.display())))?;
        let migrated = migrate::run(&path, busy_timeout, migrations::SQLITE);
        drop(lock);
        migrated
    })
    .await
    .map_err(|e| StoreError::Other(format!("migrations: {e}")))?
}

impl SqliteStore {
    /// Opens (creating if missing) the database at `url` and migrates it.
    pub async fn open(url: &str, options: &SqliteOptions) -> Result<Self, StoreError> {
        let path = file_path(url)?;
        create_private_file(&path)?;
        migrate(&path, options.busy_timeout).await?;
        let engine = Engine::open(Settings {
            path: path.clone(),
            synchronous_full: options.synchronous_full,
            busy_timeout: options.busy_timeout,
            max_idle_readers: usize::try_from(options.max_connections.max(1)).unwrap_or(8),
        })?;
        // A first read creates the wal-index (`-shm`) the stamps come from.
        engine.read(|c| c.query_row("SELECT 1", [], |r| r.get::<_, i64>(0)))?;
        Ok(Self {
            engine: Arc::new(engine),
            wal_index: Arc::new(WalIndex::open(&path)),
        })
    }

    /// Stops the writer after the queued writes and closes the readers;
    /// every later call fails with [`StoreError::Unavailable`]. Dropping
    /// the last clone does the same.
    pub fn close(&self) {
        self.engine.close();
    }

    /// Runs a read off the async runtime (reads of many rows).
    async fn read_blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection) -> rusqlite::Result<T> + Send + 'static,
    ) -> Result<T, StoreError> {
        let engine = self.engine.clone();
        tokio::task::spawn_blocking(move || engine.read(f))
            .await
            .map_err(|e| StoreError::Other(format!("read task failed: {e}")))?
    }
}

impl ToSql for Value<'_> {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::Borrowed(match self {
            Value::Int(Some(v)) => ValueRef::Integer(*v),
            Value::Bool(Some(v)) => ValueRef::Integer(i64::from(*v)),
            Value::Text(Some(t)) => ValueRef::Text(t.as_bytes()),
            Value::Blob(Some(b)) => ValueRef::Blob(b),
            Value::Int(None) | Value::Bool(None) | Value::Text(None) | Value::Blob(None) => {
                ValueRef::Null
            }
        }))
    }
}

impl SqliteStore {
    /// Runs `f` where `mode` says: point reads inline, scans off the
    /// runtime, writes as a job of the group-committing writer.
    async fn run<R: Send + 'static, const N: usize>(
        &self,
        mode: Mode,
        args: [Value<'_>; N],
        f: impl Fn(&Connection, &[Value<'_>]) -> rusqlite::Result<R> + Send + 'static,
    ) -> Result<R, StoreError> {
        match mode {
            Mode::Read => self.engine.read(|c| f(c, &args)),
            Mode::Scan => {
                let args = args.map(Value::into_owned);
                self.read_blocking(move |c| f(c, &args)).await
            }
            Mode::Write | Mode::Feed => {
                let args = args.map(Value::into_owned);
                self.engine.write(move |c| f(c, &args)).await
            }
        }
    }
}

crate::statements::store_for!(SqliteStore);

impl Exec for SqliteStore {
    async fn opt<T: FromRow, const N: usize>(
        &self,
        mode: Mode,
        sql: &'static Sql,
        args: [Value<'_>; N],
    ) -> Result<Option<T>, StoreError> {
        self.run(mode, args, |c, args| {
            c.prepare_cached(sql.sqlite)?
                .query_row(params_from_iter(args), |r| T::from_row(r))
                .optional()
        })
        .await
    }

    async fn all<T: FromRow, const N: usize>(
        &self,
        mode: Mode,
        sql: &'static Sql,
        args: [Value<'_>; N],
    ) -> Result<Vec<T>, StoreError> {
        self.run(mode, args, |c, args| {
            c.prepare_cached(sql.sqlite)?
                .query_map(params_from_iter(args), |r| T::from_row(r))?
                .collect()
        })
        .await
    }

    async fn affected<const N: usize>(
        &self,
        mode: Mode,
        sql: &'static Sql,
        args: [Value<'_>; N],
    ) -> Result<u64, StoreError> {
        self.run(mode, args, |c, args| {
            c.prepare_cached(sql.sqlite)?
                .execute(params_from_iter(args))
                .map(count)
        })
        .await
    }

    async fn batch_fetch<T: FromRow>(
        &self,
        _mode: Mode,
        steps: Vec<Step>,
    ) -> Result<(Vec<u64>, Option<T>), StoreError> {
        // One job on the one writer: the steps commit or roll back as one.
        self.engine
            .write(move |c| {
                let (mut out, mut row) = (Vec::with_capacity(steps.len()), None);
                for step in &steps {
                    let mut stmt = c.prepare_cached(step.sql.sqlite)?;
                    let args = params_from_iter(&step.args);
                    // A query (a guard reading rows) counts the rows it returns.
                    let n = if step.fetch {
                        row = stmt.query_row(args, |r| T::from_row(r)).optional()?;
                        usize::from(row.is_some())
                    } else if stmt.readonly() {
                        let rows = stmt.query(args)?.mapped(|_| Ok(()));
                        rows.collect::<rusqlite::Result<Vec<()>>>()?.len()
                    } else {
                        stmt.execute(args)?
                    };
                    out.push(count(n));
                    if step.guard && n == 0 {
                        break;
                    }
                }
                Ok((out, row))
            })
            .await
    }

    fn stamp(&self) -> Option<ChangeStamp> {
        self.wal_index.stamp()
    }
}

/// The methods SQLite writes its own way. Each runs as one job on the one
/// writer, which holds the write lock: what a job reads stays true until
/// it commits, so read-then-write inside one job is one atomic step.
impl SqliteStore {
    // backend-specific: PostgreSQL runs these steps in one server-side
    // function (migration 0010); here they are one writer job, in the same
    // order (status, proof, revocation, counter). A step that loses after
    // an earlier one wrote undoes them through a savepoint, as the
    // function's exception does.
    pub(crate) async fn complete_second_factor(
        &self,
        user_id: UserId,
        proof: SecondFactorProof,
        revoke: Option<&RevokeToken>,
        otp_status: Option<OtpStatusUse>,
        otp_counter: OtpCounter,
    ) -> Result<SecondFactorWrite, StoreError> {
        let revoke = revoke.cloned();
        self.engine
            .write(move |c| {
                let undoable = otp_status.is_some() || otp_counter != OtpCounter::Reserved;
                if undoable {
                    c.prepare_cached("SAVEPOINT second_factor")?.execute([])?;
                }
                let undo = |c: &Connection, outcome| -> rusqlite::Result<SecondFactorWrite> {
                    c.prepare_cached("ROLLBACK TO second_factor")?.execute([])?;
                    c.prepare_cached("RELEASE second_factor")?.execute([])?;
                    Ok(outcome)
                };
                if let Some(s) = otp_status {
                    let used = c.prepare_cached(CONSUME_OTP_STATUS.sqlite)?.execute([
                        Value::from(user_id),
                        s.app_id.into(),
                        s.now.into(),
                    ])?;
                    if used == 0 {
                        return undo(c, SecondFactorWrite::StatusGone);
                    }
                }
                let won = match proof {
                    SecondFactorProof::TotpStep(step) => c
                        .prepare_cached(ACCEPT_STEP.sqlite)?
                        .execute([Value::from(step), user_id.into()])?,
                    SecondFactorProof::Enable { step, cutoff } => c
                        .prepare_cached(ENABLE_PENDING.sqlite)?
                        .execute([Value::from(step), cutoff.into(), user_id.into()])?,
                    SecondFactorProof::RecoveryCode(code_id) => c
                        .prepare_cached(USE_RECOVERY_CODE.sqlite)?
                        .execute([Value::from(code_id), user_id.into()])?,
                } == 1;
                if !won {
                    return if undoable {
                        undo(c, SecondFactorWrite::ProofLost)
                    } else {
                        Ok(SecondFactorWrite::ProofLost)
                    };
                }
                if let Some(r) = &revoke {
                    c.prepare_cached(REVOKE_JTI.sqlite)?.execute(params![
                        r.jti,
                        Value::from(user_id),
                        Value::from(r.expires_at)
                    ])?;
                }
                let key = user_id.to_string();
                if let OtpCounter::Unreserved { now } = otp_counter {
                    let locked: Option<UnixTime> = c
                        .prepare_cached(CLEAR_OTP_THROTTLE_RETURNING)?
                        .query_row([key], |r| r.int(0))
                        .optional()?;
                    if let Some(until) = locked.filter(|u| *u > now) {
                        return undo(c, SecondFactorWrite::Locked { until });
                    }
                } else {
                    c.prepare_cached(CLEAR_OTP_THROTTLE.sqlite)?
                        .execute([key])?;
                }
                if undoable {
                    c.prepare_cached("RELEASE second_factor")?.execute([])?;
                }
                Ok(SecondFactorWrite::Recorded)
            })
            .await
    }

    // backend-specific: the count and lock are worked out here between a
    // read and a write of the same job; PostgreSQL does it in one
    // conditional upsert.
    pub(crate) async fn reserve_attempt(
        &self,
        kind: ThrottleKind,
        key: &str,
        now: UnixTime,
        policy: &ThrottlePolicy,
    ) -> Result<Reservation, StoreError> {
        let now = now.get();
        let key = key.to_owned();
        let policy = *policy;
        self.engine
            .write(move |c| {
                let row: Option<(i64, i64, i64)> = c
                    .prepare_cached(
                        "SELECT failures, window_start, locked_until FROM throttles \
                         WHERE kind = ? AND key = ?",
                    )?
                    .query_row([kind.as_str(), key.as_str()], |r| {
                        Ok((r.get(0)?, r.get(1)?, r.get(2)?))
                    })
                    .optional()?;
                let (failures, window_start, locked_until) = row.unwrap_or((0, now, 0));
                if locked_until > now {
                    return Ok(Reservation::Locked {
                        until: UnixTime::new(locked_until),
                    });
                }
                let expired = policy
                    .window_secs
                    .is_some_and(|w| w > 0 && window_start <= now - w);
                let (count, start) = if expired {
                    (1, now)
                } else {
                    (failures.saturating_add(1), window_start)
                };
                let count_u32 = u32::try_from(count).unwrap_or(u32::MAX);
                let lock = policy.lock_secs(count_u32).map(|secs| now + secs);
                let until = lock.map_or(locked_until, |l| l.max(locked_until));
                c.prepare_cached(
                    "INSERT INTO throttles (kind, key, failures, window_start, last_failure, \
                     locked_until) VALUES (?1, ?2, ?3, ?4, ?5, ?6) \
                     ON CONFLICT (kind, key) DO UPDATE SET failures = ?3, window_start = ?4, \
                     last_failure = ?5, locked_until = ?6",
                )?
                .execute(params![kind.as_str(), key, count, start, now, until])?;
                Ok(Reservation::Admitted {
                    count: count_u32,
                    locks: lock.is_some(),
                })
            })
            .await
    }

    // backend-specific: SQLite has no DELETE inside a WITH; PostgreSQL
    // moves the row in one statement.
    pub(crate) async fn redeem_legacy_nonce(
        &self,
        token_hash: &str,
        now: UnixTime,
        grant_expires_at: UnixTime,
    ) -> Result<Option<LegacyGrant>, StoreError> {
        let token_hash = token_hash.to_owned();
        self.engine
            .write(move |c| {
                // The DELETE is the single use: only one caller gets the row.
                let Some((user_id, issued_at)) = c
                    .prepare_cached(
                        "DELETE FROM legacy_nonces WHERE token_hash = ? AND expires_at > ? \
                         RETURNING user_id, issued_at",
                    )?
                    .query_row(params![token_hash, Value::from(now)], |r| {
                        Ok((r.int(0)?, r.int(1)?))
                    })
                    .optional()?
                else {
                    return Ok(None);
                };
                c.prepare_cached(
                    "INSERT INTO legacy_grants (token_hash, user_id, issued_at, expires_at) \
                     VALUES (?, ?, ?, ?)",
                )?
                .execute(params![
                    token_hash,
                    Value::from(user_id),
                    Value::from(issued_at),
                    Value::from(grant_expires_at)
                ])?;
                Ok(Some(LegacyGrant {
                    token_hash,
                    user_id,
                    issued_at,
                    expires_at: grant_expires_at,
                }))
            })
            .await
    }

    // backend-specific: one INSERT per record, all in one write job
    // (statements cached); PostgreSQL sends them as arrays.
    pub(crate) async fn append_audit(&self, records: &[AuditRecord]) -> Result<(), StoreError> {
        if records.is_empty() {
            return Ok(());
        }
        let insert = sql!(concat!(
            "INSERT INTO audit_log (",
            audit_columns!(),
            ") VALUES ($1, $2, $3, $4, $5, $6, $7)"
        ));
        let steps = records
            .iter()
            .map(|r| {
                Step::new(
                    insert,
                    vec![
                        r.at_ms.into(),
                        (&r.event).into(),
                        (&r.username).into(),
                        (&r.ip).into(),
                        (&r.user_agent).into(),
                        (&r.dialect).into(),
                        (&r.app).into(),
                    ],
                )
            })
            .collect();
        self.batch(Mode::Write, steps).await.map(drop)
    }

    // backend-specific: each list goes in as one JSON array parameter
    // (json_each), PostgreSQL's as one array (= ANY): three statements
    // whatever the number of sockets.
    pub(crate) async fn live_state(
        &self,
        user_ids: &[UserId],
        jtis: &[String],
        grant_hashes: &[String],
        now: UnixTime,
    ) -> Result<LiveState, StoreError> {
        let users = (!user_ids.is_empty()).then(|| json_array(serde_json::to_string(user_ids)));
        let jtis = (!jtis.is_empty()).then(|| json_array(serde_json::to_string(jtis)));
        let grants =
            (!grant_hashes.is_empty()).then(|| json_array(serde_json::to_string(grant_hashes)));
        self.read_blocking(move |c| {
            let mut out = LiveState::default();
            if let Some(users) = users {
                out.users = c
                    .prepare_cached(
                        "SELECT id, tokens_valid_after, totp_state, require_two_factor FROM users \
                         WHERE id IN (SELECT value FROM json_each(?))",
                    )?
                    .query_map([users], |r| UserLiveState::from_row(r))?
                    .collect::<rusqlite::Result<_>>()?;
            }
            if let Some(jtis) = jtis {
                out.revoked_jtis = c
                    .prepare_cached(
                        "SELECT jti FROM revoked_tokens \
                         WHERE jti IN (SELECT value FROM json_each(?))",
                    )?
                    .query_map([jtis], |r| r.get(0))?
                    .collect::<rusqlite::Result<_>>()?;
            }
            if let Some(grants) = grants {
                out.live_grants = c
                    .prepare_cached(
                        "SELECT token_hash FROM legacy_grants \
                         WHERE token_hash IN (SELECT value FROM json_each(?)) AND expires_at > ?",
                    )?
                    .query_map(params![grants, Value::from(now)], |r| r.get(0))?
                    .collect::<rusqlite::Result<_>>()?;
            }
            Ok(out)
        })
        .await
    }
}

/// Forgets the user's OTP counter, returning when it was locked until.
const CLEAR_OTP_THROTTLE_RETURNING: &str =
    "DELETE FROM throttles WHERE kind = 'otp' AND key = ? RETURNING locked_until";
