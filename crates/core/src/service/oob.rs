//! Out-of-band codes: one capability for every dialect (OWASP ASVS 2.7).
//!
//! A code is six digits from the CSPRNG, valid 10 minutes, good for at
//! most 5 attempts and used once, bound to the user and to what it was
//! sent for (an application's check, or one MFA session). Only an
//! HMAC-SHA256 of it is stored, under a key derived from the at-rest key
//! file, so a copy of the database alone does not reveal codes. Sending is
//! rate-limited per user; checking runs under the same OTP lockout as
//! TOTP codes, so failures on any dialect count towards one lock.

use crate::crypto::totp::is_code_shaped;
use crate::crypto::{codes, digest};
use crate::error::AuthError;
use crate::model::{AppId, Channel, NewOobCode, ThrottleKind, User, UserId};
use crate::notify::OobMessage;
use crate::secret::{SecretString, ct_eq};
use crate::service::audit::{AuthEvent, CheckFactor, CheckResult};
use crate::service::failures::Failure;
use crate::service::{AuthService, Caller};
use crate::throttle::Throttle;

/// How long a code is valid (ASVS 2.7.2: 10 minutes).
pub const CODE_TTL_SECS: i64 = 600;
/// How many attempts one code allows.
pub const MAX_ATTEMPTS: u32 = 5;

/// What a code was sent for; a code is accepted only for that.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OobBinding {
    /// An application's check of the user (Single Connect style), by
    /// application id.
    Application(AppId),
    /// One MFA session (Capillary style), by the hash of its id.
    Session(String),
}

impl OobBinding {
    /// The stored form.
    pub fn key(&self) -> String {
        match self {
            Self::Application(id) => format!("app:{id}"),
            Self::Session(hash) => format!("session:{hash}"),
        }
    }
}

/// Where a code went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    /// E-mail or SMS.
    pub channel: Channel,
    /// The address or number it was sent to.
    pub to: String,
    /// When the code expires (unix seconds).
    pub expires_at: i64,
}

/// The address to send a user's code to: on `preferred` if given (which
/// the user must have), else the e-mail address, else the phone.
pub fn delivery_address(
    user: &User,
    preferred: Option<Channel>,
) -> Result<(Channel, String), AuthError> {
    let present = |v: &Option<String>| {
        v.as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
    };
    let email = present(&user.email).map(|a| (Channel::Email, a));
    let phone = present(&user.phone).map(|p| (Channel::Sms, p));
    match preferred {
        Some(Channel::Email) => email,
        Some(Channel::Sms) => phone,
        None => email.or(phone),
    }
    .ok_or(AuthError::NoDeliveryChannel)
}

impl AuthService {
    fn oob_send_throttle(&self) -> Throttle {
        Throttle {
            kind: ThrottleKind::OobSend,
            policy: self.policy.oob_send,
        }
    }

    fn oob_hash(&self, user_id: UserId, binding: &OobBinding, code: &str) -> String {
        digest::hmac_hex(
            &self.oob_key,
            &[
                &user_id.get().to_be_bytes(),
                binding.key().as_bytes(),
                code.as_bytes(),
            ],
        )
    }

    /// Generates a fresh code for `user` and `binding` (replacing an
    /// earlier one), stores its hash and delivers it. A delivery failure
    /// deletes the code and is returned as [`AuthError::DeliveryFailed`].
    pub(crate) async fn send_oob_code(
        &self,
        user: &User,
        binding: &OobBinding,
        preferred: Option<Channel>,
        caller: &Caller,
    ) -> Result<Delivery, AuthError> {
        let (channel, to) = delivery_address(user, preferred)?;
        let store = self.store.as_ref();
        let now = self.clock.now();
        if let Err(e) = self
            .oob_send_throttle()
            .take(store, &user.id.to_string(), now)
            .await
        {
            self.record_failure(Failure::OOB_SEND_LOCKED, &user.username, false, caller);
            return Err(e);
        }
        let code = codes::six_digits();
        let expires_at = now.plus_secs(CODE_TTL_SECS);
        store
            .put_oob_code(&NewOobCode {
                user_id: user.id,
                binding: binding.key(),
                code_hash: self.oob_hash(user.id, binding, code.expose()),
                created_at: now,
                expires_at,
            })
            .await?;
        let notifier = self.notifiers.for_channel(channel);
        let message = OobMessage {
            user_id: user.id,
            username: user.username.clone(),
            channel,
            to: to.clone(),
            code,
            issuer: self.policy.issuer.clone(),
            created_at: now.get(),
            expires_at: expires_at.get(),
        };
        if let Err(e) = notifier.send(&message).await {
            store.delete_oob_code(user.id, &binding.key()).await?;
            self.audit
                .record(AuthEvent::OobDeliveryFailed, &user.username, caller);
            tracing::warn!(
                notifier = notifier.kind(),
                channel = channel.as_str(),
                error = %e,
                "out-of-band code not delivered"
            );
            return Err(AuthError::DeliveryFailed(e.0));
        }
        self.audit
            .record(AuthEvent::OobSent, &user.username, caller);
        Ok(Delivery {
            channel,
            to,
            expires_at: expires_at.get(),
        })
    }

