//! The form of single values: the `Form` checks the settings table names
//! (a value that must look a certain way, whatever the other settings say)
//! and the parsers that turn checked text into typed values (dates, the
//! Socket.IO URL, hosts). Used by the table, `rules` and `build`.

use std::path::PathBuf;

use super::error::ConfigError;

/// A path prefix: empty (behind a proxy that strips `/api`) or starting
/// with `/`.
pub fn api_prefix(key: &'static str, v: &str) -> Result<(), String> {
    if !(v.is_empty() || v.starts_with('/')) || v.contains(['?', '#', ' ']) {
        return Err(format!(
            "{key} {v:?} must be empty or a path starting with /"
        ));
    }
    Ok(())
}

/// The otpauth issuer: not blank, no `:` (it separates issuer and account).
pub fn issuer(key: &'static str, v: &str) -> Result<(), String> {
    if v.trim().is_empty() || v.contains(':') {
        return Err(format!("{key} must be non-empty and contain no ':'"));
    }
    Ok(())
}

/// A SQLite or PostgreSQL URL (blank: the default SQLite file); a
/// password in a refused URL is not repeated.
pub fn database_url(key: &'static str, v: &str) -> Result<(), String> {
    let ok = ["sqlite:", "postgres://", "postgresql://"]
        .iter()
        .any(|p| v.starts_with(p));
    if ok || v.trim().is_empty() {
        return Ok(());
    }
    Err(format!(
        "{key} must start with sqlite:// or postgres:// (got {})",
        crate::redact::redact_url(v)
    ))
}

/// `notifier.sms`: outbox or webhook (SMTP cannot send SMS).
pub fn sms_transport(key: &'static str, v: &str) -> Result<(), String> {
    match v.trim().to_ascii_lowercase().as_str() {
        "outbox" | "webhook" => Ok(()),
        "smtp" => Err(format!(
            "{key} cannot be \"smtp\": use \"webhook\" or \"outbox\""
        )),
        other => Err(format!("{key} {other:?} must be \"outbox\" or \"webhook\"")),
    }
}

/// `auth.backend`: local, nethcti or ldap.
pub fn password_backend(key: &'static str, v: &str) -> Result<(), String> {
    match v.trim().to_ascii_lowercase().as_str() {
        "local" | "nethcti" | "ldap" => Ok(()),
        other => Err(format!("{key} {other:?} must be local, nethcti or ldap")),
    }
}

/// A port that is not 0.
pub fn not_zero(key: &'static str, v: &u16) -> Result<(), String> {
    if *v == 0 {
        Err(format!("{key} must not be 0"))
    } else {
        Ok(())
    }
}

/// A URL put in a header: no spaces, quotes, angle brackets or controls.
pub fn docs_url(key: &'static str, v: &str) -> Result<(), String> {
    if v.is_empty() || v.contains(['<', '>', ' ', '"']) || v.chars().any(char::is_control) {
        return Err(format!(
            "{key} {v:?} must be a URL (no spaces, quotes or angle brackets)"
        ));
    }
    Ok(())
}

/// `ldaps://HOST[:PORT]` or `ldap://HOST[:PORT]` (blank: unset).
pub fn ldap_url(key: &'static str, v: &str) -> Result<(), String> {
    let url = v.trim().trim_end_matches('/');
    if url.is_empty() || ldap_host(url).is_some() {
        Ok(())
    } else {
        Err(format!(
            "{key} {url:?} must be ldaps://HOST[:PORT] or ldap://HOST[:PORT]"
        ))
    }
}

/// The host of an `ldap(s)://HOST[:PORT]` URL.
pub fn ldap_host(url: &str) -> Option<&str> {
    let rest = url
        .strip_prefix("ldaps://")
        .or_else(|| url.strip_prefix("ldap://"))
        .filter(|r| !r.is_empty() && !r.contains(['/', '?']))?;
    Some(match rest.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or_default(),
        None => rest.split(':').next().unwrap_or_default(),
    })
}

/// `localhost` or a loopback address (`[::1]` too).
pub fn is_loopback(host: &str) -> bool {
    host.eq_ignore_ascii_case("localhost")
        || host
            .trim_matches(['[', ']'])
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// A file that exists.
pub fn readable(key: &'static str, v: &PathBuf) -> Result<(), String> {
    std::fs::metadata(v)
        .map(|_| ())
        .map_err(|e| format!("{key} {}: {e}", v.display()))
}

/// An LDAP filter with `{username}` (blank: the default filter).
pub fn user_filter(key: &'static str, v: &str) -> Result<(), String> {
    let f = v.trim();
    if f.is_empty() || f.contains("{username}") {
        Ok(())
    } else {
        Err(format!("{key} {f:?} must contain {{username}}"))
    }
}

/// Trimmed, `None` when blank.
pub fn non_empty(v: Option<String>) -> Option<String> {
    v.map(|s| s.trim().to_owned()).filter(|s| !s.is_empty())
}

/// A date `YYYY-MM-DD` (midnight UTC) or an RFC 3339 time, as unix seconds.
pub fn parse_date(key: &'static str, text: &str) -> Result<i64, ConfigError> {
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
    .map_err(|_| {
        ConfigError::invalid(
            key,
            format!("{key} {text:?} must be a date like 2026-06-01 or an RFC 3339 time"),
        )
    })
}

/// Validates a Socket.IO URL (`ws://` or `wss://HOST:PORT/PATH/`, the
/// Engine.IO path of an Engine.IO v4 / Socket.IO v5 server) and returns it
/// with its trailing slash. `key` is the setting it came from.
pub fn ws_socket_io_url(key: &'static str, text: &str) -> Result<String, ConfigError> {
    use otpgate_http::Uri;
    let bad = || {
        ConfigError::invalid(
            key,
            format!(
                "upstream.ws_url {text:?} must be ws://HOST:PORT/PATH/ or wss://... (the Socket.IO \
                 path, e.g. ws://127.0.0.1:8183/socket.io/; no query)"
            ),
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
