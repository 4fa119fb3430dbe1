//! HS256 JSON Web Tokens with the algorithm pinned (RFC 8725 §3.1).
//!
//! Written out rather than taken from a general JWT library on purpose:
//! the gateway issues and accepts exactly one kind of token, so the header
//! must be exactly HS256 (`none`, RS*, ES* and everything else are refused
//! before any key is touched), the signature is checked in constant time
//! before the claims are parsed, and nothing in the token chooses a key.

use data_encoding::BASE64URL_NOPAD;
use hmac::{Hmac, KeyInit, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use crate::error::{AuthError, TokenProblem};
use crate::secret::SecretBytes;

/// Tokens longer than this are refused unparsed.
pub const MAX_TOKEN_LEN: usize = 8 * 1024;

/// The claims of an otpgate access token (API.md §1).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// Canonical username.
    pub sub: String,
    /// The same, under the name the system we replace used.
    pub id: String,
    /// The user's store id: a token never passes for another user who
    /// later takes the same name.
    pub uid: i64,
    /// Issuer; must equal the configured one.
    pub iss: String,
    /// Issued at (unix seconds).
    pub iat: i64,
    /// Expiry (unix seconds).
    pub exp: i64,
    /// Unique token id (revocation by logout).
    pub jti: String,
    /// Whether the user had 2FA on when the token was issued.
    #[serde(rename = "2fa")]
    pub two_factor: bool,
    /// Whether the second factor was proven for this token.
    pub otp_verified: bool,
    /// A set-up token (API.md §11): the user must enrol 2FA first. Written
    /// only when true.
    #[serde(
        rename = "2fa_setup",
        default,
        skip_serializing_if = "std::ops::Not::not"
    )]
    pub two_factor_setup: bool,
    /// Who may use the token: absent for a person's login token; the
    /// application's name for a token an application dialect minted
    /// (API.md §6b). Routes and transports accept only the audiences the
    /// core's token check allows them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aud: Option<String>,
}

#[derive(Serialize, Deserialize)]
struct Header {
    alg: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    typ: Option<String>,
    #[serde(default, skip_serializing)]
    crit: Option<serde_json::Value>,
}

/// Signs and verifies tokens with one HMAC key.
pub struct JwtCodec {
    mac: Hmac<Sha256>,
    issuer: String,
    header_b64: String,
}

impl std::fmt::Debug for JwtCodec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwtCodec")
            .field("issuer", &self.issuer)
            .finish_non_exhaustive()
    }
}

impl JwtCodec {
    /// A codec for `key` (at least 32 bytes) and issuer name `issuer`.
    pub fn new(key: &SecretBytes, issuer: impl Into<String>) -> Result<Self, AuthError> {
        if key.expose().len() < 32 {
            return Err(AuthError::Internal(
                "JWT key must be at least 32 bytes".into(),
            ));
        }
        let mac = <Hmac<Sha256> as KeyInit>::new_from_slice(key.expose())
            .map_err(|_| AuthError::Internal("JWT key refused".into()))?;
        let header = Header {
            alg: "HS256".into(),
            typ: Some("JWT".into()),
            crit: None,
        };
        let header_json = serde_json::to_vec(&header).unwrap_or_default();
        Ok(Self {
            mac,
            issuer: issuer.into(),
            header_b64: BASE64URL_NOPAD.encode(&header_json),
        })
    }

    /// The issuer written into and required in `iss`.
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    fn mac(&self) -> Hmac<Sha256> {
        self.mac.clone()
    }

    /// Encodes and signs `claims`.
    pub fn sign(&self, claims: &Claims) -> String {
        let payload = serde_json::to_vec(claims).unwrap_or_default();
        let mut out = String::with_capacity(self.header_b64.len() + payload.len() * 4 / 3 + 48);
        out.push_str(&self.header_b64);
        out.push('.');
        out.push_str(&BASE64URL_NOPAD.encode(&payload));
        let mut mac = self.mac();
        mac.update(out.as_bytes());
        let sig = mac.finalize().into_bytes();
        out.push('.');
        out.push_str(&BASE64URL_NOPAD.encode(&sig));
        out
    }

