//! Mandatory two-factor authentication (API.md §11): who must have 2FA
//! (the setting `two_factor.required`, overridden per user by the
//! operator), the set-up token such a user gets at login, and the count of
//! users by 2FA state for `/metrics`.
//!
//! The gate itself stays where every token is checked
//! ([`AuthService::authenticate`] and its [`AuthService::stage`]): a user
//! who must enrol holds a set-up token there, which the enrolment routes
//! admit and every other route refuses.

use crate::error::AuthError;
use crate::model::{IssuedToken, User};
use crate::service::audit::AuthEvent;
use crate::service::{AuthService, Caller};

/// Where a user's 2FA requirement comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RuleSource {
    /// The setting `two_factor.required`.
    Setting,
    /// The operator's `otpgate user require-2fa NAME yes|no`.
    User,
}

impl RuleSource {
    /// A stable name (`setting`, `user`) for the CLI.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Setting => "setting",
            Self::User => "user",
        }
    }
}

/// Whether a user must have 2FA, and why.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TwoFactorRule {
    /// 2FA is required.
    pub required: bool,
    /// Where that comes from.
    pub source: RuleSource,
}

/// Users counted by 2FA state.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct UsersByTwoFactor {
    /// 2FA on.
    pub on: u64,
    /// 2FA required but not enrolled yet (off, or a pending secret).
    pub required_not_enrolled: u64,
    /// 2FA off and not required.
    pub off: u64,
}

impl AuthService {
    /// Whether `user` must have 2FA, and whether the setting or the
    /// per-user override says so.
    pub fn two_factor_rule(&self, user: &User) -> TwoFactorRule {
        rule(self.policy.two_factor_required, user.require_two_factor)
    }

    /// Whether `user` must enrol before anything else: 2FA required and
    /// not on.
    pub(crate) fn must_enrol(&self, user: &User) -> bool {
        !user.totp.is_enabled() && self.two_factor_rule(user).required
    }

    /// The set-up token of a user who must enrol (`2fa: true,
    /// otp_verified: false, 2fa_setup: true`), audited as a set-up login.
    pub(crate) fn issue_setup_token(&self, user: &User, caller: &Caller) -> (IssuedToken, String) {
        let mut claims = self.claims_for(
            user.id,
            &user.username,
            user.tokens_valid_after,
            (true, false),
            self.policy.token_lifetime_secs,
            None,
        );
        claims.two_factor_setup = true;
        self.audit
            .record(AuthEvent::TwoFactorSetupLogin, &user.username, caller);
        (self.sign(&claims), claims.jti)
    }

    /// `otpgate user require-2fa NAME yes|no|default`: sets (or, with
    /// `None`, removes) the user's override. Returns the user as stored
    /// now.
    pub async fn require_two_factor(
        &self,
        raw: &str,
        required: Option<bool>,
    ) -> Result<User, AuthError> {
        let user = self.user_named(raw).await?;
        if !self.store.set_require_two_factor(user.id, required).await? {
            return Err(AuthError::UserNotFound);
        }
        // Live sockets of a user who must now enrol end: look at once.
        self.signal_revocation();
        self.audit.record(
            AuthEvent::TwoFactorRequirementChanged,
            &user.username,
            &Caller::cli(),
        );
        Ok(User {
            require_two_factor: required,
            ..user
        })
    }

    /// Users by 2FA state (one store read; `/metrics` asks at scrape time).
    pub async fn users_by_two_factor(&self) -> Result<UsersByTwoFactor, AuthError> {
        let mut out = UsersByTwoFactor::default();
        for g in self.store.two_factor_census().await? {
            let slot = if g.enabled {
                &mut out.on
            } else if rule(self.policy.two_factor_required, g.require_two_factor).required {
                &mut out.required_not_enrolled
            } else {
                &mut out.off
            };
            *slot = slot.saturating_add(g.users);
        }
        Ok(out)
    }
}

/// The rule for a user whose override is `user` under the setting.
pub(crate) fn rule(setting: bool, user: Option<bool>) -> TwoFactorRule {
    match user {
        Some(required) => TwoFactorRule {
            required,
            source: RuleSource::User,
        },
        None => TwoFactorRule {
            required: setting,
            source: RuleSource::Setting,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_override_wins_both_ways_and_default_follows_the_setting() {
        assert!(rule(false, Some(true)).required);
        assert!(!rule(true, Some(false)).required);
        assert_eq!(rule(true, Some(false)).source, RuleSource::User);
        assert!(rule(true, None).required);
        assert!(!rule(false, None).required);
        assert_eq!(rule(false, None).source, RuleSource::Setting);
    }
}
