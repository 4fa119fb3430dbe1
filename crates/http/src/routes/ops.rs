//! Operational endpoints: liveness and readiness.

use axum::Json;
use axum::extract::State;
use axum::http::HeaderValue;
use axum::http::header::CONTENT_TYPE;
use axum::response::IntoResponse;
use serde_json::{Value, json};

use crate::error::{AppError, AppResult};
use crate::state::AppState;

/// Liveness: the process answers. The same bytes as `Json` would write
/// for `{"status": "ok"}`, without building a JSON value per probe.
pub async fn healthz() -> impl IntoResponse {
    (
        [(CONTENT_TYPE, HeaderValue::from_static("application/json"))],
        r#"{"status":"ok"}"#,
    )
}

/// Readiness: the store answers.
pub async fn readyz(State(state): State<AppState>) -> AppResult<Json<Value>> {
    state.auth.readiness().await.map_err(AppError::Auth)?;
    Ok(Json(json!({"status": "ready"})))
}
