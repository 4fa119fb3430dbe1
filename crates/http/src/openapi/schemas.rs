//! The request and response bodies of every route, as `ToSchema` types
//! for the OpenAPI document. Each mirrors what its handler reads or writes
//! (the handlers keep their own serde types; the tests in
//! `tests/it/openapi.rs` and the schemathesis campaign check that the
//! answers match these schemas).

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// An OTP or token field: a string of digits, or a JSON number.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(untagged)]
pub enum StringOrNumber {
    /// `"123456"`
    Text(String),
    /// `123456`
    Number(u64),
}

/// The native error envelope: `code` always equals the HTTP status.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ErrorEnvelope {
    /// The HTTP status.
    pub code: u16,
    /// A stable snake_case reason (e.g. `invalid_otp`).
    pub message: String,
    /// Human detail.
    pub error: String,
}

/// `POST /login` (and the legacy login): JSON or form-encoded.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct LoginBody {
    pub username: String,
    pub password: String,
}

/// `POST /login` success.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct LoginResponse {
    pub code: u16,
    /// RFC 3339 expiry of the token.
    pub expire: String,
    /// The JWT (pre-OTP when the user has 2FA on).
    pub token: String,
}

/// A success envelope whose `data` is null.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct MessageResponse {
    pub code: u16,
    pub message: String,
    /// Always null.
    #[schema(value_type = Option<Object>)]
    pub data: Option<serde_json::Value>,
}

/// A user's profile.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Profile {
    pub username: String,
    pub display_name: String,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub two_factor: bool,
    pub role: String,
}

/// `GET /user/me`: the profile in `data` and, as the legacy route returned
/// it, at the top level too.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ProfileResponse {
    pub code: u16,
    pub message: String,
    pub data: Profile,
    pub username: String,
    pub display_name: String,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub two_factor: bool,
    pub role: String,
}

/// `GET /2fa/status`.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct StatusResponse {
    /// Whether 2FA is on.
    pub status: bool,
    /// Whether 2FA is required for this user (the setting
    /// `two_factor.required` or the operator's per-user override).
    pub required: bool,
}

/// The otpauth URL and the base32 key of a pending secret.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct QrCodeData {
    pub url: String,
    pub key: String,
}

/// `GET /2fa/qr-code`.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct QrCodeResponse {
    pub code: u16,
    pub message: String,
    pub data: QrCodeData,
}

/// `POST /2fa/verify-otp`.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct VerifyOtpBody {
    /// Must equal the token's subject.
    pub username: String,
    /// A TOTP or a recovery code.
    pub otp: StringOrNumber,
}

/// A new token and its expiry.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct TokenData {
    pub token: String,
    pub expire: String,
}

/// `POST /2fa/verify-otp` success.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct VerifyOtpResponse {
    pub code: u16,
    pub message: String,
    pub data: TokenData,
}

/// `POST /2fa/recovery-codes`.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct PasswordBody {
    pub password: String,
}

/// `POST /2fa/recovery-codes` success: 5 codes, shown only now.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct RecoveryCodesResponse {
    pub codes: Vec<String>,
}

/// `POST /2fa/disable` (`username` optional; must match when given).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct DisableBody {
    pub username: Option<String>,
    pub password: String,
}

/// `data` of the disable answer.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct DisableData {
    pub must_relogin: bool,
}

/// `POST /2fa/disable` success.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct DisableResponse {
    pub code: u16,
    pub message: String,
    pub data: DisableData,
}

/// Mudbase `POST /users/2fa/verify`.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct MudbaseVerifyBody {
    /// The TOTP.
    pub token: StringOrNumber,
}

/// Mudbase success.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct MudbaseResponse {
    pub message: String,
}

/// Single Connect `otpstatus` form.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ScStatusForm {
    pub username: String,
    pub enduserip: Option<String>,
    /// The name of the application whose API key makes the call.
    pub applicationname: String,
}

/// Single Connect `otpvalid` form.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ScValidForm {
    pub username: String,
    pub token: String,
    pub applicationname: String,
}

/// Capillary `mfa/token/generate`.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CapTokenGenerate {
    /// MOBILE, EMAIL, USERNAME or EXTERNALID.
    pub identifier_type: String,
    pub identifier_value: StringOrNumber,
    pub device_id: String,
    /// A registered application name.
    pub brand: String,
    pub password: String,
}

/// Capillary `mfa/otp/generate`.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CapOtpGenerate {
    pub identifier_type: String,
    pub identifier_value: StringOrNumber,
    pub device_id: String,
    pub brand: String,
    pub session_id: String,
}

/// Capillary `mfa/otp/validate`.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CapOtpValidate {
    pub identifier_type: String,
    pub identifier_value: StringOrNumber,
    pub device_id: String,
    pub brand: String,
    pub session_id: String,
    pub otp: StringOrNumber,
}

/// Capillary's status block.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct CapStatus {
    pub success: bool,
    pub code: u16,
    /// `SUCCESS`, or an UPPER_CASE reason.
    pub message: String,
}

/// Capillary's auth block (null on errors).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct CapAuth {
    /// The application's 15-minute JWT (`aud` = the brand): otpgate's own
    /// routes, its proxy and Socket.IO refuse it (403
    /// `token_audience_mismatch`).
    pub token: Option<String>,
    pub key: Option<String>,
}

/// Capillary's user block (null on errors).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CapUser {
    pub app_registered: bool,
    pub session_id: Option<String>,
    pub role: String,
    pub user_registered_for_password: bool,
}

/// Capillary's envelope, for success and errors alike.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct CapEnvelope {
    pub status: CapStatus,
    pub auth: Option<CapAuth>,
    pub user: Option<CapUser>,
}

/// `/healthz` and `/readyz`.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct HealthResponse {
    /// `ok` or `ready`.
    pub status: String,
}

/// The error of the legacy-compatible persistent-token routes
/// (`/authentication/*`): the stable reason only.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct MessageError {
    /// A stable reason (e.g. `invalid_token`).
    pub message: String,
}

/// A new persistent token (API.md §10).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct PersistentTokenResponse {
    /// The JWT (`aud` = the audience).
    pub token: String,
}

/// Whether the caller holds a live persistent token for the audience.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ExistsResponse {
    pub exists: bool,
}

/// The legacy-compatible routes' body: `subtype` `nethlink` is NethLink,
/// anything else (or nothing) phone-island; `type` is ignored. An empty
/// body is accepted as `{}`.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct SubtypeBody {
    pub subtype: Option<String>,
    #[serde(rename = "type")]
    pub kind: Option<String>,
}
