//! The native API (NethCTI-middleware style, API.md §1): login, logout,
//! profile and the 2FA lifecycle. Each handler translates, calls one core
//! method, and shapes the response as the contract shows it; its
//! `#[utoipa::path]` is its entry in the document.
//!
//! The answers' fields are declared in the order the contract's JSON
//! shows them (alphabetical, as the original `json!` objects wrote them).

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderValue;
use axum::http::header::CONTENT_TYPE;
use axum::response::{IntoResponse, Response};
use otpgate_core::model::Profile;
use otpgate_core::secret::SecretString;
use serde::ser::SerializeStruct;
use serde::{Deserialize, Serialize, Serializer};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::dialect::Glue;
use crate::error::{AppResult, ErrorEnvelope};
use crate::extract::{AllowPendingOtp, AllowSetup, Body, CallerInfo, Verified, string_or_number};
use crate::openapi::{
    E400, E401, E403, E404, E409, E413, E415, E429, E503, EDEFAULT, StringOrNumber,
};
use crate::routes::mount::Mount;
use crate::state::AppState;

/// The native routes, below the API prefix `p`. In `nethcti` mode
/// `GET /user/me` is the CTI server's (forwarded by the fallback), so it
/// is documented but not served here.
pub fn router(state: &AppState, p: &str) -> OpenApiRouter<AppState> {
    let m = Mount::new(state, p, Glue::NATIVE)
        .routes(routes!(login))
        .routes(routes!(logout))
        .routes(routes!(status))
        .routes(routes!(qr_code))
        .routes(routes!(qr_code_png))
        .routes(routes!(qr_code_svg))
        .routes(routes!(verify_otp))
        .routes(routes!(recovery_codes))
        .routes(routes!(disable));
    let m = if state.settings.cti.is_some() {
        m.documented(routes!(me))
    } else {
        m.routes(routes!(me))
    };
    m.finish()
}

/// RFC 3339 (UTC) text of a unix time, as `expire` fields carry it.
pub fn rfc3339(unix_secs: i64) -> String {
    OffsetDateTime::from_unix_timestamp(unix_secs)
        .ok()
        .and_then(|t| t.format(&Rfc3339).ok())
        .unwrap_or_default()
}

/// `POST /login` body (JSON or form-encoded; also the legacy login's).
#[derive(Debug, Deserialize, ToSchema)]
pub struct LoginBody {
    pub(crate) username: String,
    pub(crate) password: String,
}

/// `POST /login` success.
#[derive(Debug, Serialize, ToSchema)]
pub struct LoginResponse {
    code: u16,
    /// RFC 3339 expiry of the token.
    expire: String,
    /// The JWT (pre-OTP when the user has 2FA on).
    token: String,
}

/// A success envelope whose `data` is null.
#[derive(Debug, Serialize, ToSchema)]
pub struct MessageResponse {
    code: u16,
    /// Always null.
    #[schema(value_type = Option<Object>)]
    data: Option<()>,
    message: &'static str,
}

impl MessageResponse {
    /// `{"code": 200, "data": null, "message": message}`.
    pub fn ok(message: &'static str) -> Self {
        Self {
            code: 200,
            data: None,
            message,
        }
    }
}

/// `POST /login`: a token, pre-OTP when the user has 2FA on.
#[utoipa::path(post, path = "/login", tag = "native",
    summary = "Log in with a password: a JWT (pre-OTP when 2FA is on; a set-up token when 2FA is required and not set up)",
    security(()),
    request_body(content((LoginBody = "application/json"), (LoginBody = "application/x-www-form-urlencoded"))),
    responses(
        (status = 200, description = "The token", body = LoginResponse),
        (status = 400, description = E400, body = ErrorEnvelope),
        (status = 401, description = E401, body = ErrorEnvelope, headers(("WWW-Authenticate" = String))),
        (status = 413, description = E413, body = ErrorEnvelope),
        (status = 415, description = E415, body = ErrorEnvelope),
        (status = 429, description = E429, body = ErrorEnvelope, headers(("Retry-After" = String, description = "Seconds to wait"))),
        (status = 503, description = E503, body = ErrorEnvelope, headers(("Retry-After" = String, description = "Seconds to wait"))),
        (status = "default", description = EDEFAULT, body = ErrorEnvelope),
    ))]
pub async fn login(
    State(s): State<AppState>,
    CallerInfo(caller): CallerInfo,
    Body(b): Body<LoginBody>,
) -> AppResult<Json<LoginResponse>> {
    let t = s
        .auth
        .login(&b.username, &SecretString::new(b.password), &caller)
        .await?;
    Ok(Json(LoginResponse {
        code: 200,
        expire: rfc3339(t.expires_at),
        token: t.token,
    }))
}

