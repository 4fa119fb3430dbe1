//! The embedded SQLite backend (the default: nothing to install).
//!
//! WAL mode with a busy timeout, so the CLI and a running server can share
//! the file; `synchronous` is configurable (FULL by default: a commit is on
//! disk before the response says OK, even across a power loss). Single-use
//! operations are single conditional statements; multi-statement changes
//! run together in one write job, so they commit or roll back as one.
//!
//! Statements run through rusqlite on [`engine::Engine`]: point reads
//! inline with cached prepared statements, writes group-committed by one
//! writer thread. The schema is migrated once at open ([`migrate`]: the
//! embedded migrations, recorded in the `_sqlx_migrations` table that
//! earlier versions' sqlx migrator kept).

mod engine;
mod migrate;
mod wal_index;

use std::path::PathBuf;
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
use rusqlite::{Connection, OptionalExtension, Row, params};

use crate::migrations;
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

/// A [`Store`] on one SQLite file.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    engine: Arc<Engine>,
    /// Where [`Store::change_stamp`] is read.
    wal_index: Arc<WalIndex>,
}

/// The columns of a user row, in the order [`user_from_row`] reads them.
macro_rules! user_columns {
    () => {
        "id, username, display_name, email, phone, external_id, role, password_hash, \
         totp_state, totp_secret, totp_last_step, tokens_valid_after, created_at, \
         require_two_factor, backend, upstream_session"
    };
}

fn user_from_row(row: &Row<'_>) -> rusqlite::Result<User> {
    let state: i64 = row.get(8)?;
    let secret: Option<Vec<u8>> = row.get(9)?;
    let totp = match (state, secret) {
        (1, Some(s)) => TotpState::Pending(s),
        (2, Some(s)) => TotpState::Enabled(s),
        _ => TotpState::Off,
    };
    Ok(User {
        id: row.get(0)?,
        username: row.get(1)?,
        display_name: row.get(2)?,
        email: row.get(3)?,
        phone: row.get(4)?,
        external_id: row.get(5)?,
        role: row.get(6)?,
        password_hash: row.get(7)?,
        totp,
        totp_last_step: row.get(10)?,
        tokens_valid_after: row.get(11)?,
        created_at: row.get(12)?,
        require_two_factor: row.get::<_, Option<i64>>(13)?.map(|v| v != 0),
        backend: row.get(14)?,
        upstream_session: row.get(15)?,
    })
}

fn application_from_row(row: &Row<'_>) -> rusqlite::Result<Application> {
    Ok(Application {
        id: row.get(0)?,
        name: row.get(1)?,
        key_id: row.get(2)?,
        secret_hash: row.get(3)?,
        created_at: row.get(4)?,
    })
}

fn audit_from_row(row: &Row<'_>) -> rusqlite::Result<AuditRecord> {
    Ok(AuditRecord {
        at_ms: row.get(0)?,
        event: row.get(1)?,
        username: row.get(2)?,
        ip: row.get(3)?,
        user_agent: row.get(4)?,
        dialect: row.get(5)?,
        app: row.get(6)?,
    })
}

