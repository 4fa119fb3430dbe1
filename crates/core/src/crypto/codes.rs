//! Random values: TOTP secrets, recovery codes, token ids.
//!
//! All come from the thread-local CSPRNG (ChaCha, seeded by the OS).
//! Recovery codes are drawn uniformly (no modulo bias, unlike the system
//! we replace).

use data_encoding::{BASE64URL_NOPAD, HEXLOWER};
use rand::RngExt;

use crate::crypto::totp::SECRET_LEN;
use crate::secret::{SecretBytes, SecretString};

/// How many recovery codes a set holds.
pub const RECOVERY_CODE_COUNT: usize = 5;

/// `n` random bytes.
pub fn random_bytes(n: usize) -> Vec<u8> {
    let mut buf = vec![0u8; n];
    rand::fill(&mut buf[..]);
    buf
}

/// A new TOTP secret (20 bytes).
pub fn new_totp_secret() -> SecretBytes {
    SecretBytes::new(random_bytes(SECRET_LEN))
}

/// A six-digit code drawn uniformly from 000000..=999999.
pub fn six_digits() -> SecretString {
    let n: u32 = rand::rng().random_range(0..1_000_000);
    SecretString::new(format!("{n:06}"))
}

/// A set of distinct six-digit recovery codes.
pub fn recovery_codes() -> Vec<SecretString> {
    let mut codes: Vec<SecretString> = Vec::with_capacity(RECOVERY_CODE_COUNT);
    while codes.len() < RECOVERY_CODE_COUNT {
        let c = six_digits();
        if !codes.iter().any(|x| x == &c) {
            codes.push(c);
        }
    }
    codes
}

/// A unique token id (128 random bits, URL-safe).
pub fn token_id() -> String {
    BASE64URL_NOPAD.encode(&random_bytes(16))
}

/// Random lower-case hex of `bytes` bytes (nonces, generated passwords).
pub fn random_hex(bytes: usize) -> String {
    HEXLOWER.encode(&random_bytes(bytes))
}

/// A generated password: 20 characters from an unambiguous alphabet
/// (about 115 bits).
pub fn generated_password() -> SecretString {
    const ALPHABET: &[u8] = b"abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    let mut rng = rand::rng();
    let s: String = (0..20)
        .map(|_| {
            let i = rng.random_range(0..ALPHABET.len());
            char::from(ALPHABET.get(i).copied().unwrap_or(b'x'))
        })
        .collect();
    SecretString::new(s)
}

/// A new API key's two halves: the public id (16 hex digits, how the key
/// is found) and the secret (256 random bits, base64url).
pub fn api_key_parts() -> (String, SecretString) {
    (
        HEXLOWER.encode(&random_bytes(8)),
        SecretString::new(BASE64URL_NOPAD.encode(&random_bytes(32))),
    )
}

/// A new MFA session id, shaped like the ones Capillary clients know:
/// `P-` and 122 random bits in the layout of a version-4 UUID.
pub fn mfa_session_id() -> SecretString {
    let mut b = random_bytes(16);
    if let Some(x) = b.get_mut(6) {
        *x = (*x & 0x0f) | 0x40;
    }
    if let Some(x) = b.get_mut(8) {
        *x = (*x & 0x3f) | 0x80;
    }
    let h = HEXLOWER.encode(&b);
    let part = |r: std::ops::Range<usize>| h.get(r).unwrap_or("");
    SecretString::new(format!(
        "P-{}-{}-{}-{}-{}",
        part(0..8),
        part(8..12),
        part(12..16),
        part(16..20),
        part(20..32)
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recovery_codes_are_five_distinct_six_digit_strings() {
        for _ in 0..50 {
            let codes = recovery_codes();
            assert_eq!(codes.len(), 5);
            for (i, c) in codes.iter().enumerate() {
                assert_eq!(c.expose().len(), 6);
                assert!(c.expose().bytes().all(|b| b.is_ascii_digit()));
                assert!(!codes[i + 1..].contains(c));
            }
        }
    }

    #[test]
    fn six_digit_codes_cover_the_range() {
        // Leading zeros must occur: about 10% of uniform draws start with 0.
        let zeros = (0..2000)
            .filter(|_| six_digits().expose().starts_with('0'))
            .count();
        assert!(zeros > 100 && zeros < 320, "{zeros}");
    }

    #[test]
    fn token_ids_are_unique() {
        let a = token_id();
        let b = token_id();
        assert_ne!(a, b);
        assert_eq!(a.len(), 22);
    }

    #[test]
    fn api_keys_and_session_ids_are_random_and_well_formed() {
        let (id, secret) = api_key_parts();
        assert_eq!(id.len(), 16);
        assert!(id.bytes().all(|b| b.is_ascii_hexdigit()));
        assert_eq!(secret.expose().len(), 43);
        assert!(!secret.expose().contains('.'));
        assert_ne!(api_key_parts().0, id);
        let s = mfa_session_id();
        let s = s.expose();
        assert_eq!(s.len(), 38, "{s}");
        assert!(s.starts_with("P-"));
        assert_eq!(s.matches('-').count(), 5);
        assert_eq!(&s[16..17], "4", "version nibble: {s}");
        assert_ne!(mfa_session_id().expose(), s);
    }

    #[test]
    fn generated_password_is_long() {
        assert_eq!(generated_password().expose().chars().count(), 20);
    }
}
