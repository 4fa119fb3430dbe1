//! One row mapper per domain type, written once for both backends over a
//! small column-access trait ([`Columns`]) that rusqlite's and sqlx's rows
//! implement, next to the one column list each mapper reads (by position).

use otpgate_core::model::{
    AppId, Application, AuditRecord, Channel, LegacyGrant, MfaSession, OobClaim, OobCodeId,
    OtpStatusRecord, OutboxMessage, PersistentToken, RecoveryCodeId, RecoveryCodeRecord,
    ThrottleState, TokenState, TotpState, TwoFactorGroup, UnixMillis, UnixTime, User, UserId,
    UserLiveState,
};
use otpgate_core::secret::SecretString;
use sqlx::postgres::PgRow;

use sqlx::{Column, Row, TypeInfo};

/// A number kept in an integer column: `i64` itself and the core's id and
/// time newtypes, bound as the `i64` they wrap (`Value`'s one `From` impl,
/// sql.rs) and read back by [`Columns::int`]: the one place each way.
pub(crate) trait Int: Copy + Send + 'static {
    fn from_int(v: i64) -> Self;
    fn int(self) -> i64;
}

impl Int for i64 {
    fn from_int(v: i64) -> Self {
        v
    }
    fn int(self) -> i64 {
        self
    }
}

macro_rules! int_newtypes {
    ($($t:ty),*) => {
        $(impl Int for $t {
            fn from_int(v: i64) -> Self {
                <$t>::new(v)
            }
            fn int(self) -> i64 {
                self.get()
            }
        })*
    };
}

int_newtypes!(
    UserId,
    AppId,
    RecoveryCodeId,
    OobCodeId,
    UnixTime,
    UnixMillis
);

/// Typed reads of one result column, by position.
pub(crate) trait Columns {
    type Error;
    fn i64(&self, i: usize) -> Result<i64, Self::Error>;
    fn opt_i64(&self, i: usize) -> Result<Option<i64>, Self::Error>;
    fn bool(&self, i: usize) -> Result<bool, Self::Error>;
    fn opt_bool(&self, i: usize) -> Result<Option<bool>, Self::Error>;
    fn text(&self, i: usize) -> Result<String, Self::Error>;
    fn opt_text(&self, i: usize) -> Result<Option<String>, Self::Error>;
    fn opt_blob(&self, i: usize) -> Result<Option<Vec<u8>>, Self::Error>;
    /// An integer column as `i64` or one of the core's id and time types.
    fn int<T: Int>(&self, i: usize) -> Result<T, Self::Error> {
        self.i64(i).map(T::from_int)
    }
    /// [`Columns::int`] of a nullable column.
    fn opt_int<T: Int>(&self, i: usize) -> Result<Option<T>, Self::Error> {
        Ok(self.opt_i64(i)?.map(T::from_int))
    }
}

/// Column reads that are one call of the driver's typed getter `$get`.
macro_rules! reads {
    ($get:ident; $($m:ident: $t:ty),*) => {
        $(fn $m(&self, i: usize) -> Result<$t, Self::Error> {
            self.$get(i)
        })*
    };
}

/// SQLite keeps booleans as integers; rusqlite reads non-zero as true.
impl Columns for rusqlite::Row<'_> {
    type Error = rusqlite::Error;
    reads!(get; i64: i64, opt_i64: Option<i64>, bool: bool, opt_bool: Option<bool>,
        text: String, opt_text: Option<String>, opt_blob: Option<Vec<u8>>);
}

impl Columns for PgRow {
    type Error = sqlx::Error;
    reads!(try_get; bool: bool, opt_bool: Option<bool>, text: String,
        opt_text: Option<String>, opt_blob: Option<Vec<u8>>);
    fn i64(&self, i: usize) -> Result<i64, sqlx::Error> {
        self.opt_i64(i)?
            .ok_or_else(|| sqlx::Error::Decode(format!("column {i} is NULL").into()))
    }
    /// `totp_state` is a SMALLINT in PostgreSQL: read at its own width.
    fn opt_i64(&self, i: usize) -> Result<Option<i64>, sqlx::Error> {
        match self.try_column(i)?.type_info().name() {
            "INT2" => Ok(self.try_get::<Option<i16>, _>(i)?.map(i64::from)),
            "INT4" => Ok(self.try_get::<Option<i32>, _>(i)?.map(i64::from)),
            _ => self.try_get(i),
        }
    }
}

/// A value read from one result row.
pub(crate) trait FromRow: Sized + Send + 'static {
    fn from_row<R: Columns>(r: &R) -> Result<Self, R::Error>;
}

/// `FromRow` for `$t`, reading the row `$r` into `$body`.
macro_rules! from_row {
    ($($t:ty => |$r:ident| $body:expr;)*) => {
        $(impl FromRow for $t {
            fn from_row<R: Columns>($r: &R) -> Result<Self, R::Error> {
                Ok($body)
            }
        })*
    };
}

/// A count (never negative) as the trait's unsigned type.
fn count(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}

