//! The OpenAPI 3.1 document of every route the router serves, built in
//! code with utoipa from the `ToSchema` types of [`schemas`], and the
//! embedded Swagger UI that browses it.
//!
//! The paths follow the configured `api_prefix`, so the document is built
//! once per router. `GET {prefix}/openapi.json` serves it and
//! `GET {prefix}/docs/` serves Swagger UI (its assets come from the
//! binary, through utoipa-swagger-ui's `vendored` feature: nothing is
//! fetched at build or run time). The test `every_route_is_documented`
//! compares the router's table with this document both ways.

pub mod schemas;

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::header::{CONTENT_SECURITY_POLICY, CONTENT_TYPE};
use axum::http::{HeaderName, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use utoipa::OpenApi as _;
use utoipa::openapi::path::{HttpMethod, OperationBuilder, ParameterBuilder, ParameterIn};
use utoipa::openapi::request_body::RequestBodyBuilder;
use utoipa::openapi::security::{
    ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme,
};
use utoipa::openapi::tag::TagBuilder;
use utoipa::openapi::{
    ContentBuilder, HeaderBuilder, InfoBuilder, OpenApi, OpenApiBuilder, PathItem, PathsBuilder,
    Ref, RefOr, Required, ResponseBuilder, Schema,
};

use crate::error::AppError;
use crate::routes::{capillary, legacy, mudbase, persistent, single_connect};
use crate::state::AppState;

/// The policy of the Swagger UI answers: its own script and style sheet
/// ('self'), the inline `style` attributes its React components set, the
/// `data:` SVG icons of its CSS, and fetches of the spec on the same
/// origin. No inline script (its initializer is a file), never framed.
pub const DOCS_CSP: &str = "default-src 'none'; script-src 'self'; \
style-src 'self' 'unsafe-inline'; img-src 'self' data:; \
connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// The Socket.IO endpoints (served by the Socket.IO layers, not by routes
/// of the table): the native one under the API prefix, the legacy one.
pub fn socket_io_paths(prefix: &str) -> [String; 2] {
    [
        format!("{prefix}/ws/"),
        format!("{}/", legacy::LEGACY_SOCKET_IO),
    ]
}

#[derive(utoipa::OpenApi)]
#[openapi(components(schemas(
    schemas::StringOrNumber,
    schemas::ErrorEnvelope,
    schemas::LoginBody,
    schemas::LoginResponse,
    schemas::MessageResponse,
    schemas::Profile,
    schemas::ProfileResponse,
    schemas::StatusResponse,
    schemas::QrCodeData,
    schemas::QrCodeResponse,
    schemas::VerifyOtpBody,
    schemas::TokenData,
    schemas::VerifyOtpResponse,
    schemas::PasswordBody,
    schemas::RecoveryCodesResponse,
    schemas::DisableBody,
    schemas::DisableData,
    schemas::DisableResponse,
    schemas::MudbaseVerifyBody,
    schemas::MudbaseResponse,
    schemas::ScStatusForm,
    schemas::ScValidForm,
    schemas::CapTokenGenerate,
    schemas::CapOtpGenerate,
    schemas::CapOtpValidate,
    schemas::CapStatus,
    schemas::CapAuth,
    schemas::CapUser,
    schemas::CapEnvelope,
    schemas::HealthResponse,
    schemas::MessageError,
    schemas::PersistentTokenResponse,
    schemas::ExistsResponse,
    schemas::SubtypeBody,
)))]
struct Components;

/// A schema written inline (for the few bodies that are not JSON types).
fn inline(v: Value) -> RefOr<Schema> {
    serde_json::from_value::<RefOr<Schema>>(v).unwrap_or_else(|_| RefOr::T(Schema::default()))
}

fn schema_ref(name: &str) -> RefOr<Schema> {
    RefOr::Ref(Ref::from_schema_name(name))
}

/// Who may call an operation.
#[derive(Clone, Copy)]
enum Auth {
    None,
    Bearer,
    ApiKey,
    Legacy,
}

/// The shape a dialect answers its errors in.
#[derive(Clone, Copy)]
enum Errors {
    /// `{"code","message","error"}` as JSON.
    Envelope,
    /// Single Connect's HTML page.
    Html,
    /// Capillary's envelope.
    Capillary,
    /// `{"message"}` only (the legacy-compatible persistent-token routes).
    MessageOnly,
}

