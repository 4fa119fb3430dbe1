//! MFA sessions: a password check opens a session bound to one user,
//! application and device; an out-of-band code sent for that session
//! closes it and yields a short-lived access token (the Capillary flow,
//! API.md §6b).
//!
//! The session id is handed to the client once and stored only as its
//! SHA-256. A session lives 15 minutes, is used once (one conditional
//! delete), and only from the device, for the application and the user
//! that opened it. The password check is the login's (same throttles); the
//! code check is `AuthService::check_oob_code` (same OTP lockout).

use crate::crypto::{codes, digest};
use crate::error::AuthError;
use crate::model::{Application, Channel, ContactField, IssuedToken, MfaSession, User};
use crate::secret::{SecretString, ct_eq};
use crate::service::audit::AuthEvent;
use crate::service::oob::{Delivery, OobBinding};
use crate::service::{AuthService, Caller};
use crate::username;

/// How long an MFA session lives (15 minutes).
pub const SESSION_TTL_SECS: i64 = 900;
/// Lifetime of the access token a completed session yields (15 minutes).
pub const TOKEN_LIFETIME_SECS: i64 = 900;
/// Longest identifier value accepted.
pub const MAX_IDENTIFIER_LEN: usize = 256;
/// Longest device id accepted.
pub const MAX_DEVICE_ID_LEN: usize = 128;

/// How a caller names the user.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdentifierKind {
    /// By phone number (codes go by SMS).
    Mobile,
    /// By e-mail address (codes go by e-mail).
    Email,
    /// By username (codes go by e-mail if the user has one, else SMS).
    Username,
    /// By identifier in another system (as for a username).
    ExternalId,
}

impl IdentifierKind {
    /// The channel codes take for this kind of identifier, if fixed.
    pub fn channel(self) -> Option<Channel> {
        match self {
            Self::Mobile => Some(Channel::Sms),
            Self::Email => Some(Channel::Email),
            Self::Username | Self::ExternalId => None,
        }
    }
}

/// A user named by a caller.
#[derive(Debug, Clone, Copy)]
pub struct Identifier<'a> {
    /// Which attribute.
    pub kind: IdentifierKind,
    /// Its value as sent.
    pub value: &'a str,
}

/// A completed session.
#[derive(Debug, Clone)]
pub struct MfaOutcome {
    /// The access token (verified, 15 minutes).
    pub token: IssuedToken,
    /// The token's id (`jti`): a handle, not a credential.
    pub token_id: String,
}

fn check_device(device_id: &str) -> Result<(), AuthError> {
    let n = device_id.chars().count();
    if n == 0 || n > MAX_DEVICE_ID_LEN || device_id.chars().any(char::is_control) {
        return Err(AuthError::invalid(format!(
            "deviceId must be 1 to {MAX_DEVICE_ID_LEN} printable characters"
        )));
    }
    Ok(())
}

impl AuthService {
    /// The one user `id` names, if exactly one.
    pub async fn user_by_identifier(&self, id: Identifier<'_>) -> Result<Option<User>, AuthError> {
        let value = id.value.trim();
        if value.is_empty() || value.chars().count() > MAX_IDENTIFIER_LEN {
            return Ok(None);
        }
        let field = match id.kind {
            IdentifierKind::Username => {
                return Ok(self.find_user(value).await?.1);
            }
            IdentifierKind::Email => ContactField::Email,
            IdentifierKind::Mobile => ContactField::Phone,
            IdentifierKind::ExternalId => ContactField::ExternalId,
        };
        let mut found = self.store.users_by_contact(field, value).await?;
        Ok(if found.len() == 1 { found.pop() } else { None })
    }

