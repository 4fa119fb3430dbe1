//! Configuration: an optional `otpgate.toml` overlaid by `OTPGATE_*`
//! environment variables (which win), validated into one [`Config`].
//!
//! The raw file is parsed strictly (unknown keys are refused, so a typo is
//! an error rather than a silently ignored setting). Every option is listed
//! in `otpgate.example.toml` and the README's table.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use otpgate_core::config::{Argon2Cost, LegacyPolicy, Policy, ThrottlePolicy};
use otpgate_http::ConnSettings;
use otpgate_http::CtiForwarding;
use otpgate_http::DEFAULT_LEGACY_DOCS_URL;
use otpgate_http::RelaySettings;
use otpgate_http::{HttpSettings, WsSettings};
use otpgate_http::{IpNet, TrustedProxies};
use otpgate_http::{USER_HEADER, UpstreamSettings};
use otpgate_store::{PostgresOptions, SqliteOptions, StoreOptions};

pub use crate::notifier_config::NotifierConfig;
use serde::Deserialize;

/// The file read when `--config` is not given (if it exists).
pub const DEFAULT_CONFIG_FILE: &str = "otpgate.toml";

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    listen: Option<String>,
    data_dir: Option<PathBuf>,
    database_url: Option<String>,
    api_prefix: Option<String>,
    issuer: Option<String>,
    trusted_proxies: Option<Vec<String>>,
    body_limit_bytes: Option<usize>,
    log_format: Option<String>,
    #[serde(default)]
    jwt: RawJwt,
    #[serde(default)]
    totp: RawTotp,
    #[serde(default)]
    lockout: RawLockout,
    #[serde(default)]
    rate_limit: RawRateLimit,
    #[serde(default)]
    sqlite: RawSqlite,
    #[serde(default)]
    argon2: RawArgon2,
    #[serde(default)]
    postgres: RawPostgres,
    #[serde(default)]
    notifier: RawNotifier,
    #[serde(default)]
    oob: RawOob,
    #[serde(default)]
    upstream: RawUpstream,
    #[serde(default)]
    legacy: RawLegacy,
    #[serde(default)]
    ws: RawWs,
    #[serde(default)]
    audit: RawAudit,
    #[serde(default)]
    password: RawPassword,
    #[serde(default)]
    two_factor: RawTwoFactor,
    #[serde(default)]
    connections: RawConnections,
    #[serde(default)]
    auth: RawAuth,
    #[serde(default)]
    nethcti: RawNethcti,
    #[serde(default)]
    ldap: RawLdap,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLdap {
    url: Option<String>,
    starttls: Option<bool>,
    ca_file: Option<PathBuf>,
    bind_dn: Option<String>,
    bind_password: Option<String>,
    user_base_dn: Option<String>,
    user_filter: Option<String>,
    display_name_attribute: Option<String>,
    email_attribute: Option<String>,
    phone_attribute: Option<String>,
    timeout_ms: Option<u64>,
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

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAuth {
    backend: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawNethcti {
    url: Option<String>,
    /// The CTI server's Socket.IO (`ws://` or `wss://HOST:PORT/PATH/`).
    ws_url: Option<String>,
    timeout_ms: Option<u64>,
    freepbx_apis: Option<Vec<String>>,
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

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPassword {
    min_length: Option<usize>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTwoFactor {
    required: Option<bool>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConnections {
    header_timeout_ms: Option<u64>,
    idle_timeout_ms: Option<u64>,
    body_timeout_ms: Option<u64>,
    max: Option<usize>,
    max_per_address: Option<usize>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAudit {
    retention_days: Option<u32>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawNotifier {
    email: Option<String>,
    sms: Option<String>,
    #[serde(default)]
    smtp: RawSmtp,
    #[serde(default)]
    webhook: RawWebhook,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSmtp {
    host: Option<String>,
    port: Option<u16>,
    tls: Option<String>,
    username: Option<String>,
    password: Option<String>,
    from: Option<String>,
    timeout_secs: Option<u64>,
    ca_file: Option<PathBuf>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawWebhook {
    url: Option<String>,
    timeout_ms: Option<u64>,
    retries: Option<u32>,
    bearer_token: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawUpstream {
    url: Option<String>,
    ws_url: Option<String>,
    timeout_ms: Option<u64>,
    headers: Option<BTreeMap<String, String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawOob {
    send_max: Option<u32>,
    send_window_secs: Option<i64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLegacy {
    enabled: Option<bool>,
    sunset: Option<String>,
    deprecated_since: Option<String>,
    docs_url: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawWs {
    login_timeout_ms: Option<u64>,
    poll_interval_ms: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPostgres {
    max_connections: Option<u32>,
    acquire_timeout_ms: Option<u64>,
    connect_timeout_ms: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawJwt {
    lifetime_secs: Option<i64>,
    persistent_lifetime_secs: Option<i64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTotp {
    skew_steps: Option<u32>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLockout {
    otp_max_failures: Option<u32>,
    login_user_max_failures: Option<u32>,
    login_ip_max_failures: Option<u32>,
    login_ip_window_secs: Option<i64>,
    backoff_base_secs: Option<i64>,
    backoff_cap_secs: Option<i64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRateLimit {
    average: Option<u32>,
    burst: Option<u32>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSqlite {
    synchronous: Option<String>,
    busy_timeout_ms: Option<u64>,
    max_connections: Option<u32>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawArgon2 {
    memory_kib: Option<u32>,
    iterations: Option<u32>,
    parallelism: Option<u32>,
    threads: Option<usize>,
    queue: Option<usize>,
}

/// How logs are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object a line.
    Json,
}

/// Every key of the configuration file (`section.key`), read from the
/// structs above through serde's "unknown field, expected one of ..."
/// message, so the list cannot drift from what is parsed (tests of
/// `config check`, the README table and the example file).
#[cfg(test)]
pub(crate) fn known_keys() -> Vec<String> {
    fn fields_of(section: &str) -> Option<Vec<String>> {
        let text = if section.is_empty() {
            "zz_unknown = 1\n".to_owned()
        } else {
            format!("[{section}]\nzz_unknown = 1\n")
        };
        let e = toml::from_str::<Raw>(&text).err()?;
        let message = e.message().to_owned();
        let list = message.strip_prefix("unknown field `zz_unknown`, expected")?;
        Some(
            list.split('`')
                .skip(1)
                .step_by(2)
                .map(str::to_owned)
                .collect(),
        )
    }
    fn walk(section: &str, out: &mut Vec<String>) {
        for field in fields_of(section).unwrap_or_default() {
            let key = if section.is_empty() {
                field
            } else {
                format!("{section}.{field}")
            };
            if fields_of(&key).is_some() {
                walk(&key, out);
            } else {
                out.push(key);
            }
        }
    }
    let mut out = Vec::new();
    walk("", &mut out);
    out
}

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

/// Environment variables read, in the order applied.
pub const ENV_VARS: &[&str] = &[
    "OTPGATE_LISTEN",
    "OTPGATE_DATA_DIR",
    "OTPGATE_DATABASE_URL",
    "OTPGATE_API_PREFIX",
    "OTPGATE_ISSUER",
    "OTPGATE_TRUSTED_PROXIES",
    "OTPGATE_BODY_LIMIT_BYTES",
    "OTPGATE_LOG_FORMAT",
    "OTPGATE_JWT_LIFETIME_SECS",
    "OTPGATE_JWT_PERSISTENT_LIFETIME_SECS",
    "OTPGATE_TOTP_SKEW_STEPS",
    "OTPGATE_LOCKOUT_OTP_MAX_FAILURES",
    "OTPGATE_LOCKOUT_LOGIN_USER_MAX_FAILURES",
    "OTPGATE_LOCKOUT_LOGIN_IP_MAX_FAILURES",
    "OTPGATE_LOCKOUT_LOGIN_IP_WINDOW_SECS",
    "OTPGATE_LOCKOUT_BACKOFF_BASE_SECS",
    "OTPGATE_LOCKOUT_BACKOFF_CAP_SECS",
    "OTPGATE_RATE_LIMIT_AVERAGE",
    "OTPGATE_RATE_LIMIT_BURST",
    "OTPGATE_SQLITE_SYNCHRONOUS",
    "OTPGATE_SQLITE_BUSY_TIMEOUT_MS",
    "OTPGATE_SQLITE_MAX_CONNECTIONS",
    "OTPGATE_ARGON2_MEMORY_KIB",
    "OTPGATE_ARGON2_ITERATIONS",
    "OTPGATE_ARGON2_PARALLELISM",
    "OTPGATE_HASHING_THREADS",
    "OTPGATE_HASHING_QUEUE",
    "OTPGATE_POSTGRES_MAX_CONNECTIONS",
    "OTPGATE_POSTGRES_ACQUIRE_TIMEOUT_MS",
    "OTPGATE_POSTGRES_CONNECT_TIMEOUT_MS",
    "OTPGATE_NOTIFIER_EMAIL",
    "OTPGATE_NOTIFIER_SMS",
    "OTPGATE_SMTP_HOST",
    "OTPGATE_SMTP_PORT",
    "OTPGATE_SMTP_TLS",
    "OTPGATE_SMTP_USERNAME",
    "OTPGATE_SMTP_PASSWORD",
    "OTPGATE_SMTP_FROM",
    "OTPGATE_SMTP_TIMEOUT_SECS",
    "OTPGATE_SMTP_CA_FILE",
    "OTPGATE_WEBHOOK_URL",
    "OTPGATE_WEBHOOK_TIMEOUT_MS",
    "OTPGATE_WEBHOOK_RETRIES",
    "OTPGATE_WEBHOOK_BEARER_TOKEN",
    "OTPGATE_OOB_SEND_MAX",
    "OTPGATE_OOB_SEND_WINDOW_SECS",
    "OTPGATE_UPSTREAM_URL",
    "OTPGATE_UPSTREAM_WS_URL",
    "OTPGATE_UPSTREAM_TIMEOUT_MS",
    "OTPGATE_UPSTREAM_HEADERS",
    "OTPGATE_LEGACY_ENABLED",
    "OTPGATE_LEGACY_SUNSET",
    "OTPGATE_LEGACY_DEPRECATED_SINCE",
    "OTPGATE_LEGACY_DOCS_URL",
    "OTPGATE_WS_LOGIN_TIMEOUT_MS",
    "OTPGATE_WS_POLL_INTERVAL_MS",
    "OTPGATE_AUDIT_RETENTION_DAYS",
    "OTPGATE_PASSWORD_MIN_LENGTH",
    "OTPGATE_TWO_FACTOR_REQUIRED",
    "OTPGATE_CONNECTIONS_HEADER_TIMEOUT_MS",
    "OTPGATE_CONNECTIONS_IDLE_TIMEOUT_MS",
    "OTPGATE_CONNECTIONS_BODY_TIMEOUT_MS",
    "OTPGATE_CONNECTIONS_MAX",
    "OTPGATE_CONNECTIONS_MAX_PER_ADDRESS",
    "OTPGATE_AUTH_BACKEND",
    "OTPGATE_NETHCTI_URL",
    "OTPGATE_LDAP_URL",
    "OTPGATE_LDAP_STARTTLS",
    "OTPGATE_LDAP_CA_FILE",
    "OTPGATE_LDAP_BIND_DN",
    "OTPGATE_LDAP_BIND_PASSWORD",
    "OTPGATE_LDAP_USER_BASE_DN",
    "OTPGATE_LDAP_USER_FILTER",
    "OTPGATE_LDAP_DISPLAY_NAME_ATTRIBUTE",
    "OTPGATE_LDAP_EMAIL_ATTRIBUTE",
    "OTPGATE_LDAP_PHONE_ATTRIBUTE",
    "OTPGATE_LDAP_TIMEOUT_MS",
    "OTPGATE_NETHCTI_TIMEOUT_MS",
    "OTPGATE_NETHCTI_FREEPBX_APIS",
    "OTPGATE_NETHCTI_WS_URL",
];

/// The NethCTI middleware's variables that mean the same thing as one of
/// ours (drop-in configuration), read before the `OTPGATE_*` ones, which
/// win when both are set. See README "Drop-in configuration".
pub const NETHVOICE_ENV_VARS: &[&str] = &[
    "NETHVOICE_MIDDLEWARE_LISTEN_ADDRESS",
    "NETHVOICE_MIDDLEWARE_ISSUER_2FA",
    "NETHVOICE_MIDDLEWARE_SECRETS_DIR",
    "NETHVOICE_MIDDLEWARE_SENSITIVE_LIST",
    "NETHVOICE_MIDDLEWARE_TRUSTED_PROXY",
    "NETHVOICE_MIDDLEWARE_GLOBAL_RATE_LIMIT_AVERAGE",
    "NETHVOICE_MIDDLEWARE_GLOBAL_RATE_LIMIT_BURST",
    "NETHVOICE_MIDDLEWARE_V1_PROTOCOL",
    "NETHVOICE_MIDDLEWARE_V1_API_ENDPOINT",
    "NETHVOICE_MIDDLEWARE_V1_API_PATH",
    "NETHVOICE_MIDDLEWARE_V1_WS_ENDPOINT",
    "NETHVOICE_MIDDLEWARE_V1_WS_PATH",
    "NETHVOICE_MIDDLEWARE_FREEPBX_APIS",
];

/// `a,b , c` as a list without empty entries.
fn comma_list(v: &str) -> Vec<String> {
    v.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

/// Applies the NethCTI middleware's variables (see [`NETHVOICE_ENV_VARS`]).
fn apply_nethvoice_env(raw: &mut Raw, env: &dyn Fn(&str) -> Option<String>) -> Result<(), String> {
    const P: &str = "NETHVOICE_MIDDLEWARE_";
    let get = |name: &str| {
        NETHVOICE_ENV_VARS
            .iter()
            .find(|v| v.strip_prefix(P) == Some(name))
            .and_then(|v| env(v))
            .filter(|v| !v.trim().is_empty())
    };
    if let Some(v) = get("LISTEN_ADDRESS") {
        raw.listen = Some(v.trim().to_owned());
    }
    if let Some(v) = get("ISSUER_2FA") {
        raw.issuer = Some(v);
    }
    if let Some(v) = get("SECRETS_DIR") {
        raw.data_dir = Some(PathBuf::from(v));
    }
    if let Some(v) = get("SENSITIVE_LIST") {
        // otpgate never logs bodies, so there is nothing to mask: the list
        // is only checked to be a list of key fragments.
        let keys = comma_list(&v);
        if keys.is_empty()
            || keys.iter().any(|k| {
                !k.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "_-.".contains(c))
            })
        {
            return Err(format!(
                "{P}SENSITIVE_LIST={v:?} must be a comma-separated list of key names"
            ));
        }
    }
    if let Some(v) = get("TRUSTED_PROXY") {
        raw.trusted_proxies = Some(comma_list(&v));
    }
    if let Some(v) = get("GLOBAL_RATE_LIMIT_AVERAGE") {
        raw.rate_limit.average = Some(parse_env(&format!("{P}GLOBAL_RATE_LIMIT_AVERAGE"), &v)?);
    }
    if let Some(v) = get("GLOBAL_RATE_LIMIT_BURST") {
        raw.rate_limit.burst = Some(parse_env(&format!("{P}GLOBAL_RATE_LIMIT_BURST"), &v)?);
    }
    if let Some(v) = get("FREEPBX_APIS") {
        raw.nethcti.freepbx_apis = Some(comma_list(&v));
    }
    if let Some(endpoint) = get("V1_API_ENDPOINT") {
        let protocol = get("V1_PROTOCOL").unwrap_or_else(|| "http".into());
        let protocol = protocol.trim().to_ascii_lowercase();
        if !matches!(protocol.as_str(), "http" | "https") {
            return Err(format!("{P}V1_PROTOCOL={protocol:?} must be http or https"));
        }
        let path = get("V1_API_PATH").unwrap_or_default();
        let path = path.trim().trim_end_matches('/');
        let sep = if path.is_empty() || path.starts_with('/') {
            ""
        } else {
            "/"
        };
        let v1 = format!(
            "{protocol}://{}{sep}{path}",
            endpoint.trim().trim_end_matches('/')
        );
        // The CTI server is the password authority (API.md §9), and the
        // application the proxy forwards to.
        raw.upstream.url = Some(v1.clone());
        raw.nethcti.url = Some(v1);
        raw.auth.backend = Some("nethcti".into());
    } else if get("V1_PROTOCOL").is_some() || get("V1_API_PATH").is_some() {
        return Err(format!(
            "{P}V1_PROTOCOL and {P}V1_API_PATH need {P}V1_API_ENDPOINT"
        ));
    }
    if let Some(endpoint) = get("V1_WS_ENDPOINT") {
        if get("V1_API_ENDPOINT").is_none() {
            return Err(format!("{P}V1_WS_ENDPOINT needs {P}V1_API_ENDPOINT"));
        }
        // The CTI server's Socket.IO: ws:// or wss:// as the REST API is
        // http:// or https://.
        let scheme = match get("V1_PROTOCOL").map(|p| p.trim().to_ascii_lowercase()) {
            Some(p) if p == "https" => "wss",
            _ => "ws",
        };
        let path = get("V1_WS_PATH").unwrap_or_else(|| "/socket.io".into());
        let path = path.trim().trim_matches('/');
        raw.nethcti.ws_url = Some(format!(
            "{scheme}://{}/{path}/",
            endpoint.trim().trim_end_matches('/')
        ));
    } else if get("V1_WS_PATH").is_some() {
        return Err(format!("{P}V1_WS_PATH needs {P}V1_WS_ENDPOINT"));
    }
    Ok(())
}

fn parse_env<T: std::str::FromStr>(name: &str, value: &str) -> Result<T, String> {
    value
        .trim()
        .parse()
        .map_err(|_| format!("{name}={value:?} is not a valid value"))
}

fn apply_env(raw: &mut Raw, env: &dyn Fn(&str) -> Option<String>) -> Result<(), String> {
    apply_nethvoice_env(raw, env)?;
    for &name in ENV_VARS {
        let Some(v) = env(name) else { continue };
        match name {
            "OTPGATE_LISTEN" => raw.listen = Some(v),
            "OTPGATE_DATA_DIR" => raw.data_dir = Some(PathBuf::from(v)),
            "OTPGATE_DATABASE_URL" => raw.database_url = Some(v),
            "OTPGATE_API_PREFIX" => raw.api_prefix = Some(v),
            "OTPGATE_ISSUER" => raw.issuer = Some(v),
            "OTPGATE_TRUSTED_PROXIES" => {
                raw.trusted_proxies = Some(
                    v.split(',')
                        .map(str::trim)
                        .filter(|s| !s.is_empty())
                        .map(str::to_owned)
                        .collect(),
                );
            }
            "OTPGATE_BODY_LIMIT_BYTES" => raw.body_limit_bytes = Some(parse_env(name, &v)?),
            "OTPGATE_LOG_FORMAT" => raw.log_format = Some(v),
            "OTPGATE_JWT_LIFETIME_SECS" => raw.jwt.lifetime_secs = Some(parse_env(name, &v)?),
            "OTPGATE_JWT_PERSISTENT_LIFETIME_SECS" => {
                raw.jwt.persistent_lifetime_secs = Some(parse_env(name, &v)?);
            }
            "OTPGATE_TOTP_SKEW_STEPS" => raw.totp.skew_steps = Some(parse_env(name, &v)?),
            "OTPGATE_LOCKOUT_OTP_MAX_FAILURES" => {
                raw.lockout.otp_max_failures = Some(parse_env(name, &v)?)
            }
            "OTPGATE_LOCKOUT_LOGIN_USER_MAX_FAILURES" => {
                raw.lockout.login_user_max_failures = Some(parse_env(name, &v)?);
            }
            "OTPGATE_LOCKOUT_LOGIN_IP_MAX_FAILURES" => {
                raw.lockout.login_ip_max_failures = Some(parse_env(name, &v)?);
            }
            "OTPGATE_LOCKOUT_LOGIN_IP_WINDOW_SECS" => {
                raw.lockout.login_ip_window_secs = Some(parse_env(name, &v)?);
            }
            "OTPGATE_LOCKOUT_BACKOFF_BASE_SECS" => {
                raw.lockout.backoff_base_secs = Some(parse_env(name, &v)?)
            }
            "OTPGATE_LOCKOUT_BACKOFF_CAP_SECS" => {
                raw.lockout.backoff_cap_secs = Some(parse_env(name, &v)?)
            }
            "OTPGATE_RATE_LIMIT_AVERAGE" => raw.rate_limit.average = Some(parse_env(name, &v)?),
            "OTPGATE_RATE_LIMIT_BURST" => raw.rate_limit.burst = Some(parse_env(name, &v)?),
            "OTPGATE_SQLITE_SYNCHRONOUS" => raw.sqlite.synchronous = Some(v),
            "OTPGATE_SQLITE_BUSY_TIMEOUT_MS" => {
                raw.sqlite.busy_timeout_ms = Some(parse_env(name, &v)?)
            }
            "OTPGATE_SQLITE_MAX_CONNECTIONS" => {
                raw.sqlite.max_connections = Some(parse_env(name, &v)?)
            }
            "OTPGATE_ARGON2_MEMORY_KIB" => raw.argon2.memory_kib = Some(parse_env(name, &v)?),
            "OTPGATE_ARGON2_ITERATIONS" => raw.argon2.iterations = Some(parse_env(name, &v)?),
            "OTPGATE_ARGON2_PARALLELISM" => raw.argon2.parallelism = Some(parse_env(name, &v)?),
            "OTPGATE_HASHING_THREADS" => raw.argon2.threads = Some(parse_env(name, &v)?),
            "OTPGATE_HASHING_QUEUE" => raw.argon2.queue = Some(parse_env(name, &v)?),
            "OTPGATE_POSTGRES_MAX_CONNECTIONS" => {
                raw.postgres.max_connections = Some(parse_env(name, &v)?)
            }
            "OTPGATE_POSTGRES_ACQUIRE_TIMEOUT_MS" => {
                raw.postgres.acquire_timeout_ms = Some(parse_env(name, &v)?);
            }
            "OTPGATE_POSTGRES_CONNECT_TIMEOUT_MS" => {
                raw.postgres.connect_timeout_ms = Some(parse_env(name, &v)?);
            }
            "OTPGATE_NOTIFIER_EMAIL" => raw.notifier.email = Some(v),
            "OTPGATE_NOTIFIER_SMS" => raw.notifier.sms = Some(v),
            "OTPGATE_SMTP_HOST" => raw.notifier.smtp.host = Some(v),
            "OTPGATE_SMTP_PORT" => raw.notifier.smtp.port = Some(parse_env(name, &v)?),
            "OTPGATE_SMTP_TLS" => raw.notifier.smtp.tls = Some(v),
            "OTPGATE_SMTP_USERNAME" => raw.notifier.smtp.username = Some(v),
            "OTPGATE_SMTP_PASSWORD" => raw.notifier.smtp.password = Some(v),
            "OTPGATE_SMTP_FROM" => raw.notifier.smtp.from = Some(v),
            "OTPGATE_SMTP_TIMEOUT_SECS" => {
                raw.notifier.smtp.timeout_secs = Some(parse_env(name, &v)?);
            }
            "OTPGATE_SMTP_CA_FILE" => raw.notifier.smtp.ca_file = Some(PathBuf::from(v)),
            "OTPGATE_WEBHOOK_URL" => raw.notifier.webhook.url = Some(v),
            "OTPGATE_WEBHOOK_TIMEOUT_MS" => {
                raw.notifier.webhook.timeout_ms = Some(parse_env(name, &v)?);
            }
            "OTPGATE_WEBHOOK_RETRIES" => raw.notifier.webhook.retries = Some(parse_env(name, &v)?),
            "OTPGATE_WEBHOOK_BEARER_TOKEN" => raw.notifier.webhook.bearer_token = Some(v),
            "OTPGATE_OOB_SEND_MAX" => raw.oob.send_max = Some(parse_env(name, &v)?),
            "OTPGATE_OOB_SEND_WINDOW_SECS" => {
                raw.oob.send_window_secs = Some(parse_env(name, &v)?);
            }
            "OTPGATE_UPSTREAM_URL" => raw.upstream.url = Some(v),
            "OTPGATE_AUTH_BACKEND" => raw.auth.backend = Some(v),
            "OTPGATE_NETHCTI_URL" => raw.nethcti.url = Some(v),
            "OTPGATE_NETHCTI_TIMEOUT_MS" => raw.nethcti.timeout_ms = Some(parse_env(name, &v)?),
            "OTPGATE_NETHCTI_FREEPBX_APIS" => raw.nethcti.freepbx_apis = Some(comma_list(&v)),
            "OTPGATE_NETHCTI_WS_URL" => raw.nethcti.ws_url = Some(v),
            "OTPGATE_LDAP_URL" => raw.ldap.url = Some(v),
            "OTPGATE_LDAP_STARTTLS" => raw.ldap.starttls = Some(parse_bool(name, &v)?),
            "OTPGATE_LDAP_CA_FILE" => raw.ldap.ca_file = Some(PathBuf::from(v)),
            "OTPGATE_LDAP_BIND_DN" => raw.ldap.bind_dn = Some(v),
            "OTPGATE_LDAP_BIND_PASSWORD" => raw.ldap.bind_password = Some(v),
            "OTPGATE_LDAP_USER_BASE_DN" => raw.ldap.user_base_dn = Some(v),
            "OTPGATE_LDAP_USER_FILTER" => raw.ldap.user_filter = Some(v),
            "OTPGATE_LDAP_DISPLAY_NAME_ATTRIBUTE" => raw.ldap.display_name_attribute = Some(v),
            "OTPGATE_LDAP_EMAIL_ATTRIBUTE" => raw.ldap.email_attribute = Some(v),
            "OTPGATE_LDAP_PHONE_ATTRIBUTE" => raw.ldap.phone_attribute = Some(v),
            "OTPGATE_LDAP_TIMEOUT_MS" => raw.ldap.timeout_ms = Some(parse_env(name, &v)?),
            "OTPGATE_UPSTREAM_WS_URL" => raw.upstream.ws_url = Some(v),
            "OTPGATE_UPSTREAM_TIMEOUT_MS" => raw.upstream.timeout_ms = Some(parse_env(name, &v)?),
            "OTPGATE_UPSTREAM_HEADERS" => raw.upstream.headers = Some(parse_header_list(&v)?),
            "OTPGATE_LEGACY_ENABLED" => raw.legacy.enabled = Some(parse_bool(name, &v)?),
            "OTPGATE_LEGACY_SUNSET" => raw.legacy.sunset = Some(v),
            "OTPGATE_LEGACY_DEPRECATED_SINCE" => raw.legacy.deprecated_since = Some(v),
            "OTPGATE_LEGACY_DOCS_URL" => raw.legacy.docs_url = Some(v),
            "OTPGATE_WS_LOGIN_TIMEOUT_MS" => raw.ws.login_timeout_ms = Some(parse_env(name, &v)?),
            "OTPGATE_WS_POLL_INTERVAL_MS" => raw.ws.poll_interval_ms = Some(parse_env(name, &v)?),
            "OTPGATE_AUDIT_RETENTION_DAYS" => {
                raw.audit.retention_days = Some(parse_env(name, &v)?);
            }
            "OTPGATE_PASSWORD_MIN_LENGTH" => {
                raw.password.min_length = Some(parse_env(name, &v)?);
            }
            "OTPGATE_TWO_FACTOR_REQUIRED" => {
                raw.two_factor.required = Some(parse_bool(name, &v)?);
            }
            "OTPGATE_CONNECTIONS_HEADER_TIMEOUT_MS" => {
                raw.connections.header_timeout_ms = Some(parse_env(name, &v)?);
            }
            "OTPGATE_CONNECTIONS_IDLE_TIMEOUT_MS" => {
                raw.connections.idle_timeout_ms = Some(parse_env(name, &v)?);
            }
            "OTPGATE_CONNECTIONS_BODY_TIMEOUT_MS" => {
                raw.connections.body_timeout_ms = Some(parse_env(name, &v)?);
            }
            "OTPGATE_CONNECTIONS_MAX" => raw.connections.max = Some(parse_env(name, &v)?),
            "OTPGATE_CONNECTIONS_MAX_PER_ADDRESS" => {
                raw.connections.max_per_address = Some(parse_env(name, &v)?);
            }
            _ => {}
        }
    }
    Ok(())
}

fn parse_bool(name: &str, value: &str) -> Result<bool, String> {
    match value.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Ok(true),
        "false" | "0" | "no" | "off" => Ok(false),
        _ => Err(format!("{name}={value:?} must be true or false")),
    }
}

/// Validates `[ldap]` (API.md §12).
fn ldap_settings(raw: RawLdap) -> Result<LdapConfig, String> {
    let nonempty = |v: Option<String>| v.map(|s| s.trim().to_owned()).filter(|s| !s.is_empty());
    let url = nonempty(raw.url)
        .map(|u| u.trim_end_matches('/').to_owned())
        .ok_or(
            "auth.backend = \"ldap\" needs ldap.url (ldaps://HOST[:PORT] or ldap://HOST[:PORT])",
        )?;
    let rest = url
        .strip_prefix("ldaps://")
        .or_else(|| url.strip_prefix("ldap://"))
        .filter(|r| !r.is_empty() && !r.contains(['/', '?']))
        .ok_or_else(|| {
            format!("ldap.url {url:?} must be ldaps://HOST[:PORT] or ldap://HOST[:PORT]")
        })?;
    let host = match rest.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or_default(),
        None => rest.split(':').next().unwrap_or_default(),
    };
    let starttls = raw.starttls.unwrap_or(true);
    let loopback = host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    if url.starts_with("ldap://") && !starttls && !loopback {
        return Err(format!(
            "ldap.starttls = false (passwords in clear) is accepted only for a loopback host, not {host:?}: use StartTLS or ldaps://"
        ));
    }
    if let Some(ca) = &raw.ca_file {
        std::fs::metadata(ca).map_err(|e| format!("ldap.ca_file {}: {e}", ca.display()))?;
    }
    let user_base_dn = nonempty(raw.user_base_dn).ok_or(
        "auth.backend = \"ldap\" needs ldap.user_base_dn (e.g. ou=People,dc=example,dc=org)",
    )?;
    let user_filter = nonempty(raw.user_filter).unwrap_or_else(|| "(uid={username})".to_owned());
    if !user_filter.contains("{username}") {
        return Err(format!(
            "ldap.user_filter {user_filter:?} must contain {{username}}"
        ));
    }
    let bind_dn = nonempty(raw.bind_dn);
    if bind_dn.is_some() && raw.bind_password.as_deref().unwrap_or_default().is_empty() {
        return Err(
            "ldap.bind_dn needs ldap.bind_password (an empty password is an unauthenticated bind)"
                .into(),
        );
    }
    let timeout = Duration::from_millis(raw.timeout_ms.unwrap_or(10_000));
    if timeout.is_zero() {
        return Err("ldap.timeout_ms must be greater than 0".into());
    }
    Ok(LdapConfig {
        url,
        starttls,
        ca_file: raw.ca_file,
        bind_dn,
        bind_password: raw.bind_password,
        user_base_dn,
        user_filter,
        display_name_attribute: nonempty(raw.display_name_attribute),
        email_attribute: nonempty(raw.email_attribute),
        phone_attribute: nonempty(raw.phone_attribute),
        timeout,
    })
}

/// Validates `auth.backend`, `[nethcti]` and `[ldap]`.
fn password_backend_settings(
    auth: RawAuth,
    nethcti: RawNethcti,
    ldap: RawLdap,
) -> Result<PasswordBackendConfig, String> {
    let backend = auth.backend.map(|b| b.trim().to_ascii_lowercase());
    match backend.as_deref() {
        None | Some("local") => Ok(PasswordBackendConfig::Local),
        Some("nethcti") => {
            let url = nethcti
                .url
                .map(|u| u.trim().trim_end_matches('/').to_owned())
                .filter(|u| !u.is_empty())
                .ok_or("auth.backend = \"nethcti\" needs nethcti.url (the CTI server's REST base, e.g. http://127.0.0.1:8179/webrest)")?;
            let parsed: Option<axum::http::Uri> = url.parse().ok();
            if !parsed.as_ref().is_some_and(|u| {
                matches!(u.scheme_str(), Some("http" | "https"))
                    && u.host().is_some()
                    && u.query().is_none()
            }) {
                return Err(format!(
                    "nethcti.url {url:?} must be http(s)://HOST[:PORT][/PATH] (no query)"
                ));
            }
            let timeout = Duration::from_millis(nethcti.timeout_ms.unwrap_or(10_000));
            if timeout.is_zero() {
                return Err("nethcti.timeout_ms must be greater than 0".into());
            }
            Ok(PasswordBackendConfig::Nethcti { url, timeout })
        }
        Some("ldap") => Ok(PasswordBackendConfig::Ldap(Box::new(ldap_settings(ldap)?))),
        Some(other) => Err(format!(
            "auth.backend {other:?} must be local, nethcti or ldap"
        )),
    }
}

/// `nethcti` mode's forwarding (API.md §9): the FreePBX allow-list
/// (`nethcti.freepbx_apis`), each entry a path starting with `/`.
fn cti_forwarding(
    backend: &PasswordBackendConfig,
    freepbx_apis: Option<Vec<String>>,
) -> Result<Option<CtiForwarding>, String> {
    // Only the CTI server's mode forwards with the user's CTI session.
    if !matches!(backend, PasswordBackendConfig::Nethcti { .. }) {
        return Ok(None);
    }
    let Some(list) = freepbx_apis else {
        return Ok(Some(CtiForwarding::default()));
    };
    let list: Vec<String> = list
        .iter()
        .map(|p| p.trim().trim_end_matches('/').to_owned())
        .filter(|p| !p.is_empty())
        .collect();
    if let Some(bad) = list.iter().find(|p| {
        !p.starts_with('/')
            || p.contains(['?', '#', ' ', '\\'])
            || p.split('/').any(|s| s == "." || s == "..")
    }) {
        return Err(format!(
            "nethcti.freepbx_apis: {bad:?} must be a path starting with / (no query, no dot segment)"
        ));
    }
    Ok(Some(CtiForwarding { freepbx_apis: list }))
}

/// `Name=value,Other=value` (the env form of `[upstream.headers]`).
fn parse_header_list(text: &str) -> Result<BTreeMap<String, String>, String> {
    text.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|pair| {
            pair.split_once('=')
                .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
                .ok_or_else(|| format!("OTPGATE_UPSTREAM_HEADERS: {pair:?} is not Name=value"))
        })
        .collect()
}

/// A date `YYYY-MM-DD` (midnight UTC) or an RFC 3339 time, as unix seconds.
fn parse_date(name: &str, text: &str) -> Result<i64, String> {
    use time::format_description::well_known::Rfc3339;
    let text = text.trim();
    if let Ok(t) = time::OffsetDateTime::parse(text, &Rfc3339) {
        return Ok(t.unix_timestamp());
    }
    time::Date::parse(
        text,
        time::macros::format_description!("[year]-[month]-[day]"),
    )
    .map(|d| d.midnight().assume_utc().unix_timestamp())
    .map_err(|_| format!("{name} {text:?} must be a date like 2026-06-01 or an RFC 3339 time"))
}

/// The reverse proxy's and the Socket.IO relay's settings.
fn upstream_settings(
    raw: RawUpstream,
) -> Result<(Option<UpstreamSettings>, Option<RelaySettings>), String> {
    use otpgate_http::{HeaderName, HeaderValue, Uri};
    let url = raw.url.filter(|u| !u.trim().is_empty());
    let ws_url = raw.ws_url.filter(|u| !u.trim().is_empty());
    if url.is_none() && ws_url.is_none() {
        if raw.headers.is_some() || raw.timeout_ms.is_some() {
            return Err(
                "upstream.timeout_ms and upstream.headers need upstream.url or upstream.ws_url"
                    .into(),
            );
        }
        return Ok((None, None));
    }
    let timeout_ms = raw.timeout_ms.unwrap_or(30_000);
    if timeout_ms == 0 {
        return Err("upstream.timeout_ms must be greater than 0".into());
    }
    let reserved = [
        "authorization",
        "host",
        "connection",
        "upgrade",
        "transfer-encoding",
        USER_HEADER,
    ];
    let mut headers = Vec::new();
    for (name, value) in raw.headers.unwrap_or_default() {
        let n = HeaderName::from_bytes(name.as_bytes())
            .map_err(|_| format!("upstream.headers: {name:?} is not a header name"))?;
        if reserved.contains(&n.as_str()) || n.as_str().starts_with("sec-websocket-") {
            return Err(format!("upstream.headers: {name:?} cannot be set"));
        }
        let v = HeaderValue::from_str(&value).map_err(|_| {
            format!("upstream.headers: the value of {name:?} is not a header value")
        })?;
        headers.push((n, v));
    }
    let proxy = match url {
        None => None,
        Some(url) => {
            let uri: Uri = url
                .trim()
                .parse()
                .map_err(|_| format!("upstream.url {url:?} is not a URL"))?;
            if uri.scheme_str() != Some("http")
                || uri.authority().is_none()
                || uri.query().is_some()
            {
                return Err(format!(
                    "upstream.url {url:?} must be http://HOST:PORT[/PATH] (plain HTTP, no query; \
                     put TLS between otpgate and the application on a private network or a sidecar)"
                ));
            }
            Some(UpstreamSettings {
                url: uri,
                timeout: Duration::from_millis(timeout_ms),
                headers: headers.clone(),
            })
        }
    };
    let relay = match ws_url {
        None => None,
        Some(ws_url) => {
            let mut relay = RelaySettings::new(ws_socket_io_url(&ws_url)?);
            relay.headers = headers;
            relay.connect_timeout = Duration::from_millis(timeout_ms).min(relay.connect_timeout);
            Some(relay)
        }
    };
    Ok((proxy, relay))
}

/// Validates `upstream.ws_url` (`ws://` or `wss://HOST:PORT/PATH/`, the
/// Engine.IO path of an Engine.IO v4 / Socket.IO v5 server) and returns it
/// with its trailing slash.
fn ws_socket_io_url(text: &str) -> Result<String, String> {
    use otpgate_http::Uri;
    let bad = || {
        format!(
            "upstream.ws_url {text:?} must be ws://HOST:PORT/PATH/ or wss://... (the Socket.IO \
             path, e.g. ws://127.0.0.1:8183/socket.io/; no query)"
        )
    };
    let uri: Uri = text.trim().parse().map_err(|_| bad())?;
    let authority = uri.authority().ok_or_else(bad)?;
    let scheme = uri.scheme_str().unwrap_or_default();
    if !matches!(scheme, "ws" | "wss")
        || uri.query().is_some()
        || authority.host().is_empty()
        || authority.as_str().contains('@')
        || uri.path().len() < 2
    {
        return Err(bad());
    }
    let path = uri.path().trim_end_matches('/');
    Ok(format!("{scheme}://{authority}{path}/"))
}

/// A TOML error as one line: the file, line and column, the key being
/// read (table and key name of that line) and what was wrong.
fn toml_error(path: &Path, text: &str, e: &toml::de::Error) -> String {
    let message = e.message().trim_end_matches('\n').replace('\n', " ");
    let Some(at) = e.span().map(|s| s.start.min(text.len())) else {
        return format!("config file {}: {message}", path.display());
    };
    let before = text.get(..at).unwrap_or("");
    let line_no = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = before.get(line_start..).map_or(0, |l| l.chars().count()) + 1;
    let line = text
        .get(line_start..)
        .and_then(|l| l.lines().next())
        .unwrap_or("");
    // The table this line is in: the last `[header]` above it.
    let table = before
        .lines()
        .rev()
        .skip(1)
        .map(str::trim)
        .find_map(|l| l.strip_prefix('[').and_then(|l| l.strip_suffix(']')))
        .map(|t| t.trim_matches(['[', ']']).trim().to_owned());
    let key = line
        .split_once('=')
        .map(|(k, _)| k.trim().trim_matches('"').to_owned())
        .filter(|k| !k.is_empty() && !k.starts_with('['));
    let key = match (table, key) {
        (Some(t), Some(k)) => format!(", key `{t}.{k}`"),
        (None, Some(k)) => format!(", key `{k}`"),
        _ => String::new(),
    };
    format!(
        "config file {}: line {line_no}, column {column}{key}: {message}",
        path.display()
    )
}

fn positive(name: &str, v: i64) -> Result<i64, String> {
    if v > 0 {
        Ok(v)
    } else {
        Err(format!("{name} must be greater than 0"))
    }
}

impl Config {
    /// Loads the configuration: `explicit` file (must exist) or
    /// `./otpgate.toml` if present, then the environment `env`.
    pub fn load(
        explicit: Option<&Path>,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Self, String> {
        let file = match explicit {
            Some(p) => Some(p.to_path_buf()),
            None => env("OTPGATE_CONFIG").map(PathBuf::from).or_else(|| {
                Path::new(DEFAULT_CONFIG_FILE)
                    .is_file()
                    .then(|| PathBuf::from(DEFAULT_CONFIG_FILE))
            }),
        };
        let mut raw = match &file {
            Some(p) => {
                let text = std::fs::read_to_string(p)
                    .map_err(|e| format!("cannot read config file {}: {e}", p.display()))?;
                toml::from_str::<Raw>(&text).map_err(|e| toml_error(p, &text, &e))?
            }
            None => Raw::default(),
        };
        apply_env(&mut raw, env)?;
        Self::validate(raw, file)
    }

    fn validate(raw: Raw, file: Option<PathBuf>) -> Result<Self, String> {
        let listen_text = raw.listen.unwrap_or_else(|| "127.0.0.1:8080".into());
        let listen: SocketAddr = listen_text
            .parse()
            .map_err(|_| format!("listen {listen_text:?} is not an address like 127.0.0.1:8080"))?;
        let data_dir = raw
            .data_dir
            .unwrap_or_else(|| PathBuf::from("./otpgate-data"));
        let database_url = match raw.database_url.filter(|s| !s.trim().is_empty()) {
            Some(u) => {
                let ok = ["sqlite:", "postgres://", "postgresql://"]
                    .iter()
                    .any(|p| u.starts_with(p));
                if !ok {
                    return Err(format!(
                        "database_url must start with sqlite:// or postgres:// (got {})",
                        redact_url(&u)
                    ));
                }
                u
            }
            None => format!("sqlite://{}", data_dir.join("otpgate.db").display()),
        };
        let api_prefix = raw.api_prefix.unwrap_or_else(|| "/api".into());
        // Empty: the deployment behind a proxy that strips `/api`.
        if !(api_prefix.is_empty() || api_prefix.starts_with('/'))
            || api_prefix.contains(['?', '#', ' '])
        {
            return Err(format!(
                "api_prefix {api_prefix:?} must be empty or a path starting with /"
            ));
        }
        let issuer = raw.issuer.unwrap_or_else(|| "otpgate".into());
        if issuer.trim().is_empty() || issuer.contains(':') {
            return Err("issuer must be non-empty and contain no ':'".into());
        }
        let trusted = raw
            .trusted_proxies
            .unwrap_or_default()
            .iter()
            .map(|s| IpNet::parse(s).map_err(|e| format!("trusted_proxies: {e}")))
            .collect::<Result<Vec<_>, _>>()?;
        let body_limit = raw.body_limit_bytes.unwrap_or(32 * 1024);
        if body_limit < 1024 {
            return Err("body_limit_bytes must be at least 1024".into());
        }
        let log_format = match raw.log_format.as_deref().unwrap_or("text") {
            "text" => LogFormat::Text,
            "json" => LogFormat::Json,
            other => return Err(format!("log_format {other:?} must be \"text\" or \"json\"")),
        };

        let mut policy = Policy {
            issuer,
            ..Policy::default()
        };
        if let Some(v) = raw.jwt.lifetime_secs {
            policy.token_lifetime_secs = positive("jwt.lifetime_secs", v)?;
        }
        if let Some(v) = raw.jwt.persistent_lifetime_secs {
            let v = positive("jwt.persistent_lifetime_secs", v)?;
            if v > 100 * 366 * 24 * 3600 {
                return Err("jwt.persistent_lifetime_secs must be at most 100 years".into());
            }
            policy.persistent_lifetime_secs = v;
        }
        if let Some(v) = raw.totp.skew_steps {
            if v > 10 {
                return Err("totp.skew_steps must be at most 10".into());
            }
            policy.totp_skew_steps = v;
        }
        let l = &raw.lockout;
        let base = positive(
            "lockout.backoff_base_secs",
            l.backoff_base_secs.unwrap_or(30),
        )?;
        let cap = positive(
            "lockout.backoff_cap_secs",
            l.backoff_cap_secs.unwrap_or(900),
        )?;
        if cap < base {
            return Err(
                "lockout.backoff_cap_secs must be at least lockout.backoff_base_secs".into(),
            );
        }
        let max_failures = |name: &str, v: Option<u32>, default: u32| -> Result<u32, String> {
            let v = v.unwrap_or(default);
            if (1..=100).contains(&v) {
                Ok(v)
            } else {
                Err(format!(
                    "{name} must be between 1 and 100 (NIST SP 800-63B caps consecutive failures at 100)"
                ))
            }
        };
        let consecutive = |max| ThrottlePolicy {
            max_failures: max,
            window_secs: None,
            base_secs: base,
            cap_secs: cap,
        };
        policy.otp_lockout = consecutive(max_failures(
            "lockout.otp_max_failures",
            l.otp_max_failures,
            5,
        )?);
        policy.login_user = consecutive(max_failures(
            "lockout.login_user_max_failures",
            l.login_user_max_failures,
            5,
        )?);
        policy.login_ip = ThrottlePolicy {
            window_secs: Some(positive(
                "lockout.login_ip_window_secs",
                l.login_ip_window_secs.unwrap_or(600),
            )?),
            ..consecutive(l.login_ip_max_failures.unwrap_or(20).max(1))
        };
        let a = &raw.argon2;
        policy.argon2 = Argon2Cost {
            memory_kib: a.memory_kib.unwrap_or(policy.argon2.memory_kib),
            iterations: a.iterations.unwrap_or(policy.argon2.iterations),
            parallelism: a.parallelism.unwrap_or(policy.argon2.parallelism),
        };
        if policy.argon2.memory_kib < 8 * policy.argon2.parallelism.max(1)
            || policy.argon2.iterations == 0
            || policy.argon2.parallelism == 0
        {
            return Err("argon2 parameters are out of range (memory_kib >= 8 x parallelism, iterations >= 1)".into());
        }
        if let Some(t) = a.threads {
            if t == 0 {
                return Err("argon2.threads must be at least 1".into());
            }
            policy.hashing_threads = t;
        }
        if let Some(q) = a.queue {
            policy.hashing_queue = q;
        }
        let send_max = raw.oob.send_max.unwrap_or(5);
        if !(1..=100).contains(&send_max) {
            return Err("oob.send_max must be between 1 and 100".into());
        }
        let send_window = positive(
            "oob.send_window_secs",
            raw.oob.send_window_secs.unwrap_or(600),
        )?;
        policy.oob_send = Policy::oob_send_limit(send_max, send_window);
        let notifier = crate::notifier_config::validate(raw.notifier.into())?;

        let synchronous_full = match raw
            .sqlite
            .synchronous
            .as_deref()
            .map(str::to_ascii_lowercase)
            .as_deref()
        {
            None | Some("full") => true,
            Some("normal") => false,
            Some(other) => {
                return Err(format!(
                    "sqlite.synchronous {other:?} must be \"full\" or \"normal\""
                ));
            }
        };
        let sqlite = SqliteOptions {
            synchronous_full,
            busy_timeout: Duration::from_millis(raw.sqlite.busy_timeout_ms.unwrap_or(5000)),
            max_connections: raw.sqlite.max_connections.unwrap_or(8).max(1),
        };

        let pg_default = PostgresOptions::default();
        let postgres = PostgresOptions {
            max_connections: raw
                .postgres
                .max_connections
                .unwrap_or(pg_default.max_connections)
                .max(1),
            acquire_timeout: raw
                .postgres
                .acquire_timeout_ms
                .map_or(pg_default.acquire_timeout, Duration::from_millis),
            connect_timeout: raw
                .postgres
                .connect_timeout_ms
                .map_or(pg_default.connect_timeout, Duration::from_millis),
        };

        let mut legacy = LegacyPolicy {
            enabled: raw.legacy.enabled,
            ..LegacyPolicy::default()
        };
        if let Some(t) = &raw.legacy.sunset {
            legacy.sunset = parse_date("legacy.sunset", t)?;
        }
        if let Some(t) = &raw.legacy.deprecated_since {
            legacy.deprecated_since = parse_date("legacy.deprecated_since", t)?;
        }
        if legacy.deprecated_since > legacy.sunset {
            return Err("legacy.deprecated_since must not be after legacy.sunset".into());
        }
        policy.legacy = legacy;
        if let Some(days) = raw.audit.retention_days {
            if days > 36_500 {
                return Err(
                    "audit.retention_days must be at most 36500 (0 keeps records forever)".into(),
                );
            }
            policy.audit_retention_days = days;
        }
        if let Some(n) = raw.password.min_length {
            if !(1..=128).contains(&n) {
                return Err(
                    "password.min_length must be between 1 and 128 (NIST SP 800-63B asks for at least 8)"
                        .into(),
                );
            }
            policy.password_min_length = n;
        }
        policy.two_factor_required = raw.two_factor.required.unwrap_or(false);
        let legacy_docs_url = raw
            .legacy
            .docs_url
            .unwrap_or_else(|| DEFAULT_LEGACY_DOCS_URL.to_owned());
        if legacy_docs_url.is_empty()
            || legacy_docs_url.contains(['<', '>', ' ', '"'])
            || legacy_docs_url.chars().any(char::is_control)
        {
            return Err(format!(
                "legacy.docs_url {legacy_docs_url:?} must be a URL (no spaces, quotes or angle brackets)"
            ));
        }
        let ws_default = WsSettings::default();
        let ws = WsSettings {
            login_timeout: raw
                .ws
                .login_timeout_ms
                .map_or(ws_default.login_timeout, Duration::from_millis),
            poll_interval: raw
                .ws
                .poll_interval_ms
                .map_or(ws_default.poll_interval, Duration::from_millis),
        };
        if ws.login_timeout.is_zero() {
            return Err("ws.login_timeout_ms must be greater than 0".into());
        }
        if !(Duration::from_millis(10)..=Duration::from_secs(1)).contains(&ws.poll_interval) {
            return Err(
                "ws.poll_interval_ms must be between 10 and 1000 (revoked sockets are closed within about one interval)".into(),
            );
        }
        // In nethcti mode requests are forwarded to V1 unless upstream.url
        // says otherwise (the proxy speaks plain HTTP only).
        let mut raw_upstream = raw.upstream;
        let nethcti_mode = raw
            .auth
            .backend
            .as_deref()
            .is_some_and(|b| b.trim().eq_ignore_ascii_case("nethcti"));
        if nethcti_mode && raw_upstream.url.is_none() {
            raw_upstream.url = raw
                .nethcti
                .url
                .clone()
                .filter(|u| u.trim().starts_with("http://"));
        }
        // The relay goes to the CTI server's Socket.IO and logs in there
        // with the user's CTI session (API.md §9).
        let cti_ws = raw.nethcti.ws_url.clone().filter(|u| !u.trim().is_empty());
        if let Some(ws) = cti_ws {
            if !nethcti_mode {
                return Err("nethcti.ws_url needs auth.backend = \"nethcti\"".into());
            }
            if raw_upstream
                .ws_url
                .as_deref()
                .is_some_and(|u| !u.trim().is_empty())
            {
                return Err(
                    "nethcti.ws_url and upstream.ws_url both name the relay's upstream: set one"
                        .into(),
                );
            }
            raw_upstream.ws_url = Some(ws);
        }
        let (upstream, mut upstream_ws) = upstream_settings(raw_upstream)?;
        if let Some(relay) = &mut upstream_ws {
            relay.cti = nethcti_mode;
        }
        let connections = connection_settings(&raw.connections)?;
        let freepbx_apis = raw.nethcti.freepbx_apis.clone();
        let password_backend = password_backend_settings(raw.auth, raw.nethcti, raw.ldap)?;
        let cti = cti_forwarding(&password_backend, freepbx_apis)?;

        Ok(Self {
            listen,
            store: StoreOptions {
                url: database_url,
                sqlite,
                postgres,
            },
            data_dir,
            policy,
            http: HttpSettings {
                api_prefix,
                body_limit,
                rate_limit_average: raw.rate_limit.average.unwrap_or(25),
                rate_limit_burst: raw.rate_limit.burst.unwrap_or(100),
                trusted_proxies: TrustedProxies(trusted),
                ws,
                upstream,
                upstream_ws,
                legacy_docs_url,
                connections,
                cti,
            },
            log_format,
            file,
            notifier,
            password_backend,
        })
    }
}

/// The `[connections]` section: timeouts of at least 100 ms, a total cap
/// of at least 1 when given (absent: derived from the descriptor limit at
/// start), a per-address cap (0: none).
fn connection_settings(raw: &RawConnections) -> Result<ConnSettings, String> {
    let d = ConnSettings::default();
    let ms = |v: Option<u64>, default: Duration, key: &str| match v {
        None => Ok(default),
        Some(ms) if ms >= 100 => Ok(Duration::from_millis(ms)),
        Some(_) => Err(format!("connections.{key} must be at least 100")),
    };
    let max_connections = match raw.max {
        Some(0) => return Err("connections.max must be at least 1 (omit it to derive it from the file-descriptor limit)".into()),
        m => m,
    };
    Ok(ConnSettings {
        header_timeout: ms(raw.header_timeout_ms, d.header_timeout, "header_timeout_ms")?,
        idle_timeout: ms(raw.idle_timeout_ms, d.idle_timeout, "idle_timeout_ms")?,
        body_timeout: ms(raw.body_timeout_ms, d.body_timeout, "body_timeout_ms")?,
        max_connections,
        max_per_address: raw.max_per_address.unwrap_or(d.max_per_address),
    })
}

impl From<RawNotifier> for crate::notifier_config::RawSettings {
    fn from(r: RawNotifier) -> Self {
        Self {
            email: r.email,
            sms: r.sms,
            smtp_host: r.smtp.host,
            smtp_port: r.smtp.port,
            smtp_tls: r.smtp.tls,
            smtp_username: r.smtp.username,
            smtp_password: r.smtp.password,
            smtp_from: r.smtp.from,
            smtp_timeout_secs: r.smtp.timeout_secs,
            smtp_ca_file: r.smtp.ca_file,
            webhook_url: r.webhook.url,
            webhook_timeout_ms: r.webhook.timeout_ms,
            webhook_retries: r.webhook.retries,
            webhook_bearer_token: r.webhook.bearer_token,
        }
    }
}

/// A database URL with any password replaced by `***`.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let (authority, tail) = match rest.find('/') {
        Some(i) => rest.split_at(i),
        None => (rest, ""),
    };
    match authority.rsplit_once('@') {
        Some((userinfo, host)) => {
            let user = userinfo.split(':').next().unwrap_or("");
            if userinfo.contains(':') {
                format!("{scheme}://{user}:***@{host}{tail}")
            } else {
                url.to_owned()
            }
        }
        None => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env_of(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> + use<> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        move |k: &str| map.get(k).cloned()
    }

    /// An empty config file (so a stray ./otpgate.toml is not read).
    fn empty_file() -> PathBuf {
        let path = std::env::temp_dir().join(format!("otpgate-empty-{}.toml", std::process::id()));
        std::fs::write(&path, "").expect("write empty config");
        path
    }

    #[test]
    fn defaults_are_the_documented_ones() {
        let c = Config::validate(Raw::default(), None).expect("defaults");
        assert_eq!(c.listen.to_string(), "127.0.0.1:8080");
        assert_eq!(c.data_dir, PathBuf::from("./otpgate-data"));
        assert_eq!(c.store.url, "sqlite://./otpgate-data/otpgate.db");
        assert_eq!(c.http.api_prefix, "/api");
        assert_eq!(c.http.body_limit, 32 * 1024);
        assert_eq!(
            (c.http.rate_limit_average, c.http.rate_limit_burst),
            (25, 100)
        );
        assert_eq!(c.policy.token_lifetime_secs, 14 * 24 * 3600);
        assert_eq!(c.policy.persistent_lifetime_secs, 10 * 365 * 24 * 3600);
        assert_eq!(c.policy.otp_lockout.max_failures, 5);
        assert_eq!(c.policy.login_ip.max_failures, 20);
        assert_eq!(c.policy.login_ip.window_secs, Some(600));
        assert!(c.store.sqlite.synchronous_full);
        assert_eq!(c.policy.audit_retention_days, 90);
        assert_eq!(c.policy.password_min_length, 8);
        assert!(!c.policy.two_factor_required);
    }

    #[test]
    fn password_min_length_is_read_from_file_and_env_and_bounded() {
        let dir = tempfile::tempdir().expect("tmp");
        let file = dir.path().join("otpgate.toml");
        std::fs::write(&file, "[password]\nmin_length = 12\n").expect("write");
        let c = Config::load(Some(&file), &env_of(&[])).expect("file");
        assert_eq!(c.policy.password_min_length, 12);
        let c = Config::load(
            Some(&file),
            &env_of(&[("OTPGATE_PASSWORD_MIN_LENGTH", "10")]),
        )
        .expect("env");
        assert_eq!(c.policy.password_min_length, 10);
        let e =
            Config::load(None, &env_of(&[("OTPGATE_PASSWORD_MIN_LENGTH", "0")])).expect_err("zero");
        assert!(e.contains("password.min_length"), "{e}");
    }

    #[test]
    fn two_factor_required_is_read_from_file_and_env() {
        let dir = tempfile::tempdir().expect("tmp");
        let file = dir.path().join("otpgate.toml");
        std::fs::write(&file, "[two_factor]\nrequired = true\n").expect("write");
        let c = Config::load(Some(&file), &env_of(&[])).expect("file");
        assert!(c.policy.two_factor_required);
        let c = Config::load(
            Some(&file),
            &env_of(&[("OTPGATE_TWO_FACTOR_REQUIRED", "false")]),
        )
        .expect("env");
        assert!(!c.policy.two_factor_required);
        let e = Config::load(None, &env_of(&[("OTPGATE_TWO_FACTOR_REQUIRED", "maybe")]))
            .expect_err("not a bool");
        assert!(e.contains("OTPGATE_TWO_FACTOR_REQUIRED"), "{e}");
    }

    #[test]
    fn persistent_lifetime_is_read_from_file_and_env_and_bounded() {
        let dir = tempfile::tempdir().expect("tmp");
        let file = dir.path().join("otpgate.toml");
        std::fs::write(&file, "[jwt]\npersistent_lifetime_secs = 86400\n").expect("write");
        let c = Config::load(Some(&file), &env_of(&[])).expect("file");
        assert_eq!(c.policy.persistent_lifetime_secs, 86400);
        let c = Config::load(
            Some(&file),
            &env_of(&[("OTPGATE_JWT_PERSISTENT_LIFETIME_SECS", "600")]),
        )
        .expect("env");
        assert_eq!(c.policy.persistent_lifetime_secs, 600);
        for bad in ["0", "-5", "99999999999"] {
            let e = Config::load(
                None,
                &env_of(&[("OTPGATE_JWT_PERSISTENT_LIFETIME_SECS", bad)]),
            )
            .expect_err(bad);
            assert!(e.contains("persistent_lifetime_secs"), "{e}");
        }
    }

    #[test]
    fn audit_retention_is_read_from_file_and_env_and_bounded() {
        let dir = tempfile::tempdir().expect("tmp");
        let file = dir.path().join("otpgate.toml");
        std::fs::write(&file, "[audit]\nretention_days = 30\n").expect("write");
        let c = Config::load(Some(&file), &env_of(&[])).expect("file");
        assert_eq!(c.policy.audit_retention_days, 30);
        let c = Config::load(
            Some(&file),
            &env_of(&[("OTPGATE_AUDIT_RETENTION_DAYS", "0")]),
        )
        .expect("env");
        assert_eq!(c.policy.audit_retention_days, 0);
        let e = Config::load(
            Some(&file),
            &env_of(&[("OTPGATE_AUDIT_RETENTION_DAYS", "99999")]),
        )
        .expect_err("too long");
        assert!(e.contains("audit.retention_days"), "{e}");
    }

    #[test]
    fn env_wins_over_the_file() {
        let dir = tempfile::tempdir().expect("tmp");
        let file = dir.path().join("otpgate.toml");
        std::fs::write(
            &file,
            "listen = \"127.0.0.1:9000\"\ndata_dir = \"/var/lib/otpgate\"\n[rate_limit]\naverage = 5\n",
        )
        .expect("write");
        let env = env_of(&[
            ("OTPGATE_LISTEN", "0.0.0.0:7000"),
            ("OTPGATE_RATE_LIMIT_BURST", "7"),
        ]);
        let c = Config::load(Some(&file), &env).expect("load");
        assert_eq!(c.listen.to_string(), "0.0.0.0:7000");
        assert_eq!(c.data_dir, PathBuf::from("/var/lib/otpgate"));
        assert_eq!(c.store.url, "sqlite:///var/lib/otpgate/otpgate.db");
        assert_eq!((c.http.rate_limit_average, c.http.rate_limit_burst), (5, 7));
    }

    #[test]
    fn unknown_keys_and_bad_values_are_clear_errors() {
        let dir = tempfile::tempdir().expect("tmp");
        let file = dir.path().join("otpgate.toml");
        std::fs::write(&file, "lisen = \"x\"\n").expect("write");
        let err = Config::load(Some(&file), &env_of(&[])).expect_err("typo");
        assert!(err.contains("unknown field `lisen`"), "{err}");
        let err = Config::load(None, &env_of(&[("OTPGATE_LISTEN", "nope")])).expect_err("listen");
        assert!(err.contains("listen"), "{err}");
        let err =
            Config::load(None, &env_of(&[("OTPGATE_RATE_LIMIT_AVERAGE", "-1")])).expect_err("neg");
        assert!(err.contains("OTPGATE_RATE_LIMIT_AVERAGE"), "{err}");
        let err = Config::load(
            None,
            &env_of(&[("OTPGATE_DATABASE_URL", "mysql://u:pw@h/db")]),
        )
        .expect_err("db");
        assert!(!err.contains("pw"), "password redacted: {err}");
        let err = Config::load(
            None,
            &env_of(&[("OTPGATE_LOCKOUT_OTP_MAX_FAILURES", "500")]),
        )
        .expect_err("nist");
        assert!(err.contains("100"), "{err}");
        let missing = dir.path().join("missing.toml");
        assert!(Config::load(Some(&missing), &env_of(&[])).is_err());
    }

    #[test]
    fn toml_errors_name_the_line_column_and_key() {
        let dir = tempfile::tempdir().expect("tmp");
        let file = dir.path().join("otpgate.toml");
        std::fs::write(
            &file,
            "# otpgate\nlisten = \"127.0.0.1:8080\"\n\n[rate_limit]\naverage = 2.5.1\n",
        )
        .expect("write");
        let err = Config::load(Some(&file), &env_of(&[])).expect_err("bad float");
        assert!(err.contains("line 5, column 14"), "{err}");
        assert!(err.contains("key `rate_limit.average`"), "{err}");
        assert!(!err.contains('\n'), "one line: {err}");
        std::fs::write(&file, "[rate_limit]\nburst = \"many\"\n").expect("write");
        let err = Config::load(Some(&file), &env_of(&[])).expect_err("bad type");
        assert!(err.contains("line 2"), "{err}");
        assert!(err.contains("key `rate_limit.burst`"), "{err}");
        assert!(err.contains("u32"), "{err}");
    }

    #[test]
    fn notifier_and_oob_settings_come_from_file_and_env() {
        let dir = tempfile::tempdir().expect("tmp");
        let file = dir.path().join("otpgate.toml");
        std::fs::write(
            &file,
            "[notifier]\nemail = \"smtp\"\n[notifier.smtp]\nhost = \"127.0.0.1\"\nport = 2525\n\
             tls = \"none\"\nfrom = \"otpgate <no-reply@example.org>\"\n[oob]\nsend_max = 3\n",
        )
        .expect("write");
        let env = env_of(&[
            ("OTPGATE_NOTIFIER_SMS", "webhook"),
            ("OTPGATE_WEBHOOK_URL", "http://127.0.0.1:9/sms"),
            ("OTPGATE_WEBHOOK_RETRIES", "4"),
            ("OTPGATE_OOB_SEND_WINDOW_SECS", "60"),
        ]);
        let c = Config::load(Some(&file), &env).expect("load");
        let crate::notifier_config::Transport::Smtp(smtp) = &c.notifier.email else {
            panic!("smtp expected: {:?}", c.notifier.email);
        };
        assert_eq!((smtp.host.as_str(), smtp.port), ("127.0.0.1", 2525));
        let crate::notifier_config::Transport::Webhook(hook) = &c.notifier.sms else {
            panic!("webhook expected: {:?}", c.notifier.sms);
        };
        assert_eq!(hook.retries, 4);
        assert_eq!(c.policy.oob_send.max_failures, 3);
        assert_eq!(c.policy.oob_send.window_secs, Some(60));

        std::fs::write(&file, "[notifier.smtp]\nhots = \"x\"\n").expect("write");
        let err = Config::load(Some(&file), &env_of(&[])).expect_err("typo");
        assert!(err.contains("unknown field `hots`"), "{err}");
        let err = Config::load(None, &env_of(&[("OTPGATE_OOB_SEND_MAX", "0")])).expect_err("0");
        assert!(err.contains("oob.send_max"), "{err}");
    }

    #[test]
    fn connection_settings_come_from_file_and_env() {
        let c = Config::validate(Raw::default(), None).expect("defaults");
        assert_eq!(c.http.connections, ConnSettings::default());
        assert_eq!(c.http.connections.header_timeout, Duration::from_secs(10));
        assert_eq!(c.http.connections.max_connections, None);
        let dir = tempfile::tempdir().expect("tmp");
        let file = dir.path().join("otpgate.toml");
        std::fs::write(
            &file,
            "[connections]\nheader_timeout_ms = 2000\nidle_timeout_ms = 5000\nmax = 500\n",
        )
        .expect("write");
        let env = env_of(&[
            ("OTPGATE_CONNECTIONS_BODY_TIMEOUT_MS", "3000"),
            ("OTPGATE_CONNECTIONS_MAX_PER_ADDRESS", "0"),
            ("OTPGATE_CONNECTIONS_MAX", "700"),
        ]);
        let c = Config::load(Some(&file), &env)
            .expect("load")
            .http
            .connections;
        assert_eq!(c.header_timeout, Duration::from_secs(2));
        assert_eq!(c.idle_timeout, Duration::from_secs(5));
        assert_eq!(c.body_timeout, Duration::from_secs(3));
        assert_eq!(c.max_connections, Some(700), "the environment wins");
        assert_eq!(c.max_per_address, 0);
        let err = Config::load(
            None,
            &env_of(&[("OTPGATE_CONNECTIONS_HEADER_TIMEOUT_MS", "5")]),
        )
        .expect_err("too short");
        assert!(err.contains("connections.header_timeout_ms"), "{err}");
        let err =
            Config::load(None, &env_of(&[("OTPGATE_CONNECTIONS_MAX", "0")])).expect_err("zero");
        assert!(err.contains("connections.max"), "{err}");
    }

    #[test]
    fn upstream_legacy_and_ws_settings() {
        let c = Config::validate(Raw::default(), None).expect("defaults");
        assert!(c.http.upstream.is_none());
        assert_eq!(c.policy.legacy, LegacyPolicy::default());
        assert!(
            !c.policy.legacy.is_active(1_795_305_600),
            "off by default on 2026-11-22"
        );
        assert_eq!(c.http.ws.login_timeout, Duration::from_secs(10));
        let env = env_of(&[
            ("OTPGATE_UPSTREAM_URL", "http://127.0.0.1:9000/app"),
            ("OTPGATE_UPSTREAM_TIMEOUT_MS", "1500"),
            (
                "OTPGATE_UPSTREAM_HEADERS",
                "X-Gateway=otpgate, X-Tenant = acme",
            ),
            ("OTPGATE_LEGACY_ENABLED", "true"),
            ("OTPGATE_LEGACY_SUNSET", "2027-01-01"),
            ("OTPGATE_WS_LOGIN_TIMEOUT_MS", "2000"),
        ]);
        let c = Config::load(None, &env).expect("load");
        let up = c.http.upstream.expect("upstream");
        assert_eq!(up.url.to_string(), "http://127.0.0.1:9000/app");
        assert_eq!(up.timeout, Duration::from_millis(1500));
        assert_eq!(up.headers.len(), 2);
        assert_eq!(c.policy.legacy.enabled, Some(true));
        assert_eq!(c.policy.legacy.sunset, 1_798_761_600);
        assert_eq!(c.http.ws.login_timeout, Duration::from_secs(2));
        assert!(c.http.upstream_ws.is_none());
        let c = Config::load(
            None,
            &env_of(&[
                ("OTPGATE_UPSTREAM_WS_URL", "ws://127.0.0.1:8183/socket.io"),
                ("OTPGATE_UPSTREAM_HEADERS", "X-Gateway=otpgate"),
            ]),
        )
        .expect("ws_url alone");
        assert!(c.http.upstream.is_none());
        let relay = c.http.upstream_ws.expect("relay");
        assert_eq!(relay.url, "ws://127.0.0.1:8183/socket.io/");
        assert_eq!(relay.headers.len(), 1);
        for (k, v, needle) in [
            ("OTPGATE_UPSTREAM_URL", "https://app:443", "upstream.url"),
            ("OTPGATE_UPSTREAM_URL", "ftp://x", "upstream.url"),
            ("OTPGATE_LEGACY_ENABLED", "maybe", "OTPGATE_LEGACY_ENABLED"),
            ("OTPGATE_LEGACY_SUNSET", "June 2026", "legacy.sunset"),
            ("OTPGATE_WS_POLL_INTERVAL_MS", "5000", "ws.poll_interval_ms"),
            ("OTPGATE_UPSTREAM_TIMEOUT_MS", "100", "need upstream.url"),
            (
                "OTPGATE_UPSTREAM_WS_URL",
                "http://cti:8183/socket.io/",
                "upstream.ws_url",
            ),
            (
                "OTPGATE_UPSTREAM_WS_URL",
                "ws://cti:8183/",
                "upstream.ws_url",
            ),
            (
                "OTPGATE_UPSTREAM_WS_URL",
                "ws://cti:8183/x/?EIO=4",
                "upstream.ws_url",
            ),
            (
                "OTPGATE_UPSTREAM_WS_URL",
                "ws://u:p@cti/socket.io/",
                "upstream.ws_url",
            ),
            ("OTPGATE_UPSTREAM_WS_URL", "cti:8183", "upstream.ws_url"),
        ] {
            let err = Config::load(None, &env_of(&[(k, v)])).expect_err(k);
            assert!(err.contains(needle), "{k}={v}: {err}");
        }
        let err = Config::load(
            None,
            &env_of(&[
                ("OTPGATE_UPSTREAM_URL", "http://app:1"),
                ("OTPGATE_UPSTREAM_HEADERS", "Authorization=x"),
            ]),
        )
        .expect_err("reserved");
        assert!(err.contains("cannot be set"), "{err}");
    }

    #[test]
    fn nethvoice_middleware_variables_are_read() {
        let env = env_of(&[
            ("NETHVOICE_MIDDLEWARE_LISTEN_ADDRESS", "127.0.0.1:9191"),
            ("NETHVOICE_MIDDLEWARE_ISSUER_2FA", "NethVoice"),
            ("NETHVOICE_MIDDLEWARE_SECRETS_DIR", "/var/lib/whale/secrets"),
            (
                "NETHVOICE_MIDDLEWARE_SENSITIVE_LIST",
                "password,secret,token",
            ),
            ("NETHVOICE_MIDDLEWARE_TRUSTED_PROXY", "10.0.0.1"),
            ("NETHVOICE_MIDDLEWARE_GLOBAL_RATE_LIMIT_AVERAGE", "7"),
            ("NETHVOICE_MIDDLEWARE_GLOBAL_RATE_LIMIT_BURST", "9"),
            ("NETHVOICE_MIDDLEWARE_V1_PROTOCOL", "http"),
            ("NETHVOICE_MIDDLEWARE_V1_API_ENDPOINT", "127.0.0.1:8179"),
            ("NETHVOICE_MIDDLEWARE_V1_API_PATH", "/webrest/"),
        ]);
        let c = Config::load(Some(&empty_file()), &env).expect("drop-in env");
        assert_eq!(c.listen.to_string(), "127.0.0.1:9191");
        assert_eq!(c.policy.issuer, "NethVoice");
        assert_eq!(c.data_dir, PathBuf::from("/var/lib/whale/secrets"));
        assert_eq!(
            c.store.url, "sqlite:///var/lib/whale/secrets/otpgate.db",
            "the data directory moves the default store"
        );
        assert!(c.http.trusted_proxies.0.len() == 1);
        assert_eq!((c.http.rate_limit_average, c.http.rate_limit_burst), (7, 9));
        let up = c.http.upstream.expect("upstream from V1_*");
        assert_eq!(up.url.to_string(), "http://127.0.0.1:8179/webrest");
        assert_eq!(
            c.password_backend,
            PasswordBackendConfig::Nethcti {
                url: "http://127.0.0.1:8179/webrest".into(),
                timeout: Duration::from_secs(10),
            },
            "the V1 variables select the CTI server as password authority"
        );
        // The protocol defaults to http; a path is optional.
        let env = env_of(&[("NETHVOICE_MIDDLEWARE_V1_API_ENDPOINT", "legacy:8080")]);
        let c = Config::load(Some(&empty_file()), &env).expect("endpoint only");
        let up = c.http.upstream.expect("upstream");
        assert_eq!(up.url.to_string(), "http://legacy:8080/");
    }

    #[test]
    fn the_v1_ws_variables_point_the_relay_at_the_cti_socket_io_which_logs_in_with_t() {
        let v1 = ("NETHVOICE_MIDDLEWARE_V1_API_ENDPOINT", "127.0.0.1:8179");
        let c = Config::load(
            Some(&empty_file()),
            &env_of(&[
                v1,
                ("NETHVOICE_MIDDLEWARE_V1_WS_ENDPOINT", "127.0.0.1:8183"),
            ]),
        )
        .expect("V1_WS");
        let relay = c.http.upstream_ws.expect("relay");
        assert_eq!(relay.url, "ws://127.0.0.1:8183/socket.io/");
        assert!(relay.cti, "nethcti mode: the relayed login carries T");
        let c = Config::load(
            Some(&empty_file()),
            &env_of(&[
                v1,
                ("NETHVOICE_MIDDLEWARE_V1_PROTOCOL", "https"),
                // (the proxy itself speaks plain HTTP only)
                ("OTPGATE_UPSTREAM_URL", "http://127.0.0.1:8179/webrest"),
                ("NETHVOICE_MIDDLEWARE_V1_WS_ENDPOINT", "cti.example:8183/"),
                ("NETHVOICE_MIDDLEWARE_V1_WS_PATH", "/io/"),
            ]),
        )
        .expect("wss");
        assert_eq!(
            c.http.upstream_ws.expect("relay").url,
            "wss://cti.example:8183/io/"
        );
        // otpgate's own naming.
        let c = Config::load(
            Some(&empty_file()),
            &env_of(&[
                ("OTPGATE_AUTH_BACKEND", "nethcti"),
                ("OTPGATE_NETHCTI_URL", "http://127.0.0.1:8179/webrest"),
                ("OTPGATE_NETHCTI_WS_URL", "ws://127.0.0.1:8183/socket.io"),
            ]),
        )
        .expect("nethcti.ws_url");
        let relay = c.http.upstream_ws.expect("relay");
        assert_eq!(
            (relay.url.as_str(), relay.cti),
            ("ws://127.0.0.1:8183/socket.io/", true)
        );
        // Outside nethcti mode the relay never sends a CTI session.
        let c = Config::load(
            Some(&empty_file()),
            &env_of(&[("OTPGATE_UPSTREAM_WS_URL", "ws://127.0.0.1:8183/socket.io/")]),
        )
        .expect("plain relay");
        assert!(!c.http.upstream_ws.expect("relay").cti);
        for (env, needle) in [
            (
                vec![("NETHVOICE_MIDDLEWARE_V1_WS_ENDPOINT", "127.0.0.1:8183")],
                "V1_WS_ENDPOINT needs",
            ),
            (
                vec![v1, ("NETHVOICE_MIDDLEWARE_V1_WS_PATH", "/x")],
                "V1_WS_PATH needs",
            ),
            (
                vec![("OTPGATE_NETHCTI_WS_URL", "ws://127.0.0.1:8183/socket.io/")],
                "nethcti.ws_url needs",
            ),
            (
                vec![
                    v1,
                    ("OTPGATE_NETHCTI_WS_URL", "ws://127.0.0.1:8183/socket.io/"),
                    ("OTPGATE_UPSTREAM_WS_URL", "ws://127.0.0.1:8184/socket.io/"),
                ],
                "set one",
            ),
            (
                vec![
                    v1,
                    ("OTPGATE_NETHCTI_WS_URL", "http://127.0.0.1:8183/socket.io/"),
                ],
                "must be ws://",
            ),
        ] {
            let e = Config::load(Some(&empty_file()), &env_of(&env)).expect_err(needle);
            assert!(e.contains(needle), "{e}");
        }
    }

    #[test]
    fn the_password_backend_is_local_unless_nethcti_is_chosen_with_its_url() {
        let c = Config::load(Some(&empty_file()), &env_of(&[])).expect("defaults");
        assert_eq!(c.password_backend, PasswordBackendConfig::Local);
        let c = Config::load(
            Some(&empty_file()),
            &env_of(&[
                ("OTPGATE_AUTH_BACKEND", "nethcti"),
                ("OTPGATE_NETHCTI_URL", "https://cti.example.org/webrest/"),
                ("OTPGATE_NETHCTI_TIMEOUT_MS", "1500"),
            ]),
        )
        .expect("nethcti");
        assert_eq!(
            c.password_backend,
            PasswordBackendConfig::Nethcti {
                url: "https://cti.example.org/webrest".into(),
                timeout: Duration::from_millis(1500),
            }
        );
        // The V1 variables choose nethcti; OTPGATE_AUTH_BACKEND wins.
        let c = Config::load(
            Some(&empty_file()),
            &env_of(&[
                ("NETHVOICE_MIDDLEWARE_V1_API_ENDPOINT", "127.0.0.1:8179"),
                ("OTPGATE_AUTH_BACKEND", "local"),
            ]),
        )
        .expect("local wins");
        assert_eq!(c.password_backend, PasswordBackendConfig::Local);
        assert!(c.http.upstream.is_some(), "forwarding keeps the V1 mapping");
        assert!(c.http.cti.is_none(), "local mode: the generic proxy");
        // With otpgate's own settings, forwarding goes to nethcti.url too
        // (plain http), unless upstream.url is set.
        let c = Config::load(
            Some(&empty_file()),
            &env_of(&[
                ("OTPGATE_AUTH_BACKEND", "nethcti"),
                ("OTPGATE_NETHCTI_URL", "http://127.0.0.1:8179/webrest"),
            ]),
        )
        .expect("nethcti over http");
        let up = c.http.upstream.expect("forwarding to V1");
        assert_eq!(up.url.to_string(), "http://127.0.0.1:8179/webrest");
        let c = Config::load(
            Some(&empty_file()),
            &env_of(&[
                ("OTPGATE_AUTH_BACKEND", "nethcti"),
                ("OTPGATE_NETHCTI_URL", "http://127.0.0.1:8179/webrest"),
                ("OTPGATE_UPSTREAM_URL", "http://127.0.0.1:9000/cti"),
            ]),
        )
        .expect("an upstream of its own");
        let up = c.http.upstream.expect("upstream");
        assert_eq!(up.url.to_string(), "http://127.0.0.1:9000/cti");
        // nethcti mode forwards as API.md §9 says, with the FreePBX list.
        let c = Config::load(
            Some(&empty_file()),
            &env_of(&[("NETHVOICE_MIDDLEWARE_V1_API_ENDPOINT", "127.0.0.1:8179")]),
        )
        .expect("nethcti");
        let cti = c.http.cti.expect("nethcti forwarding");
        assert_eq!(cti.freepbx_apis.len(), 8);
        assert!(cti.is_freepbx_path("/astproxy/trunk/3"));
        let c = Config::load(
            Some(&empty_file()),
            &env_of(&[
                ("NETHVOICE_MIDDLEWARE_V1_API_ENDPOINT", "127.0.0.1:8179"),
                ("NETHVOICE_MIDDLEWARE_FREEPBX_APIS", "/a/b, /c/"),
                ("OTPGATE_API_PREFIX", ""),
            ]),
        )
        .expect("a list of our own, an empty prefix");
        assert_eq!(c.http.api_prefix, "");
        assert_eq!(
            c.http.cti.expect("cti").freepbx_apis,
            ["/a/b".to_owned(), "/c".to_owned()]
        );
        for (pairs, needle) in [
            (vec![("OTPGATE_AUTH_BACKEND", "nethcti")], "nethcti.url"),
            (vec![("OTPGATE_AUTH_BACKEND", "kerberos")], "auth.backend"),
            (
                vec![
                    ("OTPGATE_AUTH_BACKEND", "nethcti"),
                    ("OTPGATE_NETHCTI_URL", "ftp://cti/webrest"),
                ],
                "nethcti.url",
            ),
            (
                vec![
                    ("OTPGATE_AUTH_BACKEND", "nethcti"),
                    ("OTPGATE_NETHCTI_URL", "http://cti/webrest"),
                    ("OTPGATE_NETHCTI_TIMEOUT_MS", "0"),
                ],
                "nethcti.timeout_ms",
            ),
            (
                vec![
                    ("NETHVOICE_MIDDLEWARE_V1_API_ENDPOINT", "127.0.0.1:8179"),
                    ("NETHVOICE_MIDDLEWARE_FREEPBX_APIS", "/a, b/c"),
                ],
                "nethcti.freepbx_apis",
            ),
            (
                vec![
                    ("OTPGATE_AUTH_BACKEND", "nethcti"),
                    ("OTPGATE_NETHCTI_URL", "http://cti/webrest"),
                    ("OTPGATE_NETHCTI_FREEPBX_APIS", "/a/../b"),
                ],
                "nethcti.freepbx_apis",
            ),
        ] {
            let err = Config::load(Some(&empty_file()), &env_of(&pairs)).expect_err(needle);
            assert!(err.contains(needle), "{err}");
        }
    }

    #[test]
    fn the_ldap_backend_needs_its_url_and_base_and_tls_off_loopback() {
        let c = Config::load(
            Some(&empty_file()),
            &env_of(&[
                ("OTPGATE_AUTH_BACKEND", "ldap"),
                ("OTPGATE_LDAP_URL", "ldaps://ldap.example.org:636/"),
                ("OTPGATE_LDAP_BIND_DN", "cn=otpgate,dc=example,dc=org"),
                ("OTPGATE_LDAP_BIND_PASSWORD", "s3cret"),
                ("OTPGATE_LDAP_USER_BASE_DN", "ou=People,dc=example,dc=org"),
                ("OTPGATE_LDAP_EMAIL_ATTRIBUTE", "mail"),
                ("OTPGATE_LDAP_TIMEOUT_MS", "2500"),
            ]),
        )
        .expect("ldap");
        let PasswordBackendConfig::Ldap(l) = &c.password_backend else {
            panic!("{:?}", c.password_backend);
        };
        assert_eq!(l.url, "ldaps://ldap.example.org:636");
        assert!(l.starttls);
        assert_eq!(l.user_filter, "(uid={username})");
        assert_eq!(l.email_attribute.as_deref(), Some("mail"));
        assert_eq!(l.timeout, Duration::from_millis(2500));
        assert!(!format!("{l:?}").contains("s3cret"));
        // Plain LDAP is accepted on loopback only.
        let plain = |host: &str| {
            Config::load(
                Some(&empty_file()),
                &env_of(&[
                    ("OTPGATE_AUTH_BACKEND", "ldap"),
                    ("OTPGATE_LDAP_URL", &format!("ldap://{host}:389")),
                    ("OTPGATE_LDAP_STARTTLS", "false"),
                    ("OTPGATE_LDAP_USER_BASE_DN", "dc=example,dc=org"),
                ]),
            )
        };
        assert!(plain("127.0.0.1").is_ok());
        assert!(plain("[::1]").is_ok());
        assert!(plain("localhost").is_ok());
        let err = plain("ldap.example.org").expect_err("plain off loopback");
        assert!(err.contains("ldap.starttls"), "{err}");
        let base = [("OTPGATE_AUTH_BACKEND", "ldap")];
        for (more, needle) in [
            (vec![], "ldap.url"),
            (vec![("OTPGATE_LDAP_URL", "http://x")], "ldap.url"),
            (vec![("OTPGATE_LDAP_URL", "ldap://x")], "ldap.user_base_dn"),
            (
                vec![
                    ("OTPGATE_LDAP_URL", "ldap://x"),
                    ("OTPGATE_LDAP_USER_BASE_DN", "dc=x"),
                    ("OTPGATE_LDAP_USER_FILTER", "(uid=alice)"),
                ],
                "ldap.user_filter",
            ),
            (
                vec![
                    ("OTPGATE_LDAP_URL", "ldap://x"),
                    ("OTPGATE_LDAP_USER_BASE_DN", "dc=x"),
                    ("OTPGATE_LDAP_BIND_DN", "cn=a"),
                ],
                "ldap.bind_password",
            ),
            (
                vec![
                    ("OTPGATE_LDAP_URL", "ldap://x"),
                    ("OTPGATE_LDAP_USER_BASE_DN", "dc=x"),
                    ("OTPGATE_LDAP_CA_FILE", "/nonexistent/ca.pem"),
                ],
                "ldap.ca_file",
            ),
        ] {
            let pairs: Vec<_> = base.iter().copied().chain(more).collect();
            let err = Config::load(Some(&empty_file()), &env_of(&pairs)).expect_err(needle);
            assert!(err.contains(needle), "{err}");
        }
    }

    #[test]
    fn otpgate_variables_win_over_nethvoice_ones() {
        let env = env_of(&[
            ("NETHVOICE_MIDDLEWARE_LISTEN_ADDRESS", "127.0.0.1:9191"),
            ("OTPGATE_LISTEN", "127.0.0.1:9292"),
            ("NETHVOICE_MIDDLEWARE_ISSUER_2FA", "NethVoice"),
            ("OTPGATE_ISSUER", "Ours"),
            ("NETHVOICE_MIDDLEWARE_SECRETS_DIR", "/a"),
            ("OTPGATE_DATA_DIR", "/b"),
            ("NETHVOICE_MIDDLEWARE_TRUSTED_PROXY", "10.0.0.1"),
            ("OTPGATE_TRUSTED_PROXIES", "10.0.0.2,10.0.0.3"),
            ("NETHVOICE_MIDDLEWARE_GLOBAL_RATE_LIMIT_AVERAGE", "7"),
            ("OTPGATE_RATE_LIMIT_AVERAGE", "0"),
            ("NETHVOICE_MIDDLEWARE_GLOBAL_RATE_LIMIT_BURST", "9"),
            ("OTPGATE_RATE_LIMIT_BURST", "11"),
            ("NETHVOICE_MIDDLEWARE_V1_API_ENDPOINT", "legacy:8080"),
            ("OTPGATE_UPSTREAM_URL", "http://app:9000"),
        ]);
        let c = Config::load(Some(&empty_file()), &env).expect("both");
        assert_eq!(c.listen.to_string(), "127.0.0.1:9292");
        assert_eq!(c.policy.issuer, "Ours");
        assert_eq!(c.data_dir, PathBuf::from("/b"));
        assert_eq!(c.http.trusted_proxies.0.len(), 2);
        assert_eq!(
            (c.http.rate_limit_average, c.http.rate_limit_burst),
            (0, 11)
        );
        let up = c.http.upstream.expect("upstream");
        assert_eq!(up.url.to_string(), "http://app:9000/");
    }

    #[test]
    fn nethvoice_middleware_variables_are_validated() {
        for (pairs, needle) in [
            (
                vec![("NETHVOICE_MIDDLEWARE_SENSITIVE_LIST", "pass word,<x>")],
                "SENSITIVE_LIST",
            ),
            (
                vec![("NETHVOICE_MIDDLEWARE_GLOBAL_RATE_LIMIT_AVERAGE", "many")],
                "GLOBAL_RATE_LIMIT_AVERAGE",
            ),
            (
                vec![("NETHVOICE_MIDDLEWARE_LISTEN_ADDRESS", "nowhere")],
                "listen",
            ),
            (
                vec![
                    ("NETHVOICE_MIDDLEWARE_V1_PROTOCOL", "gopher"),
                    ("NETHVOICE_MIDDLEWARE_V1_API_ENDPOINT", "x:1"),
                ],
                "V1_PROTOCOL",
            ),
            (
                vec![("NETHVOICE_MIDDLEWARE_V1_API_PATH", "/webrest")],
                "V1_API_ENDPOINT",
            ),
            (
                vec![("NETHVOICE_MIDDLEWARE_TRUSTED_PROXY", "not-an-ip")],
                "trusted_proxies",
            ),
        ] {
            let err = Config::load(Some(&empty_file()), &env_of(&pairs))
                .expect_err("invalid drop-in value");
            assert!(err.contains(needle), "{pairs:?}: {err}");
        }
        // A valid sensitive list alone changes nothing else.
        let c = Config::load(
            Some(&empty_file()),
            &env_of(&[("NETHVOICE_MIDDLEWARE_SENSITIVE_LIST", "password,secret")]),
        )
        .expect("valid list");
        assert_eq!(c.listen.to_string(), "127.0.0.1:8080");
    }

    #[test]
    fn redacts_passwords_in_urls() {
        assert_eq!(
            redact_url("postgres://u:secret@db:5432/x"),
            "postgres://u:***@db:5432/x"
        );
        assert_eq!(redact_url("postgres://u@db/x"), "postgres://u@db/x");
        assert_eq!(redact_url("sqlite://./a.db"), "sqlite://./a.db");
    }
}

#[cfg(test)]
mod example_file {
    use super::*;

    #[test]
    fn the_shipped_example_config_is_valid_and_lists_every_env_var() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("otpgate.example.toml");
        let c = Config::load(Some(&path), &|_| None).expect("example config loads");
        assert_eq!(c.listen.to_string(), "127.0.0.1:8080");
        let text = std::fs::read_to_string(&path).expect("read");
        for var in ENV_VARS {
            assert!(
                text.contains(var),
                "{var} is documented in otpgate.example.toml"
            );
        }
    }

    #[test]
    fn the_readme_ldap_examples_are_valid_configurations() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md");
        let text = std::fs::read_to_string(&path).expect("read README");
        let section = text
            .split("## Passwords from LDAP")
            .nth(1)
            .and_then(|s| s.split("\n## ").next())
            .expect("README has a Passwords from LDAP section");
        let blocks: Vec<&str> = section
            .split("```toml\n")
            .skip(1)
            .filter_map(|b| b.split("```").next())
            .collect();
        assert_eq!(
            blocks.len(),
            2,
            "an OpenLDAP and an Active Directory example"
        );
        for (i, block) in blocks.iter().enumerate() {
            // The CA file of the example does not exist here.
            let toml: String = block
                .lines()
                .filter(|l| !l.starts_with("ca_file"))
                .map(|l| format!("{l}\n"))
                .collect();
            let file = std::env::temp_dir().join(format!(
                "otpgate-readme-ldap-{}-{i}.toml",
                std::process::id()
            ));
            std::fs::write(&file, toml).expect("write");
            let c = Config::load(Some(&file), &|_| None);
            let _ = std::fs::remove_file(&file);
            let c = c.unwrap_or_else(|e| panic!("README LDAP example {i}: {e}"));
            let PasswordBackendConfig::Ldap(l) = &c.password_backend else {
                panic!("README LDAP example {i}: {:?}", c.password_backend);
            };
            assert!(l.user_filter.contains("{username}"));
        }
    }

    #[test]
    fn the_readme_drop_in_table_lists_every_nethvoice_variable() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md");
        let text = std::fs::read_to_string(&path).expect("read README");
        let section = text
            .split("### Drop-in configuration")
            .nth(1)
            .expect("README has a Drop-in configuration section");
        for var in NETHVOICE_ENV_VARS {
            let short = var.trim_start_matches("NETHVOICE_MIDDLEWARE");
            assert!(
                section.contains(var) || section.contains(&format!("`{short}`")),
                "{var} is in README's drop-in table"
            );
        }
    }
}
