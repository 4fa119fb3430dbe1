//! The `Store` of both backends from one table: each single-statement
//! method is one line (name, parameters, result, where it runs, the
//! statement written once, its parameters), expanded for SQLite and for
//! PostgreSQL over their `Exec` (sql.rs), one section per capability
//! trait of the core. Methods of a few statements are written once too
//! (`written_once`), over the same `Exec`. Only the genuinely different
//! ones are written per backend (`by_hand`: each backend's inherent
//! method of that name, marked `// backend-specific`).
//!
//! Result kinds: `opt` (the first row, if any), `all` (every row), `one`
//! (the row there always is), `changed` (exactly one row changed),
//! `affected` (rows changed), `done` (run for its effect). Modes: see
//! `Mode` (sql.rs).
//!
//! Adding a statement to both stores: one line here (plus its mapper in
//! `rows.rs` if it returns a new type).

use otpgate_core::model::UserId;

use crate::rows::{persistent_columns, user_columns};
use crate::sql::{Sql, Step, move_cutoff, sql};

/// Records `step` as the last accepted one if it is later (2FA on).
pub(crate) const ACCEPT_STEP: &Sql = sql!(
    "UPDATE users SET totp_last_step = $1 WHERE id = $2 AND totp_state = 2 \
     AND (totp_last_step IS NULL OR totp_last_step < $1)"
);
/// Turns the pending secret into the enabled one and moves the cut-off.
pub(crate) const ENABLE_PENDING: &Sql = sql!(concat!(
    "UPDATE users SET totp_state = 2, totp_last_step = $1, ",
    move_cutoff!("$2"),
    " WHERE id = $3 AND totp_state = 1"
));
/// Uses up one recovery code of the user.
pub(crate) const USE_RECOVERY_CODE: &Sql =
    sql!("DELETE FROM recovery_codes WHERE id = $1 AND user_id = $2");
/// Revokes a token id until its expiry.
pub(crate) const REVOKE_JTI: &Sql = sql!(
    "INSERT INTO revoked_tokens (jti, user_id, expires_at) VALUES ($1, $2, $3) \
     ON CONFLICT (jti) DO NOTHING"
);
/// Forgets the user's OTP failure counter (`$1`: the user id as text).
pub(crate) const CLEAR_OTP_THROTTLE: &Sql =
    sql!("DELETE FROM throttles WHERE kind = 'otp' AND key = $1");
/// Uses up an application's unexpired OTP status for a user.
pub(crate) const CONSUME_OTP_STATUS: &Sql =
    sql!("DELETE FROM otp_status WHERE user_id = $1 AND app_id = $2 AND expires_at > $3");
/// Reads a failure counter.
pub(crate) const THROTTLE: &Sql =
    sql!("SELECT failures, locked_until FROM throttles WHERE kind = $1 AND key = $2");
/// Deletes the user's persistent token for an audience, returning it.
pub(crate) const TAKE_PERSISTENT: &Sql = sql!(concat!(
    "DELETE FROM persistent_tokens WHERE user_id = $1 AND audience = $2 RETURNING ",
    persistent_columns!()
));
/// Revokes the id of the user's persistent token for an audience.
pub(crate) const REVOKE_PERSISTENT: &Sql = sql!(
    "INSERT INTO revoked_tokens (jti, user_id, expires_at) SELECT jti, user_id, expires_at \
     FROM persistent_tokens WHERE user_id = $1 AND audience = $2 ON CONFLICT (jti) DO NOTHING"
);
/// Records a persistent token.
pub(crate) const PUT_PERSISTENT: &Sql = sql!(
    "INSERT INTO persistent_tokens (user_id, audience, jti, issued_at, expires_at) \
     VALUES ($1, $2, $3, $4, $5)"
);
/// Deletes all recovery codes of a user.
pub(crate) const DELETE_RECOVERY_CODES: &Sql =
    sql!("DELETE FROM recovery_codes WHERE user_id = $1");
/// Adds one recovery code.
pub(crate) const ADD_RECOVERY_CODE: &Sql =
    sql!("INSERT INTO recovery_codes (user_id, code_hash) VALUES ($1, $2)");
