//! Opening the service a command or the server runs on: the data
//! directory, the store, the key files, the notifiers and the password
//! backend, wired from a [`Config`]. `serve`, the operator commands and
//! `audit` all start here, so none of them depends on another.

use std::sync::Arc;

use otpgate_core::keys::KeyFiles;
use otpgate_core::secret::SecretString;
use otpgate_core::{AuthError, AuthService, SystemClock};

use crate::config::{Config, LdapConfig, PasswordBackendConfig};
use crate::store_check;

/// A one-line description of a core error for the terminal.
pub fn describe(e: &AuthError) -> String {
    match e {
        AuthError::Store(s) => s.to_string(),
        other => other.to_string(),
    }
}

/// Opens the store of `config` for an operator command: refused, with
/// the path, when it does not exist (see `store_check`).
pub async fn open_existing(config: &Config) -> Result<Arc<AuthService>, String> {
    store_check::require_existing(config)?;
    open_service(config).await
}

/// The message for a store that would not open: for SQLite, the path and
/// the likely cause when one is found.
pub fn store_open_error(config: &Config, e: &otpgate_core::StoreError) -> String {
    store_check::explain_sqlite_failure(&config.store.url).unwrap_or_else(|| e.to_string())
}

/// Opens the keys and the store of `config` (creating them if missing:
/// only `serve` calls this directly) and builds the service.
pub async fn open_service(config: &Config) -> Result<Arc<AuthService>, String> {
    // The data directory first (the SQLite file lives in it), then the
    // store, then the keys: an unreachable database leaves no new key files.
    otpgate_core::keys::ensure_dir(&config.data_dir).map_err(|e| describe(&e))?;
    let store = otpgate_store::open(&config.store)
        .await
        .map_err(|e| store_open_error(config, &e))?;
    let (keys, created) = KeyFiles::load_or_create(&config.data_dir).map_err(|e| describe(&e))?;
    for path in created {
        tracing::info!(path = %path.display(), "created key file");
    }
    let notifiers = config.notifier.build(&store)?;
    let mut svc = AuthService::new(store, Arc::new(SystemClock), config.policy.clone(), &keys)
        .map_err(|e| describe(&e))?
        .with_notifiers(notifiers);
    // The password authority (API.md §9); the CLI's `user del` and
    // `token revoke-all` end the CTI session through it too.
    match &config.password_backend {
        PasswordBackendConfig::Local => {}
        PasswordBackendConfig::Nethcti { url, timeout } => {
            let backend = otpgate_http::NethctiBackend::new(url, *timeout)?;
            svc = svc.with_password_backend(Arc::new(backend));
        }
        PasswordBackendConfig::Ldap(ldap) => {
            svc = svc.with_password_backend(Arc::new(ldap_backend(ldap)?));
        }
    }
    Ok(Arc::new(svc))
}

/// `config check --connect`: asks the password backend whether it can be
/// used (LDAP: a bind with the service account).
pub async fn check_backend_connection(config: &Config) -> Result<(), String> {
    match &config.password_backend {
        PasswordBackendConfig::Ldap(l) => {
            ldap_backend(l)?
                .probe()
                .await
                .map_err(|e| format!("LDAP directory check failed: {e}"))?;
            println!(
                "ldap: connected to {} and bound as {}",
                l.url,
                l.bind_dn.as_deref().unwrap_or("(anonymous)")
            );
        }
        PasswordBackendConfig::Local | PasswordBackendConfig::Nethcti { .. } => {
            println!("auth.backend: nothing to connect to for this backend");
        }
    }
    Ok(())
}

/// The `ldap` backend of `ldap` (API.md §12), its CA file read now.
pub fn ldap_backend(ldap: &LdapConfig) -> Result<otpgate_http::LdapBackend, String> {
    let ca_pem = match &ldap.ca_file {
        Some(path) => {
            Some(std::fs::read(path).map_err(|e| format!("ldap.ca_file {}: {e}", path.display()))?)
        }
        None => None,
    };
    otpgate_http::LdapBackend::new(otpgate_http::LdapSettings {
        url: ldap.url.clone(),
        starttls: ldap.starttls,
        ca_pem,
        bind_dn: ldap.bind_dn.clone(),
        bind_password: ldap.bind_password.clone().map(SecretString::from),
        user_base_dn: ldap.user_base_dn.clone(),
        user_filter: ldap.user_filter.clone(),
        display_name_attribute: ldap.display_name_attribute.clone(),
        email_attribute: ldap.email_attribute.clone(),
        phone_attribute: ldap.phone_attribute.clone(),
        timeout: ldap.timeout,
    })
}
