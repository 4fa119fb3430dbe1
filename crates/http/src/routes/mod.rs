//! The router: one router per dialect ([`native`], [`persistent`],
//! [`mudbase`], [`single_connect`], [`capillary`], [`legacy`]), the
//! Socket.IO endpoints ([`socket_io`]), the operational endpoints
//! ([`ops`]) and the self-service page ([`ui`]), merged; the document is
//! split off the merged router, so it lists exactly what is served.
//!
//! Adding a dialect: a module here whose `router(state, prefix)` mounts
//! its `#[utoipa::path]` handlers with its [`crate::dialect::Glue`]
//! ([`mount::Mount`]), one `merge` line in [`router`], and its variant of
//! [`otpgate_core::service::Dialect`].

pub mod capillary;
pub mod legacy;
pub mod mount;
pub mod mudbase;
pub mod native;
pub mod ops;
pub mod persistent;
pub mod single_connect;
pub mod socket_io;
pub mod ui;

use axum::Router;
use axum::extract::{DefaultBodyLimit, FromRequestParts, Request, State};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use tower::ServiceBuilder;
use utoipa_axum::router::OpenApiRouter;

use crate::client_ip::client_ip_behind;
use crate::dialect::Glue;
use crate::error::AppError;
use crate::extract::Verified;
use crate::layers::Shared;
use crate::openapi::{self, Docs};
use crate::realtime::Realtime;
use crate::state::AppState;

pub use native::rfc3339;

/// The whole HTTP application: every dialect's router, the operational
/// endpoints, both Socket.IO endpoints and, for everything else under the
/// API prefix, the reverse proxy (when configured).
///
/// Starts the Socket.IO watcher task, so it must be called inside a Tokio
/// runtime; the watcher stops when the router is dropped.
pub fn router(mut state: AppState) -> Router {
    let p = state.settings.api_prefix.trim_end_matches('/').to_owned();
    let (realtime, sockets) = Realtime::start(
        state.auth.clone(),
        state.settings.ws,
        state.settings.upstream_ws.clone(),
        &p,
        state.settings.body_limit,
        state.settings.trusted_proxies.clone(),
    );
    state.parts_mut().realtime = Some(realtime);
    let s = &state;
    let (app, doc) = OpenApiRouter::with_openapi(openapi::base())
        .merge(native::router(s, &p))
        .merge(persistent::router(s, &p))
        .merge(mudbase::router(s, &p))
        .merge(single_connect::router(s, &p))
        .merge(capillary::router(s, &p))
        .merge(legacy::router(s, &p))
        .merge(socket_io::router(s, &p, sockets))
        .merge(ops::router(s, &p))
        .merge(ui::router(s, &p))
        .split_for_parts();
    state.parts_mut().docs = Docs::new(&p, &doc);
    let fallback = ServiceBuilder::new()
        .layer(Shared::new(&state, "fallback", Glue::NATIVE))
        .layer(DefaultBodyLimit::max(state.settings.body_limit))
        .service(any(fallback).with_state(state.clone()));
    app.fallback_service(fallback).with_state(state)
}

/// Unknown routes: under the API prefix (with a verified token) they go
/// to the upstream application when one is configured; everything else
/// is a JSON 404. (Unknown paths under a dialect's own prefix are that
/// dialect's catch-all routes, in its shape.)
async fn fallback(State(state): State<AppState>, req: Request) -> Response {
    let prefix = state.settings.api_prefix.trim_end_matches('/');
    let under_api = req
        .uri()
        .path()
        .strip_prefix(prefix)
        .is_some_and(|rest| rest.starts_with('/'));
    let Some(up) = state.upstream.clone().filter(|_| under_api) else {
        return AppError::NotFound.into_response();
    };
    let (mut parts, body) = req.into_parts();
    if let Some(cti) = &state.settings.cti {
        return crate::cti_forward::forward(&state, cti, &up, parts, body).await;
    }
    let who = match Verified::from_request_parts(&mut parts, &state).await {
        Ok(Verified(who)) => who,
        Err(e) => return e.into_response(),
    };
    let ip = client_ip_behind(&parts, &state.settings.trusted_proxies);
    up.forward(parts, body, &who.username, ip, state.settings.body_limit)
        .await
}