/// The users whose phone matches on its digits only (`$1`: digits only).
pub(crate) const USERS_BY_PHONE: &Sql = sql!(concat!(
    "SELECT ",
    user_columns!(),
    " FROM users WHERE replace(replace(replace(replace(replace(replace(\
     phone, '+', ''), ' ', ''), '-', ''), '.', ''), '(', ''), ')', '') = $1 ORDER BY id LIMIT 2"
));

/// The steps that forget the user's persistent token for `audience` and
/// revoke its id, the last returning it. The user's row lock (PostgreSQL)
/// orders concurrent calls for one user: each sees the token the previous
/// one wrote (READ COMMITTED reads afresh per statement), so exactly one
/// stays unrevoked; SQLite's one writer orders them by itself.
pub(crate) fn take_persistent(user_id: UserId, audience: &str) -> Vec<Step> {
    vec![
        Step::new(
            sql!(pg: "SELECT 1 FROM users WHERE id = $1 FOR UPDATE",
                sqlite: "SELECT 1 FROM users WHERE id = ?1"),
            vec![user_id.into()],
        ),
        Step::new(REVOKE_PERSISTENT, vec![user_id.into(), audience.into()]),
        Step::fetch(TAKE_PERSISTENT, vec![user_id.into(), audience.into()]),
    ]
}

