//! Persistent tokens for integrations (API.md §10): the long-lived tokens
//! the CTI clients mint for the phone-island widget, the mobile app and
//! NethLink. One rule set here for every route that serves them (the
//! `/tokens/persistent/*` routes and the legacy-compatible
//! `/authentication/*` ones) and for `otpgate token list`.
//!
//! A persistent token is an ordinary signed token with `aud` = the
//! audience and a long lifetime; the store records its id per user and
//! audience, so a new one revokes the old and `DELETE` can revoke it. The
//! cut-off revocations (2FA disable, password change, `token revoke-all`)
//! reach it as they reach every token of the user.

use crate::error::AuthError;
use crate::model::{IssuedToken, PersistentToken, Principal, UnixTime, UserId};
use crate::service::audit::AuthEvent;
use crate::service::{AuthService, Caller};

/// The audience of a persistent token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Audience {
    /// The phone-island widget.
    PhoneIsland,
    /// The mobile app (shown as a QR code).
    MobileApp,
    /// NethLink.
    Nethlink,
}

impl Audience {
    /// Every audience.
    pub const ALL: [Self; 3] = [Self::PhoneIsland, Self::MobileApp, Self::Nethlink];

    /// The `aud` value and the route's path segment.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::PhoneIsland => "phone-island",
            Self::MobileApp => "mobile-app",
            Self::Nethlink => "nethlink",
        }
    }

    /// Parses a route's audience: trimmed, case-insensitive; blank is
    /// [`AuthError::MissingAudience`], anything else unknown
    /// [`AuthError::InvalidAudience`].
    pub fn parse(raw: &str) -> Result<Self, AuthError> {
        let wanted = raw.trim();
        if wanted.is_empty() {
            return Err(AuthError::MissingAudience);
        }
        Self::ALL
            .into_iter()
            .find(|a| a.as_str().eq_ignore_ascii_case(wanted))
            .ok_or(AuthError::InvalidAudience)
    }

    /// The legacy-compatible routes' `subtype`: `nethlink` (trimmed,
    /// case-insensitive) is NethLink, anything else (also nothing) the
    /// phone-island widget.
    pub fn from_subtype(subtype: Option<&str>) -> Self {
        match subtype {
            Some(s) if s.trim().eq_ignore_ascii_case("nethlink") => Self::Nethlink,
            _ => Self::PhoneIsland,
        }
    }

    /// Whether a token's `aud` is a persistent token's (accepted wherever
    /// a person's token is: [`crate::service::Access::accepts_audience`]).
    pub fn is_persistent(aud: &str) -> bool {
        Self::ALL.iter().any(|a| a.as_str() == aud)
    }
}

/// A live persistent token as `otpgate token list` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveToken {
    /// The audience.
    pub audience: String,
    /// `iat` (unix seconds).
    pub issued_at: i64,
    /// `exp` (unix seconds).
    pub expires_at: i64,
}

impl AuthService {
    /// Mints `who`'s persistent token for `audience` (the caller passed
    /// the verified gate): verified as `who`'s token was (its `2fa` and
    /// `otp_verified` copied), living `jwt.persistent_lifetime_secs`. The
    /// user's previous one for that audience is revoked.
    pub async fn mint_persistent(
        &self,
        who: &Principal,
        audience: Audience,
        caller: &Caller,
    ) -> Result<IssuedToken, AuthError> {
        let claims = self.claims_for(
            who.user_id,
            &who.username,
            who.user.tokens_valid_after,
            (who.two_factor, who.otp_verified),
            self.policy.persistent_lifetime_secs,
            Some(audience.as_str()),
        );
        let record = PersistentToken {
            user_id: who.user_id,
            audience: audience.as_str().to_owned(),
            jti: claims.jti.clone(),
            issued_at: UnixTime::new(claims.iat),
            expires_at: UnixTime::new(claims.exp),
        };
        if self
            .store
            .replace_persistent_token(&record)
            .await?
            .is_some()
        {
            self.signal_revocation();
            self.audit
                .record(AuthEvent::TokenRevoked, &who.username, caller);
        }
        Ok(self.sign(&claims))
    }

