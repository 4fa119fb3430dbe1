//! Fuzzes OTP handling: arbitrary codes against the TOTP verifier (only
//! six ASCII digits can ever match), base32 keys and otpauth URLs.
#![no_main]

use data_encoding::BASE32_NOPAD;
use libfuzzer_sys::fuzz_target;
use otpgate_core::crypto::totp::{TotpVerifier, is_code_shaped, otpauth_url, secret_to_base32};
use otpgate_core::secret::SecretBytes;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let secret = SecretBytes::new(b"12345678901234567890".to_vec());
    let v = TotpVerifier { skew_steps: 1 };
    let t = i64::from_le_bytes(data.get(..8).and_then(|b| b.try_into().ok()).unwrap_or([0; 8]));
    if let Some(step) = v.matching_step(&secret, &text, t) {
        assert!(is_code_shaped(&text), "only six digits can match");
        assert!(step >= 0);
    }
    if let Ok(key) = BASE32_NOPAD.decode(data) {
        let s = SecretBytes::new(key);
        let b32 = secret_to_base32(&s);
        assert_eq!(BASE32_NOPAD.decode(b32.as_bytes()).ok().as_deref(), Some(s.expose()));
        let url = otpauth_url(&text, &text, &s);
        assert!(url.starts_with("otpauth://totp/"));
        assert!(!url.contains(' '), "labels are percent-encoded");
    }
});