    /// Checks the password of the user `id` names and opens an MFA session
    /// for `app` on `device_id`. Returns the session id (shown once) and
    /// the user. Wrong password and unknown user are the same
    /// [`AuthError::InvalidCredentials`], throttled like a login.
    pub async fn start_mfa_session(
        &self,
        app: &Application,
        id: Identifier<'_>,
        device_id: &str,
        password: &SecretString,
        caller: &Caller,
    ) -> Result<(SecretString, User), AuthError> {
        check_device(device_id)?;
        if password.is_empty() {
            return Err(AuthError::invalid("password is required"));
        }
        if password.expose().len() > crate::service::admin::MAX_PASSWORD_LEN {
            return Err(AuthError::InvalidCredentials);
        }
        let user = self.user_by_identifier(id).await?;
        // Failures count on the user's login counter; for an identifier
        // that names nobody, on a counter of that identifier (which, for a
        // username, is the login's own).
        let throttle_key = match (&user, id.kind) {
            (Some(u), _) => u.username.clone(),
            (None, IdentifierKind::Username) => username::normalize(id.value),
            (None, kind) => format!("{kind:?}:{}", id.value.trim().to_lowercase()),
        };
        // An outside password backend knows users by name only.
        let ask_as = matches!(id.kind, IdentifierKind::Username).then_some(throttle_key.as_str());
        let user = self
            .password_login(&throttle_key, ask_as, user, password, caller)
            .await?;
        let session_id = codes::mfa_session_id();
        let now = self.clock.now();
        self.store
            .create_mfa_session(&MfaSession {
                id_hash: digest::sha256_hex(session_id.expose().as_bytes()),
                user_id: user.id,
                app_id: app.id,
                device_id: device_id.to_owned(),
                created_at: now,
                expires_at: now.plus_secs(SESSION_TTL_SECS),
            })
            .await?;
        self.audit.record_app(
            AuthEvent::MfaSessionCreated,
            &user.username,
            caller,
            &app.name,
            None,
        );
        Ok((session_id, user))
    }

    /// The live session `session_id` with its user, if it belongs to the
    /// user `id` names, to `app` and to `device_id`.
    async fn live_mfa_session(
        &self,
        app: &Application,
        id: Identifier<'_>,
        device_id: &str,
        session_id: &str,
        caller: &Caller,
    ) -> Result<(MfaSession, User), AuthError> {
        check_device(device_id)?;
        let hash = digest::sha256_hex(session_id.trim().as_bytes());
        let session = self.store.mfa_session(&hash, self.clock.now()).await?;
        let user = self.user_by_identifier(id).await?;
        match (session, user) {
            (Some(s), Some(u))
                if s.user_id == u.id
                    && s.app_id == app.id
                    && ct_eq(s.device_id.as_bytes(), device_id.as_bytes()) =>
            {
                Ok((s, u))
            }
            (_, user) => {
                let name = user.map_or_else(|| "-".to_owned(), |u| u.username);
                self.audit
                    .record_app(AuthEvent::MfaSessionRefused, &name, caller, &app.name, None);
                Err(AuthError::InvalidSession)
            }
        }
    }

    /// Sends a fresh out-of-band code for the session: by e-mail when the
    /// user was named by e-mail, by SMS when by phone, else by e-mail if
    /// the user has an address, else by SMS.
    pub async fn send_mfa_code(
        &self,
        app: &Application,
        id: Identifier<'_>,
        device_id: &str,
        session_id: &str,
        caller: &Caller,
    ) -> Result<(Delivery, User), AuthError> {
        let (session, user) = self
            .live_mfa_session(app, id, device_id, session_id, caller)
            .await?;
        let binding = OobBinding::Session(session.id_hash);
        let delivery = self
            .send_oob_code(&user, &binding, id.kind.channel(), caller)
            .await?;
        Ok((delivery, user))
    }

    /// Checks the session's code; on success uses the session up and
    /// issues a verified access token valid 15 minutes.
    pub async fn finish_mfa_session(
        &self,
        app: &Application,
        id: Identifier<'_>,
        device_id: &str,
        session_id: &str,
        code: &SecretString,
        caller: &Caller,
    ) -> Result<(MfaOutcome, User), AuthError> {
        let (session, user) = self
            .live_mfa_session(app, id, device_id, session_id, caller)
            .await?;
        let binding = OobBinding::Session(session.id_hash.clone());
        self.check_oob_code(&user, &binding, code, caller).await?;
        let used = self
            .store
            .consume_mfa_session(
                &session.id_hash,
                user.id,
                app.id,
                device_id,
                self.clock.now(),
            )
            .await?;
        if !used {
            self.audit.record_app(
                AuthEvent::MfaSessionRefused,
                &user.username,
                caller,
                &app.name,
                None,
            );
            return Err(AuthError::InvalidSession);
        }
        // The application's token (`aud` = its name): it proves the second
        // factor to that application only, never to the native API.
        let (token, token_id) = self.issue_token_for(
            user.id,
            &user.username,
            user.tokens_valid_after,
            (user.totp.is_enabled(), true),
            TOKEN_LIFETIME_SECS,
            Some(&app.name),
        );
        Ok((MfaOutcome { token, token_id }, user))
    }
}
