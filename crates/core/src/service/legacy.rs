//! The deprecated legacy challenge login (API.md §2), with its sunset.
//!
//! Login checks the password exactly as the native login does (same
//! throttles), refuses users with 2FA or who must enrol it (API.md §11;
//! the method has no OTP step), and
//! hands out a single-use nonce valid 60 s. The client's token
//! `hex(HMAC-SHA1(password, "user:password:nonce"))` is computed here at
//! the same moment and only its SHA-256 is stored. Its first use consumes
//! the nonce (one conditional write) and turns it into a grant that lives
//! as long as a JWT would and is revoked with the user's other tokens.

use crate::crypto::codes;
use crate::crypto::legacy::{legacy_token, split_authorization, token_hash};
use crate::error::{AuthError, TokenProblem};
use crate::model::{LegacyGrant, LegacyNonce, Principal};
use crate::secret::SecretString;
use crate::service::audit::AuthEvent;
use crate::service::{AuthService, Caller};

impl AuthService {
    /// Whether the legacy method answers now (before its sunset, or
    /// forced on by the operator).
    pub fn legacy_active(&self) -> bool {
        self.policy.legacy.is_active(self.clock.now_secs())
    }

    fn require_legacy(&self) -> Result<(), AuthError> {
        if self.legacy_active() {
            Ok(())
        } else {
            Err(AuthError::LegacyDisabled)
        }
    }

    /// The legacy login: checks the password (throttled like the native
    /// login) and returns a fresh nonce for `WWW-Authenticate: Digest`.
    pub async fn legacy_challenge(
        &self,
        raw_username: &str,
        password: &SecretString,
        caller: &Caller,
    ) -> Result<String, AuthError> {
        self.require_legacy()?;
        let user = self
            .password_login_by_name(raw_username, password, caller)
            .await?;
        if user.totp.is_enabled() || self.must_enrol(&user) {
            return Err(AuthError::TwoFactorRequiresJwt);
        }
        let nonce = codes::random_hex(20);
        // The client computes the token with the name as it typed it.
        let token = legacy_token(raw_username, password.expose(), &nonce);
        let now = self.clock.now();
        self.store
            .create_legacy_nonce(&LegacyNonce {
                token_hash: token_hash(&token),
                nonce: nonce.clone(),
                user_id: user.id,
                issued_at: now.max(user.tokens_valid_after),
                expires_at: now.plus_secs(self.policy.legacy.nonce_ttl_secs),
            })
            .await?;
        Ok(nonce)
    }

    /// Checks a legacy credential `username:token` (the whole
    /// `Authorization` header value): the token's first use (within 60 s
    /// of the login) consumes its nonce and creates a grant; later uses
    /// find the grant. Refused when expired, revoked (logout, password
    /// change, 2FA change, revoke-all) or when the user now has 2FA or must
    /// enrol it.
    pub async fn legacy_authenticate(&self, credential: &str) -> Result<Principal, AuthError> {
        self.require_legacy()?;
        let credential = credential.trim();
        if credential.is_empty() {
            return Err(AuthError::Token(TokenProblem::Missing));
        }
        let (raw_name, token) =
            split_authorization(credential).ok_or(AuthError::Token(TokenProblem::Invalid))?;
        let user = match self.find_user(raw_name).await {
            Ok((_, Some(user))) => user,
            Ok((_, None)) | Err(AuthError::InvalidUsername(_)) => {
                return Err(AuthError::Token(TokenProblem::Invalid));
            }
            Err(e) => return Err(e),
        };
        let hash = token_hash(token);
        let grant = self.find_or_redeem_grant(&hash).await?;
        let now = self.clock.now();
        if grant.user_id != user.id {
            return Err(AuthError::Token(TokenProblem::Invalid));
        }
        if grant.expires_at <= now {
            return Err(AuthError::Token(TokenProblem::Expired));
        }
        if grant.issued_at < user.tokens_valid_after {
            return Err(AuthError::Token(TokenProblem::Revoked));
        }
        if user.totp.is_enabled() || self.must_enrol(&user) {
            return Err(AuthError::TwoFactorRequiresJwt);
        }
        Ok(Principal {
            username: user.username.clone(),
            user_id: user.id,
            jti: grant.token_hash,
            expires_at: grant.expires_at.get(),
            issued_at: grant.issued_at.get(),
            two_factor: false,
            otp_verified: false,
            two_factor_setup: false,
            audience: None,
            user,
        })
    }

    async fn find_or_redeem_grant(&self, hash: &str) -> Result<LegacyGrant, AuthError> {
        if let Some(g) = self.store.legacy_grant(hash).await? {
            return Ok(g);
        }
        let now = self.clock.now();
        let until = now.plus_secs(self.policy.token_lifetime_secs);
        if let Some(g) = self.store.redeem_legacy_nonce(hash, now, until).await? {
            return Ok(g);
        }
        // A concurrent first use may have redeemed it a moment ago.
        self.store
            .legacy_grant(hash)
            .await?
            .ok_or(AuthError::Token(TokenProblem::Invalid))
    }

    /// Ends a legacy session: its grant is deleted, so the token (and its
    /// nonce, already consumed) is refused from now on.
    pub async fn legacy_logout(&self, who: &Principal, caller: &Caller) -> Result<(), AuthError> {
        self.store.delete_legacy_grant(&who.jti).await?;
        self.signal_revocation();
        self.audit
            .record(AuthEvent::TokenRevoked, &who.username, caller);
        self.end_backend_session_if_last(who.user_id, &who.username)
            .await
    }
}
