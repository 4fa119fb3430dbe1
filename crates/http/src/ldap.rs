//! The `ldap` password backend (API.md §12): a directory (OpenLDAP,
//! 389-DS, Samba, Active Directory) is the password authority.
//!
//! It lives next to the other network client backend (`nethcti`); the
//! core only sees [`PasswordBackend`]. Each check opens one connection of
//! its own (no pool: a login already costs a search and two binds, and a
//! connection per check keeps a password changed in the directory, or a
//! user deleted there, effective at once), then:
//! 1. refuses an empty password before any bind (an LDAP "unauthenticated
//!    bind" succeeds with an empty password and must never be a login);
//! 2. binds with the service account (`ldap.bind_dn`), if one is set;
//! 3. searches `ldap.user_base_dn` (subtree) with `ldap.user_filter`, the
//!    username escaped per RFC 4515; no entry (or more than one) is a wrong
//!    password;
//! 4. binds as the found DN with the password (result 49: wrong password).
//!
//! Every step, the connection and TLS handshake included, is bounded by
//! `ldap.timeout_ms`. A directory that cannot be reached, a TLS failure, a
//! service account refused or a base DN that does not exist are
//! [`BackendError::Unavailable`]: never a wrong password, never counted.
//! No password is ever logged.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use ldap3::{Ldap, LdapConnAsync, LdapConnSettings, Scope, SearchEntry, SearchOptions};
use otpgate_core::password_backend::{
    Accepted, BackendError, BackendProfile, PasswordBackend, Purpose,
};
use otpgate_core::secret::SecretString;

/// The default bound of each step.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// The default search filter.
pub const DEFAULT_USER_FILTER: &str = "(uid={username})";

/// LDAP result code "invalidCredentials".
const INVALID_CREDENTIALS: u32 = 49;

/// The settings of API.md §12, validated by the configuration.
#[derive(Clone, Default)]
pub struct LdapSettings {
    /// `ldap://HOST[:PORT]` or `ldaps://HOST[:PORT]`.
    pub url: String,
    /// StartTLS on an `ldap://` URL.
    pub starttls: bool,
    /// An extra trusted CA certificate (PEM), read at start.
    pub ca_pem: Option<Vec<u8>>,
    /// The service account's DN, if any.
    pub bind_dn: Option<String>,
    /// The service account's password.
    pub bind_password: Option<SecretString>,
    /// Where users are searched (subtree).
    pub user_base_dn: String,
    /// The search filter, `{username}` replaced by the escaped username.
    pub user_filter: String,
    /// Attribute of the display name, if any.
    pub display_name_attribute: Option<String>,
    /// Attribute of the e-mail address, if any.
    pub email_attribute: Option<String>,
    /// Attribute of the phone number, if any.
    pub phone_attribute: Option<String>,
    /// The bound of each step.
    pub timeout: Duration,
}

/// The directory as password authority.
pub struct LdapBackend {
    settings: LdapSettings,
    tls: Arc<rustls::ClientConfig>,
}

impl std::fmt::Debug for LdapBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LdapBackend")
            .field("url", &self.settings.url)
            .field("starttls", &self.settings.starttls)
            .field("user_base_dn", &self.settings.user_base_dn)
            .field("timeout", &self.settings.timeout)
            .finish_non_exhaustive()
    }
}

/// How a step failed.
enum Step {
    /// The directory answered with result code `rc` (and its message).
    Refused(u32, String),
    /// Nothing usable came back (unreachable, TLS, timeout, protocol).
    Down(String),
}

impl LdapBackend {
    /// A backend for `settings`. Errors are one-line configuration
    /// messages.
    pub fn new(settings: LdapSettings) -> Result<Self, String> {
        let url = settings.url.trim();
        if !(url.starts_with("ldap://") || url.starts_with("ldaps://")) {
            return Err(format!(
                "ldap.url {url:?} must be ldap://HOST[:PORT] or ldaps://HOST[:PORT]"
            ));
        }
        if settings.timeout.is_zero() {
            return Err("ldap.timeout_ms must be greater than 0".into());
        }
        if !settings.user_filter.contains("{username}") {
            return Err("ldap.user_filter must contain {username}".into());
        }
        let mut roots = rustls::RootCertStore::empty();
        for cert in rustls_native_certs::load_native_certs().certs {
            let _ = roots.add(cert);
        }
        if let Some(pem) = &settings.ca_pem {
            use rustls::pki_types::CertificateDer;
            use rustls::pki_types::pem::PemObject;
            let mut added = 0;
            for cert in CertificateDer::pem_slice_iter(pem) {
                let cert = cert.map_err(|e| format!("ldap.ca_file: {e}"))?;
                roots.add(cert).map_err(|e| format!("ldap.ca_file: {e}"))?;
                added += 1;
            }
            if added == 0 {
                return Err("ldap.ca_file holds no PEM certificate".into());
            }
        }
        let tls = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS: {e}"))?
        .with_root_certificates(roots)
        .with_no_client_auth();
        Ok(Self {
            settings: LdapSettings {
                url: url.to_owned(),
                ..settings
            },
            tls: Arc::new(tls),
        })
    }

