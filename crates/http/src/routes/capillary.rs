//! The Capillary-style MFA API (API.md §6b, seed 004): JSON bodies under
//! `/auth/v1/mfa/`: `token/generate` (password -> MFA session),
//! `otp/generate` (send a code out of band), `otp/validate` (code -> token).
//!
//! Translation only: identifier types and field names become the core's
//! [`Identifier`], and the core's `start_mfa_session` / `send_mfa_code` /
//! `finish_mfa_session` hold the rules (device binding, single use, 15
//! minutes, lockout). Every answer, errors included, is Capillary's
//! envelope `{"status":{"success","code","message"},"auth":{...},"user":{...}}`
//! with `status.code` equal to the HTTP status. `brand` names a registered
//! application; an `X-API-Key`, when sent, must be that application's.

use axum::Json;
use axum::extract::{FromRequest, FromRequestParts, Request, State};
use axum::http::StatusCode;
use axum::http::header::CONTENT_TYPE;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use otpgate_core::model::{Application, User};
use otpgate_core::secret::SecretString;
use otpgate_core::service::Caller;
use otpgate_core::service::mfa_session::{Identifier, IdentifierKind};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use crate::error::AppError;
use crate::extract::{
    BodyKind, CallerInfo, api_key, body_kind, decode_body, read_body, string_or_number,
};
use crate::state::AppState;

/// Where this dialect's routes live.
pub const PREFIX: &str = "/auth/v1/";

/// An error in Capillary's envelope.
#[derive(Debug)]
pub struct CapError {
    status: StatusCode,
    message: String,
    retry_after: Option<u64>,
    store_failure: bool,
}

impl<E: Into<AppError>> From<E> for CapError {
    fn from(e: E) -> Self {
        let e = e.into();
        e.log_if_internal();
        let p = e.parts();
        Self {
            status: p.status,
            message: p.message.to_ascii_uppercase(),
            retry_after: p.retry_after,
            store_failure: e.is_store_failure(),
        }
    }
}

impl CapError {
    fn invalid_identifier_type() -> Self {
        Self {
            status: StatusCode::BAD_REQUEST,
            message: "INVALID_IDENTIFIER_TYPE".into(),
            retry_after: None,
            store_failure: false,
        }
    }
}

/// The envelope; `auth` and `user` are null in errors.
fn envelope(status: StatusCode, message: &str, auth: Value, user: Value) -> Value {
    json!({
        "status": {
            "success": status.is_success(),
            "code": status.as_u16(),
            "message": message,
        },
        "auth": auth,
        "user": user,
    })
}

impl IntoResponse for CapError {
    fn into_response(self) -> Response {
        let body = envelope(self.status, &self.message, Value::Null, Value::Null);
        let mut resp = (self.status, Json(body)).into_response();
        if self.store_failure {
            resp.extensions_mut().insert(crate::metrics::StoreFailure);
        }
        crate::error::set_retry_after(&mut resp, self.retry_after);
        resp
    }
}

/// A JSON body (declared, or no content type), or Capillary's error
/// (415 for any other content type).
#[derive(Debug)]
pub struct CapJson<T>(pub T);

impl<T: DeserializeOwned> FromRequest<AppState> for CapJson<T> {
    type Rejection = CapError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        if body_kind(req.headers())? != BodyKind::Json {
            let ct = req
                .headers()
                .get(CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_owned();
            return Err(AppError::UnsupportedMediaType(ct).into());
        }
        let bytes = read_body(req, state).await?;
        Ok(Self(decode_body(BodyKind::Json, &bytes)?))
    }
}

/// The `X-API-Key` of the request, if sent.
#[derive(Debug)]
pub struct CapKey(pub Option<String>);

impl FromRequestParts<AppState> for CapKey {
    type Rejection = CapError;

    async fn from_request_parts(parts: &mut Parts, _: &AppState) -> Result<Self, Self::Rejection> {
        Ok(Self(api_key(&parts.headers).map(str::to_owned)))
    }
}

/// The fields every call carries.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Who {
    identifier_type: String,
    #[serde(deserialize_with = "string_or_number")]
    identifier_value: String,
    device_id: String,
    brand: String,
}

impl Who {
    fn identifier(&self) -> Result<Identifier<'_>, CapError> {
        let kind = match self.identifier_type.trim().to_ascii_uppercase().as_str() {
            "MOBILE" => IdentifierKind::Mobile,
            "EMAIL" => IdentifierKind::Email,
            "USERNAME" => IdentifierKind::Username,
            "EXTERNALID" => IdentifierKind::ExternalId,
            _ => return Err(CapError::invalid_identifier_type()),
        };
        Ok(Identifier {
            kind,
            value: &self.identifier_value,
        })
    }

    async fn application(
        &self,
        s: &AppState,
        key: Option<&str>,
        caller: &Caller,
    ) -> Result<Application, CapError> {
        Ok(s.auth
            .application_for(key, &self.brand, false, caller)
            .await?)
    }
}

