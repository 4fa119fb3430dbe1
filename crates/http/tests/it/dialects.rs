//! The routes and request bodies of the dialects, written once for both
//! test clients: the HTTP crate's (`clients.rs`, through the router) and
//! the end-to-end tests' (`tests/e2e/clients.rs`, over HTTP; they include
//! this file by path). Only `serde_json`, so that both crates build it.

use serde_json::{Value, json};

/// Single Connect's `otpstatus` (API.md §6a).
pub const SC_STATUS: &str = "/twofactorauth-ui/rest/tfa/otpstatus";
/// Single Connect's `otpvalid`.
pub const SC_VALID: &str = "/twofactorauth-ui/rest/tfa/otpvalid";

/// Capillary's `token/generate` (API.md §6b).
pub const CAP_TOKEN: &str = "/auth/v1/mfa/token/generate";
/// Capillary's `otp/generate`.
pub const CAP_OTP: &str = "/auth/v1/mfa/otp/generate";
/// Capillary's `otp/validate`.
pub const CAP_VALIDATE: &str = "/auth/v1/mfa/otp/validate";

/// Who a Capillary request is about: identifier type and value, device and
/// brand.
pub fn cap_who(kind: &str, value: &str, device: &str, brand: &str) -> Value {
    json!({"identifierType": kind, "identifierValue": value, "deviceId": device, "brand": brand})
}

/// `base` with the fields of `extra` added (or replaced).
pub fn with(mut base: Value, extra: Value) -> Value {
    if let (Some(b), Value::Object(e)) = (base.as_object_mut(), extra) {
        b.extend(e);
    }
    base
}
