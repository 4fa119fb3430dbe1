//! The HTTP layer's settings and the password backend, built from the raw
//! settings: Socket.IO timing, the reverse proxy and the relay, the
//! connection limits, NethCTI forwarding, and `local` / `nethcti` / `ldap`.
//! The rules between them were checked by `rules::check` before.

use std::time::Duration;

use otpgate_http::{ConnSettings, CtiForwarding, RelaySettings, USER_HEADER};
use otpgate_http::{UpstreamSettings, WsSettings};

use super::error::ConfigError;
use super::forms::{non_empty, ws_socket_io_url};
use super::model::{LdapConfig, PasswordBackendConfig};
use super::rules;
use super::table::{Raw, RawConnections, RawWs};

/// `[ws]`.
pub fn ws(raw: &RawWs) -> Result<WsSettings, ConfigError> {
    Ok(WsSettings {
        login_timeout: Duration::from_millis(raw.login_timeout_ms()?),
        poll_interval: Duration::from_millis(raw.poll_interval_ms()?),
    })
}

/// `[connections]`: timeouts, a total cap (absent: derived from the
/// descriptor limit at start), a per-address cap (0: none).
pub fn connections(raw: &RawConnections) -> Result<ConnSettings, ConfigError> {
    Ok(ConnSettings {
        header_timeout: Duration::from_millis(raw.header_timeout_ms()?),
        idle_timeout: Duration::from_millis(raw.idle_timeout_ms()?),
        body_timeout: Duration::from_millis(raw.body_timeout_ms()?),
        max_connections: raw.max()?,
        max_per_address: raw.max_per_address()?,
    })
}

/// The reverse proxy's and the Socket.IO relay's settings.
pub fn upstream(
    raw: &Raw,
) -> Result<(Option<UpstreamSettings>, Option<RelaySettings>), ConfigError> {
    use otpgate_http::{HeaderName, HeaderValue, Uri};
    let (url, ws_url) = rules::effective_upstream(raw)?;
    if url.is_none() && ws_url.is_none() {
        return Ok((None, None));
    }
    let timeout = Duration::from_millis(raw.upstream.timeout_ms()?);
    let reserved = [
        "authorization",
        "host",
        "connection",
        "upgrade",
        "transfer-encoding",
        USER_HEADER,
    ];
    let key = "upstream.headers";
    let mut headers = Vec::new();
    for (name, value) in raw.upstream.headers()?.unwrap_or_default() {
        let n = HeaderName::from_bytes(name.as_bytes()).map_err(|_| {
            ConfigError::invalid(key, format!("{key}: {name:?} is not a header name"))
        })?;
        if reserved.contains(&n.as_str()) || n.as_str().starts_with("sec-websocket-") {
            return Err(ConfigError::invalid(
                key,
                format!("{key}: {name:?} cannot be set"),
            ));
        }
        let v = HeaderValue::from_str(&value).map_err(|_| {
            ConfigError::invalid(
                key,
                format!("{key}: the value of {name:?} is not a header value"),
            )
        })?;
        headers.push((n, v));
    }
    let proxy = match url {
        None => None,
        Some(url) => {
            let bad = |message: String| ConfigError::invalid("upstream.url", message);
            let uri: Uri = url
                .trim()
                .parse()
                .map_err(|_| bad(format!("upstream.url {url:?} is not a URL")))?;
            if uri.scheme_str() != Some("http")
                || uri.authority().is_none()
                || uri.query().is_some()
            {
                return Err(bad(format!(
                    "upstream.url {url:?} must be http://HOST:PORT[/PATH] (plain HTTP, no query; \
                     put TLS between otpgate and the application on a private network or a sidecar)"
                )));
            }
            Some(UpstreamSettings {
                url: uri,
                timeout,
                headers: headers.clone(),
            })
        }
    };
    let nethcti_mode = rules::backend(raw)? == "nethcti";
    let relay = match ws_url {
        None => None,
        Some(ws_url) => {
            let key = if nethcti_mode && raw.nethcti.ws_url.is_some() {
                "nethcti.ws_url"
            } else {
                "upstream.ws_url"
            };
            let mut relay = RelaySettings::new(ws_socket_io_url(key, &ws_url)?);
            relay.headers = headers;
            relay.connect_timeout = timeout.min(relay.connect_timeout);
            relay.cti = nethcti_mode;
            Some(relay)
        }
    };
    Ok((proxy, relay))
}

/// `auth.backend` with `[nethcti]` or `[ldap]`.
pub fn password_backend(raw: &Raw) -> Result<PasswordBackendConfig, ConfigError> {
    match rules::backend(raw)?.as_str() {
        "nethcti" => {
            let url = non_empty(raw.nethcti.url()?)
                .map(|u| u.trim_end_matches('/').to_owned())
                .unwrap_or_default();
            let parsed: Option<axum::http::Uri> = url.parse().ok();
            if !parsed.as_ref().is_some_and(|u| {
                matches!(u.scheme_str(), Some("http" | "https"))
                    && u.host().is_some()
                    && u.query().is_none()
            }) {
                return Err(ConfigError::invalid(
                    "nethcti.url",
                    format!("nethcti.url {url:?} must be http(s)://HOST[:PORT][/PATH] (no query)"),
                ));
            }
            let timeout = Duration::from_millis(raw.nethcti.timeout_ms()?);
            Ok(PasswordBackendConfig::Nethcti { url, timeout })
        }
        "ldap" => Ok(PasswordBackendConfig::Ldap(Box::new(ldap(raw)?))),
        _ => Ok(PasswordBackendConfig::Local),
    }
}

/// `[ldap]` (API.md §12); `rules::check` has made sure of its URL, base,
/// TLS and service account.
fn ldap(raw: &Raw) -> Result<LdapConfig, ConfigError> {
    let l = &raw.ldap;
    let url = non_empty(l.url()?)
        .map(|u| u.trim_end_matches('/').to_owned())
        .unwrap_or_default();
    let user_filter =
        non_empty(Some(l.user_filter()?)).unwrap_or_else(|| "(uid={username})".to_owned());
    Ok(LdapConfig {
        url,
        starttls: l.starttls()?,
        ca_file: l.ca_file()?,
        bind_dn: non_empty(l.bind_dn()?),
        bind_password: l.bind_password()?,
        user_base_dn: non_empty(l.user_base_dn()?).unwrap_or_default(),
        user_filter,
        display_name_attribute: non_empty(l.display_name_attribute()?),
        email_attribute: non_empty(l.email_attribute()?),
        phone_attribute: non_empty(l.phone_attribute()?),
        timeout: Duration::from_millis(l.timeout_ms()?),
    })
}

/// `nethcti` mode's forwarding (API.md §9): the FreePBX allow-list
/// (`nethcti.freepbx_apis`), each entry a path starting with `/`.
pub fn cti_forwarding(
    raw: &Raw,
    backend: &PasswordBackendConfig,
) -> Result<Option<CtiForwarding>, ConfigError> {
    // Only the CTI server's mode forwards with the user's CTI session.
    if !matches!(backend, PasswordBackendConfig::Nethcti { .. }) {
        return Ok(None);
    }
    let Some(list) = raw.nethcti.freepbx_apis()? else {
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
        return Err(ConfigError::invalid(
            "nethcti.freepbx_apis",
            format!(
                "nethcti.freepbx_apis: {bad:?} must be a path starting with / (no query, no dot segment)"
            ),
        ));
    }
    Ok(Some(CtiForwarding { freepbx_apis: list }))
}
