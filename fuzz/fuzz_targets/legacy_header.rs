//! Fuzzes the legacy `Authorization: user:token` parsing: only a 40-hex
//! token after a `:` is ever accepted, and hashing what is accepted never
//! panics.
#![no_main]

use libfuzzer_sys::fuzz_target;
use otpgate_core::crypto::legacy::{is_token_shaped, split_authorization, token_hash};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    if let Some((_, token)) = split_authorization(&text) {
        assert!(is_token_shaped(token), "only 40 hex digits are accepted");
        assert_eq!(token_hash(token).len(), 64);
    }
});
