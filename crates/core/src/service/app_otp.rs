//! An application asks whether OTP is active for a user, then has the
//! code the user typed checked (the Single Connect flow, API.md §6a).
//!
//! Asking records a status (5 minutes) that the check needs, for the same
//! user and application, and that a successful check uses up. A user with
//! TOTP on proves a TOTP or recovery code through
//! [`AuthService::check_second_factor`] (whose success write also uses up
//! the status); a user without TOTP but with an
//! e-mail address or phone is sent an out-of-band code when the status is
//! asked, and proves that. Both run under the one OTP lockout.

use crate::error::AuthError;
use crate::model::{Application, OtpStatusRecord, OtpStatusUse, User};
use crate::secret::SecretString;
use crate::service::audit::AuthEvent;
use crate::service::oob::{OobBinding, delivery_address};
use crate::service::{AuthService, Caller};
use crate::username;

/// How long an OTP status answer allows a check (5 minutes).
pub const STATUS_TTL_SECS: i64 = 300;
/// Longest `enduserip` kept (longer ones are cut).
const MAX_END_USER_IP_LEN: usize = 64;

impl AuthService {
    async fn app_user(&self, raw_username: &str) -> Result<Option<User>, AuthError> {
        let name = username::normalize(raw_username);
        if name.is_empty() || name.chars().count() > username::MAX_LEN {
            return Ok(None);
        }
        Ok(self.find_user(raw_username).await?.1)
    }

    /// Whether OTP is active for the user, for `app`: true when TOTP is on,
    /// or when the user has an e-mail address or phone, in which case a
    /// fresh out-of-band code was just sent. An unknown user is `false`,
    /// like a user without OTP. `end_user_ip` is the end user's address as
    /// the application reports it; it goes to the auth log.
    pub async fn application_otp_status(
        &self,
        app: &Application,
        raw_username: &str,
        end_user_ip: Option<&str>,
        caller: &Caller,
    ) -> Result<bool, AuthError> {
        let end_user_ip: Option<String> = end_user_ip
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|s| s.chars().take(MAX_END_USER_IP_LEN).collect());
        let log = |user: &str| {
            self.audit.record_app(
                AuthEvent::OtpStatus,
                user,
                caller,
                &app.name,
                end_user_ip.as_deref(),
            );
        };
        let Some(user) = self.app_user(raw_username).await? else {
            log(&username::normalize(raw_username));
            return Ok(false);
        };
        log(&user.username);
        let active = if user.totp.is_enabled() {
            true
        } else if delivery_address(&user, None).is_ok() {
            self.send_oob_code(&user, &OobBinding::Application(app.id), None, caller)
                .await?;
            true
        } else {
            false
        };
        if active {
            self.store
                .put_otp_status(&OtpStatusRecord {
                    user_id: user.id,
                    app_id: app.id,
                    end_user_ip,
                    expires_at: self.clock.now().plus_secs(STATUS_TTL_SECS),
                })
                .await?;
        }
        Ok(active)
    }

    /// Checks the code a user typed, for `app`: the status must have been
    /// asked for this user and application within 5 minutes
    /// ([`AuthError::OtpStatusRequired`]); a TOTP or recovery code when
    /// TOTP is on, else the out-of-band code sent then. A success uses up
    /// the status. The auth log line carries the end user's IP recorded
    /// with the status.
    pub async fn application_otp_valid(
        &self,
        app: &Application,
        raw_username: &str,
        code: &SecretString,
        caller: &Caller,
    ) -> Result<(), AuthError> {
        let Some(user) = self.app_user(raw_username).await? else {
            let name = username::normalize(raw_username);
            self.audit
                .record_app(AuthEvent::OtpInvalid, &name, caller, &app.name, None);
            return Err(AuthError::OtpStatusRequired);
        };
        let now = self.clock.now();
        let Some(status) = self.store.otp_status(user.id, app.id, now).await? else {
            self.audit.record_app(
                AuthEvent::OtpInvalid,
                &user.username,
                caller,
                &app.name,
                None,
            );
            return Err(AuthError::OtpStatusRequired);
        };
        let outcome = if user.totp.is_enabled() {
            // The status is used up in the same write as the success.
            let status = OtpStatusUse {
                app_id: app.id,
                now: self.clock.now(),
            };
            self.prove_second_factor(&user, code, None, Some(status), caller)
                .await
                .map(|_| ())
        } else {
            match self
                .check_oob_code(&user, &OobBinding::Application(app.id), code, caller)
                .await
            {
                Ok(()) => {
                    if self
                        .store
                        .consume_otp_status(user.id, app.id, self.clock.now())
                        .await?
                    {
                        Ok(())
                    } else {
                        Err(AuthError::OtpStatusRequired)
                    }
                }
                Err(e) => Err(e),
            }
        };
        let event = if outcome.is_ok() {
            AuthEvent::OtpValid
        } else {
            AuthEvent::OtpInvalid
        };
        self.audit.record_app(
            event,
            &user.username,
            caller,
            &app.name,
            status.end_user_ip.as_deref(),
        );
        outcome
    }
}
