//! The one way a refused attempt is recorded, for every throttled check
//! (password login, password confirmation, TOTP and recovery codes,
//! out-of-band codes).
//!
//! The attempt itself was counted, and the lock set when it reached the
//! threshold, by its reservation ([`crate::throttle::Throttle::reserve`]),
//! one atomic store write. What is left when the attempt fails, or is
//! refused by a lock, is the same sequence everywhere: count the check for
//! `/metrics`, write the failure's audit events (log line, counter, store
//! record), and a `lockout` event when this attempt's reservation set the
//! lock. It is written here once; a [`Failure`] names what differs.

use crate::error::AuthError;
use crate::service::audit::{AuthEvent, CheckFactor, CheckResult};
use crate::service::{AuthService, Caller};
use crate::throttle::{Reserved, Throttle};

/// How one kind of refused attempt is audited and counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Failure {
    /// The audit events, in this order.
    events: &'static [AuthEvent],
    /// The second-factor check counter to bump, if the check is one.
    check: Option<(CheckFactor, CheckResult)>,
}

impl Failure {
    /// A wrong password at login (counted by its event).
    pub(crate) const LOGIN: Self = Self::events(&[AuthEvent::LoginFailed]);
    /// A login refused by a lock (counted by its event).
    pub(crate) const LOGIN_LOCKED: Self = Self::events(&[AuthEvent::LoginThrottled]);
    /// A wrong password on re-authentication.
    pub(crate) const PASSWORD_CHECK: Self = Self::events(&[AuthEvent::PasswordCheckFailed]);
    /// A wrong TOTP or recovery code.
    pub(crate) const OTP: Self =
        Self::events(&[AuthEvent::OtpFailed]).counted(CheckFactor::Totp, CheckResult::Failed);
    /// A TOTP step already used: replayed, and failed like any wrong code.
    pub(crate) const OTP_REPLAYED: Self =
        Self::events(&[AuthEvent::OtpReplayed, AuthEvent::OtpFailed])
            .counted(CheckFactor::Totp, CheckResult::Replayed);
    /// A TOTP or recovery code attempt refused by the OTP lock.
    pub(crate) const OTP_LOCKED: Self =
        Self::events(&[AuthEvent::OtpLocked]).counted(CheckFactor::Totp, CheckResult::Locked);
    /// A wrong out-of-band code.
    pub(crate) const OOB: Self =
        Self::events(&[AuthEvent::OtpFailed]).counted(CheckFactor::Oob, CheckResult::Failed);
    /// An out-of-band code attempt refused by the OTP lock.
    pub(crate) const OOB_LOCKED: Self =
        Self::events(&[AuthEvent::OtpLocked]).counted(CheckFactor::Oob, CheckResult::Locked);
    /// Sending a code refused by the per-user send limit.
    pub(crate) const OOB_SEND_LOCKED: Self = Self::events(&[AuthEvent::OobSendThrottled]);

    const fn events(events: &'static [AuthEvent]) -> Self {
        Self {
            events,
            check: None,
        }
    }

    const fn counted(self, factor: CheckFactor, result: CheckResult) -> Self {
        Self {
            check: Some((factor, result)),
            ..self
        }
    }
}

impl AuthService {
    /// Records a refused attempt of `user` from `caller`: the check
    /// counter, the failure's events, and `lockout` when `locked_now` (this
    /// attempt's reservation set the lock).
    pub(crate) fn record_failure(
        &self,
        failure: Failure,
        user: &str,
        locked_now: bool,
        caller: &Caller,
    ) {
        if let Some((factor, result)) = failure.check {
            self.audit.count_check(factor, result);
        }
        for event in failure.events {
            self.audit.record(*event, user, caller);
        }
        if locked_now {
            self.audit.record(AuthEvent::Lockout, user, caller);
        }
    }

    /// Passes `e` on, recorded as `locked` first when it is a lock's
    /// refusal ([`AuthError::Throttled`]).
    pub(crate) fn refused_by_lock(
        &self,
        e: AuthError,
        locked: Failure,
        user: &str,
        caller: &Caller,
    ) -> AuthError {
        if matches!(e, AuthError::Throttled { .. }) {
            self.record_failure(locked, user, false, caller);
        }
        e
    }

    /// Reserves one attempt of `user` on `throttle` under `key`; a locked
    /// key is refused and recorded as `locked` before anything is checked.
    pub(crate) async fn reserve_attempt(
        &self,
        throttle: Throttle,
        key: &str,
        locked: Failure,
        user: &str,
        caller: &Caller,
    ) -> Result<Reserved, AuthError> {
        throttle
            .reserve(self.store.as_ref(), key, self.clock.now())
            .await
            .map_err(|e| self.refused_by_lock(e, locked, user, caller))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_failure_keeps_its_events_in_order_and_its_counter() {
        assert_eq!(Failure::LOGIN.events, [AuthEvent::LoginFailed]);
        assert_eq!(Failure::LOGIN.check, None, "counted by its event");
        assert_eq!(Failure::LOGIN_LOCKED.events, [AuthEvent::LoginThrottled]);
        assert_eq!(
            Failure::OTP_REPLAYED.events,
            [AuthEvent::OtpReplayed, AuthEvent::OtpFailed]
        );
        assert_eq!(
            Failure::OTP_REPLAYED.check,
            Some((CheckFactor::Totp, CheckResult::Replayed))
        );
        assert_eq!(
            Failure::OTP.check,
            Some((CheckFactor::Totp, CheckResult::Failed))
        );
        assert_eq!(
            Failure::OOB_LOCKED.check,
            Some((CheckFactor::Oob, CheckResult::Locked))
        );
        assert_eq!(Failure::OOB_SEND_LOCKED.check, None);
    }
}
