//! Cross-cutting layers: request metrics, access log, security headers,
//! declared-body limit, per-IP rate limit and the legacy gate, as one
//! service around each route and around the fallback; and the JSON 404/405
//! fallbacks.
//!
//! One hand-written service rather than a stack of `from_fn` middlewares:
//! every `from_fn` layer boxed a clone of everything beneath it and cloned
//! the whole [`AppState`] on each request, and axum's router clones a
//! route's stack per request, so the clones grew with the square of the
//! number of layers. Here a request costs one clone of an `Arc`, one boxed
//! future and, for metrics, a few relaxed increments on the route's series,
//! which [`crate::router`] resolved when it was built.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use axum::extract::{Request, State};
use axum::http::header::{CACHE_CONTROL, CONTENT_LENGTH};
use axum::http::{HeaderValue, Uri, header};
use axum::response::{IntoResponse, Response};
use tower::{Layer, Service};

use crate::client_ip::client_ip_of;
use crate::error::AppError;
use crate::metrics::{RouteStats, StoreFailure};
use crate::routes::{error_response, legacy};
use crate::state::AppState;

/// Paths that monitoring calls; never rate limited.
fn is_operational(path: &str) -> bool {
    matches!(path, "/healthz" | "/readyz" | "/metrics")
}

/// The layer of the shared work, for one route or for the fallback.
#[derive(Clone)]
pub struct Shared {
    ctx: Arc<Ctx>,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared").finish_non_exhaustive()
    }
}

/// What the layer needs per request, behind one `Arc`.
struct Ctx {
    state: AppState,
    /// The series requests are counted under.
    series: Series,
}

/// Under which route template requests are counted.
enum Series {
    /// A route of the table: its template.
    Route(Arc<RouteStats>),
    /// The fallback: `socketio` for the Socket.IO endpoints, `fallback`
    /// for everything else (404s, the reverse proxy, legacy forwarding).
    Fallback {
        socketio: Arc<RouteStats>,
        other: Arc<RouteStats>,
    },
}

impl Shared {
    /// The layer of the route whose template is `route`.
    pub fn route(state: &AppState, route: &str) -> Self {
        Self::with(state, Series::Route(state.metrics.route(route)))
    }

    /// The layer of the fallback.
    pub fn fallback(state: &AppState) -> Self {
        let series = Series::Fallback {
            socketio: state.metrics.route("socketio"),
            other: state.metrics.route("fallback"),
        };
        Self::with(state, series)
    }

    fn with(state: &AppState, series: Series) -> Self {
        Self {
            ctx: Arc::new(Ctx {
                state: state.clone(),
                series,
            }),
        }
    }
}

impl<S> Layer<S> for Shared {
    type Service = SharedService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        SharedService {
            ctx: self.ctx.clone(),
            inner,
        }
    }
}

/// The service of [`Shared`] around `S`.
#[derive(Clone)]
pub struct SharedService<S> {
    ctx: Arc<Ctx>,
    inner: S,
}

impl<S> std::fmt::Debug for SharedService<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SharedService").finish_non_exhaustive()
    }
}

impl<S> Service<Request> for SharedService<S>
where
    S: Service<Request>,
    S::Response: IntoResponse,
    S::Error: Into<Infallible>,
    S::Future: Send + 'static,
{
    type Response = Response;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    /// Outermost first: metrics, access log, security headers, then the
    /// declared-body limit, the rate limit and the legacy gate, which may
    /// answer instead of the route.
    fn call(&mut self, req: Request) -> Self::Future {
        let start = Instant::now();
        let ctx = self.ctx.clone();
        let path = req.uri().path();
        let socketio =
            matches!(ctx.series, Series::Fallback { .. }) && is_socketio(&ctx.state, path);
        let legacy = legacy::is_legacy_path(path);
        // The path is copied only when the access log will print it.
        let access = tracing::enabled!(target: "otpgate::access", tracing::Level::DEBUG)
            .then(|| (req.method().clone(), path.to_owned()));
        let answer = match admit(&ctx.state, req, legacy, start) {
            Admission::Pass(req) => Ok(self.inner.call(req)),
            Admission::Refused(refused) => Err(refused),
        };
        Box::pin(async move {
            let mut resp = match answer {
                Ok(future) => {
                    let mut resp = match future.await {
                        Ok(r) => r.into_response(),
                        Err(e) => match e.into() {},
                    };
                    if legacy {
                        legacy::gate_answer(&ctx.state, &mut resp);
                    }
                    resp
                }
                Err(refused) => refused,
            };
            security_headers(&mut resp);
            let micros = u64::try_from(start.elapsed().as_micros()).unwrap_or(u64::MAX);
            let status = resp.status().as_u16();
            if let Some((method, path)) = access {
                tracing::debug!(
                    target: "otpgate::access",
                    %method,
                    path = %path,
                    status,
                    micros,
                    "request"
                );
            }
            ctx.count(socketio, status, micros, &resp);
            Ok(resp)
        })
    }
}

impl Ctx {
    fn count(&self, socketio: bool, status: u16, micros: u64, resp: &Response) {
        if resp.extensions().get::<StoreFailure>().is_some() {
            self.state.metrics.store_failure();
        }
        let stats = match &self.series {
            Series::Route(stats) => stats,
            Series::Fallback { socketio: s, .. } if socketio => s,
            Series::Fallback { other, .. } => other,
        };
        stats.observe(status, micros);
    }
}

/// Whether a request goes on to the route.
enum Admission {
    /// It does.
    Pass(Request),
    /// This answers it instead.
    Refused(Response),
}

/// The request goes on, or an answer replaces the route's: 413 for a
/// declared `Content-Length` over the limit (bodies without a length are
/// capped while being read, by axum's `DefaultBodyLimit`, and mapped to the
/// same 413), 429 from the per-client-IP rate limit, 410 on a legacy path
/// after the sunset.
fn admit(state: &AppState, req: Request, legacy: bool, now: Instant) -> Admission {
    let limit = state.settings.body_limit;
    let declared = req
        .headers()
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return Admission::Refused(error_response(
            state,
            req.uri().path(),
            AppError::PayloadTooLarge(limit),
        ));
    }
    let req = match &state.limiter {
        Some(limiter) if !is_operational(req.uri().path()) => {
            let (parts, body) = req.into_parts();
            if let Some(ip) = client_ip_of(&parts, state)
                && let Err(wait) = limiter.check(ip, now)
            {
                return Admission::Refused(error_response(
                    state,
                    parts.uri.path(),
                    AppError::RateLimited {
                        retry_after_secs: wait,
                    },
                ));
            }
            Request::from_parts(parts, body)
        }
        _ => req,
    };
    if legacy && !state.auth.legacy_active() {
        return Admission::Refused(legacy::gate_refusal(state));
    }
    Admission::Pass(req)
}

/// Headers every response carries: nothing an auth server answers may be
/// cached, sniffed or framed.
fn security_headers(resp: &mut Response) {
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
