//! The rules between settings, all in [`check`]: a value that is fine on
//! its own but not with another (a cap below its base, a backend without
//! its URL, two settings naming the same thing). Per-setting checks
//! (ranges, choices, forms) are in the table's rows; this is everything
//! else that can refuse a configuration, so `build` can assume it holds.

use super::error::ConfigError;
use super::forms::{is_loopback, ldap_host, non_empty, parse_date};
use super::table::Raw;

/// `auth.backend`, trimmed and in lower case (`local` when unset).
pub fn backend(raw: &Raw) -> Result<String, ConfigError> {
    Ok(raw.auth.backend()?.trim().to_ascii_lowercase())
}

/// The channel's transport name, trimmed and in lower case.
pub fn transport(v: &str) -> String {
    v.trim().to_ascii_lowercase()
}

/// The reverse proxy's and the relay's upstream URLs in force: the
/// `[upstream]` ones, or in nethcti mode `nethcti.url` (when plain http and
/// `upstream.url` is absent) and `nethcti.ws_url` (API.md §9). Blank is
/// unset.
pub fn effective_upstream(raw: &Raw) -> Result<(Option<String>, Option<String>), ConfigError> {
    let nethcti_mode = backend(raw)? == "nethcti";
    let url = match raw.upstream.url()? {
        Some(u) => Some(u),
        None if nethcti_mode => raw
            .nethcti
            .url()?
            .filter(|u| u.trim().starts_with("http://")),
        None => None,
    }
    .filter(|u| !u.trim().is_empty());
    let cti_ws = raw.nethcti.ws_url()?.filter(|u| !u.trim().is_empty());
    let ws_url = match cti_ws {
        Some(ws) => Some(ws),
        None => raw.upstream.ws_url()?.filter(|u| !u.trim().is_empty()),
    };
    Ok((url, ws_url))
}

/// Every rule between settings, in the order they are reported.
pub fn check(raw: &Raw) -> Result<(), ConfigError> {
    let l = &raw.lockout;
    if l.backoff_cap_secs()? < l.backoff_base_secs()? {
        return Err(ConfigError::rule(
            "lockout.backoff_cap_secs must be at least lockout.backoff_base_secs",
        ));
    }
    let a = &raw.argon2;
    let (memory, iterations, parallelism) = (a.memory_kib()?, a.iterations()?, a.parallelism()?);
    if memory < parallelism.max(1).saturating_mul(8) || iterations == 0 || parallelism == 0 {
        return Err(ConfigError::rule(
            "argon2 parameters are out of range (memory_kib >= 8 x parallelism, iterations >= 1)",
        ));
    }
    notifier_rules(raw)?;
    let since = parse_date("legacy.deprecated_since", &raw.legacy.deprecated_since()?)?;
    let sunset = parse_date("legacy.sunset", &raw.legacy.sunset()?)?;
    if since > sunset {
        return Err(ConfigError::rule(
            "legacy.deprecated_since must not be after legacy.sunset",
        ));
    }
    let backend = backend(raw)?;
    let nethcti_mode = backend == "nethcti";
    if raw.nethcti.ws_url()?.is_some_and(|u| !u.trim().is_empty()) {
        if !nethcti_mode {
            return Err(ConfigError::rule(
                "nethcti.ws_url needs auth.backend = \"nethcti\"",
            ));
        }
        if raw.upstream.ws_url()?.is_some_and(|u| !u.trim().is_empty()) {
            return Err(ConfigError::rule(
                "nethcti.ws_url and upstream.ws_url both name the relay's upstream: set one",
            ));
        }
    }
    let (url, ws_url) = effective_upstream(raw)?;
    // Given in the file or the environment (not their defaults).
    let u = &raw.upstream;
    if url.is_none() && ws_url.is_none() && (u.headers.is_some() || u.timeout_ms.is_some()) {
        return Err(ConfigError::rule(
            "upstream.timeout_ms and upstream.headers need upstream.url or upstream.ws_url",
        ));
    }
    match backend.as_str() {
        "nethcti" if non_empty(raw.nethcti.url()?).is_none() => Err(ConfigError::rule(
            "auth.backend = \"nethcti\" needs nethcti.url (the CTI server's REST base, e.g. http://127.0.0.1:8179/webrest)",
        )),
        "ldap" => ldap_rules(raw),
        _ => Ok(()),
    }
}

/// A channel's transport needs its settings; SMTP sends no password in
/// clear text off the machine.
fn notifier_rules(raw: &Raw) -> Result<(), ConfigError> {
    let n = &raw.notifier;
    let (email, sms) = (transport(&n.email()?), transport(&n.sms()?));
    if email == "smtp" {
        let s = &n.smtp;
        let host = non_empty(s.host()?).ok_or_else(|| {
            ConfigError::rule("notifier.email = \"smtp\" needs notifier.smtp.host")
        })?;
        if non_empty(s.from()?).is_none() {
            return Err(ConfigError::rule(
                "notifier.email = \"smtp\" needs notifier.smtp.from (the sender address)",
            ));
        }
        let tls = transport(&s.tls()?);
        let username = non_empty(s.username()?);
        let password = s.password()?.filter(|p| !p.is_empty());
        if username.is_some() != password.is_some() {
            return Err(ConfigError::rule(
                "notifier.smtp.username and notifier.smtp.password go together",
            ));
        }
        if tls == "none" && username.is_some() && !is_loopback(&host) {
            return Err(ConfigError::rule(
                "notifier.smtp.tls = \"none\" would send the SMTP password in clear text; \
                 use \"starttls\" or \"tls\" (or a relay on localhost)",
            ));
        }
    }
    if (email == "webhook" || sms == "webhook") && non_empty(n.webhook.url()?).is_none() {
        return Err(ConfigError::rule(
            "notifier \"webhook\" needs notifier.webhook.url",
        ));
    }
    Ok(())
}

/// `auth.backend = "ldap"` (API.md §12): a URL and a base; plain LDAP only
/// on loopback; a service account with its password.
fn ldap_rules(raw: &Raw) -> Result<(), ConfigError> {
    let l = &raw.ldap;
    let url = non_empty(l.url()?)
        .map(|u| u.trim_end_matches('/').to_owned())
        .ok_or_else(|| {
            ConfigError::rule(
                "auth.backend = \"ldap\" needs ldap.url (ldaps://HOST[:PORT] or ldap://HOST[:PORT])",
            )
        })?;
    let host = ldap_host(&url).unwrap_or_default();
    if url.starts_with("ldap://") && !l.starttls()? && !is_loopback(host) {
        return Err(ConfigError::rule(format!(
            "ldap.starttls = false (passwords in clear) is accepted only for a loopback host, not {host:?}: use StartTLS or ldaps://"
        )));
    }
    l.ca_file()?;
    if non_empty(l.user_base_dn()?).is_none() {
        return Err(ConfigError::rule(
            "auth.backend = \"ldap\" needs ldap.user_base_dn (e.g. ou=People,dc=example,dc=org)",
        ));
    }
    l.user_filter()?;
    if non_empty(l.bind_dn()?).is_some() && l.bind_password()?.unwrap_or_default().is_empty() {
        return Err(ConfigError::rule(
            "ldap.bind_dn needs ldap.bind_password (an empty password is an unauthenticated bind)",
        ));
    }
    Ok(())
}
