//! The TOTP lifecycle: enrol (pending secret), verify (enable, log in with
//! a TOTP or a recovery code), recovery codes, disable.
//!
//! Replay, lockout and single use are decided here and by the store's
//! atomic writes, for every dialect alike.

use crate::crypto::codes;
use crate::crypto::totp::{otpauth_url, secret_to_base32};
use crate::error::{AuthError, TokenProblem};
use crate::model::{
    IssuedToken, OtpCounter, OtpStatusUse, Principal, RecoveryCodeId, RevokeToken,
    SecondFactorProof, SecondFactorWrite, TotpState, UnixTime, User,
};
use crate::password_backend::Purpose;
use crate::secret::SecretString;
use crate::service::audit::{AuthEvent, CheckFactor, CheckResult};
use crate::service::failures::Failure;
use crate::service::live::{LiveCredential, LiveSession};
use crate::service::{AuthService, Caller};
use crate::throttle::{Reserved, throttled};
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
    ///
    /// The lockout is one atomic decision per attempt. A code that matches
    /// the TOTP (a check without store access) is decided by the success
    /// write itself, which refuses while the user is locked, so a right
    /// code costs one write and a locked caller learns nothing. Any other
    /// code first reserves its attempt ([`crate::throttle::Throttle`]),
    /// which refuses a locked user and counts the attempt, and only then
    /// is compared with the recovery codes: of concurrent wrong codes,
    /// exactly `max_failures` are evaluated.
    pub(crate) async fn prove_second_factor(
        &self,
        user: &User,
        code: &SecretString,
        revoke: Option<RevokeToken>,
        otp_status: Option<OtpStatusUse>,
        caller: &Caller,
    ) -> Result<OtpCheck, AuthError> {
        let store = self.store.as_ref();
        let code_text = code.expose().trim();
        let now = self.clock.now_secs();
        let totp_match = match &user.totp {
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
                        (proof, true)
                    })
            }
            TotpState::Enabled(sealed) => {
                let secret = self.cipher.open(user.id, sealed)?;
                self.totp
                    .matching_step(&secret, code_text, now)
                    .map(|step| (SecondFactorProof::TotpStep(step), false))
            }
        };
        if let Some((proof, enabled_now)) = totp_match {
            let written = store
                .complete_second_factor(
                    user.id,
                    proof,
                    revoke.as_ref(),
                    otp_status,
                    OtpCounter::Unreserved {
                        now: UnixTime::new(now),
                    },
                )
                .await?;
            return match written {
                SecondFactorWrite::Recorded => {
                    Ok(self.second_factor_accepted(user, Factor::Totp, enabled_now, caller))
                }
                SecondFactorWrite::StatusGone => Err(AuthError::OtpStatusRequired),
                SecondFactorWrite::Locked { until } => Err(self.otp_locked(user, until, caller)),
                SecondFactorWrite::ProofLost => {
                    // A replayed step (or a secret enabled meanwhile) is a
                    // failed attempt like any other: it takes its place.
                    let reserved = self.reserve_otp_attempt(user, caller).await?;
                    let replayed = matches!(proof, SecondFactorProof::TotpStep(_));
                    Err(self.second_factor_failed(user, reserved, replayed, caller))
                }
            };
        }
        let reserved = self.reserve_otp_attempt(user, caller).await?;
        let recovery = if user.totp.is_enabled() {
            match self.matching_recovery_code(user, code_text).await {
                Ok(found) => found,
                Err(e) => {
                    // Never evaluated (the hashing pool shed it): not counted.
                    self.otp_throttle()
                        .give_back(store, &user.id.to_string())
                        .await?;
                    return Err(e);
                }
            }
        } else {
            None
        };
        let Some(code_id) = recovery else {
            return Err(self.second_factor_failed(user, reserved, false, caller));
        };
        let written = store
            .complete_second_factor(
                user.id,
                SecondFactorProof::RecoveryCode(code_id),
                revoke.as_ref(),
                otp_status,
                OtpCounter::Reserved,
            )
            .await?;
        match written {
            SecondFactorWrite::Recorded => {
                Ok(self.second_factor_accepted(user, Factor::RecoveryCode, false, caller))
            }
            SecondFactorWrite::StatusGone => {
                // The right code, but nothing to use it for: not a failure.
                self.otp_throttle()
                    .give_back(store, &user.id.to_string())
                    .await?;
                Err(AuthError::OtpStatusRequired)
            }
            // A code used concurrently (or a lock, which a reserved attempt
            // never meets): a failed attempt, counted already.
            SecondFactorWrite::ProofLost | SecondFactorWrite::Locked { .. } => {
                Err(self.second_factor_failed(user, reserved, false, caller))
            }
        }
    }

    /// Reserves one OTP attempt of `user`; a locked user is refused (and
    /// audited) without any code being looked at.
    async fn reserve_otp_attempt(
        &self,
        user: &User,
        caller: &Caller,
    ) -> Result<Reserved, AuthError> {
        self.reserve_attempt(
            self.otp_throttle(),
            &user.id.to_string(),
            Failure::OTP_LOCKED,
            &user.username,
            caller,
        )
        .await
    }

    /// Audits a refusal of a locked user and returns it.
    fn otp_locked(&self, user: &User, until: UnixTime, caller: &Caller) -> AuthError {
        self.record_failure(Failure::OTP_LOCKED, &user.username, false, caller);
        throttled(until, self.clock.now())
    }

    /// Audits an accepted second factor.
    fn second_factor_accepted(
        &self,
        user: &User,
        factor: Factor,
        enabled_now: bool,
        caller: &Caller,
    ) -> OtpCheck {
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
        OtpCheck::Accepted {
            factor,
            enabled_now,
        }
    }

    /// Audits a failed second factor (its attempt counted by its
    /// reservation) and returns the refusal.
    fn second_factor_failed(
        &self,
        user: &User,
        reserved: Reserved,
        replayed: bool,
        caller: &Caller,
    ) -> AuthError {
        let failure = if replayed {
            Failure::OTP_REPLAYED
        } else {
            Failure::OTP
        };
        self.record_failure(failure, &user.username, reserved.locks, caller);
        AuthError::InvalidOtp
    }

    /// The id of the unused recovery code `code` matches, if any. Consuming
    /// it is the store's atomic write: of concurrent uses, one wins.
    async fn matching_recovery_code(
        &self,
        user: &User,
        code: &str,
    ) -> Result<Option<RecoveryCodeId>, AuthError> {
        if !crate::crypto::totp::is_code_shaped(code) {
            return Ok(None);
        }
        let records = self.store.recovery_codes(user.id).await?;
        if records.is_empty() {
            return Ok(None);
        }
        let candidate = SecretString::new(code);
        let hashes: Vec<(RecoveryCodeId, String)> =
            records.into_iter().map(|r| (r.id, r.hash)).collect();
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
        if !username::names(body_username, &who.username)? {
            return Err(AuthError::UsernameMismatch);
        }
        // A socket can only have logged in with a token that passes the
        // 2FA gate: if the presented one did, a socket may be on it, and
        // goes on with the new token (API.md §3). The swap is announced
        // before the check, whose success revokes the presented token.
        let holds_sockets = !who.two_factor || who.otp_verified;
        let follow = holds_sockets && self.swaps.begin(&who.jti, self.clock.now_ms());
        // The presented token has served its purpose: it is revoked in the
        // same write that records the success.
        let revoke = RevokeToken {
            jti: who.jti.clone(),
            expires_at: UnixTime::new(who.expires_at),
        };
        let check = match self
            .prove_second_factor(&who.user, code, Some(revoke), None, caller)
            .await
        {
            Ok(check) => check,
            Err(e) => {
                if follow {
                    self.swaps.cancel(&who.jti);
                }
                return Err(e);
            }
        };
        let valid_after = match check {
            // Enabling moved the cut-off past every older token: read it.
            OtpCheck::Accepted {
                enabled_now: true, ..
            } => self.current_user(who).await,
            OtpCheck::Accepted { .. } => Ok(who.user.clone()),
        };
        let valid_after = match valid_after {
            Ok(u) => u.tokens_valid_after,
            Err(e) => {
                if follow {
                    self.swaps.cancel(&who.jti);
                }
                return Err(e);
            }
        };
        let (token, jti) = self.issue_token_for(
            who.user_id,
            &who.username,
            valid_after,
            (true, true),
            self.policy.token_lifetime_secs,
            None,
        );
        self.record_login_token(&who.user, &jti, &token).await?;
        if follow {
            let to = LiveSession {
                user_id: who.user_id,
                credential: LiveCredential::Jwt(jti),
                issued_at: token
                    .expires_at
                    .saturating_sub(self.policy.token_lifetime_secs),
                expires_at: token.expires_at,
                two_factor: true,
            };
            self.swaps.finish(&who.jti, to, self.clock.now_ms());
        }
        // Sockets of this process re-check now (a pre-OTP token, the usual
        // case, holds no socket, and enabling 2FA has signalled already; so
        // a login's second step costs no sweep of every live socket).
        if holds_sockets {
            self.signal_revocation();
        }
        Ok(token)
    }

    /// Re-authentication by password for sensitive changes, under the same
    /// per-username throttle as login: the attempt is reserved before the
    /// password is checked (at the backend in use; one that cannot answer
    /// gives the attempt back).
    async fn confirm_password(
        &self,
        user: &User,
        password: &SecretString,
        caller: &Caller,
    ) -> Result<(), AuthError> {
        let store = self.store.as_ref();
        let throttle = self.login_user_throttle();
        let reserved = throttle
            .reserve(store, &user.username, self.clock.now())
            .await?;
        let matches = if password.is_empty() {
            Err(AuthError::invalid("password is required"))
        } else {
            self.check_password(Some(user), None, password, Purpose::Confirm)
                .await
        };
        match matches {
            Ok(Some(_)) => {
                throttle.release(store, &user.username).await?;
                Ok(())
            }
            Ok(None) => {
                self.record_failure(
                    Failure::PASSWORD_CHECK,
                    &user.username,
                    reserved.locks,
                    caller,
                );
                Err(AuthError::InvalidPassword)
            }
            Err(e) => {
                // Never evaluated: not counted.
                throttle.give_back(store, &user.username).await?;
                Err(e)
            }
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
        if let Some(name) = body_username
            && !username::names(name, &who.username)?
        {
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
        // Every token of the user is gone: so is the backend's session.
        self.end_backend_session(user).await?;
        self.audit
            .record(AuthEvent::TwoFactorDisabled, &user.username, caller);
        self.audit
            .record(AuthEvent::AllTokensRevoked, &user.username, caller);
        Ok(())
    }
}