/// `POST /logout`: revokes only the presented token.
#[utoipa::path(post, path = "/logout", tag = "native", summary = "Revoke the presented token",
    security(("bearerAuth" = [])),
    responses(
        (status = 200, description = "Logged out", body = MessageResponse),
        (status = 401, description = E401, body = ErrorEnvelope, headers(("WWW-Authenticate" = String))),
        (status = 403, description = E403, body = ErrorEnvelope),
        (status = 429, description = E429, body = ErrorEnvelope, headers(("Retry-After" = String, description = "Seconds to wait"))),
        (status = "default", description = EDEFAULT, body = ErrorEnvelope),
    ))]
pub async fn logout(
    State(s): State<AppState>,
    CallerInfo(caller): CallerInfo,
    AllowPendingOtp(who): AllowPendingOtp,
) -> AppResult<Json<MessageResponse>> {
    s.auth.logout(&who, &caller).await?;
    Ok(Json(MessageResponse::ok("logged out")))
}

/// A user's profile, as `/user/me` shows it (borrowed from the core's
/// [`Profile`]: the answer is written from it, never copied).
#[derive(Debug, Serialize, ToSchema)]
pub struct ProfileData<'a> {
    username: &'a str,
    display_name: &'a str,
    email: Option<&'a str>,
    phone: Option<&'a str>,
    two_factor: bool,
    role: &'a str,
    external_id: Option<&'a str>,
}

impl<'a> From<&'a Profile> for ProfileData<'a> {
    fn from(p: &'a Profile) -> Self {
        Self {
            username: &p.username,
            display_name: &p.display_name,
            email: p.email.as_deref(),
            phone: p.phone.as_deref(),
            two_factor: p.two_factor,
            role: &p.role,
            external_id: p.external_id.as_deref(),
        }
    }
}

/// The `/user/me` answer (shared with the legacy route): the profile in
/// `data` and, as the legacy `/user/me` returned it, at the top level too.
/// This type describes the answer (and is the reference the tests compare
/// with); the bytes are written by [`ProfileResponse::render`].
#[derive(Debug, Serialize, ToSchema)]
pub struct ProfileResponse<'a> {
    code: u16,
    message: &'static str,
    data: ProfileData<'a>,
    #[serde(flatten)]
    fields: ProfileData<'a>,
}

/// `code` and `message` of the `/user/me` answer.
const PROFILE_CODE: u16 = 200;
const PROFILE_MESSAGE: &str = "user profile";

impl ProfileData<'_> {
    /// The profile's fields, in [`ProfileData`]'s order, as fields of the
    /// struct `s` is writing (the answer's top level).
    fn write_fields<S: SerializeStruct>(&self, s: &mut S) -> Result<(), S::Error> {
        s.serialize_field("username", self.username)?;
        s.serialize_field("display_name", self.display_name)?;
        s.serialize_field("email", &self.email)?;
        s.serialize_field("phone", &self.phone)?;
        s.serialize_field("two_factor", &self.two_factor)?;
        s.serialize_field("role", self.role)?;
        s.serialize_field("external_id", &self.external_id)
    }
}

/// [`ProfileResponse`] as it serializes, written without `flatten`
/// (which takes serde's map path, a fifth of `/me`'s extra CPU).
struct ProfileBody<'a>(&'a ProfileData<'a>);

impl Serialize for ProfileBody<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut s = serializer.serialize_struct("ProfileResponse", 10)?;
        s.serialize_field("code", &PROFILE_CODE)?;
        s.serialize_field("message", PROFILE_MESSAGE)?;
        s.serialize_field("data", self.0)?;
        self.0.write_fields(&mut s)?;
        s.end()
    }
}

impl<'a> ProfileResponse<'a> {
    /// The answer as its type describes it (the reference for
    /// [`Self::render`]).
    pub fn new(profile: &'a Profile) -> Self {
        Self {
            code: PROFILE_CODE,
            message: PROFILE_MESSAGE,
            data: ProfileData::from(profile),
            fields: ProfileData::from(profile),
        }
    }

