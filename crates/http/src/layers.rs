//! Cross-cutting layers: request metrics, access log, security headers,
//! declared-body limit, per-IP rate limit and the legacy gate, as one
//! service around each route and around the fallback. The route's
//! dialect ([`Glue`]) is given when the layer is made: the layer puts it
//! into the request's extensions and answers its own refusals in its
//! shape.
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

use axum::extract::Request;
use axum::http::header::{CACHE_CONTROL, CONTENT_LENGTH};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use tower::{Layer, Service};

use otpgate_core::service::Dialect;

use crate::client_ip::client_ip_behind;
use crate::dialect::Glue;
use crate::error::{AppError, StoreFailure};
use crate::gate;
use crate::metrics::RouteStats;
use crate::state::AppState;

/// The layer of the shared work, for one route (or a dialect's catch-all,
/// or the fallback).
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
    stats: Arc<RouteStats>,
    /// The dialect that owns the route, and its error shape.
    glue: Glue,
    /// Whether the per-IP rate limit applies (not to what monitoring
    /// calls).
    limited: bool,
}

impl Shared {
    /// The layer of a route of `glue`'s dialect, counted under `series`
    /// (the route's template; `fallback` or `socketio` for the catch-alls).
    pub fn new(state: &AppState, series: &str, glue: Glue) -> Self {
        Self::with(state, series, glue, true)
    }

    /// The same, for an endpoint that monitoring calls: never rate
    /// limited.
    pub fn unlimited(state: &AppState, series: &str, glue: Glue) -> Self {
        Self::with(state, series, glue, false)
    }

    fn with(state: &AppState, series: &str, glue: Glue, limited: bool) -> Self {
        Self {
            ctx: Arc::new(Ctx {
                state: state.clone(),
                stats: state.metrics.route(series),
                glue,
                limited,
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
    fn call(&mut self, mut req: Request) -> Self::Future {
        let start = Instant::now();
        let ctx = self.ctx.clone();
        let legacy = ctx.glue.dialect == Dialect::Legacy;
        // The path is copied only when the access log will print it.
        let access = tracing::enabled!(target: "otpgate::access", tracing::Level::DEBUG)
            .then(|| (req.method().clone(), req.uri().path().to_owned()));
        req.extensions_mut().insert(ctx.glue);
        let answer = match admit(&ctx, req, start) {
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
                        gate::answer(&ctx.state, &mut resp);
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
            ctx.count(status, micros, &resp);
            Ok(resp)
        })
    }
}

impl Ctx {
    fn count(&self, status: u16, micros: u64, resp: &Response) {
        if resp.extensions().get::<StoreFailure>().is_some() {
            self.state.metrics.store_failure();
        }
        self.stats.observe(status, micros);
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
fn admit(ctx: &Ctx, req: Request, now: Instant) -> Admission {
    let state = &ctx.state;
    let limit = state.settings.body_limit;
    let declared = req
        .headers()
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return Admission::Refused(ctx.glue.answer(AppError::PayloadTooLarge(limit)));
    }
    let req = match &state.limiter {
        Some(limiter) if ctx.limited => {
            let (parts, body) = req.into_parts();
            if let Some(ip) = client_ip_behind(&parts, &state.settings.trusted_proxies)
                && let Err(wait) = limiter.check(ip, now)
            {
                return Admission::Refused(ctx.glue.answer(AppError::RateLimited {
                    retry_after_secs: wait,
                }));
            }
            Request::from_parts(parts, body)
        }
        _ => req,
    };
    if ctx.glue.dialect == Dialect::Legacy && !state.auth.legacy_active() {
        return Admission::Refused(gate::refusal(state));
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