    /// Whether `who` holds a live persistent token for `audience`.
    pub async fn persistent_exists(
        &self,
        who: &Principal,
        audience: Audience,
    ) -> Result<bool, AuthError> {
        let live = self
            .live_persistent(who.user_id, who.user.tokens_valid_after)
            .await?;
        Ok(live.iter().any(|t| t.audience == audience.as_str()))
    }

    /// Revokes `who`'s persistent token for `audience` (nothing to do if
    /// there is none).
    pub async fn remove_persistent(
        &self,
        who: &Principal,
        audience: Audience,
        caller: &Caller,
    ) -> Result<(), AuthError> {
        if self
            .store
            .remove_persistent_token(who.user_id, audience.as_str())
            .await?
            .is_some()
        {
            self.signal_revocation();
            self.audit
                .record(AuthEvent::TokenRevoked, &who.username, caller);
            self.end_backend_session_if_last(who.user_id, &who.username)
                .await?;
        }
        Ok(())
    }

    /// The live persistent tokens of the user named `raw` (`otpgate token
    /// list`), by audience.
    pub async fn list_persistent(&self, raw: &str) -> Result<Vec<LiveToken>, AuthError> {
        let user = self.user_named(raw).await?;
        self.live_persistent(user.id, user.tokens_valid_after).await
    }

    /// The recorded tokens that still pass: not expired, not behind the
    /// user's cut-off, not revoked by id (the store revokes replaced and
    /// removed ones; a logout of the token itself revokes it too).
    async fn live_persistent(
        &self,
        user_id: UserId,
        valid_after: UnixTime,
    ) -> Result<Vec<LiveToken>, AuthError> {
        let now = self.clock.now();
        let recorded: Vec<PersistentToken> = self
            .store
            .persistent_tokens(user_id)
            .await?
            .into_iter()
            .filter(|t| t.issued_at >= valid_after && t.expires_at > now)
            .collect();
        // A persistent token logged out by itself is revoked by id.
        let revoked = if recorded.is_empty() {
            Vec::new()
        } else {
            let jtis: Vec<String> = recorded.iter().map(|t| t.jti.clone()).collect();
            self.store
                .live_state(&[], &jtis, &[], now)
                .await?
                .revoked_jtis
        };
        let mut live: Vec<LiveToken> = recorded
            .into_iter()
            .filter(|t| !revoked.contains(&t.jti))
            .map(|t| LiveToken {
                audience: t.audience,
                issued_at: t.issued_at.get(),
                expires_at: t.expires_at.get(),
            })
            .collect();
        live.sort_by(|a, b| a.audience.cmp(&b.audience));
        Ok(live)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn audiences_are_trimmed_and_case_insensitive() {
        assert_eq!(
            Audience::parse(" Phone-Island\t").ok(),
            Some(Audience::PhoneIsland)
        );
        assert_eq!(
            Audience::parse("MOBILE-APP").ok(),
            Some(Audience::MobileApp)
        );
        assert!(matches!(
            Audience::parse("  "),
            Err(AuthError::MissingAudience)
        ));
        for bad in [
            "phone_island",
            "phoneisland",
            "nethlink2",
            "ｎethlink",
            "bukl",
        ] {
            assert!(
                matches!(Audience::parse(bad), Err(AuthError::InvalidAudience)),
                "{bad}"
            );
        }
    }

    #[test]
    fn legacy_subtypes_map_to_nethlink_or_phone_island() {
        assert_eq!(
            Audience::from_subtype(Some(" NethLink ")),
            Audience::Nethlink
        );
        assert_eq!(
            Audience::from_subtype(Some("mobile-app")),
            Audience::PhoneIsland
        );
        assert_eq!(Audience::from_subtype(None), Audience::PhoneIsland);
    }
}
