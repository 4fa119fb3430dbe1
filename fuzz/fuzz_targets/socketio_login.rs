//! Fuzzes the Socket.IO `login` event's payload, as it arrives: any JSON
//! value turned into a login payload errors or succeeds, never panics.
#![no_main]

use libfuzzer_sys::fuzz_target;
use otpgate_http::realtime::LoginPayload;

fuzz_target!(|data: &[u8]| {
    if let Ok(value) = serde_json::from_slice::<serde_json::Value>(data) {
        let _ = serde_json::from_value::<LoginPayload>(value);
    }
});
