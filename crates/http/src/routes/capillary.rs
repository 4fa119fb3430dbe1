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
use otpgate_core::service::mfa_session::{Identifier, IdentifierKind};
use otpgate_core::service::{Caller, Dialect};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::dialect::Glue;
use crate::error::{self, AppError, DialectError, ErrorShape};
use crate::extract::{
    BodyKind, CallerInfo, api_key, body_kind, decode_body, read_body, string_or_number,
};
use crate::openapi::{E400, E401, E403, E404, E413, E415, E429, EDEFAULT, StringOrNumber};
use crate::routes::mount::Mount;
use crate::state::AppState;

/// Where this dialect's routes live.
pub const PREFIX: &str = "/auth/v1/";

/// The three routes, and Capillary's 404 envelope for anything else under
/// [`PREFIX`].
pub fn router(state: &AppState, _: &str) -> OpenApiRouter<AppState> {
    Mount::new(state, "", Glue::new::<Capillary>(Dialect::Capillary))
        .routes(routes!(token_generate))
        .routes(routes!(otp_generate))
        .routes(routes!(otp_validate))
        .not_found_under(PREFIX)
        .finish()
}

/// Capillary's status block.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = CapStatus)]
pub struct Status {
    code: u16,
    /// `SUCCESS`, or an UPPER_CASE reason.
    message: String,
    success: bool,
}

/// Capillary's auth block (null on errors).
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = CapAuth)]
pub struct Auth {
    key: Option<String>,
    /// The application's 15-minute JWT (`aud` = the brand): otpgate's own
    /// routes, its proxy and Socket.IO refuse it (403
    /// `token_audience_mismatch`).
    token: Option<String>,
}

/// Capillary's user block (null on errors).
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = CapUser)]
pub struct CapUser {
    app_registered: bool,
    role: String,
    session_id: Option<String>,
    user_registered_for_password: bool,
}

/// Capillary's envelope, for success and errors alike: `status.code` is
/// the HTTP status; `auth` and `user` are null in errors.
#[derive(Debug, Serialize, ToSchema)]
pub struct CapEnvelope {
    auth: Option<Auth>,
    status: Status,
    user: Option<CapUser>,
}

impl CapEnvelope {
    fn new(status: StatusCode, message: String, auth: Option<Auth>, user: Option<CapUser>) -> Self {
        Self {
            auth,
            status: Status {
                code: status.as_u16(),
                message,
                success: status.is_success(),
            },
            user,
        }
    }
}

/// Capillary's error shape: its envelope, with the stable message in
/// upper case.
#[derive(Debug)]
pub struct Capillary;

impl ErrorShape for Capillary {
    fn answer(_: &AppError, p: error::Parts) -> Response {
        let body = CapEnvelope::new(p.status, p.message.to_ascii_uppercase(), None, None);
        (p.status, Json(body)).into_response()
    }
}

/// An error in Capillary's envelope.
pub type CapError = DialectError<Capillary>;

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
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Who {
    /// MOBILE, EMAIL, USERNAME or EXTERNALID.
    identifier_type: String,
    #[serde(deserialize_with = "string_or_number")]
    #[schema(value_type = StringOrNumber)]
    identifier_value: String,
    device_id: String,
    /// A registered application name.
    brand: String,
}

impl Who {
    fn identifier(&self) -> Result<Identifier<'_>, CapError> {
        let kind = match self.identifier_type.trim().to_ascii_uppercase().as_str() {
            "MOBILE" => IdentifierKind::Mobile,
            "EMAIL" => IdentifierKind::Email,
            "USERNAME" => IdentifierKind::Username,
            "EXTERNALID" => IdentifierKind::ExternalId,
            _ => return Err(AppError::InvalidIdentifierType.into()),
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

fn user_json(user: &User, session_id: Option<&str>) -> CapUser {
    CapUser {
        app_registered: user.totp.is_enabled(),
        role: user.role.clone(),
        session_id: session_id.map(str::to_owned),
        user_registered_for_password: true,
    }
}

fn success(auth: Auth, user: CapUser) -> Json<CapEnvelope> {
    Json(CapEnvelope::new(
        StatusCode::OK,
        "SUCCESS".into(),
        Some(auth),
        Some(user),
    ))
}

fn no_auth() -> Auth {
    Auth {
        key: None,
        token: None,
    }
}

/// `token/generate` body.
#[derive(Debug, Deserialize, ToSchema)]
#[schema(as = CapTokenGenerate)]
pub struct TokenGenerate {
    #[serde(flatten)]
    who: Who,
    password: String,
}

/// `POST /auth/v1/mfa/token/generate`: checks the password and opens an
/// MFA session for this device; `user.sessionId` carries it.
#[utoipa::path(post, path = "/auth/v1/mfa/token/generate", tag = "capillary",
    summary = "Capillary: check the password and open an MFA session",
    security(("apiKey" = [])),
    request_body(content = TokenGenerate, content_type = "application/json"),
    responses(
        (status = 200, description = "SUCCESS", body = CapEnvelope),
        (status = 400, description = E400, body = CapEnvelope),
        (status = 401, description = E401, body = CapEnvelope),
        (status = 403, description = E403, body = CapEnvelope),
        (status = 404, description = E404, body = CapEnvelope),
        (status = 413, description = E413, body = CapEnvelope),
        (status = 415, description = E415, body = CapEnvelope),
        (status = 429, description = E429, body = CapEnvelope, headers(("Retry-After" = String, description = "Seconds to wait"))),
        (status = "default", description = EDEFAULT, body = CapEnvelope),
    ))]
