//! Registered applications and their API keys (API.md §4).
//!
//! A key is `<key_id>.<secret>`: the id finds the application, the secret
//! (256 random bits) is kept only as its SHA-256 and compared in constant
//! time. The key is shown once, when the application is registered.
//! Applications are named in requests (Single Connect's `applicationname`,
//! Capillary's `brand`); the name must be the one of the calling key.

use crate::crypto::{codes, digest};
use crate::error::{AuthError, StoreError};
use crate::model::{Application, NewApplication};
use crate::secret::{SecretString, ct_eq};
use crate::service::audit::AuthEvent;
use crate::service::{AuthService, Caller};

/// Longest application name, in characters.
pub const MAX_NAME_LEN: usize = 64;
/// Longest API key accepted (id, dot, secret, with room to spare).
pub const MAX_KEY_LEN: usize = 256;

/// The canonical form of an application name: trimmed, lower-case (names
/// are matched case-insensitively, like usernames).
pub fn normalize_name(raw: &str) -> String {
    raw.trim().to_lowercase()
}

/// Checks a name for registration: 1 to 64 characters of `a-z 0-9 . _ -`.
pub fn validate_name(name: &str) -> Result<(), AuthError> {
    if name.is_empty() || name.chars().count() > MAX_NAME_LEN {
        return Err(AuthError::invalid(format!(
            "application name must be 1 to {MAX_NAME_LEN} characters"
        )));
    }
    if !name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
    {
        return Err(AuthError::invalid(
            "application name may contain only letters, digits, '.', '_' and '-'",
        ));
    }
    // An application's tokens carry its name as `aud`: a persistent
    // token's audience would make them pass as a person's (API.md §10).
    if super::persistent::Audience::ALL
        .iter()
        .any(|a| a.as_str().eq_ignore_ascii_case(name))
    {
        return Err(AuthError::invalid(
            "application name is reserved (phone-island, mobile-app and nethlink are persistent-token audiences)",
        ));
    }
    Ok(())
}

/// A secret's stored form.
fn secret_hash(secret: &str) -> String {
    digest::sha256_hex(secret.as_bytes())
}

impl AuthService {
    /// Registers an application and returns it with its new API key (to be
    /// shown once; only a hash is stored).
    pub async fn create_application(
        &self,
        raw_name: &str,
    ) -> Result<(Application, SecretString), AuthError> {
        let name = normalize_name(raw_name);
        validate_name(&name)?;
        let (key_id, secret) = codes::api_key_parts();
        let new = NewApplication {
            name,
            secret_hash: secret_hash(secret.expose()),
            key_id: key_id.clone(),
            created_at: self.clock.now(),
        };
        let app = match self.store.create_application(&new).await {
            Ok(app) => app,
            Err(StoreError::Conflict(_)) => return Err(AuthError::ApplicationExists),
            Err(e) => return Err(e.into()),
        };
        self.audit.record_app(
            AuthEvent::ApplicationCreated,
            "-",
            &Caller::cli(),
            &app.name,
            None,
        );
        let key = SecretString::new(format!("{key_id}.{}", secret.expose()));
        Ok((app, key))
    }

    /// All applications.
    pub async fn list_applications(&self) -> Result<Vec<Application>, AuthError> {
        Ok(self.store.list_applications().await?)
    }

    /// Revokes an application: its key stops working at once.
    pub async fn revoke_application(&self, raw_name: &str) -> Result<(), AuthError> {
        let name = normalize_name(raw_name);
        if !self.store.delete_application(&name).await? {
            return Err(AuthError::ApplicationNotFound);
        }
        self.audit.record_app(
            AuthEvent::ApplicationRevoked,
            "-",
            &Caller::cli(),
            &name,
            None,
        );
        Ok(())
    }

    /// The application whose API key this is. A missing key is
    /// [`AuthError::MissingApiKey`]; a malformed, unknown or revoked one is
    /// [`AuthError::InvalidApiKey`] (an unknown id costs the same hash and
    /// comparison as a wrong secret).
    pub async fn authenticate_application(
        &self,
        key: Option<&str>,
        caller: &Caller,
    ) -> Result<Application, AuthError> {
        let Some(key) = key.map(str::trim).filter(|k| !k.is_empty()) else {
            return Err(AuthError::MissingApiKey);
        };
        let refuse = || {
            self.audit
                .record_app(AuthEvent::ApiKeyRefused, "-", caller, "-", None);
            AuthError::InvalidApiKey
        };
        let Some((key_id, secret)) = key.split_once('.').filter(|_| key.len() <= MAX_KEY_LEN)
        else {
            return Err(refuse());
        };
        let app = self.store.application_by_key_id(key_id).await?;
        let presented = secret_hash(secret);
        let stored = app
            .as_ref()
            .map_or_else(|| "0".repeat(64), |a| a.secret_hash.clone());
        let matches = ct_eq(presented.as_bytes(), stored.as_bytes());
        match app {
            Some(app) if matches => Ok(app),
            _ => Err(refuse()),
        }
    }

    /// The application a call acts for: with a key, the key's application,
    /// which must be the one `named` (else [`AuthError::ApplicationMismatch`]);
    /// without a key (allowed only where the dialect says so), the
    /// registered application called `named`.
    pub async fn application_for(
        &self,
        key: Option<&str>,
        named: &str,
        key_required: bool,
        caller: &Caller,
    ) -> Result<Application, AuthError> {
        let named = normalize_name(named);
        let key = key.filter(|k| !k.trim().is_empty());
        let app = match key {
            None if !key_required => self.store.application_by_name(&named).await?,
            _ => Some(self.authenticate_application(key, caller).await?),
        };
        match app {
            Some(app) if ct_eq(app.name.as_bytes(), named.as_bytes()) => Ok(app),
            other => {
                let app_name = other.as_ref().map_or("-", |a| a.name.as_str());
                self.audit
                    .record_app(AuthEvent::ApiKeyRefused, "-", caller, app_name, None);
                Err(AuthError::ApplicationMismatch)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_normalised_and_validated() {
        assert_eq!(normalize_name("  Bukl "), "bukl");
        assert!(validate_name("batuhanbilgindeneme").is_ok());
        assert!(validate_name("shop-1.eu_west").is_ok());
        assert!(validate_name("").is_err());
        assert!(validate_name("a b").is_err());
        assert!(validate_name("a/b").is_err());
        assert!(validate_name(&"x".repeat(65)).is_err());
        for reserved in ["phone-island", "mobile-app", "nethlink"] {
            assert!(validate_name(reserved).is_err(), "{reserved}");
        }
    }
}
