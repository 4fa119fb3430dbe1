//! The router: every dialect's routes under their prefixes, plus the
//! operational endpoints and the self-service page, wrapped in the shared
//! layers.

pub mod capillary;
pub mod legacy;
pub mod mudbase;
pub mod native;
pub mod ops;
pub mod persistent;
pub mod single_connect;
pub mod ui;

use axum::Router;
use axum::extract::{DefaultBodyLimit, FromRequestParts, Request, State};
use axum::http::Method;
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, any, delete, get, post};
use otpgate_core::service::Dialect;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use tower::ServiceBuilder;

use crate::client_ip::client_ip_of;
use crate::error::AppError;
use crate::extract::Verified;
use crate::layers;
use crate::openapi;
use crate::realtime::Realtime;
use crate::state::AppState;

/// RFC 3339 (UTC) text of a unix time, as `expire` fields carry it.
pub fn rfc3339(unix_secs: i64) -> String {
    OffsetDateTime::from_unix_timestamp(unix_secs)
        .ok()
        .and_then(|t| t.format(&Rfc3339).ok())
        .unwrap_or_default()
}

/// The whole HTTP application: the native API, the legacy routes, the
/// operational endpoints, both Socket.IO endpoints and, for everything
/// else under the API prefix, the reverse proxy (when configured).
///
/// Starts the Socket.IO watcher task, so it must be called inside a Tokio
/// runtime; the watcher stops when the router is dropped.
pub fn router(mut state: AppState) -> Router {
    let p = state.settings.api_prefix.trim_end_matches('/').to_owned();
    let limit = state.settings.body_limit;
    let (realtime, sockets) = Realtime::start(
        state.auth.clone(),
        state.settings.ws,
        state.settings.upstream_ws.clone(),
        &p,
        state.settings.body_limit,
        state.settings.trusted_proxies.clone(),
    );
    state.realtime = Some(realtime);
    // Each route gets the shared layers with its own metrics series, and
    // its 405 inside them (as `Router::layer` would have wrapped it). The
    // Socket.IO endpoints never match a route, so they wrap the fallback
    // only, built once as one service (one engine per endpoint).
    let mut app = Router::new();
    // Rows of one path (one per method) become one route.
    let mut routes: Vec<(String, MethodRouter<AppState>)> = Vec::new();
    for (method, path, handler) in table(&p) {
        // In `nethcti` mode the clients read the CTI server's profile.
        if state.settings.cti.is_some() && method == Method::GET && path == format!("{p}/user/me") {
            continue;
        }
        match routes.iter_mut().find(|(q, _)| *q == path) {
            Some((_, h)) => *h = std::mem::take(h).merge(handler),
            None => routes.push((path, handler)),
        }
    }
    for (path, handler) in routes {
        let shared = ServiceBuilder::new()
            .layer(layers::Shared::route(&state, &path))
            .layer(DefaultBodyLimit::max(limit));
        app = app.route(
            &path,
            handler.fallback(layers::method_not_allowed).layer(shared),
        );
    }
    let fallback = ServiceBuilder::new()
        .layer(layers::Shared::fallback(&state))
        .layer(DefaultBodyLimit::max(limit))
        .layer(sockets.native)
        .layer(sockets.legacy)
        .service(any(fallback).with_state(state.clone()));
    app.fallback_service(fallback).with_state(state)
}

