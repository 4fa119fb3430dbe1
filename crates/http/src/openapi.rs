//! The OpenAPI 3.1 document and the embedded Swagger UI that browses it.
//!
//! The document is generated from the routers: every handler carries
//! `#[utoipa::path]` with its typed bodies, each dialect's router collects
//! them ([`crate::routes::mount`]) and [`crate::router`] splits the merged
//! router into the served routes and this document, so what is served and
//! what is documented are one list. Here are only what every operation
//! shares: the info block, the security schemes, the tags, the wording of
//! the error statuses, and the handlers that serve the document
//! (`GET {prefix}/openapi.json`) and Swagger UI (`GET {prefix}/docs/`, its
//! assets from the binary through utoipa-swagger-ui's `vendored` feature:
//! nothing is fetched at build or run time).

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::http::header::{CONTENT_SECURITY_POLICY, CONTENT_TYPE};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::tag::TagBuilder;
use utoipa::openapi::{ComponentsBuilder, InfoBuilder, OpenApi, OpenApiBuilder};

use crate::error::AppError;

/// The policy of the Swagger UI answers: its own script and style sheet
/// ('self'), the inline `style` attributes its React components set, the
/// `data:` SVG icons of its CSS, and fetches of the spec on the same
/// origin. No inline script (its initializer is a file), never framed.
pub const DOCS_CSP: &str = "default-src 'none'; script-src 'self'; \
style-src 'self' 'unsafe-inline'; img-src 'self' data:; \
connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// 400, in every dialect's shape.
pub const E400: &str = "Bad request: malformed body, missing field, wrong code, or a refused \
username (invalid_username: control, format or white-space characters, mixed or confusable \
scripts)";
/// 401.
pub const E401: &str = "Missing, invalid, expired or revoked credential";
/// 403.
pub const E403: &str = "Refused: wrong kind of credential (an application's token: \
token_audience_mismatch), OTP still required (otp_verification_required), 2FA set-up required \
(2fa_setup_required), 2FA required by policy (2fa_required_by_policy), or mismatch";
/// 404.
pub const E404: &str = "Not found";
/// 409.
pub const E409: &str = "Conflict with the 2FA state";
/// 410.
pub const E410: &str = "Gone: the legacy method is past its sunset";
/// 413.
pub const E413: &str = "Body over the size limit";
/// 415.
pub const E415: &str = "Unsupported content type";
/// 429.
pub const E429: &str = "Too many attempts or requests (see Retry-After)";
/// 503.
pub const E503: &str = "Unavailable: the store does not answer (store_unavailable), too many \
password hashes queued (server_busy), or the password backend (the CTI server or the LDAP \
directory) could not check the password (upstream_unavailable; never counted)";
/// Any other status.
pub const EDEFAULT: &str = "Any other error, in the same shape";

/// An OTP or token field: a string of digits, or a JSON number (the
/// handlers read it with [`crate::extract::string_or_number`]).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(untagged)]
pub enum StringOrNumber {
    /// `"123456"`
    Text(String),
    /// `123456`
    Number(u64),
}

/// What every operation shares: info, security schemes, tags. The
/// routers add the paths and the schemas.
pub fn base() -> OpenApi {
    let components = ComponentsBuilder::new()
        .security_scheme(
            "bearerAuth",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        )
        .security_scheme(
            "apiKey",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                "X-API-Key",
                "An application's key, `<id>.<secret>`",
            ))),
        )
        .security_scheme(
            "legacyAuth",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                "Authorization",
                "Legacy: `<username>:hex(HMAC-SHA1(password, \"<username>:<password>:<nonce>\"))`",
            ))),
        )
        .build();
    let tags = [
        ("native", "The native API (NethCTI-middleware style)"),
        ("persistent tokens", "Persistent tokens for integrations"),
        ("mudbase", "Mudbase-style verify"),
        (
            "single-connect",
            "Single Connect-style application OTP (forms, text answers)",
        ),
        ("capillary", "Capillary-style MFA (JSON envelope)"),
        ("legacy", "Deprecated challenge login under /webrest"),
        ("socket.io", "Socket.IO v4 endpoints"),
        ("ui", "The self-service 2FA page"),
        ("ops", "Health, readiness and this documentation"),
    ]
    .into_iter()
    .map(|(name, d)| TagBuilder::new().name(name).description(Some(d)).build())
    .collect::<Vec<_>>();
    OpenApiBuilder::new()
        .info(
            InfoBuilder::new()
                .title("otpgate")
                .version(env!("CARGO_PKG_VERSION"))
                .description(Some(
                    "Authentication gateway: password login to JWT, TOTP 2FA, application OTP \
                     dialects, Socket.IO, legacy login. Every error is JSON \
                     `{\"code\",\"message\",\"error\"}` unless a dialect demands otherwise.",
                ))
                .build(),
        )
        .components(Some(components))
        .tags(Some(tags))
        .build()
}