    /// Opens a connection (TLS as configured) within the timeout.
    async fn connect(&self) -> Result<Ldap, String> {
        let s = &self.settings;
        let conn_settings = LdapConnSettings::new()
            .set_conn_timeout(s.timeout)
            .set_starttls(s.starttls && s.url.starts_with("ldap://"))
            .set_config(self.tls.clone());
        let open = LdapConnAsync::with_settings(conn_settings, &s.url);
        let (conn, mut ldap) = match tokio::time::timeout(s.timeout, open).await {
            Ok(Ok(pair)) => pair,
            Ok(Err(e)) => {
                let why = one_line(&e);
                let lower = why.to_ascii_lowercase();
                let what = if lower.contains("certificate") || lower.contains("tls") {
                    "TLS failed"
                } else {
                    "unreachable"
                };
                return Err(format!("{} {what}: {why}", s.url));
            }
            Err(_) => {
                return Err(format!(
                    "{} did not answer within {} ms",
                    s.url,
                    s.timeout.as_millis()
                ));
            }
        };
        tokio::spawn(async move {
            if let Err(e) = conn.drive().await {
                tracing::debug!(error = %one_line(&e), "LDAP connection ended");
            }
        });
        ldap.with_timeout(s.timeout);
        Ok(ldap)
    }

    /// A simple bind, bounded by the timeout.
    async fn bind(&self, ldap: &mut Ldap, dn: &str, password: &str) -> Result<(), Step> {
        let s = &self.settings;
        match tokio::time::timeout(s.timeout, ldap.simple_bind(dn, password)).await {
            Ok(Ok(r)) if r.rc == 0 => Ok(()),
            Ok(Ok(r)) => Err(Step::Refused(r.rc, r.text)),
            Ok(Err(e)) => Err(Step::Down(one_line(&e))),
            Err(_) => Err(Step::Down(format!(
                "no answer within {} ms",
                s.timeout.as_millis()
            ))),
        }
    }

    /// Binds with the service account, if one is configured.
    async fn bind_service(&self, ldap: &mut Ldap) -> Result<(), String> {
        let Some(dn) = &self.settings.bind_dn else {
            return Ok(());
        };
        let password = self
            .settings
            .bind_password
            .as_ref()
            .map(|p| p.expose().to_owned())
            .unwrap_or_default();
        match self.bind(ldap, dn, &password).await {
            Ok(()) => Ok(()),
            Err(Step::Refused(rc, text)) => Err(format!(
                "the service account {dn:?} was refused (result {rc}{})",
                if text.is_empty() {
                    String::new()
                } else {
                    format!(": {}", text.trim())
                }
            )),
            Err(Step::Down(why)) => Err(format!("service account bind: {why}")),
        }
    }

    /// Connects and binds with the service account (`config check
    /// --connect`). The error says why, without secrets.
    pub async fn probe(&self) -> Result<(), String> {
        let mut ldap = self.connect().await?;
        let bound = self.bind_service(&mut ldap).await;
        let _ = ldap.unbind().await;
        bound
    }

    /// The attributes asked for in the search.
    fn attributes(&self) -> Vec<String> {
        let s = &self.settings;
        [
            &s.display_name_attribute,
            &s.email_attribute,
            &s.phone_attribute,
        ]
        .into_iter()
        .flatten()
        .cloned()
        .collect::<Vec<_>>()
    }

    /// The user's entry, if exactly one matches.
    async fn find_user(
        &self,
        ldap: &mut Ldap,
        username: &str,
    ) -> Result<Option<SearchEntry>, String> {
        let s = &self.settings;
        let filter = user_filter(&s.user_filter, username);
        let mut attrs = self.attributes();
        if attrs.is_empty() {
            // "1.1": no attributes (RFC 4511 §4.5.1.8).
            attrs.push("1.1".to_owned());
        }
        let search = ldap
            .with_search_options(SearchOptions::new().sizelimit(2))
            .search(&s.user_base_dn, Scope::Subtree, &filter, attrs);
        let result = match tokio::time::timeout(s.timeout, search).await {
            Ok(Ok(r)) => r,
            Ok(Err(e)) => return Err(format!("search: {}", one_line(&e))),
            Err(_) => {
                return Err(format!(
                    "search: no answer within {} ms",
                    s.timeout.as_millis()
                ));
            }
        };
        let (entries, status) = (result.0, result.1);
        match status.rc {
            // success, sizeLimitExceeded (more than one: ambiguous)
            0 | 4 => {}
            32 => {
                return Err(format!(
                    "ldap.user_base_dn {:?} does not exist in the directory",
                    s.user_base_dn
                ));
            }
            rc => {
                return Err(format!(
                    "search refused (result {rc}: {})",
                    status.text.trim()
                ));
            }
        }
        if entries.len() != 1 {
            if entries.len() > 1 {
                tracing::warn!(user = %username, "ldap.user_filter matches more than one entry; refused");
            }
            return Ok(None);
        }
        Ok(entries.into_iter().next().map(SearchEntry::construct))
    }

