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
    fn generated_password_is_long() {
        assert_eq!(generated_password().expose().chars().count(), 20);
    }
}