/// One response: status, description, content type and schema.
struct Answer {
    status: &'static str,
    description: &'static str,
    content: Option<(&'static str, RefOr<Schema>)>,
    retry_after: bool,
    www_authenticate: bool,
}

fn ok(description: &'static str, ct: &'static str, schema: RefOr<Schema>) -> Answer {
    Answer {
        status: "200",
        description,
        content: Some((ct, schema)),
        retry_after: false,
        www_authenticate: false,
    }
}

fn json_ok(description: &'static str, schema: &str) -> Answer {
    ok(description, "application/json", schema_ref(schema))
}

/// The error answers of an operation in its dialect's shape, `statuses`
/// listed and `default` for any other (every error has the same shape).
fn errors(shape: Errors, statuses: &[&'static str]) -> Vec<Answer> {
    let content = match shape {
        Errors::Envelope => ("application/json", schema_ref("ErrorEnvelope")),
        Errors::Capillary => ("application/json", schema_ref("CapEnvelope")),
        Errors::MessageOnly => ("application/json", schema_ref("MessageError")),
        Errors::Html => ("text/html", inline(json!({"type": "string"}))),
    };
    statuses
        .iter()
        .copied()
        .chain(std::iter::once("default"))
        .map(|status| Answer {
            status,
            description: match status {
                "400" => {
                    "Bad request: malformed body, missing field, wrong code, or a refused \
                     username (invalid_username: control, format or white-space characters, \
                     mixed or confusable scripts)"
                }
                "401" => "Missing, invalid, expired or revoked credential",
                "403" => {
                    "Refused: wrong kind of credential (an application's token: \
                     token_audience_mismatch), OTP still required (otp_verification_required), \
                     2FA set-up required (2fa_setup_required), 2FA required by policy \
                     (2fa_required_by_policy), or mismatch"
                }
                "404" => "Not found",
                "409" => "Conflict with the 2FA state",
                "410" => "Gone: the legacy method is past its sunset",
                "413" => "Body over the size limit",
                "415" => "Unsupported content type",
                "429" => "Too many attempts or requests (see Retry-After)",
                "503" => {
                    "Unavailable: the store does not answer (store_unavailable), too many \
                     password hashes queued (server_busy), or the password backend (the CTI \
                     server or the LDAP directory) could not check the password (upstream_unavailable; never counted)"
                }
                _ => "Any other error, in the same shape",
            },
            content: Some(content.clone()),
            retry_after: matches!(status, "429" | "503"),
            www_authenticate: status == "401" && matches!(shape, Errors::Envelope),
        })
        .collect()
}

/// How an operation takes its request body.
enum BodyIn {
    None,
    /// JSON (also accepted without a content type), optionally also a form.
    Json(&'static str, bool),
    /// A form only.
    Form(&'static str),
}

struct Op {
    method: HttpMethod,
    path: String,
    tag: &'static str,
    summary: &'static str,
    auth: Auth,
    body: BodyIn,
    answers: Vec<Answer>,
    deprecated: bool,
    parameters: Vec<(&'static str, &'static str, bool)>,
}

fn build_op(op: Op) -> utoipa::openapi::path::Operation {
    let mut b = OperationBuilder::new()
        .tag(op.tag)
        .summary(Some(op.summary))
        .operation_id(Some(operation_id(&op.method, &op.path)));
    if op.deprecated {
        b = b.deprecated(Some(utoipa::openapi::Deprecated::True));
    }
    b = match op.auth {
        Auth::None => b.securities(Some(Vec::<SecurityRequirement>::new())),
        Auth::Bearer => b.security(SecurityRequirement::new("bearerAuth", Vec::<String>::new())),
        Auth::ApiKey => b.security(SecurityRequirement::new("apiKey", Vec::<String>::new())),
        Auth::Legacy => b.security(SecurityRequirement::new("legacyAuth", Vec::<String>::new())),
    };
    for name in op
        .path
        .split('/')
        .filter_map(|seg| seg.strip_prefix('{')?.strip_suffix('}'))
    {
        b = b.parameter(
            ParameterBuilder::new()
                .name(name)
                .parameter_in(ParameterIn::Path)
                .required(Required::True)
                .schema(Some(inline(json!({"type": "string"})))),
        );
    }
    for (name, description, required) in op.parameters {
        b = b.parameter(
            ParameterBuilder::new()
                .name(name)
                .parameter_in(ParameterIn::Query)
                .description(Some(description))
                .required(if required {
                    Required::True
                } else {
                    Required::False
                })
                .schema(Some(inline(json!({"type": "string"})))),
        );
    }
    let body = match op.body {
        BodyIn::None => None,
        BodyIn::Json(schema, form) => {
            let mut rb = RequestBodyBuilder::new()
                .required(Some(Required::True))
                .content(
                    "application/json",
                    ContentBuilder::new()
                        .schema(Some(schema_ref(schema)))
                        .build(),
                );
            if form {
                rb = rb.content(
                    "application/x-www-form-urlencoded",
                    ContentBuilder::new()
                        .schema(Some(schema_ref(schema)))
                        .build(),
                );
            }
            Some(rb.build())
        }
        BodyIn::Form(schema) => Some(
            RequestBodyBuilder::new()
                .required(Some(Required::True))
                .content(
                    "application/x-www-form-urlencoded",
                    ContentBuilder::new()
                        .schema(Some(schema_ref(schema)))
                        .build(),
                )
                .build(),
        ),
    };
    b = b.request_body(body);
    for a in op.answers {
        let mut r = ResponseBuilder::new().description(a.description);
        if let Some((ct, schema)) = a.content {
            r = r.content(ct, ContentBuilder::new().schema(Some(schema)).build());
        }
        if a.retry_after {
            r = r.header(
                "Retry-After",
                HeaderBuilder::new()
                    .schema(Some(inline(json!({"type": "string"}))))
                    .description(Some("Seconds to wait"))
                    .build(),
            );
        }
        if a.www_authenticate {
            r = r.header(
                "WWW-Authenticate",
                HeaderBuilder::new()
                    .schema(Some(inline(json!({"type": "string"}))))
                    .build(),
            );
        }
        b = b.response(a.status, r.build());
    }
    b.build()
}

/// `post_api_2fa_verify_otp` for `POST /api/2fa/verify-otp`.
fn operation_id(method: &HttpMethod, path: &str) -> String {
    let m = match method {
        HttpMethod::Get => "get",
        HttpMethod::Post => "post",
        HttpMethod::Delete => "delete",
        _ => "op",
    };
    let mut id = String::from(m);
    for c in path.chars() {
        if c.is_ascii_alphanumeric() {
            id.push(c.to_ascii_lowercase());
        } else if !id.ends_with('_') {
            id.push('_');
        }
    }
    id.trim_end_matches('_').to_owned()
}

fn native_ops(p: &str) -> Vec<Op> {
    use HttpMethod::{Get, Post};
    let e = Errors::Envelope;
    let op = |method, path: &str, summary, auth, body, answers| Op {
        method,
        path: format!("{p}{path}"),
        tag: "native",
        summary,
        auth,
        body,
        answers,
        deprecated: false,
        parameters: Vec::new(),
    };
    let with = |first: Answer, statuses: &[&'static str]| {
        let mut v = vec![first];
        v.extend(errors(e, statuses));
        v
    };
    vec![
        op(
            Post,
            "/login",
            "Log in with a password: a JWT (pre-OTP when 2FA is on; a set-up token when 2FA is required and not set up)",
            Auth::None,
            BodyIn::Json("LoginBody", true),
            with(
                json_ok("The token", "LoginResponse"),
                &["400", "401", "413", "415", "429", "503"],
            ),
        ),
        op(
            Post,
            "/logout",
            "Revoke the presented token",
            Auth::Bearer,
            BodyIn::None,
            with(
                json_ok("Logged out", "MessageResponse"),
                &["401", "403", "429"],
            ),
        ),
        op(
            Get,
            "/user/me",
            "The caller's profile (with auth.backend = nethcti: the CTI server's, forwarded)",
            Auth::Bearer,
            BodyIn::None,
            with(
                json_ok("The profile", "ProfileResponse"),
                &["401", "403", "404"],
            ),
        ),
        op(
            Get,
            "/2fa/status",
            "Whether 2FA is on and whether it is required (pre-OTP and set-up tokens allowed)",
            Auth::Bearer,
            BodyIn::None,
            with(json_ok("The status", "StatusResponse"), &["401", "403"]),
        ),
        op(
            Get,
            "/2fa/qr-code",
            "The pending TOTP secret as an otpauth URL and base32 key (set-up tokens allowed)",
            Auth::Bearer,
            BodyIn::None,
            with(
                json_ok("The otpauth URL", "QrCodeResponse"),
                &["401", "403", "409"],
            ),
        ),
        op(
            Get,
            "/2fa/qr-code.png",
            "The otpauth URL as a PNG QR code",
            Auth::Bearer,
            BodyIn::None,
            with(
                ok(
                    "The QR code",
                    "image/png",
                    inline(json!({"type": "string", "contentMediaType": "image/png"})),
                ),
                &["401", "403", "409"],
            ),
        ),
        op(
            Get,
            "/2fa/qr-code.svg",
            "The otpauth URL as an SVG QR code",
            Auth::Bearer,
            BodyIn::None,
            with(
                ok(
                    "The QR code",
                    "image/svg+xml",
                    inline(json!({"type": "string"})),
                ),
                &["401", "403", "409"],
            ),
        ),
        op(
            Post,
            "/2fa/verify-otp",
            "Prove the second factor (TOTP or recovery code): a verified token",
            Auth::Bearer,
            BodyIn::Json("VerifyOtpBody", false),
            with(
                json_ok("OTP verified", "VerifyOtpResponse"),
                &["400", "401", "403", "404", "413", "415", "429"],
            ),
        ),
        op(
            Post,
            "/2fa/recovery-codes",
            "A new set of 5 recovery codes, shown only now",
            Auth::Bearer,
            BodyIn::Json("PasswordBody", false),
            with(
                json_ok("The codes", "RecoveryCodesResponse"),
                &["400", "401", "403", "409", "413", "415", "429", "503"],
            ),
        ),
        op(
            Post,
            "/2fa/disable",
            "Turn 2FA off and revoke every token of the user (403 2fa_required_by_policy where 2FA is required)",
            Auth::Bearer,
            BodyIn::Json("DisableBody", false),
            with(
                json_ok("2FA disabled", "DisableResponse"),
                &["400", "401", "403", "409", "413", "415", "429", "503"],
            ),
        ),
        op(
            Post,
            mudbase::PATH,
            "Mudbase: confirm the pending TOTP secret and enable 2FA",
            Auth::Bearer,
            BodyIn::Json("MudbaseVerifyBody", false),
            with(
                json_ok("2FA enabled", "MudbaseResponse"),
                &["400", "401", "403", "409", "413", "415", "429"],
            ),
        ),
    ]
    .into_iter()
    .map(|mut o| {
        if o.path.ends_with(mudbase::PATH) {
            o.tag = "mudbase";
        }
        o
    })
    .collect()
}

fn dialect_ops() -> Vec<Op> {
    use HttpMethod::Post;
    let sc = single_connect::PREFIX;
    let cap = capillary::PREFIX;
    let op = |path: String, tag, summary, auth, body, answers| Op {
        method: Post,
        path,
        tag,
        summary,
        auth,
        body,
        answers,
        deprecated: false,
        parameters: Vec::new(),
    };
    let sc_errors = errors(Errors::Html, &["400", "401", "403", "413", "415", "429"]);
    let cap_answers = || {
        let mut v = vec![json_ok("SUCCESS", "CapEnvelope")];
        v.extend(errors(
            Errors::Capillary,
            &["400", "401", "403", "404", "413", "415", "429"],
        ));
        v
    };
    let mut status = vec![ok(
        "Whether OTP is active for the user (`true` may also mean an out-of-band code was sent)",
        "text/plain",
        inline(json!({"type": "string", "enum": ["true", "false"]})),
    )];
    status.extend(errors(
        Errors::Html,
        &["400", "401", "403", "413", "415", "429"],
    ));
    let mut valid = vec![Answer {
        status: "200",
        description: "The code is valid (empty body)",
        content: None,
        retry_after: false,
        www_authenticate: false,
    }];
    valid.extend(sc_errors);
    vec![
        op(
            format!("{sc}/otpstatus"),
            "single-connect",
            "Single Connect: is OTP active for the user (sends an out-of-band code if needed)",
            Auth::ApiKey,
            BodyIn::Form("ScStatusForm"),
            status,
        ),
        op(
            format!("{sc}/otpvalid"),
            "single-connect",
            "Single Connect: check a code",
            Auth::ApiKey,
            BodyIn::Form("ScValidForm"),
            valid,
        ),
        op(
            format!("{cap}mfa/token/generate"),
            "capillary",
            "Capillary: check the password and open an MFA session",
            Auth::ApiKey,
            BodyIn::Json("CapTokenGenerate", false),
            cap_answers(),
        ),
        op(
            format!("{cap}mfa/otp/generate"),
            "capillary",
            "Capillary: send a code out of band",
            Auth::ApiKey,
            BodyIn::Json("CapOtpGenerate", false),
            cap_answers(),
        ),
        op(
            format!("{cap}mfa/otp/validate"),
            "capillary",
            "Capillary: check the code and get a 15-minute token for the brand only (aud)",
            Auth::ApiKey,
            BodyIn::Json("CapOtpValidate", false),
            cap_answers(),
        ),
    ]
}

fn legacy_ops() -> Vec<Op> {
    use HttpMethod::{Get, Post};
    let w = legacy::WEBREST;
    let op = |method, path: String, summary, auth, body, answers| Op {
        method,
        path,
        tag: "legacy",
        summary,
        auth,
        body,
        answers,
        deprecated: true,
        parameters: Vec::new(),
    };
    let mut login = vec![Answer {
        status: "401",
        description: "The challenge: `WWW-Authenticate: Digest <nonce>` (or a wrong password)",
        content: Some(("application/json", schema_ref("ErrorEnvelope"))),
        retry_after: false,
        www_authenticate: true,
    }];
    login.extend(errors(
        Errors::Envelope,
        &["400", "403", "410", "413", "415", "429"],
    ));
    let mut logout = vec![json_ok("Logged out", "MessageResponse")];
    logout.extend(errors(Errors::Envelope, &["401", "410", "429"]));
    let mut me = vec![json_ok("The profile", "ProfileResponse")];
    me.extend(errors(
        Errors::Envelope,
        &["401", "403", "404", "410", "429"],
    ));
    vec![
        op(
            Post,
            format!("{w}/authentication/login"),
            "Legacy challenge login: answers 401 with a nonce",
            Auth::None,
            BodyIn::Json("LoginBody", false),
            login,
        ),
        op(
            Post,
            format!("{w}/authentication/logout"),
            "Legacy logout",
            Auth::Legacy,
            BodyIn::None,
            logout,
        ),
        op(
            Get,
            format!("{w}/user/me"),
            "Legacy profile",
            Auth::Legacy,
            BodyIn::None,
            me,
        ),
        op(
            Get,
            "/docs/legacy-migration".into(),
            "How to move off the legacy login (Markdown)",
            Auth::None,
            BodyIn::None,
            vec![ok(
                "The guide",
                "text/markdown",
                inline(json!({"type": "string"})),
            )],
        ),
    ]
}

fn ops_ops(p: &str) -> Vec<Op> {
    use HttpMethod::{Get, Post};
    let op = |method, path: String, tag, summary, answers| Op {
        method,
        path,
        tag,
        summary,
        auth: Auth::None,
        body: BodyIn::None,
        answers,
        deprecated: false,
        parameters: Vec::new(),
    };
    let text = |d| ok(d, "text/plain", inline(json!({"type": "string"})));
    let html = |d| ok(d, "text/html", inline(json!({"type": "string"})));
    let not_found = || errors(Errors::Envelope, &["404"]);
    let mut ready = vec![json_ok("The store answers", "HealthResponse")];
    ready.extend(errors(Errors::Envelope, &["503"]));
    let mut docs_file = vec![ok(
        "A Swagger UI file",
        "*/*",
        inline(json!({"type": "string"})),
    )];
    docs_file.extend(not_found());
    let mut v = vec![
        op(
            Get,
            "/healthz".into(),
            "ops",
            "Liveness",
            vec![json_ok("The process answers", "HealthResponse")],
        ),
        op(Get, "/readyz".into(), "ops", "Readiness", ready),
        op(
            Get,
            "/metrics".into(),
            "ops",
            "Prometheus metrics (text exposition format 0.0.4; not rate limited)",
            vec![text(
                "Requests by route and status, latency histograms, logins and OTP checks by factor and result, lockouts, revocations, live WebSocket sessions, store errors, users by 2FA state",
            )],
        ),
        op(
            Get,
            format!("{p}/openapi.json"),
            "ops",
            "This document",
            vec![ok(
                "OpenAPI 3.1",
                "application/json",
                inline(json!({"type": "object"})),
            )],
        ),
        op(
            Get,
            format!("{p}/docs"),
            "ops",
            "Redirect to the API reference page",
            vec![redirect()],
        ),
        op(
            Get,
            format!("{p}/docs/"),
            "ops",
            "The API reference page (Swagger UI, embedded)",
            vec![html("The page")],
        ),
        op(
            Get,
            format!("{p}/docs/{{file}}"),
            "ops",
            "The API reference page's assets",
            docs_file,
        ),
        op(
            Get,
            "/ui".into(),
            "ui",
            "Redirect to the self-service page",
            vec![redirect()],
        ),
        op(
            Get,
            "/ui/".into(),
            "ui",
            "The self-service 2FA page",
            vec![html("The page")],
        ),
        op(
            Get,
            "/ui/app.js".into(),
            "ui",
            "The page's script",
            vec![ok(
                "Script",
                "text/javascript",
                inline(json!({"type": "string"})),
            )],
        ),
        op(
            Get,
            "/ui/style.css".into(),
            "ui",
            "The page's style sheet",
            vec![ok("Style", "text/css", inline(json!({"type": "string"})))],
        ),
        op(
            Get,
            "/ui/favicon.png".into(),
            "ui",
            "The page's icon",
            vec![ok(
                "Icon",
                "image/png",
                inline(json!({"type": "string", "contentMediaType": "image/png"})),
            )],
        ),
    ];
    for path in socket_io_paths(p) {
        for method in [Get, Post] {
            let mut answers = vec![text(
                "An Engine.IO v4 packet payload (polling), or the WebSocket upgrade",
            )];
            answers.push(Answer {
                status: "101",
                description: "Switching to WebSocket",
                content: None,
                retry_after: false,
                www_authenticate: false,
            });
            answers.push(Answer {
                status: "default",
                description: "An Engine.IO error: bad transport, version or session",
                content: Some(("application/json", inline(json!({"type": "object"})))),
                retry_after: false,
                www_authenticate: false,
            });
            v.push(Op {
                method,
                path: path.clone(),
                tag: "socket.io",
                summary: "Socket.IO v4 (Engine.IO 4): connect, then emit `login`",
                auth: Auth::None,
                body: BodyIn::None,
                answers,
                deprecated: path.starts_with(legacy::LEGACY_SOCKET_IO),
                parameters: vec![
                    ("EIO", "Engine.IO protocol version: 4", true),
                    ("transport", "polling or websocket", true),
                    ("sid", "The session id (after the handshake)", false),
                ],
            });
        }
    }
    v
}

/// A 204 with no body.
fn no_content(description: &'static str) -> Answer {
    Answer {
        status: "204",
        description,
        content: None,
        retry_after: false,
        www_authenticate: false,
    }
}

/// Persistent tokens (API.md §10): the native routes and the
/// legacy-compatible ones.
fn persistent_ops(p: &str) -> Vec<Op> {
    use HttpMethod::{Delete, Get, Post};
    let op = |method, path: String, summary, body, ok: Answer, shape, statuses: &[&'static str]| {
        let mut answers = vec![ok];
        answers.extend(errors(shape, statuses));
        Op {
            method,
            path,
            tag: "persistent tokens",
            summary,
            auth: Auth::Bearer,
            body,
            answers,
            deprecated: false,
            parameters: Vec::new(),
        }
    };
    let native = format!("{p}{}/{{audience}}", persistent::PATH);
    let legacy = format!("{p}{}", persistent::LEGACY);
    let (e, m) = (Errors::Envelope, Errors::MessageOnly);
    let refused = &["400", "401", "403", "429"];
    vec![
        op(
            Post,
            native.clone(),
            "A persistent token for `audience` (phone-island, mobile-app, nethlink); the previous one is revoked. A verified token only. Errors: 400 `missing audience` / `invalid audience`",
            BodyIn::None,
            json_ok("The token", "PersistentTokenResponse"),
            e,
            refused,
        ),
        op(
            Get,
            native.clone(),
            "Whether the caller holds a live persistent token for `audience`",
            BodyIn::None,
            json_ok("Whether it exists", "ExistsResponse"),
            e,
            refused,
        ),
        op(
            Delete,
            native,
            "Revoke the caller's persistent token for `audience` (204 also when there was none)",
            BodyIn::None,
            no_content("Revoked"),
            e,
            refused,
        ),
        op(
            Post,
            format!("{legacy}/phone_island_token_login"),
            "Legacy-compatible: a phone-island token (`subtype` `nethlink`: a NethLink token); errors are `{\"message\"}` only",
            BodyIn::Json("SubtypeBody", false),
            json_ok("The token", "PersistentTokenResponse"),
            m,
            &["400", "401", "403", "413", "415", "429"],
        ),
        op(
            Post,
            format!("{legacy}/persistent_token_remove"),
            "Legacy-compatible: revoke the phone-island (`subtype` `nethlink`: NethLink) token",
            BodyIn::Json("SubtypeBody", false),
            no_content("Revoked"),
            m,
            &["400", "401", "403", "413", "415", "429"],
        ),
        op(
            Get,
            format!("{legacy}/phone_island_token_check/{{subtype}}"),
            "Legacy-compatible: whether the phone-island (`nethlink`: NethLink) token exists",
            BodyIn::None,
            json_ok("Whether it exists", "ExistsResponse"),
            m,
            &["401", "403", "429"],
        ),
        op(
            Get,
            format!("{legacy}/phone_island_token_check"),
            "Legacy-compatible: whether the phone-island token exists (no subtype)",
            BodyIn::None,
            json_ok("Whether it exists", "ExistsResponse"),
            m,
            &["401", "403", "429"],
        ),
    ]
}

fn redirect() -> Answer {
    Answer {
        status: "308",
        description: "To the same path with a trailing slash",
        content: None,
        retry_after: false,
        www_authenticate: false,
    }
}

/// Every operation of the router, for `prefix` (the API prefix without a
/// trailing `/`).
fn all_ops(prefix: &str) -> Vec<Op> {
    let mut v = native_ops(prefix);
    v.extend(persistent_ops(prefix));
    v.extend(dialect_ops());
    v.extend(legacy_ops());
    v.extend(ops_ops(prefix));
    v
}

/// The OpenAPI 3.1 document for a router whose API prefix is `prefix`.
pub fn document(prefix: &str) -> OpenApi {
    let prefix = prefix.trim_end_matches('/');
    let mut paths = PathsBuilder::new();
    let mut items: Vec<(String, PathItem)> = Vec::new();
    for op in all_ops(prefix) {
        let method = op.method.clone();
        let path = op.path.clone();
        let operation = build_op(op);
        match items.iter_mut().find(|(p, _)| *p == path) {
            Some((_, item)) => item.merge_operations(PathItem::new(method, operation)),
            None => items.push((path, PathItem::new(method, operation))),
        }
    }
    for (path, item) in items {
        paths = paths.path(path, item);
    }
    let mut components = Components::openapi().components.unwrap_or_default();
    components.add_security_scheme(
        "bearerAuth",
        SecurityScheme::Http(
            HttpBuilder::new()
                .scheme(HttpAuthScheme::Bearer)
                .bearer_format("JWT")
                .build(),
        ),
    );
    components.add_security_scheme(
        "apiKey",
        SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
            "X-API-Key",
            "An application's key, `<id>.<secret>`",
        ))),
    );
    components.add_security_scheme(
        "legacyAuth",
        SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
            "Authorization",
            "Legacy: `<username>:hex(HMAC-SHA1(password, \"<username>:<password>:<nonce>\"))`",
        ))),
    );
    let tags = [
        ("native", "The native API (NethCTI-middleware style)"),
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
        .paths(paths.build())
        .components(Some(components))
        .tags(Some(tags))
        .build()
}