fn user_json(user: &User, session_id: Option<&str>) -> Value {
    json!({
        "appRegistered": user.totp.is_enabled(),
        "sessionId": session_id,
        "role": user.role,
        "userRegisteredForPassword": true,
    })
}

fn success(auth: Value, user: Value) -> Json<Value> {
    Json(envelope(StatusCode::OK, "SUCCESS", auth, user))
}

fn no_auth() -> Value {
    json!({"token": null, "key": null})
}

/// `token/generate` body.
#[derive(Debug, Deserialize)]
pub struct TokenGenerate {
    #[serde(flatten)]
    who: Who,
    password: String,
}

/// `POST /auth/v1/mfa/token/generate`: checks the password and opens an
/// MFA session for this device; `user.sessionId` carries it.
pub async fn token_generate(
    State(s): State<AppState>,
    CallerInfo(caller): CallerInfo,
    CapKey(key): CapKey,
    CapJson(b): CapJson<TokenGenerate>,
) -> Result<Json<Value>, CapError> {
    let id = b.who.identifier()?;
    let app = b.who.application(&s, key.as_deref(), &caller).await?;
    let (session_id, user) = s
        .auth
        .start_mfa_session(
            &app,
            id,
            &b.who.device_id,
            &SecretString::new(b.password),
            &caller,
        )
        .await?;
    Ok(success(
        no_auth(),
        user_json(&user, Some(session_id.expose())),
    ))
}

/// `otp/generate` body.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OtpGenerate {
    #[serde(flatten)]
    who: Who,
    session_id: String,
}

/// `POST /auth/v1/mfa/otp/generate`: sends a fresh code for the session
/// (e-mail for EMAIL, SMS for MOBILE, else e-mail if the user has an
/// address, else SMS).
pub async fn otp_generate(
    State(s): State<AppState>,
    CallerInfo(caller): CallerInfo,
    CapKey(key): CapKey,
    CapJson(b): CapJson<OtpGenerate>,
) -> Result<Json<Value>, CapError> {
    let id = b.who.identifier()?;
    let app = b.who.application(&s, key.as_deref(), &caller).await?;
    let (_, user) = s
        .auth
        .send_mfa_code(&app, id, &b.who.device_id, &b.session_id, &caller)
        .await?;
    Ok(success(no_auth(), user_json(&user, Some(&b.session_id))))
}

/// `otp` as a JSON string, or as a number (as the seed sends it): a
/// number loses its leading zeros, so it is padded back to six digits.
fn otp_string_or_number<'de, D: serde::Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Otp {
        S(String),
        N(u64),
    }
    Ok(match Otp::deserialize(d)? {
        Otp::S(s) => s,
        Otp::N(n) => format!("{n:06}"),
    })
}

/// `otp/validate` body (`otp` a JSON string or number).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OtpValidate {
    #[serde(flatten)]
    who: Who,
    session_id: String,
    #[serde(deserialize_with = "otp_string_or_number")]
    otp: String,
}

/// `POST /auth/v1/mfa/otp/validate`: checks the code, uses the session up
/// and returns a verified otpgate access token valid 15 minutes
/// (`auth.token`) and its id (`auth.key`).
pub async fn otp_validate(
    State(s): State<AppState>,
    CallerInfo(caller): CallerInfo,
    CapKey(key): CapKey,
    CapJson(b): CapJson<OtpValidate>,
) -> Result<Json<Value>, CapError> {
    let id = b.who.identifier()?;
    let app = b.who.application(&s, key.as_deref(), &caller).await?;
    let (done, user) = s
        .auth
        .finish_mfa_session(
            &app,
            id,
            &b.who.device_id,
            &b.session_id,
            &SecretString::new(b.otp),
            &caller,
        )
        .await?;
    Ok(success(
        json!({"token": done.token.token, "key": done.token_id}),
        user_json(&user, None),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn otp_numbers_get_their_leading_zeros_back() {
        let body = |otp: &str| {
            format!(
                r#"{{"identifierType":"MOBILE","identifierValue":"1","deviceId":"d","brand":"b","sessionId":"s","otp":{otp}}}"#
            )
        };
        let v: OtpValidate = serde_json::from_str(&body("999999")).expect("number");
        assert_eq!(v.otp, "999999");
        let v: OtpValidate = serde_json::from_str(&body("12345")).expect("short number");
        assert_eq!(v.otp, "012345");
        let v: OtpValidate = serde_json::from_str(&body("\"012345\"")).expect("string");
        assert_eq!(v.otp, "012345");
        assert!(serde_json::from_str::<OtpValidate>(&body("1.5")).is_err());
        assert!(serde_json::from_str::<OtpValidate>(&body("-1")).is_err());
    }
}