/// The document and the Swagger UI configuration, built once per router.
#[derive(Clone)]
pub struct Docs {
    prefix: Arc<str>,
    json: Arc<String>,
    config: Arc<utoipa_swagger_ui::Config<'static>>,
}

impl std::fmt::Debug for Docs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Docs")
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

impl Docs {
    /// `doc`, served for a router whose API prefix is `prefix`.
    pub fn new(prefix: &str, doc: &OpenApi) -> Self {
        let prefix = prefix.trim_end_matches('/');
        let json = serde_json::to_string(doc).unwrap_or_default();
        let config = utoipa_swagger_ui::Config::new([format!("{prefix}/openapi.json")]);
        Self {
            prefix: prefix.into(),
            json: Arc::new(json),
            config: Arc::new(config),
        }
    }
}

impl Default for Docs {
    fn default() -> Self {
        Self::new("", &OpenApi::default())
    }
}

/// This document.
#[utoipa::path(get, path = "/openapi.json", tag = "ops", summary = "This document",
    security(()),
    responses((status = 200, description = "OpenAPI 3.1", content_type = "application/json",
        body = Object)))]
pub async fn openapi_json(State(docs): State<Docs>) -> Response {
    let json = docs.json.as_ref().clone();
    ([(CONTENT_TYPE, "application/json")], json).into_response()
}

/// `GET {prefix}/docs`: to the absolute `{prefix}/docs/` (a relative
/// target resolves against the parent of `{prefix}/docs`, which is easy to
/// get wrong; behind a proxy that moves the prefix, set `api_prefix`).
#[utoipa::path(get, path = "/docs", tag = "ops", summary = "Redirect to the API reference page",
    security(()),
    responses((status = 308, description = "To the same path with a trailing slash")))]
pub async fn docs_redirect(State(docs): State<Docs>) -> Response {
    let to = format!("{}/docs/", docs.prefix);
    (
        StatusCode::PERMANENT_REDIRECT,
        [
            (axum::http::header::LOCATION, to),
            (CONTENT_SECURITY_POLICY, DOCS_CSP.to_owned()),
        ],
    )
        .into_response()
}

/// `GET {prefix}/docs/`: Swagger UI's page.
#[utoipa::path(get, path = "/docs/", tag = "ops",
    summary = "The API reference page (Swagger UI, embedded)", security(()),
    responses((status = 200, description = "The page", content_type = "text/html", body = String)))]
pub async fn docs_index(State(docs): State<Docs>) -> Response {
    docs_file(&docs, "")
}

/// `GET {prefix}/docs/{file}`: Swagger UI's assets, from the binary.
#[utoipa::path(get, path = "/docs/{file}", tag = "ops",
    summary = "The API reference page's assets", security(()),
    params(("file" = String, Path)),
    responses(
        (status = 200, description = "A Swagger UI file", content_type = "*/*", body = String),
        (status = 404, description = E404, body = crate::error::ErrorEnvelope),
        (status = "default", description = EDEFAULT, body = crate::error::ErrorEnvelope),
    ))]
pub async fn docs_asset(State(docs): State<Docs>, Path(file): Path<String>) -> Response {
    docs_file(&docs, &file)
}

fn docs_file(docs: &Docs, file: &str) -> Response {
    match utoipa_swagger_ui::serve(file, docs.config.clone()) {
        Ok(Some(f)) => {
            let mut resp = (
                [
                    (CONTENT_TYPE, f.content_type),
                    (CONTENT_SECURITY_POLICY, DOCS_CSP.to_owned()),
                    (
                        axum::http::HeaderName::from_static("cross-origin-opener-policy"),
                        "same-origin".to_owned(),
                    ),
                ],
                f.bytes.into_owned(),
            )
                .into_response();
            if f.gzpipped {
                resp.headers_mut().insert(
                    axum::http::header::CONTENT_ENCODING,
                    axum::http::HeaderValue::from_static("gzip"),
                );
            }
            resp
        }
        Ok(None) => AppError::NotFound.into_response(),
        Err(e) => {
            tracing::error!(error = %e, "swagger ui");
            AppError::NotFound.into_response()
        }
    }
}
