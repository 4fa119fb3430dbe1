//! Extractors: request bodies (JSON, or form-encoded) and bearer tokens.
//!
//! Bodies follow API.md's drop-in rules: JSON is accepted with or without
//! `Content-Type: application/json`; a form-encoded body is accepted too
//! (curl's `-d` sends that content type even for a JSON body, as the
//! seed's own examples do); any other explicit content type gets 415.
//! Every rejection goes through [`AppError`], so it is JSON.
//!
//! Tokens are checked by [`Verified`] (2FA gate applied),
//! [`AllowSetup`] (set-up tokens too: the enrolment routes) or
//! [`AllowPendingOtp`] (pre-OTP and set-up tokens too): the route's choice
//! of extractor is what decides, never the URI text.

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::header::{AUTHORIZATION, CONTENT_TYPE};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode};
use otpgate_core::AuthError;
use otpgate_core::error::TokenProblem;
use otpgate_core::model::Authenticated;
use otpgate_core::service::{Access, Caller};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer};

use crate::client_ip::client_ip_behind;
use crate::dialect::Glue;
use crate::error::AppError;
use crate::server::watch::BodyTimeout;
use crate::state::AppState;

/// How a body is encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyKind {
    /// JSON (declared, or no content type).
    Json,
    /// `application/x-www-form-urlencoded`.
    Form,
}

/// The body kind a request declares, or 415.
pub fn body_kind(headers: &HeaderMap) -> Result<BodyKind, AppError> {
    let Some(value) = headers.get(CONTENT_TYPE) else {
        return Ok(BodyKind::Json);
    };
    let ct = value.to_str().unwrap_or("").to_ascii_lowercase();
    let essence = ct.split(';').next().unwrap_or("").trim().to_owned();
    match essence.as_str() {
        "" | "application/json" => Ok(BodyKind::Json),
        "application/x-www-form-urlencoded" => Ok(BodyKind::Form),
        e if e.starts_with("application/") && e.ends_with("+json") => Ok(BodyKind::Json),
        _ => Err(AppError::UnsupportedMediaType(essence)),
    }
}

/// Reads the whole body within the configured limit.
pub async fn read_body(req: Request, state: &AppState) -> Result<Bytes, AppError> {
    let limit = state.settings.body_limit;
    Bytes::from_request(req, state).await.map_err(|e| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            AppError::PayloadTooLarge(limit)
        } else if let Some(t) = body_timeout(&e) {
            AppError::BadBody(t.to_string())
        } else {
            AppError::BadBody("the request body could not be read".into())
        }
    })
}

/// The body timeout behind a body read error, if that was the cause.
fn body_timeout<'a>(e: &'a (dyn std::error::Error + 'static)) -> Option<&'a BodyTimeout> {
    let mut cur = Some(e);
    while let Some(e) = cur {
        if let Some(t) = e.downcast_ref::<BodyTimeout>() {
            return Some(t);
        }
        cur = e.source();
    }
    None
}

/// Describes a JSON error without echoing the offending value (it may be
/// a password).
fn describe_json_error(e: &serde_json::Error) -> String {
    use serde_json::error::Category;
    match e.classify() {
        Category::Data => {
            let msg = e.to_string();
            if msg.starts_with("missing field") {
                msg.split(" at line")
                    .next()
                    .unwrap_or("missing field")
                    .to_owned()
            } else {
                "a field has the wrong type (expected a string)".to_owned()
            }
        }
        Category::Eof => "the request body is empty or truncated; send a JSON object".to_owned(),
        Category::Syntax | Category::Io => "the request body is not valid JSON".to_owned(),
    }
}

/// Decodes a body of `kind` into `T`.
pub fn decode_body<T: DeserializeOwned>(kind: BodyKind, bytes: &[u8]) -> Result<T, AppError> {
    let first = bytes.iter().find(|b| !b.is_ascii_whitespace()).copied();
    // A JSON object sent with curl -d arrives labelled as a form.
    let as_json = kind == BodyKind::Json || first == Some(b'{');
    if as_json {
        serde_json::from_slice(bytes).map_err(|e| AppError::BadBody(describe_json_error(&e)))
    } else {
        serde_urlencoded::from_bytes(bytes).map_err(|e| {
            let msg = e.to_string();
            AppError::BadBody(if msg.starts_with("missing field") {
                msg
            } else {
                "the form body could not be decoded".to_owned()
            })
        })
    }
}

/// A body decoded from JSON or a form.
#[derive(Debug)]
pub struct Body<T>(pub T);

impl<T: DeserializeOwned> FromRequest<AppState> for Body<T> {
    type Rejection = AppError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        let kind = body_kind(req.headers())?;
        let bytes = read_body(req, state).await?;
        decode_body(kind, &bytes).map(Body)
    }
}

