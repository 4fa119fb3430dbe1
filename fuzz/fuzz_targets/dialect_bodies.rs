//! Fuzzes the body decoding of the application dialects (Mudbase JSON,
//! Single Connect forms, Capillary JSON with `otp` as string or number)
//! and of the legacy login: errors, never panics.
#![no_main]

use libfuzzer_sys::fuzz_target;
use otpgate_http::extract::{BodyKind, decode_body};
use otpgate_http::routes::{capillary, mudbase, native, single_connect};

fuzz_target!(|data: &[u8]| {
    for kind in [BodyKind::Json, BodyKind::Form] {
        let _ = decode_body::<mudbase::VerifyBody>(kind, data);
        let _ = decode_body::<single_connect::StatusForm>(kind, data);
        let _ = decode_body::<single_connect::ValidForm>(kind, data);
        let _ = decode_body::<capillary::TokenGenerate>(kind, data);
        let _ = decode_body::<capillary::OtpGenerate>(kind, data);
        let _ = decode_body::<capillary::OtpValidate>(kind, data);
        let _ = decode_body::<native::LoginBody>(kind, data);
    }
});
