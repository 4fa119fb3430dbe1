//! Encryption of TOTP secrets at rest (AES-256-GCM under the key file).
//!
//! Sealed format: version byte `1`, 12-byte random nonce, ciphertext with
//! tag. The associated data binds a sealed secret to its user id, so a
//! row copied onto another user does not open.

use aes_gcm::aead::{Aead, Payload};
use aes_gcm::{Aes256Gcm, Nonce};

use crate::crypto::codes::random_bytes;
use crate::error::AuthError;
use crate::model::UserId;
use crate::secret::SecretBytes;

const VERSION: u8 = 1;
const NONCE_LEN: usize = 12;

/// Seals and opens secrets with the at-rest key.
pub struct SecretCipher {
    aead: Aes256Gcm,
}

impl std::fmt::Debug for SecretCipher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretCipher(<hidden>)")
    }
}

fn aad(label: &str, user_id: UserId) -> Vec<u8> {
    format!("otpgate:{label}:v1:{user_id}").into_bytes()
}

/// The label of TOTP seeds (the associated data binds a sealed value to
/// its user and its kind, so one never opens as the other).
const TOTP_LABEL: &str = "totp-secret";
/// The label of a password backend's session (the CTI server's token).
const UPSTREAM_LABEL: &str = "upstream-session";

impl SecretCipher {
    /// A cipher for a 32-byte key.
    pub fn new(key: &SecretBytes) -> Result<Self, AuthError> {
        let aead = <Aes256Gcm as aes_gcm::aead::KeyInit>::new_from_slice(key.expose())
            .map_err(|_| AuthError::Internal("at-rest key must be 32 bytes".into()))?;
        Ok(Self { aead })
    }

    /// Seals the TOTP seed `secret` for `user_id`.
    pub fn seal(&self, user_id: UserId, secret: &SecretBytes) -> Result<Vec<u8>, AuthError> {
        self.seal_as(TOTP_LABEL, user_id, secret)
    }

    /// Opens a sealed TOTP seed of `user_id`.
    pub fn open(&self, user_id: UserId, sealed: &[u8]) -> Result<SecretBytes, AuthError> {
        self.open_as(TOTP_LABEL, user_id, sealed)
    }

    /// Seals `user_id`'s session at the password backend.
    pub fn seal_upstream(
        &self,
        user_id: UserId,
        secret: &SecretBytes,
    ) -> Result<Vec<u8>, AuthError> {
        self.seal_as(UPSTREAM_LABEL, user_id, secret)
    }

    /// Opens `user_id`'s sealed session at the password backend.
    pub fn open_upstream(&self, user_id: UserId, sealed: &[u8]) -> Result<SecretBytes, AuthError> {
        self.open_as(UPSTREAM_LABEL, user_id, sealed)
    }

    fn seal_as(
        &self,
        label: &str,
        user_id: UserId,
        secret: &SecretBytes,
    ) -> Result<Vec<u8>, AuthError> {
        let nonce_bytes = random_bytes(NONCE_LEN);
        let nonce = Nonce::try_from(&nonce_bytes[..])
            .map_err(|_| AuthError::Internal("nonce length".into()))?;
        let aad = aad(label, user_id);
        let ct = self
            .aead
            .encrypt(
                &nonce,
                Payload {
                    msg: secret.expose(),
                    aad: &aad,
                },
            )
            .map_err(|_| AuthError::Internal("encryption failed".into()))?;
        let mut out = Vec::with_capacity(1 + NONCE_LEN + ct.len());
        out.push(VERSION);
        out.extend_from_slice(&nonce_bytes);
        out.extend_from_slice(&ct);
        Ok(out)
    }

    fn open_as(
        &self,
        label: &str,
        user_id: UserId,
        sealed: &[u8],
    ) -> Result<SecretBytes, AuthError> {
        let corrupt =
            || AuthError::Internal("sealed secret does not open (wrong key file?)".into());
        let (version, rest) = sealed.split_first().ok_or_else(corrupt)?;
        if *version != VERSION || rest.len() < NONCE_LEN + 16 {
            return Err(corrupt());
        }
        let (nonce_bytes, ct) = rest.split_at(NONCE_LEN);
        let nonce = Nonce::try_from(nonce_bytes).map_err(|_| corrupt())?;
        let aad = aad(label, user_id);
        let pt = self
            .aead
            .decrypt(&nonce, Payload { msg: ct, aad: &aad })
            .map_err(|_| corrupt())?;
        Ok(SecretBytes::new(pt))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cipher() -> SecretCipher {
        SecretCipher::new(&SecretBytes::new(vec![7u8; 32])).expect("key")
    }

    #[test]
    fn seal_then_open_round_trips_and_hides_the_plaintext() {
        let c = cipher();
        let secret = SecretBytes::new(b"12345678901234567890".to_vec());
        let sealed = c.seal(UserId::new(42), &secret).expect("seal");
        assert!(!sealed.windows(20).any(|w| w == b"12345678901234567890"));
        assert_eq!(c.open(UserId::new(42), &sealed).expect("open"), secret);
    }

    #[test]
    fn sealed_secret_is_bound_to_its_user_and_key() {
        let c = cipher();
        let sealed = c
            .seal(UserId::new(1), &SecretBytes::new(vec![1; 20]))
            .expect("seal");
        assert!(c.open(UserId::new(2), &sealed).is_err());
        let other = SecretCipher::new(&SecretBytes::new(vec![8u8; 32])).expect("key");
        assert!(other.open(UserId::new(1), &sealed).is_err());
        let mut tampered = sealed.clone();
        if let Some(b) = tampered.last_mut() {
            *b ^= 1;
        }
        assert!(c.open(UserId::new(1), &tampered).is_err());
        assert!(c.open(UserId::new(1), &[]).is_err());
    }

    #[test]
    fn nonces_differ() {
        let c = cipher();
        let s = SecretBytes::new(vec![1; 20]);
        assert_ne!(
            c.seal(UserId::new(1), &s).expect("a"),
            c.seal(UserId::new(1), &s).expect("b")
        );
    }
}