/// Accepts a JSON string or number as a string (OTP fields: clients send
/// both).
pub fn string_or_number<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Value {
        S(String),
        N(u64),
    }
    Ok(match Value::deserialize(d)? {
        Value::S(s) => s,
        Value::N(n) => n.to_string(),
    })
}

/// The bearer token of a request.
pub fn bearer_token(headers: &HeaderMap) -> Result<&str, AuthError> {
    let value = headers
        .get(AUTHORIZATION)
        .ok_or(AuthError::Token(TokenProblem::Missing))?
        .to_str()
        .map_err(|_| AuthError::Token(TokenProblem::Invalid))?;
    let (scheme, token) = value
        .trim()
        .split_once(' ')
        .ok_or(AuthError::Token(TokenProblem::Missing))?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err(AuthError::Token(TokenProblem::Missing));
    }
    Ok(token.trim())
}

/// The header applications send their key in.
pub const API_KEY_HEADER: &str = "x-api-key";

/// The `X-API-Key` of a request, if any (a value that is not text counts
/// as present, so it is refused rather than ignored).
pub fn api_key(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(API_KEY_HEADER)
        .map(|v| v.to_str().unwrap_or("\u{0}"))
}

/// The token check of every JWT-only route: a request that carries an API
/// key is refused with 403 (API.md §4) before its token is looked at.
pub async fn principal(
    parts: &Parts,
    state: &AppState,
    access: Access,
) -> Result<Authenticated, AppError> {
    if parts.headers.contains_key(API_KEY_HEADER) {
        return Err(AuthError::ApiKeyNotAccepted.into());
    }
    let token = bearer_token(&parts.headers)?;
    match state.auth.authenticate(token, access).await {
        Err(AuthError::OtpVerificationRequired) => Err(AppError::OtpVerificationRequired {
            prefix: state.settings.api_prefix.trim_end_matches('/').to_owned(),
        }),
        other => Ok(other?),
    }
}

/// A caller with a verified token (2FA off, or OTP proven).
#[derive(Debug, Clone)]
pub struct Verified(pub Authenticated);

impl FromRequestParts<AppState> for Verified {
    type Rejection = AppError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        principal(parts, state, Access::Verified).await.map(Self)
    }
}

/// A caller with a verified token or a set-up token (a user who must
/// enrol 2FA first, API.md §11): the enrolment routes.
#[derive(Debug, Clone)]
pub struct AllowSetup(pub Authenticated);

impl FromRequestParts<AppState> for AllowSetup {
    type Rejection = AppError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        principal(parts, state, Access::AllowSetup).await.map(Self)
    }
}

/// A caller with any valid token, including a pre-OTP or set-up one.
#[derive(Debug, Clone)]
pub struct AllowPendingOtp(pub Authenticated);

impl FromRequestParts<AppState> for AllowPendingOtp {
    type Rejection = AppError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        principal(parts, state, Access::AllowPendingOtp)
            .await
            .map(Self)
    }
}

/// The core's view of who is calling: client IP, `User-Agent` (bounded)
/// and the dialect that owns the route (its [`Glue`], which the shared
/// layer put on the request).
#[derive(Debug, Clone)]
pub struct CallerInfo(pub Caller);