fn outbox_from_row(row: &Row<'_>) -> rusqlite::Result<OutboxMessage> {
    let channel: String = row.get(2)?;
    Ok(OutboxMessage {
        id: row.get(0)?,
        username: row.get(1)?,
        channel: Channel::parse(&channel).unwrap_or(Channel::Email),
        to: row.get(3)?,
        code: SecretString::new(row.get::<_, String>(4)?),
        created_at: row.get(5)?,
        expires_at: row.get(6)?,
    })
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

/// Moves the cut-off past every token issued so far (see
/// [`Store::revoke_all_tokens`]): the one expression every such write uses.
macro_rules! move_cutoff {
    () => {
        "tokens_valid_after = MAX(tokens_valid_after + 1, ?)"
    };
}

const ACCEPT_STEP: &str = "UPDATE users SET totp_last_step = ?1 WHERE id = ?2 AND totp_state = 2 \
     AND (totp_last_step IS NULL OR totp_last_step < ?1)";
const ENABLE_PENDING: &str = concat!(
    "UPDATE users SET totp_state = 2, totp_last_step = ?, ",
    move_cutoff!(),
    " WHERE id = ? AND totp_state = 1"
);
const REVOKE_JTI: &str = "INSERT INTO revoked_tokens (jti, user_id, expires_at) VALUES (?, ?, ?) \
     ON CONFLICT (jti) DO NOTHING";
const CLEAR_OTP_THROTTLE: &str = "DELETE FROM throttles WHERE kind = 'otp' AND key = ?";
/// Gives one attempt back; the lock goes when the count falls below the
/// threshold (SET expressions read the row as it was).
const RETURN_ATTEMPT: &str = "UPDATE throttles SET failures = failures - 1, \
     locked_until = CASE WHEN failures - 1 < ?1 THEN 0 ELSE locked_until END \
     WHERE kind = ?2 AND key = ?3 AND failures > 0";
const CONSUME_OTP_STATUS: &str =
    "DELETE FROM otp_status WHERE user_id = ? AND app_id = ? AND expires_at > ?";

#[async_trait]
impl Store for SqliteStore {
    async fn ping(&self) -> Result<(), StoreError> {
        // Through the writer: ready means writes can be committed.
        self.engine
            .write(|c| c.query_row("SELECT 1", [], |r| r.get::<_, i64>(0)))
            .await?;
        Ok(())
    }

    async fn create_user(&self, u: &NewUser) -> Result<User, StoreError> {
        let u = u.clone();
        self.engine
            .write(move |c| {
                c.prepare_cached(concat!(
                    "INSERT INTO users (username, display_name, email, phone, external_id, role, \
                     password_hash, tokens_valid_after, created_at, backend) \
                     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING ",
                    user_columns!()
                ))?
                .query_row(
                    params![
                        u.username,
                        u.display_name,
                        u.email,
                        u.phone,
                        u.external_id,
                        u.role,
                        u.password_hash,
                        u.tokens_valid_after,
                        u.created_at,
                        u.backend
                    ],
                    user_from_row,
                )
            })
            .await
    }

    async fn user_by_name(&self, username: &str) -> Result<Option<User>, StoreError> {
        self.engine.read(|c| {
            c.prepare_cached(concat!(
                "SELECT ",
                user_columns!(),
                " FROM users WHERE username = ?"
            ))?
            .query_row([username], user_from_row)
            .optional()
        })
    }

    async fn list_users(&self) -> Result<Vec<User>, StoreError> {
        self.read_blocking(|c| {
            c.prepare_cached(concat!(
                "SELECT ",
                user_columns!(),
                " FROM users ORDER BY username"
            ))?
            .query_map([], user_from_row)?
            .collect()
        })
        .await
    }

    async fn count_users(&self) -> Result<u64, StoreError> {
        let n: i64 = self
            .engine
            .read(|c| c.query_row("SELECT COUNT(*) FROM users", [], |r| r.get(0)))?;
        Ok(u64::try_from(n).unwrap_or(0))
    }

    async fn delete_user(&self, user_id: i64) -> Result<bool, StoreError> {
        self.engine
            .write(move |c| {
                let deleted = c
                    .prepare_cached("DELETE FROM users WHERE id = ?")?
                    .execute([user_id])?;
                c.prepare_cached(CLEAR_OTP_THROTTLE)?
                    .execute([user_id.to_string()])?;
                Ok(deleted == 1)
            })
            .await
    }

    async fn set_password(
        &self,
        user_id: i64,
        hash: &str,
        valid_after: i64,
    ) -> Result<(), StoreError> {
        let hash = hash.to_owned();
        self.engine
            .write(move |c| {
                c.prepare_cached(concat!(
                    "UPDATE users SET password_hash = ?, ",
                    move_cutoff!(),
                    " WHERE id = ?"
                ))?
                .execute(params![hash, valid_after, user_id])
                .map(drop)
            })
            .await
    }

    async fn update_profile(
        &self,
        user_id: i64,
        change: &ProfileChange,
    ) -> Result<bool, StoreError> {
        let c2 = change.clone();
        self.engine
            .write(move |c| {
                // One statement: each field is replaced only when its flag is set.
                let n = c
                    .prepare_cached(
                        "UPDATE users SET \
                         display_name = CASE WHEN ?1 THEN ?2 ELSE display_name END, \
                         email = CASE WHEN ?3 THEN ?4 ELSE email END, \
                         phone = CASE WHEN ?5 THEN ?6 ELSE phone END, \
                         external_id = CASE WHEN ?7 THEN ?8 ELSE external_id END, \
                         role = CASE WHEN ?9 THEN ?10 ELSE role END \
                         WHERE id = ?11",
                    )?
                    .execute(params![
                        c2.display_name.is_some(),
                        c2.display_name,
                        c2.email.is_some(),
                        c2.email.flatten(),
                        c2.phone.is_some(),
                        c2.phone.flatten(),
                        c2.external_id.is_some(),
                        c2.external_id.flatten(),
                        c2.role.is_some(),
                        c2.role,
                        user_id
                    ])?;
                Ok(n == 1)
            })
            .await
    }

    async fn set_require_two_factor(
        &self,
        user_id: i64,
        required: Option<bool>,
    ) -> Result<bool, StoreError> {
        let value = required.map(i64::from);
        self.engine
            .write(move |c| {
                Ok(
                    c.prepare_cached("UPDATE users SET require_two_factor = ? WHERE id = ?")?
                        .execute(params![value, user_id])?
                        == 1,
                )
            })
            .await
    }

    async fn set_upstream_session(
        &self,
        user_id: i64,
        sealed: Option<&[u8]>,
    ) -> Result<bool, StoreError> {
        let value = sealed.map(<[u8]>::to_vec);
        self.engine
            .write(move |c| {
                Ok(
                    c.prepare_cached("UPDATE users SET upstream_session = ? WHERE id = ?")?
                        .execute(params![value, user_id])?
                        == 1,
                )
            })
            .await
    }

    async fn two_factor_census(&self) -> Result<Vec<TwoFactorGroup>, StoreError> {
        self.read_blocking(|c| {
            c.prepare_cached(
                "SELECT totp_state = 2, require_two_factor, COUNT(*) FROM users GROUP BY 1, 2",
            )?
            .query_map([], |r| {
                Ok(TwoFactorGroup {
                    enabled: r.get::<_, i64>(0)? != 0,
                    require_two_factor: r.get::<_, Option<i64>>(1)?.map(|v| v != 0),
                    users: u64::try_from(r.get::<_, i64>(2)?).unwrap_or(0),
                })
            })?
            .collect()
        })
        .await
    }

    fn change_stamp(&self) -> Option<ChangeStamp> {
        self.wal_index.stamp()
    }

    async fn token_state(
        &self,
        username: &str,
        jti: &str,
    ) -> Result<Option<TokenState>, StoreError> {
        self.engine.read(|c| {
            c.prepare_cached(concat!(
                "SELECT ",
                user_columns!(),
                ", EXISTS (SELECT 1 FROM revoked_tokens r WHERE r.jti = ?) \
                 FROM users WHERE username = ?"
            ))?
            .query_row([jti, username], |row| {
                Ok(TokenState {
                    user: user_from_row(row)?,
                    jti_revoked: row.get::<_, i64>(16)? != 0,
                })
            })
            .optional()
        })
    }

    async fn revoke_token(
        &self,
        jti: &str,
        user_id: i64,
        expires_at: i64,
    ) -> Result<(), StoreError> {
        let jti = jti.to_owned();
        self.engine
            .write(move |c| {
                c.prepare_cached(REVOKE_JTI)?
                    .execute(params![jti, user_id, expires_at])
                    .map(drop)
            })
            .await
    }

    async fn revoke_all_tokens(&self, user_id: i64, valid_after: i64) -> Result<(), StoreError> {
        self.engine
            .write(move |c| {
                c.prepare_cached(concat!(
                    "UPDATE users SET ",
                    move_cutoff!(),
                    " WHERE id = ?"
                ))?
                .execute([valid_after, user_id])
                .map(drop)
            })
            .await
    }

    async fn set_pending_secret(&self, user_id: i64, sealed: &[u8]) -> Result<bool, StoreError> {
        let sealed = sealed.to_vec();
        self.engine
            .write(move |c| {
                let n = c
                    .prepare_cached(
                        "UPDATE users SET totp_state = 1, totp_secret = ? \
                         WHERE id = ? AND totp_state = 0",
                    )?
                    .execute(params![sealed, user_id])?;
                Ok(n == 1)
            })
            .await
    }

    async fn clear_pending_secret(&self, user_id: i64) -> Result<bool, StoreError> {
        self.engine
            .write(move |c| {
                let n = c
                    .prepare_cached(
                        "UPDATE users SET totp_state = 0, totp_secret = NULL \
                         WHERE id = ? AND totp_state = 1",
                    )?
                    .execute([user_id])?;
                Ok(n == 1)
            })
            .await
    }

    async fn enable_totp(
        &self,
        user_id: i64,
        step: i64,
        valid_after: i64,
    ) -> Result<bool, StoreError> {
        self.engine
            .write(move |c| {
                let n = c
                    .prepare_cached(ENABLE_PENDING)?
                    .execute([step, valid_after, user_id])?;
                Ok(n == 1)
            })
            .await
    }

    async fn accept_totp_step(&self, user_id: i64, step: i64) -> Result<bool, StoreError> {
        self.engine
            .write(move |c| Ok(c.prepare_cached(ACCEPT_STEP)?.execute([step, user_id])? == 1))
            .await
    }

    async fn disable_totp(&self, user_id: i64, valid_after: i64) -> Result<bool, StoreError> {
        self.engine
            .write(move |c| {
                let n = c
                    .prepare_cached(concat!(
                        "UPDATE users SET totp_state = 0, totp_secret = NULL, \
                         totp_last_step = NULL, ",
                        move_cutoff!(),
                        " WHERE id = ? AND totp_state = 2"
                    ))?
                    .execute([valid_after, user_id])?;
                if n != 1 {
                    return Ok(false);
                }
                c.prepare_cached("DELETE FROM recovery_codes WHERE user_id = ?")?
                    .execute([user_id])?;
                Ok(true)
            })
            .await
    }

    async fn replace_recovery_codes(
        &self,
        user_id: i64,
        hashes: &[String],
    ) -> Result<bool, StoreError> {
        let hashes = hashes.to_vec();
        self.engine
            .write(move |c| {
                let state: Option<i64> = c
                    .prepare_cached("SELECT totp_state FROM users WHERE id = ?")?
                    .query_row([user_id], |r| r.get(0))
                    .optional()?;
                if state != Some(2) {
                    return Ok(false);
                }
                c.prepare_cached("DELETE FROM recovery_codes WHERE user_id = ?")?
                    .execute([user_id])?;
                let mut insert = c.prepare_cached(
                    "INSERT INTO recovery_codes (user_id, code_hash) VALUES (?, ?)",
                )?;
                for hash in &hashes {
                    insert.execute(params![user_id, hash])?;
                }
                Ok(true)
            })
            .await
    }

    async fn recovery_codes(&self, user_id: i64) -> Result<Vec<RecoveryCodeRecord>, StoreError> {
        self.engine.read(|c| {
            c.prepare_cached(
                "SELECT id, code_hash FROM recovery_codes WHERE user_id = ? ORDER BY id",
            )?
            .query_map([user_id], |r| {
                Ok(RecoveryCodeRecord {
                    id: r.get(0)?,
                    hash: r.get(1)?,
                })
            })?
            .collect()
        })
    }

    async fn consume_recovery_code(&self, code_id: i64) -> Result<bool, StoreError> {
        self.engine
            .write(move |c| {
                Ok(c.prepare_cached("DELETE FROM recovery_codes WHERE id = ?")?
                    .execute([code_id])?
                    == 1)
            })
            .await
    }

    async fn complete_second_factor(
        &self,
        user_id: i64,
        proof: SecondFactorProof,
        revoke: Option<&RevokeToken>,
        otp_status: Option<OtpStatusUse>,
        otp_counter: OtpCounter,
    ) -> Result<SecondFactorWrite, StoreError> {
        let revoke = revoke.cloned();
        self.engine
            .write(move |c| {
                // The writer holds the write lock: what this job reads stays
                // true until it commits.
                if let OtpCounter::Unreserved { now } = otp_counter {
                    let until: Option<i64> = c
                        .prepare_cached(
                            "SELECT locked_until FROM throttles WHERE kind = 'otp' AND key = ?",
                        )?
                        .query_row([user_id.to_string()], |r| r.get(0))
                        .optional()?;
                    if let Some(until) = until.filter(|u| *u > now) {
                        return Ok(SecondFactorWrite::Locked { until });
                    }
                }
                if let Some(s) = otp_status {
                    let present = c
                        .prepare_cached(
                            "SELECT EXISTS (SELECT 1 FROM otp_status \
                             WHERE user_id = ? AND app_id = ? AND expires_at > ?)",
                        )?
                        .query_row([user_id, s.app_id, s.now], |r| r.get::<_, bool>(0))?;
                    if !present {
                        return Ok(SecondFactorWrite::StatusGone);
                    }
                }
                let won = match proof {
                    SecondFactorProof::TotpStep(step) => {
                        c.prepare_cached(ACCEPT_STEP)?.execute([step, user_id])?
                    }
                    SecondFactorProof::Enable { step, cutoff } => c
                        .prepare_cached(ENABLE_PENDING)?
                        .execute([step, cutoff, user_id])?,
                    SecondFactorProof::RecoveryCode(code_id) => c
                        .prepare_cached("DELETE FROM recovery_codes WHERE id = ? AND user_id = ?")?
                        .execute([code_id, user_id])?,
                } == 1;
                if !won {
                    return Ok(SecondFactorWrite::ProofLost);
                }
                if let Some(r) = &revoke {
                    c.prepare_cached(REVOKE_JTI)?
                        .execute(params![r.jti, user_id, r.expires_at])?;
                }
                if let Some(s) = otp_status {
                    c.prepare_cached(CONSUME_OTP_STATUS)?
                        .execute([user_id, s.app_id, s.now])?;
                }
                c.prepare_cached(CLEAR_OTP_THROTTLE)?
                    .execute([user_id.to_string()])?;
                Ok(SecondFactorWrite::Recorded)
            })
            .await
    }

    async fn throttle(
        &self,
        kind: ThrottleKind,
        key: &str,
    ) -> Result<Option<ThrottleState>, StoreError> {
        self.engine.read(|c| {
            c.prepare_cached(
                "SELECT failures, locked_until FROM throttles WHERE kind = ? AND key = ?",
            )?
            .query_row([kind.as_str(), key], |r| {
                Ok(ThrottleState {
                    failures: u32::try_from(r.get::<_, i64>(0)?).unwrap_or(u32::MAX),
                    locked_until: r.get(1)?,
                })
            })
            .optional()
        })
    }

    async fn reserve_attempt(
        &self,
        kind: ThrottleKind,
        key: &str,
        now: i64,
        policy: &ThrottlePolicy,
    ) -> Result<Reservation, StoreError> {
        let key = key.to_owned();
        let policy = *policy;
        self.engine
            .write(move |c| {
                // One job on the writer: the read and the write below are
                // one atomic step (no other write runs in between).
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
                        until: locked_until,
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

    async fn return_attempt(
        &self,
        kind: ThrottleKind,
        key: &str,
        max_failures: u32,
    ) -> Result<(), StoreError> {
        let key = key.to_owned();
        self.engine
            .write(move |c| {
                c.prepare_cached(RETURN_ATTEMPT)?
                    .execute(params![i64::from(max_failures), kind.as_str(), key])
                    .map(drop)
            })
            .await
    }

    async fn clear_throttle(&self, kind: ThrottleKind, key: &str) -> Result<(), StoreError> {
        let key = key.to_owned();
        self.engine
            .write(move |c| {
                c.prepare_cached("DELETE FROM throttles WHERE kind = ? AND key = ?")?
                    .execute([kind.as_str(), key.as_str()])
                    .map(drop)
            })
            .await
    }

    async fn purge_expired(&self, now: i64) -> Result<u64, StoreError> {
        self.engine
            .write(move |c| {
                let a = c
                    .prepare_cached("DELETE FROM revoked_tokens WHERE expires_at < ?")?
                    .execute([now])?;
                let b = c
                    .prepare_cached(
                        "DELETE FROM throttles WHERE locked_until < ? AND last_failure < ?",
                    )?
                    .execute([now, now - 24 * 3600])?;
                let t = c
                    .prepare_cached("DELETE FROM login_tokens WHERE expires_at < ?")?
                    .execute([now])?;
                Ok(count(a + b + t))
            })
            .await
    }

    async fn create_application(&self, a: &NewApplication) -> Result<Application, StoreError> {
        let a = a.clone();
        self.engine
            .write(move |c| {
                c.prepare_cached(
                    "INSERT INTO applications (name, key_id, secret_hash, created_at) \
                     VALUES (?, ?, ?, ?) RETURNING id, name, key_id, secret_hash, created_at",
                )?
                .query_row(
                    params![a.name, a.key_id, a.secret_hash, a.created_at],
                    application_from_row,
                )
            })
            .await
    }

    async fn application_by_key_id(&self, key_id: &str) -> Result<Option<Application>, StoreError> {
        self.engine.read(|c| {
            c.prepare_cached(
                "SELECT id, name, key_id, secret_hash, created_at FROM applications \
                 WHERE key_id = ?",
            )?
            .query_row([key_id], application_from_row)
            .optional()
        })
    }

    async fn application_by_name(&self, name: &str) -> Result<Option<Application>, StoreError> {
        self.engine.read(|c| {
            c.prepare_cached(
                "SELECT id, name, key_id, secret_hash, created_at FROM applications WHERE name = ?",
            )?
            .query_row([name], application_from_row)
            .optional()
        })
    }

    async fn list_applications(&self) -> Result<Vec<Application>, StoreError> {
        self.read_blocking(|c| {
            c.prepare_cached(
                "SELECT id, name, key_id, secret_hash, created_at FROM applications ORDER BY name",
            )?
            .query_map([], application_from_row)?
            .collect()
        })
        .await
    }

    async fn delete_application(&self, name: &str) -> Result<bool, StoreError> {
        let name = name.to_owned();
        self.engine
            .write(move |c| {
                Ok(c.prepare_cached("DELETE FROM applications WHERE name = ?")?
                    .execute([name])?
                    == 1)
            })
            .await
    }

    async fn users_by_contact(
        &self,
        field: ContactField,
        value: &str,
    ) -> Result<Vec<User>, StoreError> {
        let (sql, value) = match field {
            ContactField::Email => (
                concat!(
                    "SELECT ",
                    user_columns!(),
                    " FROM users WHERE lower(email) = lower(?) ORDER BY id LIMIT 2"
                ),
                value.trim().to_owned(),
            ),
            ContactField::Phone => {
                let digits: String = value.chars().filter(char::is_ascii_digit).collect();
                if digits.is_empty() {
                    return Ok(Vec::new());
                }
                (PHONE_BY_DIGITS, digits)
            }
            ContactField::ExternalId => (
                concat!(
                    "SELECT ",
                    user_columns!(),
                    " FROM users WHERE external_id = ? ORDER BY id LIMIT 2"
                ),
                value.trim().to_owned(),
            ),
        };
        self.engine.read(|c| {
            c.prepare_cached(sql)?
                .query_map([value], user_from_row)?
                .collect()
        })
    }

    async fn put_oob_code(&self, code: &NewOobCode) -> Result<(), StoreError> {
        let code = code.clone();
        self.engine
            .write(move |c| {
                c.prepare_cached(
                    "INSERT INTO oob_codes (user_id, binding, code_hash, attempts, created_at, \
                     expires_at) VALUES (?, ?, ?, 0, ?, ?) \
                     ON CONFLICT (user_id, binding) DO UPDATE SET code_hash = excluded.code_hash, \
                       attempts = 0, created_at = excluded.created_at, \
                       expires_at = excluded.expires_at",
                )?
                .execute(params![
                    code.user_id,
                    code.binding,
                    code.code_hash,
                    code.created_at,
                    code.expires_at
                ])
                .map(drop)
            })
            .await
    }

    async fn claim_oob_attempt(
        &self,
        user_id: i64,
        binding: &str,
        now: i64,
        max_attempts: u32,
    ) -> Result<Option<OobClaim>, StoreError> {
        let binding = binding.to_owned();
        self.engine
            .write(move |c| {
                c.prepare_cached(
                    "UPDATE oob_codes SET attempts = attempts + 1 \
                     WHERE user_id = ? AND binding = ? AND expires_at > ? AND attempts < ? \
                     RETURNING id, code_hash, attempts",
                )?
                .query_row(
                    params![user_id, binding, now, i64::from(max_attempts)],
                    |r| {
                        Ok(OobClaim {
                            id: r.get(0)?,
                            code_hash: r.get(1)?,
                            attempts: u32::try_from(r.get::<_, i64>(2)?).unwrap_or(u32::MAX),
                        })
                    },
                )
                .optional()
            })
            .await
    }

    async fn consume_oob_code(&self, id: i64, code_hash: &str) -> Result<bool, StoreError> {
        let code_hash = code_hash.to_owned();
        self.engine
            .write(move |c| {
                Ok(
                    c.prepare_cached("DELETE FROM oob_codes WHERE id = ? AND code_hash = ?")?
                        .execute(params![id, code_hash])?
                        == 1,
                )
            })
            .await
    }

    async fn delete_oob_code(&self, user_id: i64, binding: &str) -> Result<(), StoreError> {
        let binding = binding.to_owned();
        self.engine
            .write(move |c| {
                c.prepare_cached("DELETE FROM oob_codes WHERE user_id = ? AND binding = ?")?
                    .execute(params![user_id, binding])
                    .map(drop)
            })
            .await
    }

    async fn create_mfa_session(&self, m: &MfaSession) -> Result<(), StoreError> {
        let m = m.clone();
        self.engine
            .write(move |c| {
                c.prepare_cached(
                    "INSERT INTO mfa_sessions (id_hash, user_id, app_id, device_id, created_at, \
                     expires_at) VALUES (?, ?, ?, ?, ?, ?)",
                )?
                .execute(params![
                    m.id_hash,
                    m.user_id,
                    m.app_id,
                    m.device_id,
                    m.created_at,
                    m.expires_at
                ])
                .map(drop)
            })
            .await
    }

    async fn mfa_session(&self, id_hash: &str, now: i64) -> Result<Option<MfaSession>, StoreError> {
        self.engine.read(|c| {
            c.prepare_cached(
                "SELECT id_hash, user_id, app_id, device_id, created_at, expires_at \
                 FROM mfa_sessions WHERE id_hash = ? AND expires_at > ?",
            )?
            .query_row(params![id_hash, now], |r| {
                Ok(MfaSession {
                    id_hash: r.get(0)?,
                    user_id: r.get(1)?,
                    app_id: r.get(2)?,
                    device_id: r.get(3)?,
                    created_at: r.get(4)?,
                    expires_at: r.get(5)?,
                })
            })
            .optional()
        })
    }

    async fn consume_mfa_session(
        &self,
        id_hash: &str,
        user_id: i64,
        app_id: i64,
        device_id: &str,
        now: i64,
    ) -> Result<bool, StoreError> {
        let id_hash = id_hash.to_owned();
        let device_id = device_id.to_owned();
        self.engine
            .write(move |c| {
                Ok(c.prepare_cached(
                    "DELETE FROM mfa_sessions WHERE id_hash = ? AND user_id = ? AND app_id = ? \
                     AND device_id = ? AND expires_at > ?",
                )?
                .execute(params![id_hash, user_id, app_id, device_id, now])?
                    == 1)
            })
            .await
    }

    async fn put_otp_status(&self, record: &OtpStatusRecord) -> Result<(), StoreError> {
        let r = record.clone();
        self.engine
            .write(move |c| {
                c.prepare_cached(
                    "INSERT INTO otp_status (user_id, app_id, end_user_ip, expires_at) \
                     VALUES (?, ?, ?, ?) \
                     ON CONFLICT (user_id, app_id) DO UPDATE SET \
                       end_user_ip = excluded.end_user_ip, expires_at = excluded.expires_at",
                )?
                .execute(params![r.user_id, r.app_id, r.end_user_ip, r.expires_at])
                .map(drop)
            })
            .await
    }

    async fn otp_status(
        &self,
        user_id: i64,
        app_id: i64,
        now: i64,
    ) -> Result<Option<OtpStatusRecord>, StoreError> {
        self.engine.read(|c| {
            c.prepare_cached(
                "SELECT user_id, app_id, end_user_ip, expires_at FROM otp_status \
                 WHERE user_id = ? AND app_id = ? AND expires_at > ?",
            )?
            .query_row([user_id, app_id, now], |r| {
                Ok(OtpStatusRecord {
                    user_id: r.get(0)?,
                    app_id: r.get(1)?,
                    end_user_ip: r.get(2)?,
                    expires_at: r.get(3)?,
                })
            })
            .optional()
        })
    }

    async fn consume_otp_status(
        &self,
        user_id: i64,
        app_id: i64,
        now: i64,
    ) -> Result<bool, StoreError> {
        self.engine
            .write(move |c| {
                Ok(c.prepare_cached(CONSUME_OTP_STATUS)?
                    .execute([user_id, app_id, now])?
                    == 1)
            })
            .await
    }

    async fn put_outbox_message(&self, message: &NewOutboxMessage) -> Result<(), StoreError> {
        let m = message.clone();
        self.engine
            .write(move |c| {
                c.prepare_cached(
                    "INSERT INTO outbox (user_id, channel, recipient, code, created_at, \
                     expires_at) VALUES (?, ?, ?, ?, ?, ?)",
                )?
                .execute(params![
                    m.user_id,
                    m.channel.as_str(),
                    m.to,
                    m.code.expose(),
                    m.created_at,
                    m.expires_at
                ])
                .map(drop)
            })
            .await
    }

    async fn outbox_messages(
        &self,
        user_id: Option<i64>,
        now: i64,
    ) -> Result<Vec<OutboxMessage>, StoreError> {
        self.read_blocking(move |c| {
            c.prepare_cached(
                "SELECT o.id, u.username, o.channel, o.recipient, o.code, o.created_at, \
                 o.expires_at FROM outbox o JOIN users u ON u.id = o.user_id \
                 WHERE o.expires_at > ?1 AND (?2 IS NULL OR o.user_id = ?2) ORDER BY o.id",
            )?
            .query_map(params![now, user_id], outbox_from_row)?
            .collect()
        })
        .await
    }

    async fn purge_expired_oob(&self, now: i64) -> Result<u64, StoreError> {
        self.engine
            .write(move |c| {
                let mut removed = 0;
                for sql in [
                    "DELETE FROM oob_codes WHERE expires_at <= ?",
                    "DELETE FROM mfa_sessions WHERE expires_at <= ?",
                    "DELETE FROM otp_status WHERE expires_at <= ?",
                    "DELETE FROM outbox WHERE expires_at <= ?",
                ] {
                    removed += c.prepare_cached(sql)?.execute([now])?;
                }
                Ok(count(removed))
            })
            .await
    }

    async fn create_legacy_nonce(&self, nonce: &LegacyNonce) -> Result<(), StoreError> {
        let n = nonce.clone();
        self.engine
            .write(move |c| {
                c.prepare_cached(
                    "INSERT INTO legacy_nonces (token_hash, nonce, user_id, issued_at, \
                     expires_at) VALUES (?, ?, ?, ?, ?)",
                )?
                .execute(params![
                    n.token_hash,
                    n.nonce,
                    n.user_id,
                    n.issued_at,
                    n.expires_at
                ])
                .map(drop)
            })
            .await
    }

    async fn redeem_legacy_nonce(
        &self,
        token_hash: &str,
        now: i64,
        grant_expires_at: i64,
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
                    .query_row(params![token_hash, now], |r| {
                        Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?))
                    })
                    .optional()?
                else {
                    return Ok(None);
                };
                let grant = LegacyGrant {
                    token_hash,
                    user_id,
                    issued_at,
                    expires_at: grant_expires_at,
                };
                c.prepare_cached(
                    "INSERT INTO legacy_grants (token_hash, user_id, issued_at, expires_at) \
                     VALUES (?, ?, ?, ?)",
                )?
                .execute(params![
                    grant.token_hash,
                    grant.user_id,
                    grant.issued_at,
                    grant.expires_at
                ])?;
                Ok(Some(grant))
            })
            .await
    }

    async fn legacy_grant(&self, token_hash: &str) -> Result<Option<LegacyGrant>, StoreError> {
        self.engine.read(|c| {
            c.prepare_cached(
                "SELECT user_id, issued_at, expires_at FROM legacy_grants WHERE token_hash = ?",
            )?
            .query_row([token_hash], |r| {
                Ok(LegacyGrant {
                    token_hash: token_hash.to_owned(),
                    user_id: r.get(0)?,
                    issued_at: r.get(1)?,
                    expires_at: r.get(2)?,
                })
            })
            .optional()
        })
    }

    async fn delete_legacy_grant(&self, token_hash: &str) -> Result<bool, StoreError> {
        let token_hash = token_hash.to_owned();
        self.engine
            .write(move |c| {
                Ok(
                    c.prepare_cached("DELETE FROM legacy_grants WHERE token_hash = ?")?
                        .execute([token_hash])?
                        == 1,
                )
            })
            .await
    }

    async fn purge_expired_legacy(&self, now: i64) -> Result<u64, StoreError> {
        self.engine
            .write(move |c| {
                let a = c
                    .prepare_cached("DELETE FROM legacy_nonces WHERE expires_at <= ?")?
                    .execute([now])?;
                let b = c
                    .prepare_cached("DELETE FROM legacy_grants WHERE expires_at <= ?")?
                    .execute([now])?;
                Ok(count(a + b))
            })
            .await
    }

    async fn live_state(
        &self,
        user_ids: &[i64],
        jtis: &[String],
        grant_hashes: &[String],
        now: i64,
    ) -> Result<LiveState, StoreError> {
        // Each list goes in as one JSON array parameter (json_each), so
        // ten thousand sockets are still three statements.
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
                    .query_map([users], |r| {
                        Ok(UserLiveState {
                            user_id: r.get(0)?,
                            tokens_valid_after: r.get(1)?,
                            two_factor: r.get::<_, i64>(2)? == 2,
                            require_two_factor: r.get::<_, Option<i64>>(3)?.map(|v| v != 0),
                        })
                    })?
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
                    .query_map(params![grants, now], |r| r.get(0))?
                    .collect::<rusqlite::Result<_>>()?;
            }
            Ok(out)
        })
        .await
    }

    async fn append_audit(&self, records: &[AuditRecord]) -> Result<(), StoreError> {
        if records.is_empty() {
            return Ok(());
        }
        let records = records.to_vec();
        self.engine
            .write(move |c| {
                let mut insert = c.prepare_cached(
                    "INSERT INTO audit_log (at_ms, event, username, ip, user_agent, dialect, app) \
                     VALUES (?, ?, ?, ?, ?, ?, ?)",
                )?;
                for r in &records {
                    insert.execute(params![
                        r.at_ms,
                        r.event,
                        r.username,
                        r.ip,
                        r.user_agent,
                        r.dialect,
                        r.app
                    ])?;
                }
                Ok(())
            })
            .await
    }

    async fn audit_records(&self, query: &AuditQuery) -> Result<Vec<AuditRecord>, StoreError> {
        let query = query.clone();
        // The newest `limit` matching rows, returned oldest first.
        self.read_blocking(move |c| {
            c.prepare_cached(
                "SELECT at_ms, event, username, ip, user_agent, dialect, app FROM ( \
                   SELECT id, at_ms, event, username, ip, user_agent, dialect, app \
                   FROM audit_log WHERE (?1 IS NULL OR username = ?1) AND at_ms >= ?2 \
                   ORDER BY at_ms DESC, id DESC LIMIT ?3 \
                 ) AS newest ORDER BY at_ms, id",
            )?
            .query_map(
                params![
                    query.username,
                    query.since_ms.unwrap_or(i64::MIN),
                    i64::from(query.limit)
                ],
                audit_from_row,
            )?
            .collect()
        })
        .await
    }

    async fn purge_audit(&self, before_ms: i64) -> Result<u64, StoreError> {
        self.engine
            .write(move |c| {
                Ok(count(
                    c.prepare_cached("DELETE FROM audit_log WHERE at_ms < ?")?
                        .execute([before_ms])?,
                ))
            })
            .await
    }

    async fn replace_persistent_token(
        &self,
        token: &PersistentToken,
    ) -> Result<Option<PersistentToken>, StoreError> {
        let t = token.clone();
        self.engine
            .write(move |c| {
                // One job on the one writer: read, replace and revoke
                // cannot interleave with another call.
                let old = take_persistent(c, t.user_id, &t.audience)?;
                c.prepare_cached(
                    "INSERT INTO persistent_tokens (user_id, audience, jti, issued_at, expires_at) \
                     VALUES (?, ?, ?, ?, ?)",
                )?
                .execute(params![
                    t.user_id,
                    t.audience,
                    t.jti,
                    t.issued_at,
                    t.expires_at
                ])?;
                Ok(old)
            })
            .await
    }

    async fn remove_persistent_token(
        &self,
        user_id: i64,
        audience: &str,
    ) -> Result<Option<PersistentToken>, StoreError> {
        let audience = audience.to_owned();
        self.engine
            .write(move |c| take_persistent(c, user_id, &audience))
            .await
    }

    async fn persistent_tokens(&self, user_id: i64) -> Result<Vec<PersistentToken>, StoreError> {
        self.engine.read(|c| {
            c.prepare_cached(
                "SELECT user_id, audience, jti, issued_at, expires_at FROM persistent_tokens \
                 WHERE user_id = ? ORDER BY audience",
            )?
            .query_map([user_id], persistent_from_row)?
            .collect()
        })
    }

    async fn record_login_token(
        &self,
        user_id: i64,
        jti: &str,
        issued_at: i64,
        expires_at: i64,
    ) -> Result<(), StoreError> {
        let jti = jti.to_owned();
        self.engine
            .write(move |c| {
                c.prepare_cached(
                    "INSERT INTO login_tokens (jti, user_id, issued_at, expires_at) \
                     VALUES (?, ?, ?, ?) ON CONFLICT (jti) DO NOTHING",
                )?
                .execute(params![jti, user_id, issued_at, expires_at])
                .map(drop)
            })
            .await
    }

    async fn has_live_tokens(&self, user_id: i64, now: i64) -> Result<bool, StoreError> {
        self.engine.read(|c| {
            c.prepare_cached(
                "SELECT EXISTS (SELECT 1 FROM users u WHERE u.id = ?1 AND ( \
                     EXISTS (SELECT 1 FROM login_tokens t WHERE t.user_id = u.id \
                       AND t.expires_at > ?2 AND t.issued_at >= u.tokens_valid_after \
                       AND NOT EXISTS (SELECT 1 FROM revoked_tokens r WHERE r.jti = t.jti)) \
                     OR EXISTS (SELECT 1 FROM persistent_tokens p WHERE p.user_id = u.id \
                       AND p.expires_at > ?2 AND p.issued_at >= u.tokens_valid_after \
                       AND NOT EXISTS (SELECT 1 FROM revoked_tokens r WHERE r.jti = p.jti)) \
                     OR EXISTS (SELECT 1 FROM legacy_grants g WHERE g.user_id = u.id \
                       AND g.expires_at > ?2 AND g.issued_at >= u.tokens_valid_after)))",
            )?
            .query_row(params![user_id, now], |r| r.get::<_, bool>(0))
        })
    }
}

