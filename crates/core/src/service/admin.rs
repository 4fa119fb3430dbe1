//! Operator use cases behind the CLI: users, passwords, 2FA reset, mass
//! revocation, and the first admin user of an empty store.

use crate::crypto::codes;
use crate::error::{AuthError, StoreError};
use crate::model::{AuditQuery, AuditRecord, NewUser, OutboxMessage, User};
use crate::secret::SecretString;
use crate::service::audit::AuthEvent;
use crate::service::{AuthService, Caller};
use crate::username;

/// Longest password accepted, in bytes (argon2 takes any length; this
/// bounds the work an oversized body can cause).
pub const MAX_PASSWORD_LEN: usize = 1024;

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

fn check_password(pw: &SecretString) -> Result<(), AuthError> {
    if pw.is_empty() {
        return Err(AuthError::invalid("password must not be empty"));
    }
    if pw.expose().len() > MAX_PASSWORD_LEN {
        return Err(AuthError::invalid(format!(
            "password must be at most {MAX_PASSWORD_LEN} bytes"
        )));
    }
    Ok(())
}

fn non_empty(v: Option<String>) -> Option<String> {
    v.map(|s| s.trim().to_owned()).filter(|s| !s.is_empty())
}

impl AuthService {
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
        let (password, generated) = match spec.password {
            Some(p) => (p, None),
            None => {
                let p = codes::generated_password();
                (p.clone(), Some(p))
            }
        };
        check_password(&password)?;
        let hash = self.hash_secret(password).await?;
        let now = self.clock.now_secs();
        let new = NewUser {
            display_name: non_empty(spec.display_name).unwrap_or_else(|| name.clone()),
            username: name,
            email: non_empty(spec.email),
            phone: non_empty(spec.phone),
            external_id: non_empty(spec.external_id),
            role: non_empty(spec.role).unwrap_or_else(|| "user".to_owned()),
            password_hash: hash,
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
        let (password, generated) = match password {
            Some(p) => (p, None),
            None => {
                let p = codes::generated_password();
                (p.clone(), Some(p))
            }
        };
        check_password(&password)?;
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
        if self.store.delete_user(user.id).await? {
            self.signal_revocation();
            Ok(())
        } else {
            Err(AuthError::UserNotFound)
        }
    }

    /// Turns 2FA off for a user who lost their device (also a pending
    /// enrolment), revoking every token. Returns whether 2FA was on.
    pub async fn reset_two_factor(&self, raw: &str) -> Result<bool, AuthError> {
        let user = self.user_named(raw).await?;
        let was_on = self.store.disable_totp(user.id, self.cutoff_now()).await?;
        self.signal_revocation();
        self.audit
            .record(AuthEvent::TwoFactorDisabled, &user.username, &Caller::cli());
        Ok(was_on)
    }

    /// Revokes every token of a user.
    pub async fn revoke_all_tokens(&self, raw: &str) -> Result<(), AuthError> {
        let user = self.user_named(raw).await?;
        self.store
            .revoke_all_tokens(user.id, self.cutoff_now())
            .await?;
        self.signal_revocation();
        self.audit
            .record(AuthEvent::AllTokensRevoked, &user.username, &Caller::cli());
        Ok(())
    }

    /// On an empty store, creates the user `admin` (role `admin`) with a
    /// random password and returns it, to be printed once.
    pub async fn bootstrap_admin(&self) -> Result<Option<SecretString>, AuthError> {
        if self.store.count_users().await? > 0 {
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
        let now = self.clock.now_secs();
        let core = self.store.purge_expired(now).await?;
        let oob = self.store.purge_expired_oob(now).await?;
        let legacy = self.store.purge_expired_legacy(now).await?;
        let audit = match self.policy.audit_retention_days {
            0 => 0,
            days => {
                let keep_ms = i64::from(days).saturating_mul(86_400_000);
                self.store
                    .purge_audit(self.clock.now_ms().saturating_sub(keep_ms))
                    .await?
            }
        };
        Ok(core + oob + legacy + audit)
    }

    /// Deletes expired out-of-band codes, MFA sessions, status records
    /// and outbox messages (the server does it every minute: the outbox
    /// holds codes, which must not outlive them).
    pub async fn purge_expired_codes(&self) -> Result<u64, AuthError> {
        Ok(self.store.purge_expired_oob(self.clock.now_secs()).await?)
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
            .outbox_messages(user_id, self.clock.now_secs())
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
            since_ms,
            limit,
        };
        Ok(self.store.audit_records(&query).await?)
    }
}
