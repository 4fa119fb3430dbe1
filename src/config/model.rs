//! The validated configuration: what the rest of the binary reads. Built
//! from the raw settings by `build`; nothing here is raw text any more.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use otpgate_core::config::Policy;
use otpgate_http::HttpSettings;
use otpgate_store::StoreOptions;

use crate::notifier_config::NotifierConfig;

/// The validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// Where the server listens.
    pub listen: SocketAddr,
    /// Data directory (SQLite file, key files).
    pub data_dir: PathBuf,
    /// Store options (URL and tuning).
    pub store: StoreOptions,
    /// Rules' figures.
    pub policy: Policy,
    /// HTTP settings.
    pub http: HttpSettings,
    /// Log format.
    pub log_format: LogFormat,
    /// The file that was read, if any.
    pub file: Option<PathBuf>,
    /// How out-of-band codes are delivered, per channel.
    pub notifier: NotifierConfig,
    /// Who checks passwords.
    pub password_backend: PasswordBackendConfig,
}

/// How logs are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object a line.
    Json,
}

/// Who checks passwords (API.md §9): `auth.backend`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PasswordBackendConfig {
    /// argon2id hashes in the store (the default).
    Local,
    /// The CTI server at `url` (its REST base `V1`), each call bounded by
    /// `timeout`.
    Nethcti {
        /// `V1`, e.g. `http://127.0.0.1:8179/webrest`.
        url: String,
        /// The bound of each call.
        timeout: Duration,
    },
    /// An LDAP directory (API.md §12).
    Ldap(Box<LdapConfig>),
}

/// The `[ldap]` settings (API.md §12), validated.
#[derive(Clone, PartialEq, Eq)]
pub struct LdapConfig {
    /// `ldap://HOST[:PORT]` or `ldaps://HOST[:PORT]`.
    pub url: String,
    /// StartTLS on `ldap://` (false only for a loopback host).
    pub starttls: bool,
    /// An extra trusted CA certificate (PEM).
    pub ca_file: Option<PathBuf>,
    /// The service account, if any.
    pub bind_dn: Option<String>,
    /// Its password (never printed).
    pub bind_password: Option<String>,
    /// Where users are searched.
    pub user_base_dn: String,
    /// The search filter with `{username}`.
    pub user_filter: String,
    /// Profile attributes.
    pub display_name_attribute: Option<String>,
    /// Profile attributes.
    pub email_attribute: Option<String>,
    /// Profile attributes.
    pub phone_attribute: Option<String>,
    /// The bound of each step.
    pub timeout: Duration,
}

impl std::fmt::Debug for LdapConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LdapConfig")
            .field("url", &self.url)
            .field("starttls", &self.starttls)
            .field("bind_dn", &self.bind_dn)
            .field("user_base_dn", &self.user_base_dn)
            .field("user_filter", &self.user_filter)
            .finish_non_exhaustive()
    }
}