/// Expands one table into `impl $Trait for $T`: `statements` lines,
/// `by_hand` methods forwarded to `$T`'s inherent method of the same name,
/// and `written_once` methods as they are.
macro_rules! generate {
    ($(#[$attr:meta])* $T:ty: $Trait:path;
     $(statements { $(fn $name:ident($($arg:ident: $ty:ty),*) -> $ret:ty
         = $mode:ident $kind:ident($sql:expr) [$($val:expr),* $(,)?];)* })?
     $(by_hand { $(fn $hname:ident($($harg:ident: $hty:ty),*) -> $hret:ty;)* })?
     $(written_once { $($item:item)* })?
    ) => {
        $(#[$attr])*
        #[async_trait::async_trait]
        impl $Trait for $T {
            $($(async fn $name(&self, $($arg: $ty),*) -> Result<$ret, StoreError> {
                Exec::$kind(self, Mode::$mode, $sql, [$(Value::from($val)),*]).await
            })*)?
            $($(async fn $hname(&self, $($harg: $hty),*) -> Result<$hret, StoreError> {
                <$T>::$hname(self, $($harg),*).await
            })*)?
            $($($item)*)?
        }
    };
}
pub(crate) use generate;

/// The table: the `Store` of backend `$T` (invoked in its module).
macro_rules! store_for {
    ($T:ty) => { const _: () = {
    use otpgate_core::model::{
        AppId, OobCodeId, UnixMillis, UnixTime, UserId,
        Application, AuditQuery, AuditRecord, ContactField, LegacyGrant, LegacyNonce,
        LiveState, MfaSession, NewApplication, NewOobCode, NewOutboxMessage, NewUser,
        OobClaim, OtpCounter, OtpStatusRecord, OtpStatusUse, OutboxMessage, PersistentToken,
        ProfileChange, RecoveryCodeRecord, Reservation, RevokeToken, SecondFactorProof,
        SecondFactorWrite, ThrottleKind, ThrottleState, TokenState, TwoFactorGroup, User,
    };
    use otpgate_core::config::ThrottlePolicy;
    use otpgate_core::store::ChangeStamp;
    use otpgate_core::StoreError;
    use otpgate_core::store::{
        ApplicationStore, AuditStore, LegacyStore, OutOfBandStore, PersistentTokenStore,
        SecondFactorStore, ThrottleStore, TokenStore, UserStore,
    };
    use $crate::rows::{application_columns, audit_columns, persistent_columns, user_columns};
    use $crate::sql::{Exec, Mode, Step, Value, move_cutoff, sql};
    use $crate::statements::*;
    generate! { $T: UserStore;
    statements {
        fn create_user(u: &NewUser) -> User = Feed one(sql!(concat!(
            "INSERT INTO users (username, display_name, email, phone, external_id, role, \
             password_hash, tokens_valid_after, created_at, backend) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING ", user_columns!())))
            [&u.username, &u.display_name, &u.email, &u.phone, &u.external_id, &u.role,
             &u.password_hash, u.tokens_valid_after, u.created_at, &u.backend];
        fn user_by_name(username: &str) -> Option<User> = Read opt(sql!(concat!(
            "SELECT ", user_columns!(), " FROM users WHERE username = $1"))) [username];
        // backend-specific: PostgreSQL sorts by the database's locale
        // unless told byte order, SQLite's BINARY is byte order.
        fn list_users() -> Vec<User> = Scan all(sql!(
            pg: concat!("SELECT ", user_columns!(), " FROM users ORDER BY username COLLATE \"C\""),
            sqlite: concat!("SELECT ", user_columns!(), " FROM users ORDER BY username"))) [];
        fn count_users() -> u64 = Read one(sql!("SELECT COUNT(*) FROM users")) [];
        fn set_password(user_id: UserId, hash: &str, valid_after: UnixTime) -> () = Feed done(sql!(
            concat!("UPDATE users SET password_hash = $1, ", move_cutoff!("$2"), " WHERE id = $3")))
            [hash, valid_after, user_id];
        // One statement: each field is replaced only when its flag is set.
        fn update_profile(user_id: UserId, c: &ProfileChange) -> bool = Feed changed(sql!(
            "UPDATE users SET display_name = CASE WHEN $1 THEN $2 ELSE display_name END, \
             email = CASE WHEN $3 THEN $4 ELSE email END, \
             phone = CASE WHEN $5 THEN $6 ELSE phone END, \
             external_id = CASE WHEN $7 THEN $8 ELSE external_id END, \
             role = CASE WHEN $9 THEN $10 ELSE role END WHERE id = $11"))
            [c.display_name.is_some(), c.display_name.as_deref(),
             c.email.is_some(), c.email.as_ref().and_then(Option::as_deref),
             c.phone.is_some(), c.phone.as_ref().and_then(Option::as_deref),
             c.external_id.is_some(), c.external_id.as_ref().and_then(Option::as_deref),
             c.role.is_some(), c.role.as_deref(), user_id];
        fn set_require_two_factor(user_id: UserId, required: Option<bool>) -> bool = Feed changed(
            sql!("UPDATE users SET require_two_factor = $1 WHERE id = $2")) [required, user_id];
        fn set_upstream_session(user_id: UserId, sealed: Option<&[u8]>) -> bool = Feed changed(
            sql!("UPDATE users SET upstream_session = $1 WHERE id = $2")) [sealed, user_id];
        fn two_factor_census() -> Vec<TwoFactorGroup> = Scan all(sql!(
            "SELECT totp_state = 2, require_two_factor, COUNT(*) FROM users GROUP BY 1, 2")) [];
    }
    written_once {
        async fn ping(&self) -> Result<(), StoreError> {
            // SQLite: through the writer (ready means writes can be committed).
            self.one::<i64, 0>(Mode::Write, sql!("SELECT 1"), []).await.map(drop)
        }

        async fn delete_user(&self, user_id: UserId) -> Result<bool, StoreError> {
            let n = self.batch(Mode::Feed, vec![
                Step::new(sql!("DELETE FROM users WHERE id = $1"), vec![user_id.into()]),
                Step::new(CLEAR_OTP_THROTTLE, vec![user_id.to_string().into()]),
            ]).await?;
            Ok(n.first() == Some(&1))
        }
    }
    }
    generate! { $T: TokenStore;
    statements {
        fn token_state(username: &str, jti: &str) -> Option<TokenState> = Read opt(sql!(concat!(
            "SELECT ", user_columns!(), ", EXISTS (SELECT 1 FROM revoked_tokens r \
             WHERE r.jti = $1) FROM users WHERE username = $2"))) [jti, username];
        fn revoke_token(jti: &str, user_id: UserId, expires_at: UnixTime) -> () = Feed done(REVOKE_JTI)
            [jti, user_id, expires_at];
        fn revoke_all_tokens(user_id: UserId, valid_after: UnixTime) -> () = Feed done(sql!(concat!(
            "UPDATE users SET ", move_cutoff!("$1"), " WHERE id = $2"))) [valid_after, user_id];
        fn record_login_token(user_id: UserId, jti: &str, issued_at: UnixTime, expires_at: UnixTime) -> ()
            = Write done(sql!("INSERT INTO login_tokens (jti, user_id, issued_at, expires_at) \
             VALUES ($1, $2, $3, $4) ON CONFLICT (jti) DO NOTHING"))
            [jti, user_id, issued_at, expires_at];
        fn has_live_tokens(user_id: UserId, now: UnixTime) -> bool = Read one(sql!(
            "SELECT EXISTS (SELECT 1 FROM users u WHERE u.id = $1 AND ( \
               EXISTS (SELECT 1 FROM login_tokens t WHERE t.user_id = u.id \
                 AND t.expires_at > $2 AND t.issued_at >= u.tokens_valid_after \
                 AND NOT EXISTS (SELECT 1 FROM revoked_tokens r WHERE r.jti = t.jti)) \
               OR EXISTS (SELECT 1 FROM persistent_tokens p WHERE p.user_id = u.id \
                 AND p.expires_at > $2 AND p.issued_at >= u.tokens_valid_after \
                 AND NOT EXISTS (SELECT 1 FROM revoked_tokens r WHERE r.jti = p.jti)) \
               OR EXISTS (SELECT 1 FROM legacy_grants g WHERE g.user_id = u.id \
                 AND g.expires_at > $2 AND g.issued_at >= u.tokens_valid_after)))"))
            [user_id, now];
    }
    by_hand {
        fn live_state(user_ids: &[UserId], jtis: &[String], grant_hashes: &[String], now: UnixTime)
            -> LiveState;
    }
    written_once {
        fn change_stamp(&self) -> Option<ChangeStamp> { self.stamp() }

        async fn purge_expired(&self, now: UnixTime) -> Result<u64, StoreError> {
            let n = self.batch(Mode::Feed, vec![
                Step::new(sql!("DELETE FROM revoked_tokens WHERE expires_at < $1"),
                    vec![now.into()]),
                Step::new(sql!(
                    "DELETE FROM throttles WHERE locked_until < $1 AND last_failure < $2"),
                    vec![now.into(), now.minus_secs(24 * 3600).into()]),
                Step::new(sql!("DELETE FROM login_tokens WHERE expires_at < $1"),
                    vec![now.into()]),
            ]).await?;
            Ok(n.iter().sum())
        }
    }
    }
    generate! { $T: SecondFactorStore;
    statements {
        fn set_pending_secret(user_id: UserId, sealed: &[u8]) -> bool = Feed changed(sql!(
            "UPDATE users SET totp_state = 1, totp_secret = $1 WHERE id = $2 AND totp_state = 0"))
            [sealed, user_id];
        fn clear_pending_secret(user_id: UserId) -> bool = Feed changed(sql!(
            "UPDATE users SET totp_state = 0, totp_secret = NULL WHERE id = $1 AND totp_state = 1"))
            [user_id];
        fn recovery_codes(user_id: UserId) -> Vec<RecoveryCodeRecord> = Read all(sql!(
            "SELECT id, code_hash FROM recovery_codes WHERE user_id = $1 ORDER BY id")) [user_id];
    }
    by_hand {
        fn complete_second_factor(user_id: UserId, proof: SecondFactorProof,
            revoke: Option<&RevokeToken>, otp_status: Option<OtpStatusUse>,
            otp_counter: OtpCounter) -> SecondFactorWrite;
    }
    written_once {
        async fn disable_totp(&self, user_id: UserId, valid_after: UnixTime) -> Result<bool, StoreError> {
            // The UPDATE locks the user row (PostgreSQL) until commit, so
            // a concurrent replace_recovery_codes runs wholly before or after.
            let n = self.batch(Mode::Feed, vec![
                Step::guard(sql!(concat!("UPDATE users SET totp_state = 0, \
                    totp_secret = NULL, totp_last_step = NULL, ", move_cutoff!("$1"),
                    " WHERE id = $2 AND totp_state = 2")),
                    vec![valid_after.into(), user_id.into()]),
                Step::new(DELETE_RECOVERY_CODES, vec![user_id.into()]),
            ]).await?;
            Ok(n.first() == Some(&1))
        }

        async fn replace_recovery_codes(&self, user_id: UserId, hashes: &[String])
            -> Result<bool, StoreError> {
            // backend-specific guard: FOR UPDATE keeps disable_totp (and
            // another replacement) out until this transaction ends;
            // SQLite's one writer does that by itself.
            let mut steps = vec![
                Step::guard(sql!(
                    pg: "SELECT 1 FROM users WHERE id = $1 AND totp_state = 2 FOR UPDATE",
                    sqlite: "SELECT 1 FROM users WHERE id = ?1 AND totp_state = 2"),
                    vec![user_id.into()]),
                Step::new(DELETE_RECOVERY_CODES, vec![user_id.into()]),
            ];
            steps.extend(hashes.iter().map(|h| {
                Step::new(ADD_RECOVERY_CODE, vec![user_id.into(), h.into()])
            }));
            Ok(self.batch(Mode::Write, steps).await?.first() == Some(&1))
        }
    }
    }
    generate! { $T: ThrottleStore;
    statements {
        fn throttle(kind: ThrottleKind, key: &str) -> Option<ThrottleState> = Read opt(THROTTLE)
            [kind.as_str(), key];
        // Gives one attempt back; the lock goes when the count falls
        // below the threshold (SET expressions read the row as it was).
        fn return_attempt(kind: ThrottleKind, key: &str, max_failures: u32) -> () = Write done(sql!(
            "UPDATE throttles SET failures = failures - 1, \
             locked_until = CASE WHEN failures - 1 < $1 THEN 0 ELSE locked_until END \
             WHERE kind = $2 AND key = $3 AND failures > 0"))
            [i64::from(max_failures), kind.as_str(), key];
        fn clear_throttle(kind: ThrottleKind, key: &str) -> () = Write done(sql!(
            "DELETE FROM throttles WHERE kind = $1 AND key = $2")) [kind.as_str(), key];
    }
    by_hand {
        fn reserve_attempt(kind: ThrottleKind, key: &str, now: UnixTime, policy: &ThrottlePolicy)
            -> Reservation;
    }
    }
    generate! { $T: ApplicationStore;
    statements {
        fn create_application(a: &NewApplication) -> Application = Write one(sql!(concat!(
            "INSERT INTO applications (name, key_id, secret_hash, created_at) \
             VALUES ($1, $2, $3, $4) RETURNING ", application_columns!())))
            [&a.name, &a.key_id, &a.secret_hash, a.created_at];
        fn application_by_key_id(key_id: &str) -> Option<Application> = Read opt(sql!(concat!(
            "SELECT ", application_columns!(), " FROM applications WHERE key_id = $1"))) [key_id];
        fn application_by_name(name: &str) -> Option<Application> = Read opt(sql!(concat!(
            "SELECT ", application_columns!(), " FROM applications WHERE name = $1"))) [name];
        fn list_applications() -> Vec<Application> = Scan all(sql!(concat!(
            "SELECT ", application_columns!(), " FROM applications ORDER BY name"))) [];
        fn delete_application(name: &str) -> bool = Write changed(sql!(
            "DELETE FROM applications WHERE name = $1")) [name];
    }
    written_once {
        async fn users_by_contact(&self, field: ContactField, value: &str)
            -> Result<Vec<User>, StoreError> {
            let (sql, value) = match field {
                ContactField::Email => (sql!(concat!("SELECT ", user_columns!(),
                    " FROM users WHERE lower(email) = lower($1) ORDER BY id LIMIT 2")),
                    value.trim().to_owned()),
                ContactField::Phone => {
                    let digits: String = value.chars().filter(char::is_ascii_digit).collect();
                    if digits.is_empty() {
                        return Ok(Vec::new());
                    }
                    (USERS_BY_PHONE, digits)
                }
                ContactField::ExternalId => (sql!(concat!("SELECT ", user_columns!(),
                    " FROM users WHERE external_id = $1 ORDER BY id LIMIT 2")),
                    value.trim().to_owned()),
            };
            self.all(Mode::Read, sql, [value.into()]).await
        }
    }
    }
    generate! { $T: OutOfBandStore;
    statements {
        fn put_oob_code(c: &NewOobCode) -> () = Write done(sql!(
            "INSERT INTO oob_codes (user_id, binding, code_hash, attempts, created_at, \
             expires_at) VALUES ($1, $2, $3, 0, $4, $5) \
             ON CONFLICT (user_id, binding) DO UPDATE SET code_hash = excluded.code_hash, \
             attempts = 0, created_at = excluded.created_at, expires_at = excluded.expires_at"))
            [c.user_id, &c.binding, &c.code_hash, c.created_at, c.expires_at];
        fn claim_oob_attempt(user_id: UserId, binding: &str, now: UnixTime, max_attempts: u32)
            -> Option<OobClaim> = Write opt(sql!(
            "UPDATE oob_codes SET attempts = attempts + 1 WHERE user_id = $1 AND binding = $2 \
             AND expires_at > $3 AND attempts < $4 RETURNING id, code_hash, attempts"))
            [user_id, binding, now, i64::from(max_attempts)];
        fn consume_oob_code(id: OobCodeId, code_hash: &str) -> bool = Write changed(sql!(
            "DELETE FROM oob_codes WHERE id = $1 AND code_hash = $2")) [id, code_hash];
        fn delete_oob_code(user_id: UserId, binding: &str) -> () = Write done(sql!(
            "DELETE FROM oob_codes WHERE user_id = $1 AND binding = $2")) [user_id, binding];
        fn create_mfa_session(m: &MfaSession) -> () = Write done(sql!(
            "INSERT INTO mfa_sessions (id_hash, user_id, app_id, device_id, created_at, \
             expires_at) VALUES ($1, $2, $3, $4, $5, $6)"))
            [&m.id_hash, m.user_id, m.app_id, &m.device_id, m.created_at, m.expires_at];
        fn mfa_session(id_hash: &str, now: UnixTime) -> Option<MfaSession> = Read opt(sql!(
            "SELECT id_hash, user_id, app_id, device_id, created_at, expires_at \
             FROM mfa_sessions WHERE id_hash = $1 AND expires_at > $2")) [id_hash, now];
        fn consume_mfa_session(id_hash: &str, user_id: UserId, app_id: AppId, device_id: &str,
            now: UnixTime) -> bool = Write changed(sql!(
            "DELETE FROM mfa_sessions WHERE id_hash = $1 AND user_id = $2 AND app_id = $3 \
             AND device_id = $4 AND expires_at > $5"))
            [id_hash, user_id, app_id, device_id, now];
        fn put_otp_status(r: &OtpStatusRecord) -> () = Write done(sql!(
            "INSERT INTO otp_status (user_id, app_id, end_user_ip, expires_at) \
             VALUES ($1, $2, $3, $4) ON CONFLICT (user_id, app_id) DO UPDATE SET \
             end_user_ip = excluded.end_user_ip, expires_at = excluded.expires_at"))
            [r.user_id, r.app_id, &r.end_user_ip, r.expires_at];
        fn otp_status(user_id: UserId, app_id: AppId, now: UnixTime) -> Option<OtpStatusRecord>
            = Read opt(sql!("SELECT user_id, app_id, end_user_ip, expires_at FROM otp_status \
             WHERE user_id = $1 AND app_id = $2 AND expires_at > $3")) [user_id, app_id, now];
        fn consume_otp_status(user_id: UserId, app_id: AppId, now: UnixTime) -> bool
            = Write changed(CONSUME_OTP_STATUS) [user_id, app_id, now];
        fn put_outbox_message(m: &NewOutboxMessage) -> () = Write done(sql!(
            "INSERT INTO outbox (user_id, channel, recipient, code, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5, $6)"))
            [m.user_id, m.channel.as_str(), &m.to, m.code.expose(), m.created_at, m.expires_at];
        fn outbox_messages(user_id: Option<UserId>, now: UnixTime) -> Vec<OutboxMessage> = Scan all(sql!(
            "SELECT o.id, u.username, o.channel, o.recipient, o.code, o.created_at, \
             o.expires_at FROM outbox o JOIN users u ON u.id = o.user_id \
             WHERE o.expires_at > $1 AND ($2 IS NULL OR o.user_id = $2) ORDER BY o.id"))
            [now, user_id];
    }
    written_once {
        async fn purge_expired_oob(&self, now: UnixTime) -> Result<u64, StoreError> {
            let steps = [
                sql!("DELETE FROM oob_codes WHERE expires_at <= $1"),
                sql!("DELETE FROM mfa_sessions WHERE expires_at <= $1"),
                sql!("DELETE FROM otp_status WHERE expires_at <= $1"),
                sql!("DELETE FROM outbox WHERE expires_at <= $1"),
            ].map(|s| Step::new(s, vec![now.into()]));
            Ok(self.batch(Mode::Write, steps.into()).await?.iter().sum())
        }
    }
    }
    generate! { $T: LegacyStore;
    statements {
        fn create_legacy_nonce(n: &LegacyNonce) -> () = Write done(sql!(
            "INSERT INTO legacy_nonces (token_hash, nonce, user_id, issued_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5)"))
            [&n.token_hash, &n.nonce, n.user_id, n.issued_at, n.expires_at];
        fn legacy_grant(token_hash: &str) -> Option<LegacyGrant> = Read opt(sql!(
            "SELECT token_hash, user_id, issued_at, expires_at FROM legacy_grants \
             WHERE token_hash = $1")) [token_hash];
        fn delete_legacy_grant(token_hash: &str) -> bool = Write changed(sql!(
            "DELETE FROM legacy_grants WHERE token_hash = $1")) [token_hash];
    }
    by_hand {
        fn redeem_legacy_nonce(token_hash: &str, now: UnixTime, grant_expires_at: UnixTime)
            -> Option<LegacyGrant>;
    }
    written_once {
        async fn purge_expired_legacy(&self, now: UnixTime) -> Result<u64, StoreError> {
            let steps = [
                sql!("DELETE FROM legacy_nonces WHERE expires_at <= $1"),
                sql!("DELETE FROM legacy_grants WHERE expires_at <= $1"),
            ].map(|s| Step::new(s, vec![now.into()]));
            Ok(self.batch(Mode::Write, steps.into()).await?.iter().sum())
        }
    }
    }
    generate! { $T: AuditStore;
    statements {
        // Audit. The newest `limit` matching rows, returned oldest first.
        fn audit_records(q: &AuditQuery) -> Vec<AuditRecord> = Scan all(sql!(concat!(
            "SELECT ", audit_columns!(), " FROM (SELECT id, ", audit_columns!(),
            " FROM audit_log WHERE ($1 IS NULL OR username = $1) AND at_ms >= $2 \
             ORDER BY at_ms DESC, id DESC LIMIT $3) AS newest ORDER BY at_ms, id")))
            [&q.username, q.since_ms.unwrap_or(UnixMillis::new(i64::MIN)), i64::from(q.limit)];
        fn purge_audit(before_ms: UnixMillis) -> u64 = Write affected(sql!(
            "DELETE FROM audit_log WHERE at_ms < $1")) [before_ms];
    }
    by_hand {
        // SQLite: one INSERT per record in one write job; PostgreSQL: one
        // multi-row INSERT of arrays.
        fn append_audit(records: &[AuditRecord]) -> ();
    }
    }
    generate! { $T: PersistentTokenStore;
    statements {
        fn persistent_tokens(user_id: UserId) -> Vec<PersistentToken> = Read all(sql!(concat!(
            "SELECT ", persistent_columns!(), " FROM persistent_tokens \
             WHERE user_id = $1 ORDER BY audience"))) [user_id];
    }
    written_once {
        async fn replace_persistent_token(&self, t: &PersistentToken)
            -> Result<Option<PersistentToken>, StoreError> {
            let mut steps = take_persistent(t.user_id, &t.audience);
            steps.push(Step::new(PUT_PERSISTENT, vec![t.user_id.into(), (&t.audience).into(),
                (&t.jti).into(), t.issued_at.into(), t.expires_at.into()]));
            Ok(self.batch_fetch(Mode::Feed, steps).await?.1)
        }

        async fn remove_persistent_token(&self, user_id: UserId, audience: &str)
            -> Result<Option<PersistentToken>, StoreError> {
            Ok(self.batch_fetch(Mode::Feed, take_persistent(user_id, audience)).await?.1)
        }
    }
    }
    generate! { #[cfg(feature = "test-support")] $T: $crate::test_support::TestStore;
    statements {
        fn enable_totp(user_id: UserId, step: i64, valid_after: UnixTime) -> bool
            = Feed changed(ENABLE_PENDING) [step, valid_after, user_id];
        fn accept_totp_step(user_id: UserId, step: i64) -> bool = Feed changed(ACCEPT_STEP)
            [step, user_id];
        fn consume_recovery_code(code_id: otpgate_core::model::RecoveryCodeId) -> bool = Write changed(sql!(
            "DELETE FROM recovery_codes WHERE id = $1")) [code_id];
    }
    }
    }; };
}
pub(crate) use store_for;