    /// The JSON body for `profile`: a function of the profile alone (no
    /// time, nothing from the request), so it may be kept beside a
    /// remembered token check. Written into a buffer sized once.
    pub fn render(profile: &Profile) -> Bytes {
        let d = ProfileData::from(profile);
        let text = d.username.len()
            + d.display_name.len()
            + d.email.map_or(0, str::len)
            + d.phone.map_or(0, str::len)
            + d.role.len()
            + d.external_id.map_or(0, str::len);
        // Names, quotes and punctuation come to about 260 bytes; each text
        // is written twice (escaping may still grow the buffer).
        let mut out = Vec::with_capacity(320 + 2 * text);
        match serde_json::to_writer(&mut out, &ProfileBody(&d)) {
            Ok(()) => Bytes::from(out),
            // Strings, booleans and a number into memory: cannot fail.
            Err(_) => Bytes::new(),
        }
    }

    /// The `200` response carrying `body` (from [`Self::render`]).
    pub fn response(body: Bytes) -> Response {
        let mut r = Response::new(axum::body::Body::from(body));
        r.headers_mut()
            .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        r
    }
}

/// `GET /user/me`: the profile.
#[utoipa::path(get, path = "/user/me", tag = "native",
    summary = "The caller's profile (with auth.backend = nethcti: the CTI server's, forwarded)",
    security(("bearerAuth" = [])),
    responses(
        (status = 200, description = "The profile", body = ProfileResponse),
        (status = 401, description = E401, body = ErrorEnvelope, headers(("WWW-Authenticate" = String))),
        (status = 403, description = E403, body = ErrorEnvelope),
        (status = 404, description = E404, body = ErrorEnvelope),
        (status = "default", description = EDEFAULT, body = ErrorEnvelope),
    ))]
pub async fn me(Verified(who): Verified) -> Response {
    // The profile is the user the token check read (`AuthService::profile`
    // is `Profile::from(&who.user)`); its body is rendered once per
    // remembered check and dropped with it when the store's stamp moves.
    ProfileResponse::response(
        who.profile_body(|p| ProfileResponse::render(&Profile::from(&p.user))),
    )
}

/// `GET /2fa/status`.
#[derive(Debug, Serialize, ToSchema)]
pub struct StatusResponse {
    /// Whether 2FA is required for this user (the setting
    /// `two_factor.required` or the operator's per-user override).
    required: bool,
    /// Whether 2FA is on.
    status: bool,
}

/// `GET /2fa/status`: `{"required": bool, "status": bool}` (pre-OTP and
/// set-up tokens allowed).
#[utoipa::path(get, path = "/2fa/status", tag = "native",
    summary = "Whether 2FA is on and whether it is required (pre-OTP and set-up tokens allowed)",
    security(("bearerAuth" = [])),
    responses(
        (status = 200, description = "The status", body = StatusResponse),
        (status = 401, description = E401, body = ErrorEnvelope, headers(("WWW-Authenticate" = String))),
        (status = 403, description = E403, body = ErrorEnvelope),
        (status = "default", description = EDEFAULT, body = ErrorEnvelope),
    ))]
pub async fn status(
    State(s): State<AppState>,
    AllowPendingOtp(who): AllowPendingOtp,
) -> AppResult<Json<StatusResponse>> {
    let on = s.auth.two_factor_status(&who).await?;
    let required = s.auth.two_factor_rule(&who.user).required;
    Ok(Json(StatusResponse {
        required,
        status: on,
    }))
}

/// The otpauth URL and the base32 key of a pending secret.
#[derive(Debug, Serialize, ToSchema)]
pub struct QrCodeData {
    key: String,
    url: String,
}

/// `GET /2fa/qr-code`.
#[derive(Debug, Serialize, ToSchema)]
pub struct QrCodeResponse {
    code: u16,
    data: QrCodeData,
    message: &'static str,
}

/// `GET /2fa/qr-code`: the pending secret as an otpauth URL and key.
#[utoipa::path(get, path = "/2fa/qr-code", tag = "native",
    summary = "The pending TOTP secret as an otpauth URL and base32 key (set-up tokens allowed)",
    security(("bearerAuth" = [])),
    responses(
        (status = 200, description = "The otpauth URL", body = QrCodeResponse),
        (status = 401, description = E401, body = ErrorEnvelope, headers(("WWW-Authenticate" = String))),
        (status = 403, description = E403, body = ErrorEnvelope),
        (status = 409, description = E409, body = ErrorEnvelope),
        (status = "default", description = EDEFAULT, body = ErrorEnvelope),
    ))]
pub async fn qr_code(
    State(s): State<AppState>,
    AllowSetup(who): AllowSetup,
) -> AppResult<Json<QrCodeResponse>> {
    let e = s.auth.enrolment(&who).await?;
    Ok(Json(QrCodeResponse {
        code: 200,
        data: QrCodeData {
            key: e.key,
            url: e.url,
        },
        message: "QR code string",
    }))
}

