//! What `otpgate config check` prints: every setting of the configuration
//! file, one `key: value` line each, under its TOML name (`section.key`),
//! with the value in force (the file, the environment or the default).
//!
//! Secrets (passwords, tokens, header values, a URL's password) print as
//! `***`; a section whose feature is not in use says so. The tests derive
//! the list of keys from the configuration structs themselves, so a
//! setting added there without a line here fails them.

use otpgate_http::rfc3339;

use crate::config::{Config, LogFormat, PasswordBackendConfig, redact_url};
use crate::notifier_config::{Transport, describe_transport};

/// The `(key, value)` pairs, in the order of the example file.
pub fn settings(c: &Config) -> Vec<(&'static str, String)> {
    let mut out = Vec::new();
    top_level(c, &mut out);
    limits(c, &mut out);
    storage(c, &mut out);
    notifier(c, &mut out);
    gateway(c, &mut out);
    backend(c, &mut out);
    out
}

type Out = Vec<(&'static str, String)>;

fn ms(d: std::time::Duration) -> String {
    d.as_millis().to_string()
}

fn opt(v: Option<&str>) -> String {
    v.map_or_else(|| "(none)".to_owned(), str::to_owned)
}

fn secret(set: bool) -> String {
    if set { "***" } else { "(none)" }.to_owned()
}

fn top_level(c: &Config, out: &mut Out) {
    out.push(("listen", c.listen.to_string()));
    out.push(("data_dir", c.data_dir.display().to_string()));
    out.push(("database_url", redact_url(&c.store.url)));
    out.push(("api_prefix", c.http.api_prefix.clone()));
    out.push(("issuer", c.policy.issuer.clone()));
    let proxies = &c.http.trusted_proxies.0;
    out.push((
        "trusted_proxies",
        if proxies.is_empty() {
            "(none)".to_owned()
        } else {
            format!("{proxies:?}")
        },
    ));
    out.push(("body_limit_bytes", c.http.body_limit.to_string()));
    out.push((
        "log_format",
        match c.log_format {
            LogFormat::Text => "text",
            LogFormat::Json => "json",
        }
        .to_owned(),
    ));
}

fn limits(c: &Config, out: &mut Out) {
    let p = &c.policy;
    out.push(("jwt.lifetime_secs", p.token_lifetime_secs.to_string()));
    out.push((
        "jwt.persistent_lifetime_secs",
        p.persistent_lifetime_secs.to_string(),
    ));
    out.push(("totp.skew_steps", p.totp_skew_steps.to_string()));
    out.push((
        "lockout.otp_max_failures",
        p.otp_lockout.max_failures.to_string(),
    ));
    out.push((
        "lockout.login_user_max_failures",
        p.login_user.max_failures.to_string(),
    ));
    out.push((
        "lockout.login_ip_max_failures",
        p.login_ip.max_failures.to_string(),
    ));
    out.push((
        "lockout.login_ip_window_secs",
        p.login_ip.window_secs.unwrap_or(0).to_string(),
    ));
    out.push((
        "lockout.backoff_base_secs",
        p.otp_lockout.base_secs.to_string(),
    ));
    out.push((
        "lockout.backoff_cap_secs",
        p.otp_lockout.cap_secs.to_string(),
    ));
    out.push((
        "rate_limit.average",
        format!("{} req/s", c.http.rate_limit_average),
    ));
    out.push(("rate_limit.burst", c.http.rate_limit_burst.to_string()));
    out.push(("argon2.memory_kib", p.argon2.memory_kib.to_string()));
    out.push(("argon2.iterations", p.argon2.iterations.to_string()));
    out.push(("argon2.parallelism", p.argon2.parallelism.to_string()));
    out.push(("argon2.threads", p.hashing_threads.to_string()));
    out.push(("argon2.queue", p.hashing_queue.to_string()));
    out.push((
        "oob.send_max",
        format!(
            "{} (codes valid 10 min, 5 attempts each)",
            p.oob_send.max_failures
        ),
    ));
    out.push((
        "oob.send_window_secs",
        p.oob_send.window_secs.unwrap_or(0).to_string(),
    ));
    out.push((
        "audit.retention_days",
        match p.audit_retention_days {
            0 => "0 (kept forever)".to_owned(),
            d => d.to_string(),
        },
    ));
    out.push((
        "password.min_length",
        format!(
            "{} (and not a commonly used password)",
            p.password_min_length
        ),
    ));
    out.push(("two_factor.required", p.two_factor_required.to_string()));
    let conn = &c.http.connections;
    out.push(("connections.header_timeout_ms", ms(conn.header_timeout)));
    out.push(("connections.idle_timeout_ms", ms(conn.idle_timeout)));
    out.push(("connections.body_timeout_ms", ms(conn.body_timeout)));
    out.push((
        "connections.max",
        conn.max_connections.map_or_else(
            || "(from the file-descriptor limit at start)".to_owned(),
            |m| m.to_string(),
        ),
    ));
    out.push((
        "connections.max_per_address",
        match conn.max_per_address {
            0 => "0 (no cap)".to_owned(),
            n => n.to_string(),
        },
    ));
}

fn storage(c: &Config, out: &mut Out) {
    let postgres = c.store.url.starts_with("postgres");
    let unused = |used: bool, v: String| {
        if used {
            v
        } else {
            format!(
                "{v} (not used: the store is {})",
                if postgres { "PostgreSQL" } else { "SQLite" }
            )
        }
    };
    let s = &c.store.sqlite;
    out.push((
        "sqlite.synchronous",
        unused(
            !postgres,
            if s.synchronous_full { "full" } else { "normal" }.to_owned(),
        ),
    ));
    out.push((
        "sqlite.busy_timeout_ms",
        unused(!postgres, ms(s.busy_timeout)),
    ));
    out.push((
        "sqlite.max_connections",
        unused(!postgres, s.max_connections.to_string()),
    ));
    let pg = &c.store.postgres;
    out.push((
        "postgres.max_connections",
        unused(postgres, pg.max_connections.to_string()),
    ));
    out.push((
        "postgres.acquire_timeout_ms",
        unused(postgres, ms(pg.acquire_timeout)),
    ));
    out.push((
        "postgres.connect_timeout_ms",
        unused(postgres, ms(pg.connect_timeout)),
    ));
}

fn notifier(c: &Config, out: &mut Out) {
    let n = &c.notifier;
    out.push(("notifier.email", describe_transport(&n.email)));
    out.push(("notifier.sms", describe_transport(&n.sms)));
    let smtp = [&n.email, &n.sms].into_iter().find_map(|t| match t {
        Transport::Smtp(s) => Some(s),
        _ => None,
    });
    let not_used = || "(not used: no channel is smtp)".to_owned();
    let smtp_value =
        |f: &dyn Fn(&otpgate_notify::smtp::SmtpSettings) -> String| smtp.map_or_else(not_used, f);
    out.push(("notifier.smtp.host", smtp_value(&|s| s.host.clone())));
    out.push(("notifier.smtp.port", smtp_value(&|s| s.port.to_string())));
    out.push((
        "notifier.smtp.tls",
        smtp_value(&|s| {
            match s.tls {
                otpgate_notify::smtp::SmtpTls::StartTls => "starttls",
                otpgate_notify::smtp::SmtpTls::Tls => "tls",
                otpgate_notify::smtp::SmtpTls::None => "none",
            }
            .to_owned()
        }),
    ));
    out.push((
        "notifier.smtp.username",
        smtp_value(&|s| opt(s.username.as_deref())),
    ));
    out.push((
        "notifier.smtp.password",
        smtp_value(&|s| secret(s.password.is_some())),
    ));
    out.push(("notifier.smtp.from", smtp_value(&|s| s.from.clone())));
    out.push((
        "notifier.smtp.timeout_secs",
        smtp_value(&|s| s.timeout.as_secs().to_string()),
    ));
    out.push((
        "notifier.smtp.ca_file",
        smtp_value(&|s| {
            s.ca_file
                .as_ref()
                .map_or_else(|| "(none)".to_owned(), |p| p.display().to_string())
        }),
    ));
    let hook = [&n.email, &n.sms].into_iter().find_map(|t| match t {
        Transport::Webhook(w) => Some(w),
        _ => None,
    });
    let hook_value = |f: &dyn Fn(&otpgate_notify::webhook::WebhookSettings) -> String| {
        hook.map_or_else(|| "(not used: no channel is webhook)".to_owned(), f)
    };
    out.push((
        "notifier.webhook.url",
        hook_value(&|w| crate::notifier_config::redact_query(&redact_url(&w.url))),
    ));
    out.push((
        "notifier.webhook.timeout_ms",
        hook_value(&|w| ms(w.timeout)),
    ));
    out.push((
        "notifier.webhook.retries",
        hook_value(&|w| w.retries.to_string()),
    ));
    out.push((
        "notifier.webhook.bearer_token",
        hook_value(&|w| secret(w.bearer_token.is_some())),
    ));
}

/// Header names with their values hidden (they often carry credentials).
fn headers(list: &[(axum::http::HeaderName, axum::http::HeaderValue)]) -> String {
    if list.is_empty() {
        return "(none)".to_owned();
    }
    list.iter()
        .map(|(name, _)| format!("{name}=***"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn gateway(c: &Config, out: &mut Out) {
    let h = &c.http;
    let up = h.upstream.as_ref();
    out.push((
        "upstream.url",
        up.map_or_else(
            || "(none: no reverse proxy)".to_owned(),
            |u| redact_url(&u.url.to_string()),
        ),
    ));
    out.push((
        "upstream.ws_url",
        h.upstream_ws
            .as_ref()
            .map_or_else(|| "(none)".to_owned(), |w| redact_url(&w.url)),
    ));
    out.push((
        "upstream.timeout_ms",
        up.map_or_else(|| "(not used)".to_owned(), |u| ms(u.timeout)),
    ));
    out.push((
        "upstream.headers",
        up.map_or_else(|| "(none)".to_owned(), |u| headers(&u.headers)),
    ));
    let legacy = &c.policy.legacy;
    out.push((
        "legacy.enabled",
        match legacy.enabled {
            Some(true) => "true (whatever the date)".to_owned(),
            Some(false) => "false".to_owned(),
            None => format!("(unset: on until {})", rfc3339(legacy.sunset)),
        },
    ));
    out.push(("legacy.sunset", rfc3339(legacy.sunset)));
    out.push(("legacy.deprecated_since", rfc3339(legacy.deprecated_since)));
    out.push(("legacy.docs_url", h.legacy_docs_url.clone()));
    out.push(("ws.login_timeout_ms", ms(h.ws.login_timeout)));
    out.push(("ws.poll_interval_ms", ms(h.ws.poll_interval)));
}

fn backend(c: &Config, out: &mut Out) {
    let (name, nethcti, ldap) = match &c.password_backend {
        PasswordBackendConfig::Local => ("local", None, None),
        PasswordBackendConfig::Nethcti { url, timeout } => ("nethcti", Some((url, timeout)), None),
        PasswordBackendConfig::Ldap(l) => ("ldap", None, Some(l)),
    };
    out.push(("auth.backend", name.to_owned()));
    let off = |section: &str| format!("(not used: auth.backend is {name}, not {section})");
    out.push((
        "nethcti.url",
        nethcti.map_or_else(|| off("nethcti"), |(url, _)| redact_url(url)),
    ));
    out.push((
        "nethcti.timeout_ms",
        nethcti.map_or_else(|| off("nethcti"), |(_, t)| ms(*t)),
    ));
    out.push((
        "nethcti.ws_url",
        match (nethcti, c.http.upstream_ws.as_ref()) {
            (None, _) => off("nethcti"),
            (Some(_), Some(w)) if w.cti => redact_url(&w.url),
            (Some(_), _) => "(none: no Socket.IO relay)".to_owned(),
        },
    ));
    out.push((
        "nethcti.freepbx_apis",
        c.http
            .cti
            .as_ref()
            .map_or_else(|| off("nethcti"), |cti| format!("{:?}", cti.freepbx_apis)),
    ));
    let ldap_value = |f: &dyn Fn(&crate::config::LdapConfig) -> String| {
        ldap.map_or_else(|| off("ldap"), |l| f(l))
    };
    out.push(("ldap.url", ldap_value(&|l| l.url.clone())));
    out.push((
        "ldap.starttls",
        ldap_value(&|l| {
            if l.url.starts_with("ldaps://") {
                "false (ldaps: TLS from the start)".to_owned()
            } else if l.starttls {
                "true".to_owned()
            } else {
                "false (plain, loopback only)".to_owned()
            }
        }),
    ));
    out.push((
        "ldap.ca_file",
        ldap_value(&|l| {
            l.ca_file
                .as_ref()
                .map_or_else(|| "(none)".to_owned(), |p| p.display().to_string())
        }),
    ));
    out.push((
        "ldap.bind_dn",
        ldap_value(&|l| {
            l.bind_dn
                .clone()
                .unwrap_or_else(|| "(none: anonymous search)".to_owned())
        }),
    ));
    out.push((
        "ldap.bind_password",
        ldap_value(&|l| secret(l.bind_password.is_some())),
    ));
    out.push(("ldap.user_base_dn", ldap_value(&|l| l.user_base_dn.clone())));
    out.push(("ldap.user_filter", ldap_value(&|l| l.user_filter.clone())));
    out.push((
        "ldap.display_name_attribute",
        ldap_value(&|l| opt(l.display_name_attribute.as_deref())),
    ));
    out.push((
        "ldap.email_attribute",
        ldap_value(&|l| opt(l.email_attribute.as_deref())),
    ));
    out.push((
        "ldap.phone_attribute",
        ldap_value(&|l| opt(l.phone_attribute.as_deref())),
    ));
    out.push(("ldap.timeout_ms", ldap_value(&|l| ms(l.timeout))));
}

#[cfg(test)]
#[path = "config_report_tests.rs"]
mod tests;
