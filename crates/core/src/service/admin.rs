//! Operator use cases behind the CLI: users, passwords, 2FA reset, mass
//! revocation, and the first admin user of an empty store.

use crate::crypto::codes;
use crate::error::{AuthError, StoreError};
use crate::model::{
    AuditQuery, AuditRecord, NewUser, OutboxMessage, ProfileChange, UnixMillis, User,
};
use crate::secret::SecretString;
use crate::service::audit::AuthEvent;
use crate::service::{AuthService, Caller};
use crate::username;

pub use crate::password_policy::MAX_PASSWORD_LEN;

/// What the operator gives to create a user.
#[derive(Debug, Clone, Default)]
pub struct UserSpec {
    /// Username as typed (normalised here).
    pub username: String,
    /// Password; `None` generates one, returned once.
    pub password: Option<SecretString>,
    /// Display name (default: the username).
    pub display_name: Option<String>,
    /// E-mail.
    pub email: Option<String>,
    /// Phone.
    pub phone: Option<String>,
    /// External id.
    pub external_id: Option<String>,
    /// Role (default `user`).
    pub role: Option<String>,
}

/// What `reset_two_factor` did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TwoFactorReset {
    /// 2FA was on and is off now; every token of the user is revoked.
    Disabled,
    /// 2FA was not on; a pending (unconfirmed) enrolment was forgotten.
    PendingCleared,
    /// Nothing to reset.
    Unchanged,
}

fn non_empty(v: Option<String>) -> Option<String> {
    v.map(|s| s.trim().to_owned()).filter(|s| !s.is_empty())
}

impl AuthService {
    /// The operator's password, checked against the password policy, or
    /// a generated one (20 random characters, also returned to be shown
    /// once; random, so the list of common passwords does not apply).
    fn password_or_generated(
        &self,
        given: Option<SecretString>,
    ) -> Result<(SecretString, Option<SecretString>), AuthError> {
        match given {
            Some(p) => {
                crate::password_policy::check(&p, self.policy.password_min_length)?;
                Ok((p, None))
            }
            None => {
                let p = codes::generated_password();
                Ok((p.clone(), Some(p)))
            }
        }
    }

    /// The user `raw` names (the one lookup, [`Self::find_user`]), or
    /// [`AuthError::UserNotFound`].
    pub(crate) async fn user_named(&self, raw: &str) -> Result<User, AuthError> {
        self.find_user(raw).await?.1.ok_or(AuthError::UserNotFound)
    }

    /// Creates a user. Returns the user and the generated password, if one
    /// was generated (to be shown once).
    pub async fn create_user(
        &self,
        spec: UserSpec,
    ) -> Result<(User, Option<SecretString>), AuthError> {
        let name = username::canonical(&spec.username)?;
        let (password, generated) = self.password_or_generated(spec.password)?;
        let hash = self.hash_secret(password).await?;
        let now = self.clock.now();
        let new = NewUser {
            display_name: non_empty(spec.display_name).unwrap_or_else(|| name.clone()),
            username: name,
            email: non_empty(spec.email),
            phone: non_empty(spec.phone),
            external_id: non_empty(spec.external_id),
            role: non_empty(spec.role).unwrap_or_else(|| "user".to_owned()),
            password_hash: hash,
            backend: crate::password_backend::LOCAL.to_owned(),
            tokens_valid_after: now,
            created_at: now,
        };
        match self.store.create_user(&new).await {
            Ok(user) => Ok((user, generated)),
            Err(StoreError::Conflict(_)) => Err(AuthError::UserExists),
            Err(e) => Err(e.into()),
        }
    }

    /// All users.
    pub async fn list_users(&self) -> Result<Vec<User>, AuthError> {
        Ok(self.store.list_users().await?)
    }

    /// One user.
    pub async fn show_user(&self, raw: &str) -> Result<User, AuthError> {
        self.user_named(raw).await
    }

    /// Sets a new password (generated if `None`, and returned) and revokes
    /// every token of the user.
    pub async fn set_password(
        &self,
        raw: &str,
        password: Option<SecretString>,
    ) -> Result<Option<SecretString>, AuthError> {
        let user = self.user_named(raw).await?;
        let (password, generated) = self.password_or_generated(password)?;
        let hash = self.hash_secret(password).await?;
        self.store
            .set_password(user.id, &hash, self.cutoff_now())
            .await?;
        self.signal_revocation();
        self.audit
            .record(AuthEvent::AllTokensRevoked, &user.username, &Caller::cli());
        Ok(generated)
    }

    /// Deletes a user with everything of theirs.
    pub async fn delete_user(&self, raw: &str) -> Result<(), AuthError> {
        let user = self.user_named(raw).await?;
        self.end_backend_session(&user).await?;
        if self.store.delete_user(user.id).await? {
            self.signal_revocation();
            Ok(())
        } else {
            Err(AuthError::UserNotFound)
        }
    }

    /// Turns 2FA off for a user who lost their device, revoking every
    /// token, or forgets a pending enrolment. Records `2fa_disabled` only
    /// when 2FA was on: nothing is recorded for what did not happen.
    pub async fn reset_two_factor(&self, raw: &str) -> Result<TwoFactorReset, AuthError> {
        let user = self.user_named(raw).await?;
        if self.store.disable_totp(user.id, self.cutoff_now()).await? {
            self.signal_revocation();
            self.end_backend_session(&user).await?;
            self.audit
                .record(AuthEvent::TwoFactorDisabled, &user.username, &Caller::cli());
            return Ok(TwoFactorReset::Disabled);
        }
        if self.store.clear_pending_secret(user.id).await? {
            return Ok(TwoFactorReset::PendingCleared);
        }
        Ok(TwoFactorReset::Unchanged)
    }