/// `GET /2fa/qr-code.png`: the otpauth URL as a PNG QR code.
#[utoipa::path(get, path = "/2fa/qr-code.png", tag = "native",
    summary = "The otpauth URL as a PNG QR code",
    security(("bearerAuth" = [])),
    responses(
        (status = 200, description = "The QR code", content_type = "image/png", body = Vec<u8>),
        (status = 401, description = E401, body = ErrorEnvelope, headers(("WWW-Authenticate" = String))),
        (status = 403, description = E403, body = ErrorEnvelope),
        (status = 409, description = E409, body = ErrorEnvelope),
        (status = "default", description = EDEFAULT, body = ErrorEnvelope),
    ))]
pub async fn qr_code_png(
    State(s): State<AppState>,
    AllowSetup(who): AllowSetup,
) -> AppResult<Response> {
    let e = s.auth.enrolment(&who).await?;
    let png = otpgate_core::crypto::qr::png(&e.url)?;
    Ok(([(CONTENT_TYPE, "image/png")], png).into_response())
}

/// `GET /2fa/qr-code.svg`: the otpauth URL as an SVG QR code.
#[utoipa::path(get, path = "/2fa/qr-code.svg", tag = "native",
    summary = "The otpauth URL as an SVG QR code",
    security(("bearerAuth" = [])),
    responses(
        (status = 200, description = "The QR code", content_type = "image/svg+xml", body = String),
        (status = 401, description = E401, body = ErrorEnvelope, headers(("WWW-Authenticate" = String))),
        (status = 403, description = E403, body = ErrorEnvelope),
        (status = 409, description = E409, body = ErrorEnvelope),
        (status = "default", description = EDEFAULT, body = ErrorEnvelope),
    ))]
pub async fn qr_code_svg(
    State(s): State<AppState>,
    AllowSetup(who): AllowSetup,
) -> AppResult<Response> {
    let e = s.auth.enrolment(&who).await?;
    let svg = otpgate_core::crypto::qr::svg(&e.url)?;
    Ok(([(CONTENT_TYPE, "image/svg+xml")], svg).into_response())
}

/// `POST /2fa/verify-otp` body.
#[derive(Debug, Deserialize, ToSchema)]
#[schema(as = VerifyOtpBody)]
pub struct VerifyBody {
    /// Must equal the token's subject.
    username: String,
    /// A TOTP or a recovery code.
    #[serde(deserialize_with = "string_or_number")]
    #[schema(value_type = StringOrNumber)]
    otp: String,
}

/// A new token and its expiry.
#[derive(Debug, Serialize, ToSchema)]
pub struct TokenData {
    expire: String,
    token: String,
}

/// `POST /2fa/verify-otp` success.
#[derive(Debug, Serialize, ToSchema)]
pub struct VerifyOtpResponse {
    code: u16,
    data: TokenData,
    message: &'static str,
}

/// `POST /2fa/verify-otp`: proves the second factor, returns a new token.
#[utoipa::path(post, path = "/2fa/verify-otp", tag = "native",
    summary = "Prove the second factor (TOTP or recovery code): a verified token",
    security(("bearerAuth" = [])),
    request_body(content = VerifyBody, content_type = "application/json"),
    responses(
        (status = 200, description = "OTP verified", body = VerifyOtpResponse),
        (status = 400, description = E400, body = ErrorEnvelope),
        (status = 401, description = E401, body = ErrorEnvelope, headers(("WWW-Authenticate" = String))),
        (status = 403, description = E403, body = ErrorEnvelope),
        (status = 404, description = E404, body = ErrorEnvelope),
        (status = 413, description = E413, body = ErrorEnvelope),
        (status = 415, description = E415, body = ErrorEnvelope),
        (status = 429, description = E429, body = ErrorEnvelope, headers(("Retry-After" = String, description = "Seconds to wait"))),
        (status = "default", description = EDEFAULT, body = ErrorEnvelope),
    ))]
pub async fn verify_otp(
    State(s): State<AppState>,
    CallerInfo(caller): CallerInfo,
    AllowPendingOtp(who): AllowPendingOtp,
    Body(b): Body<VerifyBody>,
) -> AppResult<Json<VerifyOtpResponse>> {
    let t = s
        .auth
        .verify_otp(&who, &b.username, &SecretString::new(b.otp), &caller)
        .await?;
    Ok(Json(VerifyOtpResponse {
        code: 200,
        data: TokenData {
            expire: rfc3339(t.expires_at),
            token: t.token,
        },
        message: "OTP verified",
    }))
}