/// Every route of the router: method, path (axum syntax) and handler,
/// for the API prefix `p` (without its trailing `/`). The router is built
/// from this table and the OpenAPI test compares it with the document.
/// (The Socket.IO endpoints are layers, listed by
/// [`crate::openapi::socket_io_paths`].)
pub fn table(p: &str) -> Vec<(Method, String, MethodRouter<AppState>)> {
    let at = |path: &str| format!("{p}{path}");
    let w = legacy::WEBREST;
    let sc = single_connect::PREFIX;
    let cap = capillary::PREFIX;
    let (pt, pl) = (persistent::PATH, persistent::LEGACY);
    let (g, po) = (Method::GET, Method::POST);
    vec![
        (po.clone(), at("/login"), post(native::login)),
        (po.clone(), at("/logout"), post(native::logout)),
        (g.clone(), at("/user/me"), get(native::me)),
        (g.clone(), at("/2fa/status"), get(native::status)),
        (g.clone(), at("/2fa/qr-code"), get(native::qr_code)),
        (g.clone(), at("/2fa/qr-code.png"), get(native::qr_code_png)),
        (g.clone(), at("/2fa/qr-code.svg"), get(native::qr_code_svg)),
        (po.clone(), at("/2fa/verify-otp"), post(native::verify_otp)),
        (
            po.clone(),
            at("/2fa/recovery-codes"),
            post(native::recovery_codes),
        ),
        (po.clone(), at("/2fa/disable"), post(native::disable)),
        (
            po.clone(),
            at(&format!("{pt}/{{audience}}")),
            post(persistent::mint),
        ),
        (
            g.clone(),
            at(&format!("{pt}/{{audience}}")),
            get(persistent::check),
        ),
        (
            Method::DELETE,
            at(&format!("{pt}/{{audience}}")),
            delete(persistent::remove),
        ),
        (
            po.clone(),
            at(&format!("{pl}/phone_island_token_login")),
            post(persistent::legacy_login),
        ),
        (
            po.clone(),
            at(&format!("{pl}/persistent_token_remove")),
            post(persistent::legacy_remove),
        ),
        (
            g.clone(),
            at(&format!("{pl}/phone_island_token_check/{{subtype}}")),
            get(persistent::legacy_check),
        ),
        (
            g.clone(),
            at(&format!("{pl}/phone_island_token_check")),
            get(persistent::legacy_check),
        ),
        (po.clone(), at(mudbase::PATH), post(mudbase::verify)),
        (
            po.clone(),
            format!("{sc}/otpstatus"),
            post(single_connect::otp_status),
        ),
        (
            po.clone(),
            format!("{sc}/otpvalid"),
            post(single_connect::otp_valid),
        ),
        (
            po.clone(),
            format!("{cap}mfa/token/generate"),
            post(capillary::token_generate),
        ),
        (
            po.clone(),
            format!("{cap}mfa/otp/generate"),
            post(capillary::otp_generate),
        ),
        (
            po.clone(),
            format!("{cap}mfa/otp/validate"),
            post(capillary::otp_validate),
        ),
        (
            po.clone(),
            format!("{w}/authentication/login"),
            post(legacy::login),
        ),
        (
            po.clone(),
            format!("{w}/authentication/logout"),
            post(legacy::logout),
        ),
        (g.clone(), format!("{w}/user/me"), get(legacy::me)),
        (
            g.clone(),
            "/docs/legacy-migration".into(),
            get(legacy::migration_docs),
        ),
        (g.clone(), "/healthz".into(), get(ops::healthz)),
        (g.clone(), "/readyz".into(), get(ops::readyz)),
        (g.clone(), "/metrics".into(), get(crate::metrics::handler)),
        (g.clone(), at("/openapi.json"), get(openapi::openapi_json)),
        (g.clone(), at("/docs"), get(openapi::docs_redirect)),
        (g.clone(), at("/docs/"), get(openapi::docs_index)),
        (g.clone(), at("/docs/{*file}"), get(openapi::docs_asset)),
        (g.clone(), ui::BARE.into(), get(ui::to_slash)),
        (g.clone(), ui::PATH.into(), get(ui::index)),
        (g.clone(), "/ui/app.js".into(), get(ui::app_js)),
        (g.clone(), "/ui/style.css".into(), get(ui::style_css)),
        (g, "/ui/favicon.png".into(), get(ui::favicon)),
    ]
}

/// An error answered in the shape of the dialect that owns `path` (for
/// the layers and fallbacks, which run outside the dialects' handlers):
/// Single Connect's HTML page, Capillary's envelope, Mudbase's JSON, or
/// the native envelope.
pub fn error_response(state: &AppState, path: &str, err: AppError) -> Response {
    let prefix = state.settings.api_prefix.trim_end_matches('/');
    if path.starts_with(single_connect::PREFIX) {
        single_connect::ScError(err).into_response()
    } else if path.starts_with(capillary::PREFIX) {
        capillary::CapError::from(err).into_response()
    } else if path.strip_prefix(prefix) == Some(mudbase::PATH) {
        mudbase::MudbaseError(err).into_response()
    } else if path
        .strip_prefix(prefix)
        .is_some_and(persistent::is_legacy_compatible)
    {
        persistent::MessageOnly(err).into_response()
    } else {
        err.into_response()
    }
}

/// The dialect that owns `path` (an audit record's `dialect`), by the
/// same prefixes as [`error_response`].
pub fn dialect_of(state: &AppState, path: &str) -> Dialect {
    let prefix = state.settings.api_prefix.trim_end_matches('/');
    if path.starts_with(single_connect::PREFIX) {
        Dialect::SingleConnect
    } else if path.starts_with(capillary::PREFIX) {
        Dialect::Capillary
    } else if path.strip_prefix(prefix) == Some(mudbase::PATH) {
        Dialect::Mudbase
    } else if legacy::is_legacy_path(path) {
        Dialect::Legacy
    } else {
        Dialect::Native
    }
}

/// Unknown routes: under the API prefix (with a verified token) or under
/// `/webrest` (with a legacy credential) they go to the upstream
/// application when one is configured; everything else is a JSON 404.
async fn fallback(State(state): State<AppState>, req: Request) -> Response {
    let prefix = state.settings.api_prefix.trim_end_matches('/');
    let path = req.uri().path();
    if legacy::is_legacy_path(path) {
        return legacy::forward(&state, req).await;
    }
    let under_api = path
        .strip_prefix(prefix)
        .is_some_and(|rest| rest.starts_with('/'));
    let Some(up) = state.upstream.clone().filter(|_| under_api) else {
        // In the shape of the dialect that owns the path.
        return error_response(&state, path, AppError::NotFound);
    };
    let (mut parts, body) = req.into_parts();
    if let Some(cti) = &state.settings.cti {
        return crate::cti_forward::forward(&state, cti, &up, parts, body).await;
    }
    let who = match Verified::from_request_parts(&mut parts, &state).await {
        Ok(Verified(who)) => who,
        Err(e) => return e.into_response(),
    };
    let ip = client_ip_of(&parts, &state);
    up.forward(parts, body, &who.username, ip, state.settings.body_limit)
        .await
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