    /// Changes a user's profile fields (`otpgate user set`) and returns the
    /// user as stored now. Texts are trimmed; an empty one is refused (the
    /// optional fields are cleared with `Some(None)` instead).
    pub async fn update_user(&self, raw: &str, change: ProfileChange) -> Result<User, AuthError> {
        let user = self.user_named(raw).await?;
        let required = |field: &str, v: Option<String>| -> Result<Option<String>, AuthError> {
            match v.map(|s| s.trim().to_owned()) {
                Some(s) if s.is_empty() => {
                    Err(AuthError::invalid(format!("{field} must not be empty")))
                }
                other => Ok(other),
            }
        };
        let optional = |field: &str, v: Option<Option<String>>| match v {
            Some(Some(s)) => required(field, Some(s)).map(Some),
            other => Ok(other),
        };
        let change = ProfileChange {
            display_name: required("display name", change.display_name)?,
            email: optional("e-mail", change.email)?,
            phone: optional("phone", change.phone)?,
            external_id: optional("external id", change.external_id)?,
            role: required("role", change.role)?,
        };
        if change.is_empty() {
            return Err(AuthError::invalid("nothing to change"));
        }
        if !self.store.update_profile(user.id, &change).await? {
            return Err(AuthError::UserNotFound);
        }
        self.user_named(&user.username).await
    }

    /// Revokes every token of a user.
    pub async fn revoke_all_tokens(&self, raw: &str) -> Result<(), AuthError> {
        let user = self.user_named(raw).await?;
        self.store
            .revoke_all_tokens(user.id, self.cutoff_now())
            .await?;
        self.signal_revocation();
        self.end_backend_session(&user).await?;
        self.audit
            .record(AuthEvent::AllTokensRevoked, &user.username, &Caller::cli());
        Ok(())
    }

    /// On an empty store, creates the user `admin` (role `admin`) with a
    /// random password and returns it, to be printed once. Not with an
    /// outside password backend (`nethcti`): no password of ours is asked.
    pub async fn bootstrap_admin(&self) -> Result<Option<SecretString>, AuthError> {
        // With an outside password backend (the CTI server) a password
        // made here would never be asked for: its users arrive by logging in.
        if self.password_backend.is_some() || self.store.count_users().await? > 0 {
            return Ok(None);
        }
        let spec = UserSpec {
            username: "admin".into(),
            role: Some("admin".into()),
            display_name: Some("Administrator".into()),
            ..UserSpec::default()
        };
        match self.create_user(spec).await {
            Ok((_, generated)) => Ok(generated),
            // Another process bootstrapped at the same moment.
            Err(AuthError::UserExists) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Deletes expired revocations and stale counters, expired
    /// out-of-band codes, MFA sessions, status records and outbox messages,
    /// and audit records older than the retention.
    pub async fn purge_expired(&self) -> Result<u64, AuthError> {
        let now = self.clock.now();
        let core = self.store.purge_expired(now).await?;
        let oob = self.store.purge_expired_oob(now).await?;
        let legacy = self.store.purge_expired_legacy(now).await?;
        let audit = match self.policy.audit_retention_days {
            0 => 0,
            days => {
                let keep_ms = i64::from(days).saturating_mul(86_400_000);
                self.store
                    .purge_audit(UnixMillis::new(self.clock.now_ms().saturating_sub(keep_ms)))
                    .await?
            }
        };
        Ok(core + oob + legacy + audit)
    }

    /// Deletes expired out-of-band codes, MFA sessions, status records
    /// and outbox messages (the server does it every minute: the outbox
    /// holds codes, which must not outlive them).
    pub async fn purge_expired_codes(&self) -> Result<u64, AuthError> {
        Ok(self.store.purge_expired_oob(self.clock.now()).await?)
    }

    /// The outbox's unexpired messages, oldest first; of one user if given
    /// (an unknown user is [`AuthError::UserNotFound`]). Expired messages
    /// are deleted first.
    pub async fn outbox(&self, user: Option<&str>) -> Result<Vec<OutboxMessage>, AuthError> {
        let user_id = match user {
            Some(raw) => Some(self.user_named(raw).await?.id),
            None => None,
        };
        self.purge_expired_codes().await?;
        Ok(self
            .store
            .outbox_messages(user_id, self.clock.now())
            .await?)
    }

    /// Audit records, oldest first: the newest `limit` at or after
    /// `since_ms`, of one user if given (the name is normalised; a user
    /// since deleted still has records). Queued records are written first.
    pub async fn audit_records(
        &self,
        user: Option<&str>,
        since_ms: Option<i64>,
        limit: u32,
    ) -> Result<Vec<AuditRecord>, AuthError> {
        self.audit.flush().await?;
        let query = AuditQuery {
            username: user.map(crate::username::normalize),
            since_ms: since_ms.map(UnixMillis::new),
            limit,
        };
        Ok(self.store.audit_records(&query).await?)
    }
}
