//! The two Socket.IO v4 endpoints ([`crate::realtime`] runs them): the
//! native one at `{api_prefix}/ws/` and the legacy one at `/socket.io/`
//! (the legacy dialect's: behind its gate). Each is a catch-all route of
//! its dialect, counted under the `socketio` series, around the engine's
//! layer; their `#[utoipa::path]` documents the Engine.IO requests.

use axum::routing::{any, any_service};
use otpgate_core::service::Dialect;
use socketioxide::layer::SocketIoLayer;
use tower::Layer;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::dialect::{Glue, not_found};
use crate::error::Native;
use crate::realtime::Layers;
use crate::routes::mount::Mount;
use crate::state::AppState;

/// Where the legacy Socket.IO lives.
pub const LEGACY_SOCKET_IO: &str = "/socket.io";

/// Both endpoints: the native one below the API prefix `p`.
pub fn router(state: &AppState, p: &str, sockets: Layers) -> OpenApiRouter<AppState> {
    let native = Mount::new(state, p, Glue::NATIVE)
        .documented(routes!(native_engine))
        .catch_all("/ws", "socketio", engine(sockets.native))
        .finish();
    let legacy = Mount::new(state, "", Glue::new::<Native>(Dialect::Legacy))
        .deprecated()
        .documented(routes!(legacy_engine))
        .catch_all(LEGACY_SOCKET_IO, "socketio", engine(sockets.legacy))
        .finish();
    native.merge(legacy)
}

/// The engine's layer around a 404 (in the route's shape) for what it
/// does not take.
fn engine(layer: SocketIoLayer) -> axum::routing::MethodRouter<AppState> {
    any_service(layer.layer(any(not_found).with_state(())))
}

/// `{api_prefix}/ws/`: Socket.IO v4 (Engine.IO 4).
#[utoipa::path(method(get, post), path = "/ws/", tag = "socket.io",
    summary = "Socket.IO v4 (Engine.IO 4): connect, then emit `login`",
    security(()),
    params(
        ("EIO" = String, Query, description = "Engine.IO protocol version: 4"),
        ("transport" = String, Query, description = "polling or websocket"),
        ("sid" = Option<String>, Query, description = "The session id (after the handshake)"),
    ),
    responses(
        (status = 200, description = "An Engine.IO v4 packet payload (polling), or the WebSocket upgrade",
            content_type = "text/plain", body = String),
        (status = 101, description = "Switching to WebSocket"),
        (status = "default", description = "An Engine.IO error: bad transport, version or session",
            content_type = "application/json", body = Object),
    ))]
async fn native_engine() {}

/// `/socket.io/`: the legacy Socket.IO v4 endpoint.
#[utoipa::path(method(get, post), path = "/socket.io/", tag = "socket.io",
    summary = "Socket.IO v4 (Engine.IO 4): connect, then emit `login`",
    security(()),
    params(
        ("EIO" = String, Query, description = "Engine.IO protocol version: 4"),
        ("transport" = String, Query, description = "polling or websocket"),
        ("sid" = Option<String>, Query, description = "The session id (after the handshake)"),
    ),
    responses(
        (status = 200, description = "An Engine.IO v4 packet payload (polling), or the WebSocket upgrade",
            content_type = "text/plain", body = String),
        (status = 101, description = "Switching to WebSocket"),
        (status = "default", description = "An Engine.IO error: bad transport, version or session",
            content_type = "application/json", body = Object),
    ))]
async fn legacy_engine() {}
