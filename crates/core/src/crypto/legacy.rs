//! The legacy challenge token of the CTI server we replace (API.md §2):
//! `hex(HMAC-SHA1(key = password, msg = "username:password:nonce"))`.
//!
//! otpgate keeps only argon2id password hashes, so it computes this token
//! once, at the legacy login (which carries the password), and stores only
//! its SHA-256 ([`token_hash`]); a presented token is found by that hash.

use data_encoding::HEXLOWER;
use hmac::{Hmac, KeyInit, Mac};
use sha1::Sha1;
use sha2::{Digest, Sha256};

/// Length of a legacy token: 20 bytes of HMAC-SHA1 in hex.
pub const TOKEN_HEX_LEN: usize = 40;

/// The token a legacy client computes for `username`, `password` and
/// `nonce` (lower-case hex).
pub fn legacy_token(username: &str, password: &str, nonce: &str) -> String {
    // HMAC accepts keys of any length, so this cannot fail; an empty MAC
    // (never equal to a client's token) is the impossible fallback.
    let Ok(mut mac) = <Hmac<Sha1> as KeyInit>::new_from_slice(password.as_bytes()) else {
        return String::new();
    };
    mac.update(username.as_bytes());
    mac.update(b":");
    mac.update(password.as_bytes());
    mac.update(b":");
    mac.update(nonce.as_bytes());
    HEXLOWER.encode(&mac.finalize().into_bytes())
}

/// The stored form of a token: lower-case hex SHA-256 of its lower-case
/// hex text.
pub fn token_hash(token_hex: &str) -> String {
    HEXLOWER.encode(&Sha256::digest(token_hex.to_ascii_lowercase().as_bytes()))
}

/// Whether `s` looks like a legacy token (40 hex digits).
pub fn is_token_shaped(s: &str) -> bool {
    s.len() == TOKEN_HEX_LEN && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// Splits a legacy `Authorization: user:token` value into the raw username
/// and a well-formed token; `None` when it is not of that shape.
pub fn split_authorization(value: &str) -> Option<(&str, &str)> {
    let (raw_name, token) = value.trim().split_once(':')?;
    let token = token.trim();
    is_token_shaped(token).then_some((raw_name, token))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn authorization_values_split_only_when_well_formed() {
        let token = "a".repeat(40);
        assert_eq!(
            split_authorization(&format!("alice:{token}")),
            Some(("alice", token.as_str()))
        );
        assert_eq!(
            split_authorization(&format!(" alice: {token} ")),
            Some(("alice", token.as_str()))
        );
        assert_eq!(split_authorization("alice"), None);
        assert_eq!(
            split_authorization(&format!("alice:{}", "z".repeat(40))),
            None
        );
        assert_eq!(split_authorization("alice:abc"), None);
        assert_eq!(split_authorization(&format!("Bearer {token}")), None);
    }

    #[test]
    fn matches_rfc2202_hmac_sha1_vector_shape() {
        // RFC 2202 test case 2: key "Jefe", data "what do ya want for nothing?".
        // Rebuild that message through our "u:p:n" layout.
        let t = legacy_token("what do ya want for nothing?", "Jefe", "");
        assert_eq!(t.len(), TOKEN_HEX_LEN);
        let mut mac = <Hmac<Sha1> as KeyInit>::new_from_slice(b"Jefe").expect("key");
        mac.update(b"what do ya want for nothing?:Jefe:");
        assert_eq!(t, HEXLOWER.encode(&mac.finalize().into_bytes()));
        let mut rfc = <Hmac<Sha1> as KeyInit>::new_from_slice(b"Jefe").expect("key");
        rfc.update(b"what do ya want for nothing?");
        assert_eq!(
            HEXLOWER.encode(&rfc.finalize().into_bytes()),
            "effcdf6ae5eb2fa2d27416d5f184df9c259a7c79"
        );
    }

    #[test]
    fn hash_ignores_hex_case_and_shape_is_checked() {
        let t = legacy_token("alice", "pw", "abc");
        assert!(is_token_shaped(&t));
        assert_eq!(token_hash(&t), token_hash(&t.to_ascii_uppercase()));
        assert_eq!(token_hash(&t).len(), 64);
        assert!(!is_token_shaped("xyz"));
        assert!(!is_token_shaped(&"g".repeat(40)));
    }
}
