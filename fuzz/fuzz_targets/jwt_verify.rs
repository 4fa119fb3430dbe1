//! Fuzzes the JWT parser and verifier with arbitrary token text: it must
//! never panic, and must never accept a token it did not sign. Inputs
//! starting with a valid token exercise tampering of real tokens.
#![no_main]

use libfuzzer_sys::fuzz_target;
use otpgate_core::crypto::jwt::{Claims, JwtCodec};
use otpgate_core::secret::SecretBytes;

fuzz_target!(|data: &[u8]| {
    let Ok(codec) = JwtCodec::new(&SecretBytes::new(vec![42u8; 64]), "otpgate") else {
        return;
    };
    let text = String::from_utf8_lossy(data);
    if let Ok(claims) = codec.verify(&text, 1_000) {
        // Anything accepted must be exactly what we would have signed.
        assert_eq!(codec.sign(&claims), text, "accepted a token we did not issue");
    }
    // Mutations of a real token (byte flips at a fuzzed position) are refused.
    let real = codec.sign(&Claims {
        sub: "alice".into(),
        id: "alice".into(),
        uid: 1,
        iss: "otpgate".into(),
        iat: 0,
        exp: 10_000,
        jti: "j".into(),
        two_factor: true,
        otp_verified: false,
        two_factor_setup: false,
        aud: None,
    });
    if let (Some(&pos), Some(&val)) = (data.first(), data.get(1)) {
        let mut bytes = real.clone().into_bytes();
        let i = usize::from(pos) % bytes.len();
        if bytes[i] != val {
            bytes[i] = val;
            let forged = String::from_utf8_lossy(&bytes).into_owned();
            if forged != real {
                if let Ok(c) = codec.verify(&forged, 1_000) {
                    assert_eq!(codec.sign(&c), forged, "a tampered token was accepted");
                }
            }
        }
    }
});