pub async fn token_generate(
    State(s): State<AppState>,
    CallerInfo(caller): CallerInfo,
    CapKey(key): CapKey,
    CapJson(b): CapJson<TokenGenerate>,
) -> Result<Json<CapEnvelope>, CapError> {
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
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = CapOtpGenerate)]
pub struct OtpGenerate {
    #[serde(flatten)]
    who: Who,
    session_id: String,
}

/// `POST /auth/v1/mfa/otp/generate`: sends a fresh code for the session
/// (e-mail for EMAIL, SMS for MOBILE, else e-mail if the user has an
/// address, else SMS).
#[utoipa::path(post, path = "/auth/v1/mfa/otp/generate", tag = "capillary",
    summary = "Capillary: send a code out of band",
    security(("apiKey" = [])),
    request_body(content = OtpGenerate, content_type = "application/json"),
    responses(
        (status = 200, description = "SUCCESS", body = CapEnvelope),
        (status = 400, description = E400, body = CapEnvelope),
        (status = 401, description = E401, body = CapEnvelope),
        (status = 403, description = E403, body = CapEnvelope),
        (status = 404, description = E404, body = CapEnvelope),
        (status = 413, description = E413, body = CapEnvelope),
        (status = 415, description = E415, body = CapEnvelope),
        (status = 429, description = E429, body = CapEnvelope, headers(("Retry-After" = String, description = "Seconds to wait"))),
        (status = "default", description = EDEFAULT, body = CapEnvelope),
    ))]
pub async fn otp_generate(
    State(s): State<AppState>,
    CallerInfo(caller): CallerInfo,
    CapKey(key): CapKey,
    CapJson(b): CapJson<OtpGenerate>,
) -> Result<Json<CapEnvelope>, CapError> {
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
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = CapOtpValidate)]
pub struct OtpValidate {
    #[serde(flatten)]
    who: Who,
    session_id: String,
    #[serde(deserialize_with = "otp_string_or_number")]
    #[schema(value_type = StringOrNumber)]
    otp: String,
}

/// `POST /auth/v1/mfa/otp/validate`: checks the code, uses the session up
/// and returns a verified otpgate access token valid 15 minutes
/// (`auth.token`) and its id (`auth.key`).
#[utoipa::path(post, path = "/auth/v1/mfa/otp/validate", tag = "capillary",
    summary = "Capillary: check the code and get a 15-minute token for the brand only (aud)",
    security(("apiKey" = [])),
    request_body(content = OtpValidate, content_type = "application/json"),
    responses(
        (status = 200, description = "SUCCESS", body = CapEnvelope),
        (status = 400, description = E400, body = CapEnvelope),
        (status = 401, description = E401, body = CapEnvelope),
        (status = 403, description = E403, body = CapEnvelope),
        (status = 404, description = E404, body = CapEnvelope),
        (status = 413, description = E413, body = CapEnvelope),
        (status = 415, description = E415, body = CapEnvelope),
        (status = 429, description = E429, body = CapEnvelope, headers(("Retry-After" = String, description = "Seconds to wait"))),
        (status = "default", description = EDEFAULT, body = CapEnvelope),
    ))]
pub async fn otp_validate(
    State(s): State<AppState>,
    CallerInfo(caller): CallerInfo,
    CapKey(key): CapKey,
    CapJson(b): CapJson<OtpValidate>,
) -> Result<Json<CapEnvelope>, CapError> {
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
        Auth {
            key: Some(done.token_id),
            token: Some(done.token.token),
        },
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
