//! The one password check, at the backend in use ([`crate::password_backend`]),
//! and what a backend's acceptance leaves behind: the user created at the
//! first login, the backend's session sealed with the user, and that
//! session ended when the user's tokens all go.

use crate::error::{AuthError, StoreError};
use crate::model::{IssuedToken, NewUser, Principal, ProfileChange, UnixTime, User, UserId};
use crate::password_backend::{Accepted, BackendError, Purpose};
use crate::secret::{SecretBytes, SecretString};
use crate::service::AuthService;
use crate::username;

impl AuthService {
    /// Checks `password` at the backend in use. `Ok(Some(_))`: right;
    /// `Ok(None)`: wrong (to be counted); `Err`: not evaluated (the
    /// hashing pool shed it, or the backend is unavailable), never
    /// counted.
    ///
    /// `user` is the stored user, if any; `ask_as` the name to ask an
    /// outside backend about a user not stored yet (`None`: an identifier
    /// that is no username, which only the store could resolve: wrong).
    pub(crate) async fn check_password(
        &self,
        user: Option<&User>,
        ask_as: Option<&str>,
        password: &SecretString,
        purpose: Purpose,
    ) -> Result<Option<Accepted>, AuthError> {
        let Some(backend) = &self.password_backend else {
            let hash = user
                .map(|u| u.password_hash.as_str())
                .filter(|h| !h.is_empty());
            let ok = self.password_matches(password, hash).await? && hash.is_some();
            return Ok(ok.then(Accepted::default));
        };
        let Some(name) = user.map(|u| u.username.as_str()).or(ask_as) else {
            return Ok(None);
        };
        match backend.check(name, password, purpose).await {
            Ok(accepted) => Ok(Some(accepted)),
            Err(BackendError::WrongPassword) => Ok(None),
            Err(BackendError::Unavailable(detail)) => {
                tracing::warn!(backend = backend.name(), %detail, "password backend unavailable");
                Err(AuthError::UpstreamUnavailable(detail))
            }
        }
    }

    /// After a login the backend accepted: the user (created now if the
    /// backend knows them and the store does not), with the backend's
    /// session sealed in the store, replacing the previous one.
    pub(crate) async fn after_backend_login(
        &self,
        name: &str,
        user: Option<User>,
        accepted: Accepted,
    ) -> Result<User, AuthError> {
        let mut user = match user {
            Some(u) => self.refresh_profile(u, &accepted).await?,
            None => self.create_backend_user(name, &accepted).await?,
        };
        if let Some(session) = accepted.session {
            let sealed = self.cipher.seal_upstream(
                user.id,
                &SecretBytes::new(session.expose().as_bytes().to_vec()),
            )?;
            self.store
                .set_upstream_session(user.id, Some(&sealed))
                .await?;
            user.upstream_session = Some(sealed);
        }
        Ok(user)
    }

    /// Replaces the stored profile fields with the backend's, where the
    /// backend is their authority (LDAP, API.md §12) and they differ.
    async fn refresh_profile(&self, user: User, accepted: &Accepted) -> Result<User, AuthError> {
        let profile = &accepted.profile;
        if !profile.authoritative {
            return Ok(user);
        }
        let display_name = profile
            .display_name
            .as_deref()
            .map(one_line)
            .filter(|d| !d.is_empty())
            .unwrap_or_else(|| user.username.clone());
        let email = profile
            .email
            .as_deref()
            .map(one_line)
            .filter(|e| !e.is_empty());
        let phone = profile
            .phone
            .as_deref()
            .map(one_line)
            .filter(|p| !p.is_empty());
        let change = ProfileChange {
            display_name: (display_name != user.display_name).then(|| display_name.clone()),
            email: (email != user.email).then(|| email.clone()),
            phone: (phone != user.phone).then(|| phone.clone()),
            ..ProfileChange::default()
        };
        if change.is_empty() {
            return Ok(user);
        }
        self.store.update_profile(user.id, &change).await?;
        Ok(User {
            display_name,
            email,
            phone,
            ..user
        })
    }

    /// Creates the user a backend just accepted (no password hash).
    async fn create_backend_user(
        &self,
        name: &str,
        accepted: &Accepted,
    ) -> Result<User, AuthError> {
        let name = username::canonical(name)?;
        let now = self.clock.now();
        let profile = &accepted.profile;
        let new = NewUser {
            display_name: profile
                .display_name
                .as_deref()
                .map(one_line)
                .filter(|d| !d.is_empty())
                .unwrap_or_else(|| name.clone()),
            username: name.clone(),
            email: profile
                .email
                .as_deref()
                .map(one_line)
                .filter(|e| !e.is_empty()),
            phone: profile
                .phone
                .as_deref()
                .map(one_line)
                .filter(|p| !p.is_empty()),
            external_id: None,
            role: "user".to_owned(),
            password_hash: String::new(),
            backend: self.password_backend_name().to_owned(),
            tokens_valid_after: now,
            created_at: now,
        };
        match self.store.create_user(&new).await {
            Ok(u) => {
                tracing::info!(user = %u.username, backend = %u.backend, "user created at first login");
                Ok(u)
            }
            // Two first logins at once: the other one created it.
            Err(StoreError::Conflict(_)) => self
                .store
                .user_by_name(&name)
                .await?
                .ok_or(AuthError::InvalidCredentials),
            Err(e) => Err(e.into()),
        }
    }

