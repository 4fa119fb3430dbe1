//! One-way digests of secrets that are stored only as hashes: API key
//! secrets (SHA-256: they are 256 random bits, so a plain hash is enough)
//! and out-of-band codes (HMAC-SHA256 under a server key: they are only
//! 20 bits, so a hash without a key could be reversed by trying them all).

use data_encoding::HEXLOWER;
use hmac::{Hmac, KeyInit, Mac};
use sha2::{Digest, Sha256};

use crate::secret::SecretBytes;

/// Lower-case hex SHA-256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    HEXLOWER.encode(&Sha256::digest(bytes))
}

/// Lower-case hex HMAC-SHA256 of the `parts` under `key`; each part is
/// length-prefixed, so different splits never collide.
pub fn hmac_hex(key: &SecretBytes, parts: &[&[u8]]) -> String {
    let Ok(mut mac) = <Hmac<Sha256> as KeyInit>::new_from_slice(key.expose()) else {
        // HMAC takes keys of any length; this branch cannot be taken.
        return String::new();
    };
    for p in parts {
        mac.update(&u64::try_from(p.len()).unwrap_or(u64::MAX).to_be_bytes());
        mac.update(p);
    }
    HEXLOWER.encode(&mac.finalize().into_bytes())
}

/// A sub-key of `master` for one purpose (HMAC-SHA256 of the label), so
/// one key file serves several uses without one use revealing another.
pub fn derive_key(master: &SecretBytes, label: &str) -> SecretBytes {
    let Ok(mut mac) = <Hmac<Sha256> as KeyInit>::new_from_slice(master.expose()) else {
        return SecretBytes::new(Vec::new());
    };
    mac.update(label.as_bytes());
    SecretBytes::new(mac.finalize().into_bytes().to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha256_matches_the_fips_vector() {
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn hmac_depends_on_key_and_on_the_split() {
        let k1 = SecretBytes::new(vec![1; 32]);
        let k2 = SecretBytes::new(vec![2; 32]);
        let a = hmac_hex(&k1, &[b"1", b"sc:2", b"123456"]);
        assert_eq!(a.len(), 64);
        assert_ne!(a, hmac_hex(&k2, &[b"1", b"sc:2", b"123456"]));
        assert_ne!(a, hmac_hex(&k1, &[b"1sc:2", b"123456"]));
        assert_eq!(a, hmac_hex(&k1, &[b"1", b"sc:2", b"123456"]));
    }

    #[test]
    fn derived_keys_differ_by_label() {
        let m = SecretBytes::new(vec![7; 32]);
        assert_ne!(derive_key(&m, "a"), derive_key(&m, "b"));
        assert_eq!(derive_key(&m, "a").expose().len(), 32);
    }
}
