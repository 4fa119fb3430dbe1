//! Operational endpoints: liveness, readiness, the Prometheus exposition
//! (never rate limited), and the API document with its reference page.

use axum::Json;
use axum::extract::State;
use axum::http::HeaderValue;
use axum::http::header::CONTENT_TYPE;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::dialect::Glue;
use crate::error::{AppError, AppResult, ErrorEnvelope};
use crate::openapi::{self, E503, EDEFAULT};
use crate::routes::mount::Mount;
use crate::state::AppState;

/// `/healthz`, `/readyz`, `/metrics` at the root; the document and
/// Swagger UI below the API prefix `p`.
pub fn router(state: &AppState, p: &str) -> OpenApiRouter<AppState> {
    Mount::new(state, "", Glue::NATIVE)
        .unlimited(routes!(healthz))
        .unlimited(routes!(readyz))
        .unlimited(routes!(metrics))
        .below(p)
        .routes(routes!(openapi::openapi_json))
        .routes(routes!(openapi::docs_redirect))
        .routes(routes!(openapi::docs_index))
        .routes_at("/docs/{*file}", routes!(openapi::docs_asset))
        .finish()
}

/// `/healthz` and `/readyz`.
#[derive(Debug, Serialize, ToSchema)]
pub struct HealthResponse {
    /// `ok` or `ready`.
    status: &'static str,
}

/// Liveness: the process answers. The same bytes as `Json` would write
/// for `{"status": "ok"}`, without building a JSON value per probe.
#[utoipa::path(get, path = "/healthz", tag = "ops", summary = "Liveness", security(()),
    responses((status = 200, description = "The process answers", body = HealthResponse)))]
pub async fn healthz() -> impl IntoResponse {
    (
        [(CONTENT_TYPE, HeaderValue::from_static("application/json"))],
        r#"{"status":"ok"}"#,
    )
}

/// Readiness: the store answers.
#[utoipa::path(get, path = "/readyz", tag = "ops", summary = "Readiness", security(()),
    responses(
        (status = 200, description = "The store answers", body = HealthResponse),
        (status = 503, description = E503, body = ErrorEnvelope, headers(("Retry-After" = String, description = "Seconds to wait"))),
        (status = "default", description = EDEFAULT, body = ErrorEnvelope),
    ))]
pub async fn readyz(State(state): State<AppState>) -> AppResult<Json<HealthResponse>> {
    state.auth.readiness().await.map_err(AppError::Auth)?;
    Ok(Json(HealthResponse { status: "ready" }))
}

/// `GET /metrics`: the exposition ([`crate::metrics`]), with the users by
/// 2FA state read at scrape time.
#[utoipa::path(get, path = "/metrics", tag = "ops",
    summary = "Prometheus metrics (text exposition format 0.0.4; not rate limited)", security(()),
    responses((status = 200,
        description = "Requests by route and status, latency histograms, logins and OTP checks by factor and result, lockouts, revocations, live WebSocket sessions, store errors, users by 2FA state",
        content_type = "text/plain", body = String)))]
pub async fn metrics(State(state): State<AppState>) -> Response {
    let sessions = state.realtime.as_ref().map_or((0, 0), |rt| rt.sessions());
    let mut body = crate::metrics::render(&state.metrics, &state.auth, sessions);
    crate::metrics::render_users(&state.auth, &mut body).await;
    let mut resp = body.into_response();
    resp.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    resp
}