    /// Checks `code` against the user's live code for `binding`, under the
    /// OTP lockout: each try uses up one of the code's attempts (one
    /// conditional write), and a match consumes the code (one conditional
    /// delete), so of concurrent tries at most one succeeds.
    pub(crate) async fn check_oob_code(
        &self,
        user: &User,
        binding: &OobBinding,
        code: &SecretString,
        caller: &Caller,
    ) -> Result<(), AuthError> {
        let store = self.store.as_ref();
        let key = user.id.to_string();
        let throttle = self.otp_throttle();
        // The attempt takes its place on the OTP counter first: a locked
        // user is refused before the code is looked at.
        let reserved = self
            .reserve_attempt(throttle, &key, Failure::OOB_LOCKED, &user.username, caller)
            .await?;
        let text = code.expose().trim();
        let mut accepted = false;
        // Every try uses one of the code's attempts, a malformed one too.
        if let Some(claim) = store
            .claim_oob_attempt(user.id, &binding.key(), self.clock.now(), MAX_ATTEMPTS)
            .await?
        {
            let presented = self.oob_hash(user.id, binding, text);
            if is_code_shaped(text) && ct_eq(presented.as_bytes(), claim.code_hash.as_bytes()) {
                accepted = store.consume_oob_code(claim.id, &claim.code_hash).await?;
            }
        }
        if accepted {
            throttle.release(store, &key).await?;
            self.audit.record(AuthEvent::OobOk, &user.username, caller);
            self.audit.count_check(CheckFactor::Oob, CheckResult::Ok);
            return Ok(());
        }
        self.record_failure(Failure::OOB, &user.username, reserved.locks, caller);
        Err(AuthError::InvalidOtp)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::TotpState;

    fn user(email: Option<&str>, phone: Option<&str>) -> User {
        User {
            id: crate::model::UserId::new(1),
            username: "alice".into(),
            display_name: "alice".into(),
            email: email.map(str::to_owned),
            phone: phone.map(str::to_owned),
            external_id: None,
            role: "user".into(),
            password_hash: String::new(),
            totp: TotpState::Off,
            totp_last_step: None,
            tokens_valid_after: crate::model::UnixTime::new(0),
            created_at: crate::model::UnixTime::new(0),
            require_two_factor: None,
            backend: "local".into(),
            upstream_session: None,
        }
    }

    #[test]
    fn the_address_follows_the_channel_or_prefers_email() {
        let both = user(Some("a@x.org"), Some("+391"));
        assert_eq!(
            delivery_address(&both, None).ok(),
            Some((Channel::Email, "a@x.org".into()))
        );
        assert_eq!(
            delivery_address(&both, Some(Channel::Sms)).ok(),
            Some((Channel::Sms, "+391".into()))
        );
        let phone_only = user(Some("  "), Some("+391"));
        assert_eq!(
            delivery_address(&phone_only, None).ok(),
            Some((Channel::Sms, "+391".into()))
        );
        assert!(matches!(
            delivery_address(&phone_only, Some(Channel::Email)),
            Err(AuthError::NoDeliveryChannel)
        ));
        assert!(matches!(
            delivery_address(&user(None, None), None),
            Err(AuthError::NoDeliveryChannel)
        ));
    }

    #[test]
    fn bindings_do_not_collide() {
        assert_ne!(
            OobBinding::Application(AppId::new(1)).key(),
            OobBinding::Session("1".into()).key()
        );
    }
}
