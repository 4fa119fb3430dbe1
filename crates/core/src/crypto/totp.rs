//! HOTP (RFC 4226) and TOTP (RFC 6238) with SHA-1, and the otpauth URL.
//!
//! [`TotpVerifier::matching_step`] tells which time step a code belongs to
//! (current, previous or next, by default); whether that step may still be
//! accepted (replay) is the store's atomic decision, made in the service.

use data_encoding::BASE32_NOPAD;
use hmac::{Hmac, KeyInit, Mac};
use sha1::Sha1;

use crate::secret::{SecretBytes, ct_eq};

/// Seconds per TOTP step.
pub const PERIOD_SECS: i64 = 30;
/// Digits of a code.
pub const DIGITS: u32 = 6;
/// Bytes of a new secret (160 bits, RFC 4226's recommendation).
pub const SECRET_LEN: usize = 20;

/// HOTP value of `key` at `counter`, `digits` long (RFC 4226 §5.3).
pub fn hotp(key: &[u8], counter: u64, digits: u32) -> u32 {
    let Ok(mut mac) = Hmac::<Sha1>::new_from_slice(key) else {
        // HMAC accepts keys of any length; this branch cannot be taken.
        return u32::MAX;
    };
    mac.update(&counter.to_be_bytes());
    let digest = mac.finalize().into_bytes();
    let offset = usize::from(digest.last().copied().unwrap_or(0) & 0x0f);
    let word = digest
        .get(offset..offset + 4)
        .and_then(|b| <[u8; 4]>::try_from(b).ok())
        .map(|b| u32::from_be_bytes(b) & 0x7fff_ffff)
        .unwrap_or(0);
    word % 10_u32.pow(digits)
}

/// The TOTP time step of a unix time.
pub fn step_of(unix_secs: i64) -> i64 {
    unix_secs.div_euclid(PERIOD_SECS)
}

/// The code for `step`, zero-padded.
pub fn code_at_step(key: &[u8], step: i64, digits: u32) -> String {
    let value = hotp(key, u64::try_from(step).unwrap_or(0), digits);
    format!("{value:0width$}", width = digits as usize)
}

/// Verifies 6-digit TOTP codes within a window of steps.
#[derive(Debug, Clone, Copy)]
pub struct TotpVerifier {
    /// Steps accepted either side of the current one.
    pub skew_steps: u32,
}

impl TotpVerifier {
    /// The step whose code equals `code` at `unix_secs`, searching the
    /// current step, then earlier ones, then later ones within the skew.
    /// Malformed codes (not exactly six ASCII digits) never match.
    pub fn matching_step(&self, secret: &SecretBytes, code: &str, unix_secs: i64) -> Option<i64> {
        if !is_code_shaped(code) {
            return None;
        }
        let now = step_of(unix_secs);
        let skew = i64::from(self.skew_steps);
        let mut order = vec![now];
        for d in 1..=skew {
            order.push(now - d);
            order.push(now + d);
        }
        let mut found = None;
        for step in order {
            if step < 0 {
                continue;
            }
            let expected = code_at_step(secret.expose(), step, DIGITS);
            // Every candidate is computed and compared: no early exit that
            // would tell which step matched by its timing.
            if ct_eq(expected.as_bytes(), code.as_bytes()) && found.is_none() {
                found = Some(step);
            }
        }
        found
    }
}

/// Whether `code` is exactly six ASCII digits.
pub fn is_code_shaped(code: &str) -> bool {
    code.len() == DIGITS as usize && code.bytes().all(|b| b.is_ascii_digit())
}

/// Base32 (RFC 4648, no padding) of a secret, as authenticator apps take it.
pub fn secret_to_base32(secret: &SecretBytes) -> String {
    BASE32_NOPAD.encode(secret.expose())
}

/// The `otpauth://totp/...` URL of a secret for `account` at `issuer`.
pub fn otpauth_url(issuer: &str, account: &str, secret: &SecretBytes) -> String {
    format!(
        "otpauth://totp/{}:{}?secret={}&issuer={}&algorithm=SHA1&digits={}&period={}",
        percent_encode(issuer),
        percent_encode(account),
        secret_to_base32(secret),
        percent_encode(issuer),
        DIGITS,
        PERIOD_SECS
    )
}

/// Percent-encodes everything but RFC 3986 unreserved characters.
fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const RFC_KEY: &[u8] = b"12345678901234567890";

    #[test]
    fn rfc4226_appendix_d_vectors() {
        let expected = [
            755224, 287082, 359152, 969429, 338314, 254676, 287922, 162583, 399871, 520489,
        ];
        for (counter, want) in expected.iter().enumerate() {
            assert_eq!(hotp(RFC_KEY, counter as u64, 6), *want, "counter {counter}");
        }
    }

    #[test]
    fn rfc6238_appendix_b_sha1_vectors_8_and_6_digits() {
        let rows: [(i64, &str); 6] = [
            (59, "94287082"),
            (1_111_111_109, "07081804"),
            (1_111_111_111, "14050471"),
            (1_234_567_890, "89005924"),
            (2_000_000_000, "69279037"),
            (20_000_000_000, "65353130"),
        ];
        for (t, want8) in rows {
            assert_eq!(code_at_step(RFC_KEY, step_of(t), 8), want8, "t={t}");
            assert_eq!(code_at_step(RFC_KEY, step_of(t), 6), &want8[2..], "t={t}");
        }
    }

    #[test]
    fn kanidm_zero_key_vector() {
        assert_eq!(hotp(&[0u8], 0, 6), 328482);
    }

    #[test]
    fn verifier_accepts_previous_current_next_only() {
        let key = SecretBytes::new(RFC_KEY.to_vec());
        let v = TotpVerifier { skew_steps: 1 };
        let t = 1_111_111_111;
        let s = step_of(t);
        for d in [-1, 0, 1] {
            let code = code_at_step(RFC_KEY, s + d, 6);
            assert_eq!(v.matching_step(&key, &code, t), Some(s + d));
        }
        for d in [-2, 2] {
            let code = code_at_step(RFC_KEY, s + d, 6);
            assert_eq!(v.matching_step(&key, &code, t), None);
        }
    }

    #[test]
    fn verifier_refuses_malformed_codes() {
        let key = SecretBytes::new(RFC_KEY.to_vec());
        let v = TotpVerifier { skew_steps: 1 };
        for bad in [
            "",
            "12345",
            "1234567",
            "12345a",
            " 05047",
            "０５０４７１",
            "050471\n",
        ] {
            assert_eq!(v.matching_step(&key, bad, 1_111_111_111), None, "{bad:?}");
        }
        assert!(v.matching_step(&key, "050471", 1_111_111_111).is_some());
    }

    #[test]
    fn otpauth_url_has_the_contract_shape() {
        let key = SecretBytes::new(RFC_KEY.to_vec());
        assert_eq!(secret_to_base32(&key), "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ");
        assert_eq!(
            otpauth_url("My Corp", "alice@x", &key),
            "otpauth://totp/My%20Corp:alice%40x?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&issuer=My%20Corp&algorithm=SHA1&digits=6&period=30"
        );
    }
}
