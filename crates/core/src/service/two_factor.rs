//! The TOTP lifecycle: enrol (pending secret), verify (enable, log in with
//! a TOTP or a recovery code), recovery codes, disable.
//!
//! Replay, lockout and single use are decided here and by the store's
//! atomic writes, for every dialect alike.

use crate::crypto::codes;
use crate::crypto::totp::{otpauth_url, secret_to_base32};
use crate::error::{AuthError, TokenProblem};
use crate::model::{
    IssuedToken, OtpStatusUse, Principal, RevokeToken, SecondFactorProof, SecondFactorWrite,
    TotpState, User,
};
use crate::secret::SecretString;
use crate::service::audit::{AuthEvent, CheckFactor, CheckResult};
use crate::service::{AuthService, Caller};
use crate::username;

/// A secret to enrol, as an authenticator app takes it.
#[derive(Debug, Clone)]
pub struct Enrolment {
    /// The `otpauth://totp/...` URL (what the QR code encodes).
    pub url: String,
    /// The secret in base32 without padding.
    pub key: String,
}

/// How a second factor was proven.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Factor {
    /// A TOTP code.
    Totp,
    /// A recovery code.
    RecoveryCode,
}

/// The outcome of checking a one-time code for a user.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OtpCheck {
    /// Accepted; 2FA was enabled by this code if `enabled_now`.
    Accepted {
        /// Which factor.
        factor: Factor,
        /// Whether this confirmation turned 2FA on.
        enabled_now: bool,
    },
}

impl AuthService {
    async fn current_user(&self, who: &Principal) -> Result<User, AuthError> {
        self.store
            .user_by_name(&who.username)
            .await?
            .ok_or(AuthError::Token(TokenProblem::Revoked))
    }

    /// Whether the caller's 2FA is on now (as read by the token check).
    pub async fn two_factor_status(&self, who: &Principal) -> Result<bool, AuthError> {
        Ok(who.user.totp.is_enabled())
    }

    /// The pending secret to enrol: created the first time, the same one
    /// until 2FA is enabled; once enabled it is never shown again (409).
    pub async fn enrolment(&self, who: &Principal) -> Result<Enrolment, AuthError> {
        let mut user = who.user.clone();
        if matches!(user.totp, TotpState::Off) {
            let sealed = self.cipher.seal(user.id, &codes::new_totp_secret())?;
            // A concurrent call may have stored its own secret first; either
            // way the stored one is the one everybody gets.
            self.store.set_pending_secret(user.id, &sealed).await?;
            user = self.current_user(who).await?;
        }
        match &user.totp {
            TotpState::Pending(sealed) => {
                let secret = self.cipher.open(user.id, sealed)?;
                Ok(Enrolment {
                    url: otpauth_url(&self.policy.issuer, &user.username, &secret),
                    key: secret_to_base32(&secret),
                })
            }
            TotpState::Enabled(_) => Err(AuthError::TwoFactorAlreadyEnabled),
            TotpState::Off => Err(AuthError::Internal("pending secret was not stored".into())),
        }
    }

    /// Checks `code` as the user's second factor, under the OTP lockout:
    /// a TOTP confirms a pending secret (enabling 2FA); with 2FA on, a TOTP
    /// of a step not used before, or an unused recovery code, is accepted.
    ///
    /// This is the one place every dialect proves a TOTP or recovery code.
    pub async fn check_second_factor(
        &self,
        user: &User,
        code: &SecretString,
        caller: &Caller,
    ) -> Result<OtpCheck, AuthError> {
        self.prove_second_factor(user, code, None, None, caller)
            .await
    }

