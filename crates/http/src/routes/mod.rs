//! The router: every dialect's routes under their prefixes, plus the
//! operational endpoints and the self-service page, wrapped in the shared
//! layers.

pub mod native;
pub mod ops;
pub mod ui;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::middleware::{from_fn, from_fn_with_state};
use axum::routing::{get, post};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::layers;
use crate::state::AppState;

/// RFC 3339 (UTC) text of a unix time, as `expire` fields carry it.
pub fn rfc3339(unix_secs: i64) -> String {
    OffsetDateTime::from_unix_timestamp(unix_secs)
        .ok()
        .and_then(|t| t.format(&Rfc3339).ok())
        .unwrap_or_default()
}

/// The whole HTTP application.
pub fn router(state: AppState) -> Router {
    let p = state.settings.api_prefix.trim_end_matches('/').to_owned();
    let at = |path: &str| format!("{p}{path}");
    let limit = state.settings.body_limit;
    Router::new()
        .merge(ui::routes())
        .route(&at("/login"), post(native::login))
        .route(&at("/logout"), post(native::logout))
        .route(&at("/user/me"), get(native::me))
        .route(&at("/2fa/status"), get(native::status))
        .route(&at("/2fa/qr-code"), get(native::qr_code))
        .route(&at("/2fa/qr-code.png"), get(native::qr_code_png))
        .route(&at("/2fa/qr-code.svg"), get(native::qr_code_svg))
        .route(&at("/2fa/verify-otp"), post(native::verify_otp))
        .route(&at("/2fa/recovery-codes"), post(native::recovery_codes))
        .route(&at("/2fa/disable"), post(native::disable))
        .route("/healthz", get(ops::healthz))
        .route("/readyz", get(ops::readyz))
        .fallback(layers::not_found)
        .method_not_allowed_fallback(layers::method_not_allowed)
        .layer(from_fn_with_state(state.clone(), layers::rate_limit))
        .layer(from_fn_with_state(
            state.clone(),
            layers::limit_declared_body,
        ))
        .layer(DefaultBodyLimit::max(limit))
        .layer(from_fn(layers::security_headers))
        .layer(from_fn(layers::access_log))
        .with_state(state)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_is_utc_with_z() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_763_377_800), "2025-11-17T11:10:00Z");
    }
}
