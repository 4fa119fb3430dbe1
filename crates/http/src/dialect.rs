//! What a route knows about the dialect that owns it: the dialect (for
//! the audit record) and how it answers errors. Each dialect's router
//! mounts its routes with its [`Glue`]; the shared layer puts that glue
//! into the request's extensions, so the handlers' [`crate::extract::CallerInfo`],
//! the layer's own refusals (413, 429) and the 404/405 fallbacks find the
//! dialect there, never by reading the path.

use axum::extract::{FromRequestParts, Request};
use axum::http::request::Parts;
use axum::response::Response;
use otpgate_core::service::Dialect;

use crate::error::{AppError, ErrorShape, Native, respond};

/// A dialect and its error shape.
#[derive(Debug, Clone, Copy)]
pub struct Glue {
    /// The dialect audit records name.
    pub dialect: Dialect,
    /// How it answers an error.
    error: fn(AppError) -> Response,
}

impl Glue {
    /// The native API: the native envelope.
    pub const NATIVE: Self = Self::new::<Native>(Dialect::Native);

    /// `dialect`, answering errors in the shape `S`.
    pub const fn new<S: ErrorShape>(dialect: Dialect) -> Self {
        Self {
            dialect,
            error: respond::<S>,
        }
    }

    /// `err` in this dialect's shape.
    pub fn answer(&self, err: AppError) -> Response {
        (self.error)(err)
    }

    /// The glue the shared layer put on `req` (native if none).
    pub fn of(req: &Request) -> Self {
        req.extensions()
            .get::<Self>()
            .copied()
            .unwrap_or(Self::NATIVE)
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Glue {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(parts
            .extensions
            .get::<Self>()
            .copied()
            .unwrap_or(Self::NATIVE))
    }
}

/// 404 for an unknown path under a dialect's routes, in its shape.
pub async fn not_found(glue: Glue) -> Response {
    glue.answer(AppError::NotFound)
}

/// 405 for a known route with another method, in its dialect's shape.
pub async fn method_not_allowed(glue: Glue) -> Response {
    glue.answer(AppError::MethodNotAllowed)
}