    /// [`Self::check_second_factor`], also revoking `revoke` (verify-otp
    /// swaps the presented token) and using up `otp_status` (the Single
    /// Connect check) in the same store write as the success. A status
    /// gone by then fails with [`AuthError::OtpStatusRequired`], nothing
    /// written.
    pub(crate) async fn prove_second_factor(
        &self,
        user: &User,
        code: &SecretString,
        revoke: Option<RevokeToken>,
        otp_status: Option<OtpStatusUse>,
        caller: &Caller,
    ) -> Result<OtpCheck, AuthError> {
        let store = self.store.as_ref();
        let key = user.id.to_string();
        let throttle = self.otp_throttle();
        let seen = match throttle.check(store, &key, self.clock.now_secs()).await {
            Ok(seen) => seen,
            Err(e) => {
                self.audit
                    .record(AuthEvent::OtpLocked, &user.username, caller);
                self.audit
                    .count_check(CheckFactor::Totp, CheckResult::Locked);
                return Err(e);
            }
        };
        let code_text = code.expose().trim();
        let now = self.clock.now_secs();
        let candidate = match &user.totp {
            TotpState::Off => return Err(AuthError::SecretNotFound),
            TotpState::Pending(sealed) => {
                let secret = self.cipher.open(user.id, sealed)?;
                self.totp
                    .matching_step(&secret, code_text, now)
                    .map(|step| {
                        let proof = SecondFactorProof::Enable {
                            step,
                            cutoff: self.cutoff_now(),
                        };
                        (proof, Factor::Totp, true)
                    })
            }
            TotpState::Enabled(sealed) => {
                let secret = self.cipher.open(user.id, sealed)?;
                match self.totp.matching_step(&secret, code_text, now) {
                    Some(step) => Some((SecondFactorProof::TotpStep(step), Factor::Totp, false)),
                    None => self
                        .matching_recovery_code(user, code_text)
                        .await?
                        .map(|id| {
                            (
                                SecondFactorProof::RecoveryCode(id),
                                Factor::RecoveryCode,
                                false,
                            )
                        }),
                }
            }
        };
        let written = match &candidate {
            Some((proof, _, _)) => {
                store
                    .complete_second_factor(
                        user.id,
                        *proof,
                        revoke.as_ref(),
                        otp_status,
                        seen.is_some(),
                    )
                    .await?
            }
            None => SecondFactorWrite::ProofLost,
        };
        if written == SecondFactorWrite::StatusGone {
            return Err(AuthError::OtpStatusRequired);
        }
        let accepted = written.recorded();
        match candidate {
            Some((_, factor, enabled_now)) if accepted => {
                let event = match (factor, enabled_now) {
                    (Factor::RecoveryCode, _) => AuthEvent::RecoveryCodeUsed,
                    (Factor::Totp, true) => AuthEvent::TwoFactorEnabled,
                    (Factor::Totp, false) => AuthEvent::OtpOk,
                };
                self.audit.record(event, &user.username, caller);
                let counted = match factor {
                    Factor::RecoveryCode => CheckFactor::RecoveryCode,
                    Factor::Totp => CheckFactor::Totp,
                };
                self.audit.count_check(counted, CheckResult::Ok);
                if enabled_now {
                    // Enabling revoked every older token: live sockets re-check.
                    self.signal_revocation();
                }
                Ok(OtpCheck::Accepted {
                    factor,
                    enabled_now,
                })
            }
            other => {
                if matches!(other, Some((SecondFactorProof::TotpStep(_), _, _))) {
                    self.audit
                        .record(AuthEvent::OtpReplayed, &user.username, caller);
                    self.audit
                        .count_check(CheckFactor::Totp, CheckResult::Replayed);
                } else {
                    self.audit
                        .count_check(CheckFactor::Totp, CheckResult::Failed);
                }
                self.audit
                    .record(AuthEvent::OtpFailed, &user.username, caller);
                if throttle
                    .fail(store, &key, self.clock.now_secs())
                    .await?
                    .is_some()
                {
                    self.audit
                        .record(AuthEvent::Lockout, &user.username, caller);
                }
                Err(AuthError::InvalidOtp)
            }
        }
    }

    /// The id of the unused recovery code `code` matches, if any. Consuming
    /// it is the store's atomic write: of concurrent uses, one wins.
    async fn matching_recovery_code(
        &self,
        user: &User,
        code: &str,
    ) -> Result<Option<i64>, AuthError> {
        if !crate::crypto::totp::is_code_shaped(code) {
            return Ok(None);
        }
        let records = self.store.recovery_codes(user.id).await?;
        if records.is_empty() {
            return Ok(None);
        }
        let candidate = SecretString::new(code);
        let hashes: Vec<(i64, String)> = records.into_iter().map(|r| (r.id, r.hash)).collect();
        self.pool
            .run(move |h| {
                // Check every hash, so the time taken does not tell which.
                let mut found = None;
                for (id, phc) in &hashes {
                    if h.verify(&candidate, phc) && found.is_none() {
                        found = Some(*id);
                    }
                }
                found
            })
            .await
    }