/// The document and the Swagger UI configuration, built once per router.
#[derive(Clone)]
pub struct Docs {
    json: Arc<String>,
    config: Arc<utoipa_swagger_ui::Config<'static>>,
}

impl Docs {
    /// For a router whose API prefix is `prefix`.
    pub fn new(prefix: &str) -> Self {
        let prefix = prefix.trim_end_matches('/');
        let json = serde_json::to_string(&document(prefix)).unwrap_or_default();
        let config = utoipa_swagger_ui::Config::new([format!("{prefix}/openapi.json")]);
        Self {
            json: Arc::new(json),
            config: Arc::new(config),
        }
    }
}

/// `GET {prefix}/openapi.json`.
pub async fn openapi_json(State(state): State<AppState>) -> Response {
    let json = state.docs.json.as_ref().clone();
    ([(CONTENT_TYPE, "application/json")], json).into_response()
}

/// `GET {prefix}/docs`: to the absolute `{prefix}/docs/` (a relative
/// target resolves against the parent of `{prefix}/docs`, which is easy to
/// get wrong; behind a proxy that moves the prefix, set `api_prefix`).
pub async fn docs_redirect(State(state): State<AppState>) -> Response {
    let to = format!("{}/docs/", state.settings.api_prefix.trim_end_matches('/'));
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
pub async fn docs_index(State(state): State<AppState>) -> Response {
    docs_file(&state, "")
}

/// `GET {prefix}/docs/{file}`: Swagger UI's assets, from the binary.
pub async fn docs_asset(State(state): State<AppState>, Path(file): Path<String>) -> Response {
    docs_file(&state, &file)
}

fn docs_file(state: &AppState, file: &str) -> Response {
    match utoipa_swagger_ui::serve(file, state.docs.config.clone()) {
        Ok(Some(f)) => {
            let mut resp = (
                [
                    (CONTENT_TYPE, f.content_type),
                    (CONTENT_SECURITY_POLICY, DOCS_CSP.to_owned()),
                    (
                        HeaderName::from_static("cross-origin-opener-policy"),
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

#[cfg(test)]
mod tests {
    #![allow(
        clippy::expect_used,
        clippy::unwrap_used,
        clippy::indexing_slicing,
        clippy::panic
    )]

    use serde::de::DeserializeOwned;
    use serde_json::{Map, Value, json};

    use super::document;
    use crate::routes::{capillary, mudbase, native, persistent, single_connect};

    /// Whether `body` decodes into the handler's own type `T`.
    fn decodes<T: DeserializeOwned>(body: &Value) -> bool {
        serde_json::from_value::<T>(body.clone()).is_ok()
    }

    /// The documented request schema `name` and the handler's type agree:
    /// a body with every documented field decodes, one without a
    /// documented required field does not, one without an optional field
    /// does.
    fn agrees(name: &str, full: Value, decode: fn(&Value) -> bool) {
        let spec = serde_json::to_value(document("/api")).unwrap();
        let schema = &spec["components"]["schemas"][name];
        let documented: Vec<String> = schema["properties"]
            .as_object()
            .unwrap_or_else(|| panic!("{name} has properties"))
            .keys()
            .cloned()
            .collect();
        let full = full.as_object().unwrap().clone();
        let mut sample_keys: Vec<String> = full.keys().cloned().collect();
        sample_keys.sort();
        let mut doc_sorted = documented.clone();
        doc_sorted.sort();
        assert_eq!(
            doc_sorted, sample_keys,
            "{name}: the sample covers the schema"
        );
        assert!(decode(&Value::Object(full.clone())), "{name}: full body");
        let required: Vec<&str> = schema["required"]
            .as_array()
            .map(|a| a.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        for field in &documented {
            let mut without: Map<String, Value> = full.clone();
            without.remove(field);
            let ok = decode(&Value::Object(without));
            if required.contains(&field.as_str()) {
                assert!(!ok, "{name}: {field} is documented as required");
            } else {
                assert!(ok, "{name}: {field} is documented as optional");
            }
        }
    }

    #[test]
    fn documented_request_bodies_match_the_handlers_types() {
        let cap = json!({"identifierType": "USERNAME", "identifierValue": "alice",
                         "deviceId": "d", "brand": "shop"});
        let with = |extra: Value| {
            let mut m = cap.as_object().unwrap().clone();
            m.extend(extra.as_object().unwrap().clone());
            Value::Object(m)
        };
        agrees(
            "LoginBody",
            json!({"username": "a", "password": "p"}),
            decodes::<native::LoginBody>,
        );
        agrees(
            "VerifyOtpBody",
            json!({"username": "a", "otp": 123456}),
            decodes::<native::VerifyBody>,
        );
        agrees(
            "PasswordBody",
            json!({"password": "p"}),
            decodes::<native::PasswordBody>,
        );
        agrees(
            "DisableBody",
            json!({"username": "a", "password": "p"}),
            decodes::<native::DisableBody>,
        );
        agrees(
            "SubtypeBody",
            json!({"subtype": "nethlink", "type": "phone-island"}),
            decodes::<persistent::SubtypeBody>,
        );
        agrees(
            "MudbaseVerifyBody",
            json!({"token": "123456"}),
            decodes::<mudbase::VerifyBody>,
        );
        agrees(
            "ScStatusForm",
            json!({"username": "a", "enduserip": "1.2.3.4", "applicationname": "shop"}),
            decodes::<single_connect::StatusForm>,
        );
        agrees(
            "ScValidForm",
            json!({"username": "a", "token": "123456", "applicationname": "shop"}),
            decodes::<single_connect::ValidForm>,
        );
        agrees(
            "CapTokenGenerate",
            with(json!({"password": "p"})),
            decodes::<capillary::TokenGenerate>,
        );
        agrees(
            "CapOtpGenerate",
            with(json!({"sessionId": "s"})),
            decodes::<capillary::OtpGenerate>,
        );
        agrees(
            "CapOtpValidate",
            with(json!({"sessionId": "s", "otp": "123456"})),
            decodes::<capillary::OtpValidate>,
        );
    }
}