impl FromRequestParts<AppState> for CallerInfo {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let caller = Caller {
            ip: client_ip_behind(parts, &state.settings.trusted_proxies),
            user_agent: None,
            dialect: parts
                .extensions
                .get::<Glue>()
                .map_or_else(Default::default, |g| g.dialect),
        };
        let ua = parts
            .headers
            .get(axum::http::header::USER_AGENT)
            .map(|v| String::from_utf8_lossy(v.as_bytes()));
        Ok(Self(match ua {
            Some(ua) => caller.with_user_agent(&ua),
            None => caller,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[derive(Debug, Deserialize)]
    struct Login {
        username: String,
        #[serde(deserialize_with = "string_or_number")]
        otp: String,
    }

    fn headers(ct: Option<&'static str>) -> HeaderMap {
        let mut h = HeaderMap::new();
        if let Some(ct) = ct {
            h.insert(CONTENT_TYPE, HeaderValue::from_static(ct));
        }
        h
    }

    #[test]
    fn content_types() {
        assert_eq!(body_kind(&headers(None)).ok(), Some(BodyKind::Json));
        assert_eq!(
            body_kind(&headers(Some("application/json; charset=utf-8"))).ok(),
            Some(BodyKind::Json)
        );
        assert_eq!(
            body_kind(&headers(Some("application/merge+json"))).ok(),
            Some(BodyKind::Json)
        );
        assert_eq!(
            body_kind(&headers(Some("application/x-www-form-urlencoded"))).ok(),
            Some(BodyKind::Form)
        );
        assert!(matches!(
            body_kind(&headers(Some("text/plain"))),
            Err(AppError::UnsupportedMediaType(_))
        ));
        assert!(matches!(
            body_kind(&headers(Some("application/xml"))),
            Err(AppError::UnsupportedMediaType(_))
        ));
    }

    #[test]
    fn decodes_json_form_and_json_labelled_as_form() {
        let a: Login =
            decode_body(BodyKind::Json, br#"{"username":"a","otp":"012345"}"#).expect("json");
        assert_eq!(a.otp, "012345");
        let b: Login =
            decode_body(BodyKind::Json, br#"{"username":"a","otp":123456}"#).expect("number");
        assert_eq!(b.otp, "123456");
        let c: Login = decode_body(BodyKind::Form, b"username=a&otp=000001").expect("form");
        assert_eq!(c.username, "a");
        let d: Login =
            decode_body(BodyKind::Form, br#" {"username":"a","otp":"1"}"#).expect("curl -d");
        assert_eq!(d.otp, "1");
    }

    #[test]
    fn errors_do_not_echo_values() {
        let e = decode_body::<Login>(BodyKind::Json, br#"{"username":"a","otp":{"x":"hunter2"}}"#)
            .expect_err("bad");
        assert!(!format!("{e:?}").contains("hunter2"));
        let e = decode_body::<Login>(BodyKind::Json, br#"{"username":"a"}"#).expect_err("missing");
        assert!(format!("{e:?}").contains("missing field `otp`"));
        assert!(decode_body::<Login>(BodyKind::Json, b"").is_err());
        assert!(decode_body::<Login>(BodyKind::Json, b"\xff\xfe").is_err());
    }

    #[test]
    fn bearer_parsing() {
        let mut h = HeaderMap::new();
        assert!(matches!(
            bearer_token(&h),
            Err(AuthError::Token(TokenProblem::Missing))
        ));
        h.insert(
            AUTHORIZATION,
            HeaderValue::from_static("Bearer abc.def.ghi"),
        );
        assert_eq!(bearer_token(&h).ok(), Some("abc.def.ghi"));
        h.insert(AUTHORIZATION, HeaderValue::from_static("bearer  abc"));
        assert_eq!(bearer_token(&h).ok(), Some("abc"));
        h.insert(AUTHORIZATION, HeaderValue::from_static("Basic abc"));
        assert!(bearer_token(&h).is_err());
    }
}
