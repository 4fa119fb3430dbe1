//! The NethCTI middleware's environment variables (`NETHVOICE_MIDDLEWARE_*`)
//! that mean the same thing as one of our settings, so otpgate is a
//! drop-in replacement (README "Drop-in configuration"). They are applied
//! to the raw settings before the `OTPGATE_*` overlay, which wins when both
//! are set.

use super::error::ConfigError;
use super::table::Raw;
use super::value::comma_list;

/// The NethCTI middleware's variables that are not one setting's: they
/// combine into several (`V1_*`) or only are checked (`SENSITIVE_LIST`).
/// The others are the `dropin` column of the settings table.
pub const COMPOSITE_VARS: &[&str] = &[
    "NETHVOICE_MIDDLEWARE_SENSITIVE_LIST",
    "NETHVOICE_MIDDLEWARE_V1_PROTOCOL",
    "NETHVOICE_MIDDLEWARE_V1_API_ENDPOINT",
    "NETHVOICE_MIDDLEWARE_V1_API_PATH",
    "NETHVOICE_MIDDLEWARE_V1_WS_ENDPOINT",
    "NETHVOICE_MIDDLEWARE_V1_WS_PATH",
];

/// Applies the NethCTI middleware's variables: the table's `dropin`
/// column, then the combined ones ([`COMPOSITE_VARS`]).
pub fn apply(raw: &mut Raw, env: &dyn Fn(&str) -> Option<String>) -> Result<(), ConfigError> {
    raw.apply_dropin(env)?;
    const P: &str = "NETHVOICE_MIDDLEWARE_";
    let get = |name: &str| {
        COMPOSITE_VARS
            .iter()
            .find(|v| v.strip_prefix(P) == Some(name))
            .and_then(|v| env(v))
            .filter(|v| !v.trim().is_empty())
    };
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
            return Err(ConfigError::DropIn(format!(
                "{P}SENSITIVE_LIST={v:?} must be a comma-separated list of key names"
            )));
        }
    }
    if let Some(endpoint) = get("V1_API_ENDPOINT") {
        let protocol = get("V1_PROTOCOL").unwrap_or_else(|| "http".into());
        let protocol = protocol.trim().to_ascii_lowercase();
        if !matches!(protocol.as_str(), "http" | "https") {
            return Err(ConfigError::DropIn(format!(
                "{P}V1_PROTOCOL={protocol:?} must be http or https"
            )));
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
        return Err(ConfigError::DropIn(format!(
            "{P}V1_PROTOCOL and {P}V1_API_PATH need {P}V1_API_ENDPOINT"
        )));
    }
    if let Some(endpoint) = get("V1_WS_ENDPOINT") {
        if get("V1_API_ENDPOINT").is_none() {
            return Err(ConfigError::DropIn(format!(
                "{P}V1_WS_ENDPOINT needs {P}V1_API_ENDPOINT"
            )));
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
        return Err(ConfigError::DropIn(format!(
            "{P}V1_WS_PATH needs {P}V1_WS_ENDPOINT"
        )));
    }
    Ok(())
}