    /// The profile fields of `entry`.
    fn profile(&self, entry: &SearchEntry) -> BackendProfile {
        let s = &self.settings;
        let get = |attr: &Option<String>| {
            let attr = attr.as_deref()?;
            entry
                .attrs
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(attr))
                .and_then(|(_, v)| v.first().cloned())
        };
        BackendProfile {
            display_name: get(&s.display_name_attribute),
            email: get(&s.email_attribute),
            phone: get(&s.phone_attribute),
            authoritative: true,
        }
    }

    async fn check_on(
        &self,
        ldap: &mut Ldap,
        username: &str,
        password: &SecretString,
    ) -> Result<Accepted, BackendError> {
        self.bind_service(ldap).await.map_err(unavailable)?;
        let Some(entry) = self.find_user(ldap, username).await.map_err(unavailable)? else {
            return Err(BackendError::WrongPassword);
        };
        match self.bind(ldap, &entry.dn, password.expose()).await {
            Ok(()) => Ok(Accepted {
                profile: self.profile(&entry),
                session: None,
            }),
            Err(Step::Refused(INVALID_CREDENTIALS, _)) => Err(BackendError::WrongPassword),
            Err(Step::Refused(rc, text)) => Err(unavailable(format!(
                "user bind refused (result {rc}: {})",
                text.trim()
            ))),
            Err(Step::Down(why)) => Err(unavailable(format!("user bind: {why}"))),
        }
    }
}

fn unavailable(why: String) -> BackendError {
    BackendError::Unavailable(format!("LDAP: {why}"))
}

/// `filter` with `{username}` replaced by `username` escaped per RFC 4515
/// (`*`, `(`, `)`, `\` and NUL become `\2a`, `\28`, `\29`, `\5c`, `\00`).
pub fn user_filter(filter: &str, username: &str) -> String {
    filter.replace("{username}", &ldap3::ldap_escape(username))
}

/// An error and its causes on one line.
fn one_line(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[async_trait]
impl PasswordBackend for LdapBackend {
    fn name(&self) -> &'static str {
        "ldap"
    }

    async fn check(
        &self,
        username: &str,
        password: &SecretString,
        _purpose: Purpose,
    ) -> Result<Accepted, BackendError> {
        if password.expose().is_empty() {
            return Err(BackendError::WrongPassword);
        }
        let mut ldap = self.connect().await.map_err(unavailable)?;
        let result = self.check_on(&mut ldap, username, password).await;
        let _ = tokio::time::timeout(self.settings.timeout, ldap.unbind()).await;
        if let Err(BackendError::Unavailable(why)) = &result {
            tracing::error!(error = %why, "LDAP directory check failed");
        }
        result
    }

    async fn end_session(&self, _username: &str, _session: &SecretString) {}
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> LdapSettings {
        LdapSettings {
            url: "ldap://127.0.0.1:389".into(),
            starttls: false,
            user_base_dn: "ou=people,dc=example,dc=org".into(),
            user_filter: DEFAULT_USER_FILTER.into(),
            timeout: DEFAULT_TIMEOUT,
            ..LdapSettings::default()
        }
    }

    #[test]
    fn the_username_is_escaped_in_the_filter() {
        assert_eq!(
            user_filter(DEFAULT_USER_FILTER, "*)(uid=*"),
            r"(uid=\2a\29\28uid=\2a)"
        );
        assert_eq!(
            user_filter(DEFAULT_USER_FILTER, "alice)(|(uid=*"),
            r"(uid=alice\29\28|\28uid=\2a)"
        );
        assert_eq!(
            user_filter("(&(objectClass=person)(sAMAccountName={username}))", r"a\b"),
            r"(&(objectClass=person)(sAMAccountName=a\5cb))"
        );
        assert_eq!(user_filter(DEFAULT_USER_FILTER, "alice"), "(uid=alice)");
    }

    #[test]
    fn the_settings_are_checked() {
        assert!(LdapBackend::new(settings()).is_ok());
        for bad in [
            LdapSettings {
                url: "http://x".into(),
                ..settings()
            },
            LdapSettings {
                timeout: Duration::ZERO,
                ..settings()
            },
            LdapSettings {
                user_filter: "(uid=alice)".into(),
                ..settings()
            },
            LdapSettings {
                ca_pem: Some(b"not a certificate".to_vec()),
                ..settings()
            },
        ] {
            assert!(LdapBackend::new(bad).is_err());
        }
    }

    #[tokio::test]
    async fn an_empty_password_is_refused_before_any_connection() {
        // Nothing listens on port 1: a connection would be Unavailable.
        let b = LdapBackend::new(LdapSettings {
            url: "ldap://127.0.0.1:1".into(),
            ..settings()
        })
        .unwrap();
        let empty = SecretString::new(String::new());
        assert_eq!(
            b.check("alice", &empty, Purpose::Login).await.unwrap_err(),
            BackendError::WrongPassword
        );
        let pw = SecretString::new("x".to_owned());
        assert!(matches!(
            b.check("alice", &pw, Purpose::Login).await.unwrap_err(),
            BackendError::Unavailable(_)
        ));
    }
}
