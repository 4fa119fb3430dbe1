//! Confirming an enrolment only (the Mudbase-style verify, API.md §5):
//! a TOTP of the pending secret turns 2FA on. Unlike verify-otp it never
//! logs a user in with an enabled secret, and it issues no token; enabling
//! moves the user's revocation cut-off as always, so the caller logs in
//! again (and then passes the OTP step).

use crate::error::{AuthError, TokenProblem};
use crate::model::{Principal, TotpState};
use crate::secret::SecretString;
use crate::service::two_factor::OtpCheck;
use crate::service::{AuthService, Caller};

impl AuthService {
    /// Enables 2FA with a TOTP of the caller's pending secret. With no
    /// pending secret: [`AuthError::SecretNotFound`]; with 2FA already on:
    /// [`AuthError::TwoFactorAlreadyEnabled`]. The code check is
    /// [`AuthService::check_second_factor`] (window, OTP lockout).
    pub async fn confirm_enrolment(
        &self,
        who: &Principal,
        code: &SecretString,
        caller: &Caller,
    ) -> Result<(), AuthError> {
        let user = self
            .store
            .user_by_name(&who.username)
            .await?
            .ok_or(AuthError::Token(TokenProblem::Revoked))?;
        match user.totp {
            TotpState::Pending(_) => {}
            TotpState::Enabled(_) => return Err(AuthError::TwoFactorAlreadyEnabled),
            TotpState::Off => return Err(AuthError::SecretNotFound),
        }
        if code.expose().trim().is_empty() {
            return Err(AuthError::invalid("token is required"));
        }
        match self.check_second_factor(&user, code, caller).await? {
            OtpCheck::Accepted {
                enabled_now: true, ..
            } => Ok(()),
            // A concurrent request enabled it first with another code.
            OtpCheck::Accepted { .. } => Err(AuthError::InvalidOtp),
        }
    }
}