/// A small counter column as `u32`.
fn small(n: i64) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// The columns of a user row, in the order [`User`]'s mapper reads them.
macro_rules! user_columns {
    () => {
        "id, username, display_name, email, phone, external_id, role, password_hash, \
         totp_state, totp_secret, totp_last_step, tokens_valid_after, created_at, \
         require_two_factor, backend, upstream_session"
    };
}
pub(crate) use user_columns;

/// The columns read by [`Application`]'s mapper.
macro_rules! application_columns {
    () => {
        "id, name, key_id, secret_hash, created_at"
    };
}
pub(crate) use application_columns;

/// The columns read by [`PersistentToken`]'s mapper.
macro_rules! persistent_columns {
    () => {
        "user_id, audience, jti, issued_at, expires_at"
    };
}
pub(crate) use persistent_columns;

/// The columns read by [`AuditRecord`]'s mapper.
macro_rules! audit_columns {
    () => {
        "at_ms, event, username, ip, user_agent, dialect, app"
    };
}
pub(crate) use audit_columns;

from_row! {
    User => |r| User {
        id: r.int(0)?,
        username: r.text(1)?,
        display_name: r.text(2)?,
        email: r.opt_text(3)?,
        phone: r.opt_text(4)?,
        external_id: r.opt_text(5)?,
        role: r.text(6)?,
        password_hash: r.text(7)?,
        totp: match (r.i64(8)?, r.opt_blob(9)?) {
            (1, Some(s)) => TotpState::Pending(s),
            (2, Some(s)) => TotpState::Enabled(s),
            _ => TotpState::Off,
        },
        totp_last_step: r.opt_int(10)?,
        tokens_valid_after: r.int(11)?,
        created_at: r.int(12)?,
        require_two_factor: r.opt_bool(13)?,
        backend: r.text(14)?,
        upstream_session: r.opt_blob(15)?,
    };
    // The user's columns, then whether the token id is revoked.
    TokenState => |r| TokenState { user: User::from_row(r)?, jti_revoked: r.bool(16)? };
    Application => |r| Application {
        id: r.int(0)?,
        name: r.text(1)?,
        key_id: r.text(2)?,
        secret_hash: r.text(3)?,
        created_at: r.int(4)?,
    };
    PersistentToken => |r| PersistentToken {
        user_id: r.int(0)?,
        audience: r.text(1)?,
        jti: r.text(2)?,
        issued_at: r.int(3)?,
        expires_at: r.int(4)?,
    };
    AuditRecord => |r| AuditRecord {
        at_ms: r.int(0)?,
        event: r.text(1)?,
        username: r.text(2)?,
        ip: r.opt_text(3)?,
        user_agent: r.opt_text(4)?,
        dialect: r.text(5)?,
        app: r.opt_text(6)?,
    };
    // o.id, u.username, o.channel, o.recipient, o.code, o.created_at, o.expires_at
    OutboxMessage => |r| OutboxMessage {
        id: r.int(0)?,
        username: r.text(1)?,
        channel: Channel::parse(&r.text(2)?).unwrap_or(Channel::Email),
        to: r.text(3)?,
        code: SecretString::new(r.text(4)?),
        created_at: r.int(5)?,
        expires_at: r.int(6)?,
    };
    // id_hash, user_id, app_id, device_id, created_at, expires_at
    MfaSession => |r| MfaSession {
        id_hash: r.text(0)?,
        user_id: r.int(1)?,
        app_id: r.int(2)?,
        device_id: r.text(3)?,
        created_at: r.int(4)?,
        expires_at: r.int(5)?,
    };
    // user_id, app_id, end_user_ip, expires_at
    OtpStatusRecord => |r| OtpStatusRecord {
        user_id: r.int(0)?,
        app_id: r.int(1)?,
        end_user_ip: r.opt_text(2)?,
        expires_at: r.int(3)?,
    };
    // token_hash, user_id, issued_at, expires_at
    LegacyGrant => |r| LegacyGrant {
        token_hash: r.text(0)?,
        user_id: r.int(1)?,
        issued_at: r.int(2)?,
        expires_at: r.int(3)?,
    };
    // id, code_hash
    RecoveryCodeRecord => |r| RecoveryCodeRecord { id: r.int(0)?, hash: r.text(1)? };
    // id, code_hash, attempts
    OobClaim => |r| OobClaim { id: r.int(0)?, code_hash: r.text(1)?, attempts: small(r.i64(2)?) };
    // failures, locked_until
    ThrottleState => |r| ThrottleState { failures: small(r.i64(0)?), locked_until: r.int(1)? };
    // totp_state = 2, require_two_factor, COUNT(*)
    TwoFactorGroup => |r| TwoFactorGroup {
        enabled: r.bool(0)?,
        require_two_factor: r.opt_bool(1)?,
        users: count(r.i64(2)?),
    };
    // id, tokens_valid_after, totp_state, require_two_factor
    UserLiveState => |r| UserLiveState {
        user_id: r.int(0)?,
        tokens_valid_after: r.int(1)?,
        two_factor: r.i64(2)? == 2,
        require_two_factor: r.opt_bool(3)?,
    };
    i64 => |r| r.i64(0)?;
    u64 => |r| count(r.i64(0)?);
    bool => |r| r.bool(0)?;
    String => |r| r.text(0)?;
}