    /// verify-otp: proves the second factor for the token's user and swaps
    /// the presented token for a verified one. `body_username` must name
    /// the token's subject. Enabling 2FA revokes every older token.
    pub async fn verify_otp(
        &self,
        who: &Principal,
        body_username: &str,
        code: &SecretString,
        caller: &Caller,
    ) -> Result<IssuedToken, AuthError> {
        if username::normalize(body_username) != who.username {
            return Err(AuthError::UsernameMismatch);
        }
        // The presented token has served its purpose: it is revoked in the
        // same write that records the success.
        let revoke = RevokeToken {
            jti: who.jti.clone(),
            expires_at: who.expires_at,
        };
        let check = self
            .prove_second_factor(&who.user, code, Some(revoke), None, caller)
            .await?;
        // A socket can only have logged in with a token that passes the
        // 2FA gate: if the presented one did, sockets of this process
        // re-check now. A pre-OTP token (the usual case) holds no socket,
        // and enabling 2FA has signalled already; so a login's second step
        // costs no sweep of every live socket.
        if !who.two_factor || who.otp_verified {
            self.signal_revocation();
        }
        let valid_after = match check {
            // Enabling moved the cut-off past every older token: read it.
            OtpCheck::Accepted {
                enabled_now: true, ..
            } => self.current_user(who).await?.tokens_valid_after,
            OtpCheck::Accepted { .. } => who.user.tokens_valid_after,
        };
        Ok(self.issue_token(who.user_id, &who.username, valid_after, true, true))
    }

    /// Re-authentication by password for sensitive changes, under the same
    /// per-username throttle as login.
    async fn confirm_password(
        &self,
        user: &User,
        password: &SecretString,
        caller: &Caller,
    ) -> Result<(), AuthError> {
        let store = self.store.as_ref();
        let throttle = self.login_user_throttle();
        throttle
            .check(store, &user.username, self.clock.now_secs())
            .await?;
        if password.is_empty() {
            return Err(AuthError::invalid("password is required"));
        }
        if self
            .password_matches(password, Some(&user.password_hash))
            .await?
        {
            throttle.clear(store, &user.username).await?;
            Ok(())
        } else {
            self.audit
                .record(AuthEvent::PasswordCheckFailed, &user.username, caller);
            if throttle
                .fail(store, &user.username, self.clock.now_secs())
                .await?
                .is_some()
            {
                self.audit
                    .record(AuthEvent::Lockout, &user.username, caller);
            }
            Err(AuthError::InvalidPassword)
        }
    }

    /// Generates a new set of recovery codes (replacing the old set) after
    /// a password check; the codes are returned once and stored hashed.
    pub async fn regenerate_recovery_codes(
        &self,
        who: &Principal,
        password: &SecretString,
        caller: &Caller,
    ) -> Result<Vec<SecretString>, AuthError> {
        let user = &who.user;
        self.confirm_password(user, password, caller).await?;
        if !user.totp.is_enabled() {
            return Err(AuthError::TwoFactorNotEnabled);
        }
        let codes = codes::recovery_codes();
        let to_hash = codes.clone();
        let hashes = self
            .pool
            .run(move |h| {
                to_hash
                    .iter()
                    .map(|c| h.hash(c))
                    .collect::<Result<Vec<_>, _>>()
            })
            .await??;
        if !self.store.replace_recovery_codes(user.id, &hashes).await? {
            return Err(AuthError::TwoFactorNotEnabled);
        }
        self.audit
            .record(AuthEvent::RecoveryCodesRegenerated, &user.username, caller);
        Ok(codes)
    }

    /// Turns 2FA off after a password check: secret and recovery codes
    /// deleted, every token of the user revoked. Refused where the policy
    /// requires 2FA for the user (the operator's `user reset-2fa` still
    /// works).
    pub async fn disable_two_factor(
        &self,
        who: &Principal,
        body_username: Option<&str>,
        password: &SecretString,
        caller: &Caller,
    ) -> Result<(), AuthError> {
        if body_username.is_some_and(|name| username::normalize(name) != who.username) {
            return Err(AuthError::UsernameMismatch);
        }
        let user = &who.user;
        if self.two_factor_rule(user).required {
            return Err(AuthError::TwoFactorRequiredByPolicy);
        }
        self.confirm_password(user, password, caller).await?;
        if !self.store.disable_totp(user.id, self.cutoff_now()).await? {
            return Err(AuthError::TwoFactorNotEnabled);
        }
        self.signal_revocation();
        self.audit
            .record(AuthEvent::TwoFactorDisabled, &user.username, caller);
        self.audit
            .record(AuthEvent::AllTokensRevoked, &user.username, caller);
        Ok(())
    }
}
