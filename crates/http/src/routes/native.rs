//! The native API (NethCTI-middleware style, API.md §1): login, logout,
//! profile and the 2FA lifecycle. Each handler translates, calls one core
//! method, and shapes the response as the contract shows it.

use axum::Json;
use axum::extract::State;
use axum::http::header::CONTENT_TYPE;
use axum::response::{IntoResponse, Response};
use otpgate_core::model::Profile;
use otpgate_core::secret::SecretString;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::error::AppResult;
use crate::extract::{AllowPendingOtp, AllowSetup, Body, CallerInfo, Verified, string_or_number};
use crate::routes::rfc3339;
use crate::state::AppState;

/// `POST /login` body.
#[derive(Debug, Deserialize)]
pub struct LoginBody {
    pub(crate) username: String,
    pub(crate) password: String,
}

/// `POST /login`: a token, pre-OTP when the user has 2FA on.
pub async fn login(
    State(s): State<AppState>,
    CallerInfo(caller): CallerInfo,
    Body(b): Body<LoginBody>,
) -> AppResult<Json<Value>> {
    let t = s
        .auth
        .login(&b.username, &SecretString::new(b.password), &caller)
        .await?;
    Ok(Json(
        json!({"code": 200, "expire": rfc3339(t.expires_at), "token": t.token}),
    ))
}

/// `POST /logout`: revokes only the presented token.
pub async fn logout(
    State(s): State<AppState>,
    CallerInfo(caller): CallerInfo,
    AllowPendingOtp(who): AllowPendingOtp,
) -> AppResult<Json<Value>> {
    s.auth.logout(&who, &caller).await?;
    Ok(Json(
        json!({"code": 200, "message": "logged out", "data": null}),
    ))
}

/// `GET /user/me`: the profile, in the envelope's `data` and, as the
/// legacy `/user/me` returned it, at the top level too.
pub async fn me(
    State(s): State<AppState>,
    Verified(who): Verified,
) -> AppResult<Json<ProfileBody>> {
    let profile = s.auth.profile(&who).await?;
    Ok(Json(ProfileBody(profile)))
}

/// The `/user/me` answer for a profile (shared with the legacy route):
/// `{"code": 200, "message": "user profile", "data": {..}, ..}` with the
/// profile's fields at the top level too. Serialised straight from the
/// profile, with no intermediate JSON tree.
#[derive(Debug)]
pub struct ProfileBody(pub Profile);

impl Serialize for ProfileBody {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        struct Envelope<'a> {
            code: u16,
            message: &'static str,
            data: &'a Profile,
            #[serde(flatten)]
            fields: &'a Profile,
        }
        Envelope {
            code: 200,
            message: "user profile",
            data: &self.0,
            fields: &self.0,
        }
        .serialize(serializer)
    }
}

/// `GET /2fa/status`: `{"status": bool, "required": bool}` (pre-OTP and
/// set-up tokens allowed).
pub async fn status(
    State(s): State<AppState>,
    AllowPendingOtp(who): AllowPendingOtp,
) -> AppResult<Json<Value>> {
    let on = s.auth.two_factor_status(&who).await?;
    let required = s.auth.two_factor_rule(&who.user).required;
    Ok(Json(json!({"status": on, "required": required})))
}

/// `GET /2fa/qr-code`: the pending secret as an otpauth URL and key.
pub async fn qr_code(
    State(s): State<AppState>,
    AllowSetup(who): AllowSetup,
) -> AppResult<Json<Value>> {
    let e = s.auth.enrolment(&who).await?;
    Ok(Json(json!({
        "code": 200,
        "message": "QR code string",
        "data": {"url": e.url, "key": e.key},
    })))
}

/// `GET /2fa/qr-code.png`: the otpauth URL as a PNG QR code.
pub async fn qr_code_png(
    State(s): State<AppState>,
    AllowSetup(who): AllowSetup,
) -> AppResult<Response> {
    let e = s.auth.enrolment(&who).await?;
    let png = otpgate_core::crypto::qr::png(&e.url)?;
    Ok(([(CONTENT_TYPE, "image/png")], png).into_response())
}

/// `GET /2fa/qr-code.svg`: the otpauth URL as an SVG QR code.
pub async fn qr_code_svg(
    State(s): State<AppState>,
    AllowSetup(who): AllowSetup,
) -> AppResult<Response> {
    let e = s.auth.enrolment(&who).await?;
    let svg = otpgate_core::crypto::qr::svg(&e.url)?;
    Ok(([(CONTENT_TYPE, "image/svg+xml")], svg).into_response())
}

/// `POST /2fa/verify-otp` body.
#[derive(Debug, Deserialize)]
pub struct VerifyBody {
    username: String,
    #[serde(deserialize_with = "string_or_number")]
    otp: String,
}

/// `POST /2fa/verify-otp`: proves the second factor, returns a new token.
pub async fn verify_otp(
    State(s): State<AppState>,
    CallerInfo(caller): CallerInfo,
    AllowPendingOtp(who): AllowPendingOtp,
    Body(b): Body<VerifyBody>,
) -> AppResult<Json<Value>> {
    let t = s
        .auth
        .verify_otp(&who, &b.username, &SecretString::new(b.otp), &caller)
        .await?;
    Ok(Json(json!({
        "code": 200,
        "message": "OTP verified",
        "data": {"token": t.token, "expire": rfc3339(t.expires_at)},
    })))
}

/// `POST /2fa/recovery-codes` body.
#[derive(Debug, Deserialize)]
pub struct PasswordBody {
    password: String,
}

/// `POST /2fa/recovery-codes`: a new set of 5 codes, shown only now.
pub async fn recovery_codes(
    State(s): State<AppState>,
    CallerInfo(caller): CallerInfo,
    Verified(who): Verified,
    Body(b): Body<PasswordBody>,
) -> AppResult<Json<Value>> {
    let codes = s
        .auth
        .regenerate_recovery_codes(&who, &SecretString::new(b.password), &caller)
        .await?;
    let codes: Vec<&str> = codes.iter().map(SecretString::expose).collect();
    Ok(Json(json!({"codes": codes})))
}

/// `POST /2fa/disable` body (`username` optional; must match if given).
#[derive(Debug, Deserialize)]
pub struct DisableBody {
    #[serde(default)]
    username: Option<String>,
    password: String,
}

/// `POST /2fa/disable`: 2FA off, every token of the user revoked.
pub async fn disable(
    State(s): State<AppState>,
    CallerInfo(caller): CallerInfo,
    Verified(who): Verified,
    Body(b): Body<DisableBody>,
) -> AppResult<Json<Value>> {
    s.auth
        .disable_two_factor(
            &who,
            b.username.as_deref(),
            &SecretString::new(b.password),
            &caller,
        )
        .await?;
    Ok(Json(json!({
        "code": 200,
        "message": "2FA disabled; all sessions invalidated, please log in again",
        "data": {"must_relogin": true},
    })))
}