/// `POST /2fa/recovery-codes` body.
#[derive(Debug, Deserialize, ToSchema)]
pub struct PasswordBody {
    password: String,
}

/// `POST /2fa/recovery-codes` success: 5 codes, shown only now.
#[derive(Debug, Serialize, ToSchema)]
pub struct RecoveryCodesResponse {
    codes: Vec<String>,
}

/// `POST /2fa/recovery-codes`: a new set of 5 codes, shown only now.
#[utoipa::path(post, path = "/2fa/recovery-codes", tag = "native",
    summary = "A new set of 5 recovery codes, shown only now",
    security(("bearerAuth" = [])),
    request_body(content = PasswordBody, content_type = "application/json"),
    responses(
        (status = 200, description = "The codes", body = RecoveryCodesResponse),
        (status = 400, description = E400, body = ErrorEnvelope),
        (status = 401, description = E401, body = ErrorEnvelope, headers(("WWW-Authenticate" = String))),
        (status = 403, description = E403, body = ErrorEnvelope),
        (status = 409, description = E409, body = ErrorEnvelope),
        (status = 413, description = E413, body = ErrorEnvelope),
        (status = 415, description = E415, body = ErrorEnvelope),
        (status = 429, description = E429, body = ErrorEnvelope, headers(("Retry-After" = String, description = "Seconds to wait"))),
        (status = 503, description = E503, body = ErrorEnvelope, headers(("Retry-After" = String, description = "Seconds to wait"))),
        (status = "default", description = EDEFAULT, body = ErrorEnvelope),
    ))]
pub async fn recovery_codes(
    State(s): State<AppState>,
    CallerInfo(caller): CallerInfo,
    Verified(who): Verified,
    Body(b): Body<PasswordBody>,
) -> AppResult<Json<RecoveryCodesResponse>> {
    let codes = s
        .auth
        .regenerate_recovery_codes(&who, &SecretString::new(b.password), &caller)
        .await?;
    let codes = codes.iter().map(|c| c.expose().to_owned()).collect();
    Ok(Json(RecoveryCodesResponse { codes }))
}

/// `POST /2fa/disable` body (`username` optional; must match if given).
#[derive(Debug, Deserialize, ToSchema)]
pub struct DisableBody {
    #[serde(default)]
    username: Option<String>,
    password: String,
}

/// `data` of the disable answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct DisableData {
    must_relogin: bool,
}

/// `POST /2fa/disable` success.
#[derive(Debug, Serialize, ToSchema)]
pub struct DisableResponse {
    code: u16,
    data: DisableData,
    message: &'static str,
}

/// `POST /2fa/disable`: 2FA off, every token of the user revoked.
#[utoipa::path(post, path = "/2fa/disable", tag = "native",
    summary = "Turn 2FA off and revoke every token of the user (403 2fa_required_by_policy where 2FA is required)",
    security(("bearerAuth" = [])),
    request_body(content = DisableBody, content_type = "application/json"),
    responses(
        (status = 200, description = "2FA disabled", body = DisableResponse),
        (status = 400, description = E400, body = ErrorEnvelope),
        (status = 401, description = E401, body = ErrorEnvelope, headers(("WWW-Authenticate" = String))),
        (status = 403, description = E403, body = ErrorEnvelope),
        (status = 409, description = E409, body = ErrorEnvelope),
        (status = 413, description = E413, body = ErrorEnvelope),
        (status = 415, description = E415, body = ErrorEnvelope),
        (status = 429, description = E429, body = ErrorEnvelope, headers(("Retry-After" = String, description = "Seconds to wait"))),
        (status = 503, description = E503, body = ErrorEnvelope, headers(("Retry-After" = String, description = "Seconds to wait"))),
        (status = "default", description = EDEFAULT, body = ErrorEnvelope),
    ))]
pub async fn disable(
    State(s): State<AppState>,
    CallerInfo(caller): CallerInfo,
    Verified(who): Verified,
    Body(b): Body<DisableBody>,
) -> AppResult<Json<DisableResponse>> {
    s.auth
        .disable_two_factor(
            &who,
            b.username.as_deref(),
            &SecretString::new(b.password),
            &caller,
        )
        .await?;
    Ok(Json(DisableResponse {
        code: 200,
        data: DisableData { must_relogin: true },
        message: "2FA disabled; all sessions invalidated, please log in again",
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_is_utc_with_z() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_763_377_800), "2025-11-17T11:10:00Z");
    }
}