fn persistent_from_row(r: &Row<'_>) -> rusqlite::Result<PersistentToken> {
    Ok(PersistentToken {
        user_id: r.get(0)?,
        audience: r.get(1)?,
        jti: r.get(2)?,
        issued_at: r.get(3)?,
        expires_at: r.get(4)?,
    })
}

/// Deletes the user's persistent token for `audience` and revokes its id
/// (inside the caller's write job); returns it.
fn take_persistent(
    c: &Connection,
    user_id: i64,
    audience: &str,
) -> rusqlite::Result<Option<PersistentToken>> {
    let old = c
        .prepare_cached(
            "DELETE FROM persistent_tokens WHERE user_id = ? AND audience = ? \
             RETURNING user_id, audience, jti, issued_at, expires_at",
        )?
        .query_row(params![user_id, audience], persistent_from_row)
        .optional()?;
    if let Some(o) = &old {
        c.prepare_cached(REVOKE_JTI)?
            .execute(params![o.jti, o.user_id, o.expires_at])?;
    }
    Ok(old)
}

/// The users whose phone matches on its digits only (the bound value is
/// digits only).
const PHONE_BY_DIGITS: &str = concat!(
    "SELECT ",
    user_columns!(),
    " FROM users WHERE replace(replace(replace(replace(replace(replace(\
     phone, '+', ''), ' ', ''), '-', ''), '.', ''), '(', ''), ')', '') = ? ORDER BY id LIMIT 2"
);
