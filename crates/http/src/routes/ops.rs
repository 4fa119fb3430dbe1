//! Operational endpoints: liveness and readiness.

use axum::Json;
use axum::extract::State;
use serde_json::{Value, json};

use crate::error::{AppError, AppResult};
use crate::state::AppState;

/// Liveness: the process answers.
pub async fn healthz() -> Json<Value> {
    Json(json!({"status": "ok"}))
}

/// Readiness: the store answers.
pub async fn readyz(State(state): State<AppState>) -> AppResult<Json<Value>> {
    state
        .auth
        .store()
        .ping()
        .await
        .map_err(|e| AppError::Auth(e.into()))?;
    Ok(Json(json!({"status": "ready"})))
}
