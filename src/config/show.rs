//! Small helpers for the `show` column of the settings table: how a value
//! in force is printed by `otpgate config check` (durations in ms, unset
//! values, secrets as `***`, sections whose feature is not in use).

use std::time::Duration;

use otpgate_notify::{SmtpSettings, SmtpTls, WebhookSettings};

use super::model::{Config, LdapConfig, PasswordBackendConfig};
use crate::notifier_config::Transport;

/// Milliseconds.
pub fn ms(d: Duration) -> String {
    d.as_millis().to_string()
}

/// A value or `(none)`.
pub fn opt(v: Option<&str>) -> String {
    v.map_or_else(|| "(none)".to_owned(), str::to_owned)
}

/// `***` when set, `(none)` when not.
pub fn secret(set: bool) -> String {
    if set { "***" } else { "(none)" }.to_owned()
}

/// A file path or `(none)`.
pub fn path(p: Option<&std::path::PathBuf>) -> String {
    p.map_or_else(|| "(none)".to_owned(), |p| p.display().to_string())
}

/// A store setting's value, marked when the other store is in use.
pub fn store(c: &Config, for_postgres: bool, v: String) -> String {
    let postgres = c.store.url.starts_with("postgres");
    if postgres == for_postgres {
        v
    } else {
        format!(
            "{v} (not used: the store is {})",
            if postgres { "PostgreSQL" } else { "SQLite" }
        )
    }
}

/// A `[notifier.smtp]` value, when a channel is smtp.
pub fn smtp(c: &Config, f: fn(&SmtpSettings) -> String) -> String {
    [&c.notifier.email, &c.notifier.sms]
        .into_iter()
        .find_map(|t| match t {
            Transport::Smtp(s) => Some(s),
            _ => None,
        })
        .map_or_else(|| "(not used: no channel is smtp)".to_owned(), f)
}

/// `starttls`, `tls` or `none`.
pub fn tls(t: SmtpTls) -> String {
    match t {
        SmtpTls::StartTls => "starttls",
        SmtpTls::Tls => "tls",
        SmtpTls::None => "none",
    }
    .to_owned()
}

/// A `[notifier.webhook]` value, when a channel is webhook.
pub fn webhook(c: &Config, f: fn(&WebhookSettings) -> String) -> String {
    [&c.notifier.email, &c.notifier.sms]
        .into_iter()
        .find_map(|t| match t {
            Transport::Webhook(w) => Some(w),
            _ => None,
        })
        .map_or_else(|| "(not used: no channel is webhook)".to_owned(), f)
}

/// `local`, `nethcti` or `ldap`.
pub fn backend(c: &Config) -> &'static str {
    match &c.password_backend {
        PasswordBackendConfig::Local => "local",
        PasswordBackendConfig::Nethcti { .. } => "nethcti",
        PasswordBackendConfig::Ldap(_) => "ldap",
    }
}

/// What a section of another backend prints.
pub fn off(c: &Config, section: &str) -> String {
    format!("(not used: auth.backend is {}, not {section})", backend(c))
}

/// A `[nethcti]` value (its url and timeout), in nethcti mode.
pub fn nethcti(c: &Config, f: fn(&str, Duration) -> String) -> String {
    match &c.password_backend {
        PasswordBackendConfig::Nethcti { url, timeout } => f(url, *timeout),
        _ => off(c, "nethcti"),
    }
}

/// An `[ldap]` value, in ldap mode.
pub fn ldap(c: &Config, f: fn(&LdapConfig) -> String) -> String {
    match &c.password_backend {
        PasswordBackendConfig::Ldap(l) => f(l),
        _ => off(c, "ldap"),
    }
}

/// Header names with their values hidden (they often carry credentials).
pub fn headers(list: &[(axum::http::HeaderName, axum::http::HeaderValue)]) -> String {
    if list.is_empty() {
        return "(none)".to_owned();
    }
    list.iter()
        .map(|(name, _)| format!("{name}=***"))
        .collect::<Vec<_>>()
        .join(", ")
}
