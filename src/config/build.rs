//! From the raw settings to the validated [`Config`]: each setting read
//! through its accessor (value or default, checked by its row), the rules
//! between settings checked once (`rules::check`), then the values put
//! where the core, the store and the HTTP layer want them.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use otpgate_core::config::{Argon2Cost, LegacyPolicy, Policy, ThrottlePolicy};
use otpgate_http::{HttpSettings, IpNet, TrustedProxies};
use otpgate_store::{PostgresOptions, SqliteOptions, StoreOptions};

use super::build_http::{connections, cti_forwarding, password_backend, upstream, ws};
use super::error::ConfigError;
use super::forms::parse_date;
use super::model::{Config, LogFormat};
use super::notify::notifiers;
use super::rules;
use super::table::Raw;

/// Validates `raw` (read from `file`, if any) into a [`Config`].
pub fn build(raw: Raw, file: Option<PathBuf>) -> Result<Config, ConfigError> {
    rules::check(&raw)?;
    let listen_text = raw.listen()?;
    let listen: SocketAddr = listen_text.trim().parse().map_err(|_| {
        ConfigError::invalid(
            "listen",
            format!("listen {listen_text:?} is not an address like 127.0.0.1:8080"),
        )
    })?;
    let data_dir = raw.data_dir()?;
    let api_prefix = raw.api_prefix()?;
    let trusted = raw
        .trusted_proxies()?
        .iter()
        .map(|s| {
            IpNet::parse(s).map_err(|e| {
                ConfigError::invalid("trusted_proxies", format!("trusted_proxies: {e}"))
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let log_format = match raw.log_format()?.as_str() {
        "json" => LogFormat::Json,
        _ => LogFormat::Text,
    };
    let policy = policy(&raw)?;
    let notifier = notifiers(&raw.notifier)?;
    let store = store(&raw, &data_dir)?;
    let legacy_docs_url = raw.legacy.docs_url()?;
    let ws = ws(&raw.ws)?;
    let (upstream, upstream_ws) = upstream(&raw)?;
    let connections = connections(&raw.connections)?;
    let password_backend = password_backend(&raw)?;
    let cti = cti_forwarding(&raw, &password_backend)?;
    Ok(Config {
        listen,
        store,
        data_dir,
        policy,
        http: HttpSettings {
            api_prefix,
            body_limit: raw.body_limit_bytes()?,
            rate_limit_average: raw.rate_limit.average()?,
            rate_limit_burst: raw.rate_limit.burst()?,
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

/// The core's figures.
fn policy(raw: &Raw) -> Result<Policy, ConfigError> {
    let mut policy = Policy {
        issuer: raw.issuer()?,
        ..Policy::default()
    };
    policy.token_lifetime_secs = raw.jwt.lifetime_secs()?;
    policy.persistent_lifetime_secs = raw.jwt.persistent_lifetime_secs()?;
    policy.totp_skew_steps = raw.totp.skew_steps()?;
    let l = &raw.lockout;
    let (base, cap) = (l.backoff_base_secs()?, l.backoff_cap_secs()?);
    let consecutive = |max| ThrottlePolicy {
        max_failures: max,
        window_secs: None,
        base_secs: base,
        cap_secs: cap,
    };
    policy.otp_lockout = consecutive(l.otp_max_failures()?);
    policy.login_user = consecutive(l.login_user_max_failures()?);
    policy.login_ip = ThrottlePolicy {
        window_secs: Some(l.login_ip_window_secs()?),
        ..consecutive(l.login_ip_max_failures()?.max(1))
    };
    let a = &raw.argon2;
    policy.argon2 = Argon2Cost {
        memory_kib: a.memory_kib()?,
        iterations: a.iterations()?,
        parallelism: a.parallelism()?,
    };
    if let Some(t) = a.threads()? {
        policy.hashing_threads = t;
    }
    policy.hashing_queue = a.queue()?;
    policy.oob_send = Policy::oob_send_limit(raw.oob.send_max()?, raw.oob.send_window_secs()?);
    policy.legacy = LegacyPolicy {
        enabled: raw.legacy.enabled()?,
        sunset: parse_date("legacy.sunset", &raw.legacy.sunset()?)?,
        deprecated_since: parse_date("legacy.deprecated_since", &raw.legacy.deprecated_since()?)?,
        ..LegacyPolicy::default()
    };
    policy.audit_retention_days = raw.audit.retention_days()?;
    policy.password_min_length = raw.password.min_length()?;
    policy.two_factor_required = raw.two_factor.required()?;
    Ok(policy)
}

/// The store's URL (by default a SQLite file in `data_dir`) and tuning.
fn store(raw: &Raw, data_dir: &std::path::Path) -> Result<StoreOptions, ConfigError> {
    let url = match raw.database_url()?.filter(|s| !s.trim().is_empty()) {
        Some(u) => u,
        None => format!("sqlite://{}", data_dir.join("otpgate.db").display()),
    };
    let s = &raw.sqlite;
    let sqlite = SqliteOptions {
        synchronous_full: rules::transport(&s.synchronous()?) == "full",
        busy_timeout: Duration::from_millis(s.busy_timeout_ms()?),
        max_connections: s.max_connections()?.max(1),
    };
    let p = &raw.postgres;
    let postgres = PostgresOptions {
        max_connections: p.max_connections()?.max(1),
        acquire_timeout: Duration::from_millis(p.acquire_timeout_ms()?),
        connect_timeout: Duration::from_millis(p.connect_timeout_ms()?),
    };
    Ok(StoreOptions {
        url,
        sqlite,
        postgres,
    })
}