    /// Verifies the header, signature, issuer and expiry of `token` at
    /// `now` (unix seconds) and returns its claims.
    pub fn verify(&self, token: &str, now: i64) -> Result<Claims, TokenProblem> {
        if token.is_empty() {
            return Err(TokenProblem::Missing);
        }
        if token.len() > MAX_TOKEN_LEN {
            return Err(TokenProblem::Invalid);
        }
        let mut parts = token.split('.');
        let (Some(h), Some(p), Some(s), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(TokenProblem::Invalid);
        };
        let header_bytes = BASE64URL_NOPAD
            .decode(h.as_bytes())
            .map_err(|_| TokenProblem::Invalid)?;
        let header: Header =
            serde_json::from_slice(&header_bytes).map_err(|_| TokenProblem::Invalid)?;
        if header.alg != "HS256" || header.crit.is_some() {
            return Err(TokenProblem::Invalid);
        }
        if header
            .typ
            .as_deref()
            .is_some_and(|t| !t.eq_ignore_ascii_case("JWT"))
        {
            return Err(TokenProblem::Invalid);
        }
        let sig = BASE64URL_NOPAD
            .decode(s.as_bytes())
            .map_err(|_| TokenProblem::Invalid)?;
        let signed_len = h.len() + 1 + p.len();
        let signed = token.get(..signed_len).ok_or(TokenProblem::Invalid)?;
        let mut mac = self.mac();
        mac.update(signed.as_bytes());
        mac.verify_slice(&sig).map_err(|_| TokenProblem::Invalid)?;
        let payload = BASE64URL_NOPAD
            .decode(p.as_bytes())
            .map_err(|_| TokenProblem::Invalid)?;
        let claims: Claims = serde_json::from_slice(&payload).map_err(|_| TokenProblem::Invalid)?;
        if claims.iss != self.issuer || claims.sub != claims.id {
            return Err(TokenProblem::Invalid);
        }
        if claims.exp <= now {
            return Err(TokenProblem::Expired);
        }
        Ok(claims)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn codec() -> JwtCodec {
        JwtCodec::new(&SecretBytes::new(vec![9u8; 64]), "otpgate").expect("codec")
    }

    fn claims(exp: i64) -> Claims {
        Claims {
            sub: "alice".into(),
            id: "alice".into(),
            uid: 1,
            iss: "otpgate".into(),
            iat: 1000,
            exp,
            jti: "j1".into(),
            two_factor: true,
            otp_verified: false,
            two_factor_setup: false,
            aud: None,
        }
    }

    fn b64(s: &str) -> String {
        BASE64URL_NOPAD.encode(s.as_bytes())
    }

    #[test]
    fn round_trip() {
        let c = codec();
        let t = c.sign(&claims(2000));
        assert_eq!(c.verify(&t, 1500), Ok(claims(2000)));
        let payload: serde_json::Value = serde_json::from_slice(
            &BASE64URL_NOPAD
                .decode(t.split('.').nth(1).unwrap_or("").as_bytes())
                .unwrap_or_default(),
        )
        .unwrap_or_default();
        assert_eq!(payload["2fa"], true);
        assert_eq!(payload["otp_verified"], false);
        assert_eq!(payload["jti"], "j1");
    }

    #[test]
    fn expired_is_refused() {
        let c = codec();
        let t = c.sign(&claims(2000));
        assert_eq!(c.verify(&t, 2000), Err(TokenProblem::Expired));
    }

    #[test]
    fn alg_none_and_other_algs_are_refused() {
        let c = codec();
        let t = c.sign(&claims(2000));
        let payload = t.split('.').nth(1).unwrap_or_default().to_owned();
        for header in [
            r#"{"alg":"none","typ":"JWT"}"#,
            r#"{"alg":"None"}"#,
            r#"{"alg":"HS512","typ":"JWT"}"#,
            r#"{"alg":"RS256","typ":"JWT"}"#,
            r#"{"typ":"JWT"}"#,
            r#"{"alg":"HS256","crit":["exp"]}"#,
        ] {
            let forged_unsigned = format!("{}.{}.", b64(header), payload);
            assert_eq!(
                c.verify(&forged_unsigned, 1500),
                Err(TokenProblem::Invalid),
                "{header}"
            );
            // Even correctly HMAC'd with our key, a non-HS256 header is refused.
            let mut mac = c.mac();
            let signed = format!("{}.{}", b64(header), payload);
            mac.update(signed.as_bytes());
            let sig = BASE64URL_NOPAD.encode(&mac.finalize().into_bytes());
            assert_eq!(
                c.verify(&format!("{signed}.{sig}"), 1500),
                Err(TokenProblem::Invalid),
                "{header}"
            );
        }
    }

    #[test]
    fn another_key_or_tampering_is_refused() {
        let c = codec();
        let other = JwtCodec::new(&SecretBytes::new(vec![1u8; 64]), "otpgate").expect("codec");
        let t = other.sign(&claims(2000));
        assert_eq!(c.verify(&t, 1500), Err(TokenProblem::Invalid));
        let mut forged = claims(2000);
        forged.otp_verified = true;
        let good = c.sign(&claims(2000));
        let evil_payload = BASE64URL_NOPAD.encode(&serde_json::to_vec(&forged).unwrap_or_default());
        let parts: Vec<&str> = good.split('.').collect();
        let spliced = format!("{}.{}.{}", parts[0], evil_payload, parts[2]);
        assert_eq!(c.verify(&spliced, 1500), Err(TokenProblem::Invalid));
    }

    #[test]
    fn malformed_inputs_are_refused_without_panicking() {
        let c = codec();
        for bad in [
            "",
            "a",
            "a.b",
            "a.b.c.d",
            "...",
            "ü.ü.ü",
            "eyJ.eyJ.sig",
            &"x".repeat(9000),
        ] {
            assert!(c.verify(bad, 0).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn other_issuer_is_refused() {
        let c = codec();
        let other = JwtCodec::new(&SecretBytes::new(vec![9u8; 64]), "someone-else").expect("codec");
        let mut cl = claims(2000);
        cl.iss = "someone-else".into();
        assert_eq!(c.verify(&other.sign(&cl), 1500), Err(TokenProblem::Invalid));
    }
}
