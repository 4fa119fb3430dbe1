//! Cross-cutting layers: declared-body limit, per-IP rate limit, security
//! headers, access log, request metrics, and the JSON 404/405 fallbacks.

use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::header::{CACHE_CONTROL, CONTENT_LENGTH};
use axum::http::{HeaderValue, Uri, header};
use axum::middleware::Next;
use axum::response::Response;

use crate::client_ip::client_ip_of;
use crate::error::AppError;
use crate::metrics::StoreFailure;
use crate::routes::error_response;
use crate::state::AppState;

/// Paths that monitoring calls; never rate limited.
fn is_operational(path: &str) -> bool {
    matches!(path, "/healthz" | "/readyz" | "/metrics")
}

/// Refuses a declared `Content-Length` over the limit before reading it.
/// (Bodies without a length are capped while being read, by axum's
/// `DefaultBodyLimit`, and mapped to the same 413.)
pub async fn limit_declared_body(
    State(state): State<AppState>,
    req: Request,
    next: Next,
) -> Response {
    let limit = state.settings.body_limit;
    let declared = req
        .headers()
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return error_response(&state, req.uri().path(), AppError::PayloadTooLarge(limit));
    }
    next.run(req).await
}

/// The global per-client-IP rate limit.
pub async fn rate_limit(State(state): State<AppState>, req: Request, next: Next) -> Response {
    if let Some(limiter) = &state.limiter
        && !is_operational(req.uri().path())
    {
        let (parts, body) = req.into_parts();
        let ip = client_ip_of(&parts, &state);
        let req = Request::from_parts(parts, body);
        if let Some(ip) = ip
            && let Err(wait) = limiter.check(ip, Instant::now())
        {
            return error_response(
                &state,
                req.uri().path(),
                AppError::RateLimited {
                    retry_after_secs: wait,
                },
            );
        }
        return next.run(req).await;
    }
    next.run(req).await
}

/// Headers every response carries: nothing an auth server answers may be
/// cached, sniffed or framed.
pub async fn security_headers(req: Request, next: Next) -> Response {
    let mut resp = next.run(req).await;
    let h = resp.headers_mut();
    h.entry(CACHE_CONTROL)
        .or_insert(HeaderValue::from_static("no-store"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    resp
}

/// One debug line per request: method, path (never the query, which may
/// hold secrets), status and latency.
pub async fn access_log(req: Request, next: Next) -> Response {
    let start = Instant::now();
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    let resp = next.run(req).await;
    tracing::debug!(
        target: "otpgate::access",
        %method,
        path = %path,
        status = resp.status().as_u16(),
        micros = u64::try_from(start.elapsed().as_micros()).unwrap_or(u64::MAX),
        "request"
    );
    resp
}

/// Counts every request under its route template (never the raw path):
/// the matched route, `socketio` for the Socket.IO endpoints, `fallback`
/// for everything else (404s, the reverse proxy, legacy forwarding).
pub async fn metrics(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let start = Instant::now();
    let matched = req.extensions().get::<MatchedPath>().cloned();
    let socketio = matched.is_none() && is_socketio(&state, req.uri().path());
    let resp = next.run(req).await;
    let route = match &matched {
        Some(m) => m.as_str(),
        None if socketio => "socketio",
        None => "fallback",
    };
    state.metrics.observe(
        route,
        resp.status().as_u16(),
        start.elapsed(),
        resp.extensions().get::<StoreFailure>().is_some(),
    );
    resp
}

fn is_socketio(state: &AppState, path: &str) -> bool {
    let prefix = state.settings.api_prefix.trim_end_matches('/');
    let under = |base: &str| {
        path.strip_prefix(base)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
    };
    under("/socket.io")
        || path.strip_prefix(prefix).is_some_and(|rest| {
            rest.strip_prefix("/ws")
                .is_some_and(|r| r.is_empty() || r.starts_with('/'))
        })
}

/// 404 for unknown routes (JSON, or the shape of the dialect whose
/// prefix the path has).
pub async fn not_found(State(state): State<AppState>, uri: Uri) -> Response {
    error_response(&state, uri.path(), AppError::NotFound)
}

/// 405 for a known route with another method (in the route's shape).
pub async fn method_not_allowed(State(state): State<AppState>, uri: Uri) -> Response {
    error_response(&state, uri.path(), AppError::MethodNotAllowed)
}