    /// The backend session of the user behind a verified `principal`,
    /// unsealed, for a request forwarded on their behalf (API.md §9
    /// "Forwarding"). `None`: no session is stored (a user created before
    /// the backend was, or one whose session ended), or the user is gone.
    /// The caller has already checked the token and the 2FA gate.
    pub async fn upstream_session(
        &self,
        principal: &Principal,
    ) -> Result<Option<SecretString>, AuthError> {
        let Some(user) = self.store.user_by_name(&principal.username).await? else {
            return Ok(None);
        };
        if user.id != principal.user_id {
            return Ok(None);
        }
        let Some(sealed) = &user.upstream_session else {
            return Ok(None);
        };
        match self.cipher.open_upstream(user.id, sealed) {
            Ok(bytes) => Ok(String::from_utf8(bytes.expose().to_vec())
                .ok()
                .filter(|t| !t.is_empty())
                .map(SecretString::new)),
            Err(_) => {
                tracing::warn!(user = %user.username, "the sealed backend session does not open");
                Ok(None)
            }
        }
    }

    /// Ends the user's session at the backend (API.md §9: the user's last
    /// token is gone) and forgets it. Best effort: a session that does not
    /// open or a backend that fails is logged and forgotten all the same.
    pub(crate) async fn end_backend_session(&self, user: &User) -> Result<(), AuthError> {
        let Some(sealed) = &user.upstream_session else {
            return Ok(());
        };
        if let Some(backend) = &self.password_backend {
            match self.cipher.open_upstream(user.id, sealed) {
                Ok(bytes) => {
                    let session = SecretString::new(String::from_utf8_lossy(bytes.expose()));
                    backend.end_session(&user.username, &session).await;
                }
                Err(_) => {
                    tracing::warn!(user = %user.username, "the sealed backend session does not open; forgotten");
                }
            }
        }
        self.store.set_upstream_session(user.id, None).await?;
        Ok(())
    }
}

impl AuthService {
    /// Records a login token (`jti`, as issued in `token`) of `user` when
    /// the user's backend keeps a session for them (API.md §9), so that
    /// the last token going can end it. Nothing to record otherwise (no
    /// write per login in `local` mode).
    pub(crate) async fn record_login_token(
        &self,
        user: &User,
        jti: &str,
        token: &IssuedToken,
    ) -> Result<(), AuthError> {
        if self.password_backend.is_none() || user.upstream_session.is_none() {
            return Ok(());
        }
        let issued_at = token
            .expires_at
            .saturating_sub(self.policy.token_lifetime_secs);
        self.store
            .record_login_token(
                user.id,
                jti,
                UnixTime::new(issued_at),
                UnixTime::new(token.expires_at),
            )
            .await?;
        Ok(())
    }

    /// After one of the user's tokens went (logout, a persistent token
    /// removed): if it was their last one (API.md §9: no unexpired,
    /// unrevoked token of the user is left), ends the backend's session.
    pub(crate) async fn end_backend_session_if_last(
        &self,
        user_id: UserId,
        username: &str,
    ) -> Result<(), AuthError> {
        if self.password_backend.is_none() {
            return Ok(());
        }
        let Some(user) = self.store.user_by_name(username).await? else {
            return Ok(());
        };
        if user.id != user_id || user.upstream_session.is_none() {
            return Ok(());
        }
        if self
            .store
            .has_live_tokens(user.id, self.clock.now())
            .await?
        {
            return Ok(());
        }
        tracing::info!(user = %user.username, "the user's last token is gone: ending the backend session");
        self.end_backend_session(&user).await
    }
}

/// A backend's text as one trimmed line of at most 200 characters (it is
/// printed by the CLI and put in answers).
fn one_line(text: &str) -> String {
    text.chars()
        .filter(|c| !c.is_control())
        .take(200)
        .collect::<String>()
        .trim()
        .to_owned()
}

#[cfg(test)]
mod tests {
    use super::one_line;

    #[test]
    fn a_backend_text_becomes_one_bounded_line() {
        assert_eq!(one_line("  Carol\n Rossi\u{7}  "), "Carol Rossi");
        assert_eq!(one_line(&"x".repeat(500)).len(), 200);
        assert_eq!(one_line("\t\r\n"), "");
    }
}
