//! Password login, the token check with its 2FA gate, logout, profile.

use crate::address::AddressKey;
use crate::error::{AuthError, TokenProblem};
use crate::model::{Authenticated, IssuedToken, Principal, Profile, UnixTime, User};
use crate::password_backend::Purpose;
use crate::secret::SecretString;
use crate::service::audit::AuthEvent;
use crate::service::failures::Failure;
use crate::service::{Access, AuthService, Caller, Stage};
use crate::username;

impl AuthService {
    /// Checks a username and password and issues a token. A user with 2FA
    /// on gets a pre-OTP token (`2fa: true, otp_verified: false`); a user
    /// who must have 2FA and has none, a set-up token (also `2fa_setup:
    /// true`, API.md §11).
    ///
    /// Throttled per username (consecutive failures) and per client IP
    /// (failures within a window); a locked caller is refused with
    /// [`AuthError::Throttled`] before the password is even hashed.
    pub async fn login(
        &self,
        raw_username: &str,
        password: &SecretString,
        caller: &Caller,
    ) -> Result<IssuedToken, AuthError> {
        let user = self
            .password_login_by_name(raw_username, password, caller)
            .await?;
        let (token, jti) = if self.must_enrol(&user) {
            self.issue_setup_token(&user, caller)
        } else {
            self.issue_token_for(
                user.id,
                &user.username,
                user.tokens_valid_after,
                (user.totp.is_enabled(), false),
                self.policy.token_lifetime_secs,
                None,
            )
        };
        self.record_login_token(&user, &jti, &token).await?;
        Ok(token)
    }

    /// The password check of the login methods that name the user (native
    /// and legacy): normalises the name, finds the user, and checks the
    /// password under the throttles ([`Self::password_login`]).
    pub(crate) async fn password_login_by_name(
        &self,
        raw_username: &str,
        password: &SecretString,
        caller: &Caller,
    ) -> Result<User, AuthError> {
        if username::normalize(raw_username).is_empty() || password.is_empty() {
            return Err(AuthError::invalid("username and password are required"));
        }
        if password.expose().len() > 1024 {
            return Err(AuthError::InvalidCredentials);
        }
        let (name, user) = self.find_user(raw_username).await?;
        self.password_login(&name, Some(&name), user, password, caller)
            .await
    }

    /// The password check of every login (native, and the application
    /// dialects that take a password): each attempt first reserves its
    /// place on the client address's counter (an IPv6 client by its /64)
    /// and on `throttle_key`'s (the canonical username, or what the
    /// caller typed when it names nobody), each one atomic store write
    /// that refuses a locked key; only then is the password hashed. A
    /// wrong password or an unknown user (the same hash work) is so
    /// counted already; a success clears the username's counter and gives
    /// the address's attempt back. The password is checked at the backend
    /// in use ([`Self::check_password`]); an outside backend that cannot
    /// answer gives both attempts back (503, never counted), and one that
    /// accepts a user the store does not know (asked as `ask_as`) creates
    /// it.
    pub(crate) async fn password_login(
        &self,
        throttle_key: &str,
        ask_as: Option<&str>,
        user: Option<User>,
        password: &SecretString,
        caller: &Caller,
    ) -> Result<User, AuthError> {
        let name = throttle_key;
        let store = self.store.as_ref();
        let now = self.clock.now();
        let ip_key = caller.ip.map(|ip| AddressKey::of(ip).to_string());
        let (user_throttle, ip_throttle) = (self.login_user_throttle(), self.login_ip_throttle());
        let mut ip_reserved = None;
        if let Some(ip) = &ip_key {
            match ip_throttle.reserve(store, ip, now).await {
                Ok(r) => ip_reserved = Some(r),
                Err(e) => return Err(self.refused_by_lock(e, Failure::LOGIN_LOCKED, name, caller)),
            }
        }
        let user_reserved = match user_throttle.reserve(store, name, now).await {
            Ok(r) => r,
            Err(e) => {
                // The address's attempt was never evaluated: given back.
                if let Some(ip) = &ip_key {
                    ip_throttle.give_back(store, ip).await?;
                }
                return Err(self.refused_by_lock(e, Failure::LOGIN_LOCKED, name, caller));
            }
        };
        let accepted = match self
            .check_password(user.as_ref(), ask_as, password, Purpose::Login)
            .await
        {
            Ok(accepted) => accepted,
            Err(e) => {
                // Never evaluated (the hashing pool shed it, or the
                // backend could not answer): not counted.
                user_throttle.give_back(store, name).await?;
                if let Some(ip) = &ip_key {
                    ip_throttle.give_back(store, ip).await?;
                }
                return Err(e);
            }
        };
        let Some(accepted) = accepted else {
            let locked_now = user_reserved.locks || ip_reserved.is_some_and(|r| r.locks);
            self.record_failure(Failure::LOGIN, name, locked_now, caller);
            return Err(AuthError::InvalidCredentials);
        };
        user_throttle.release(store, name).await?;
        if let Some(ip) = &ip_key {
            ip_throttle.release(store, ip).await?;
        }
        let user = self.after_backend_login(name, user, accepted).await?;
        self.audit.record(AuthEvent::LoginOk, name, caller);
        Ok(user)
    }

    /// The one token check used by every route, dialect and the Socket.IO
    /// login: signature and algorithm, expiry, issuer, revocation (by `jti`
    /// and by the user's cut-off), the token's audience (an application's
    /// token is refused: [`Access::accepts_audience`]) and the 2FA gate:
    /// the token's [`Stage`] against what the route's `access` admits.
    ///
    /// A token that passed is remembered while the store reports no
    /// commit since (`token_checks`); expiry and the
    /// gate are checked on every call.
    ///
    /// The answer is shared with the cache (an `Arc`), not copied.
    pub async fn authenticate(
        &self,
        token: &str,
        access: Access,
    ) -> Result<Authenticated, AuthError> {
        let now = self.clock.now_secs();
        // Read before the check, so a commit during it is never missed.
        let stamp = self.store.change_stamp();
        let remembered = stamp
            .and_then(|s| self.token_checks.get(s, token))
            .filter(|p| p.expires_at > now);
        let principal = match remembered {
            Some(p) => p,
            None => {
                let p = Authenticated::new(self.check_token(token, now).await?);
                if let Some(s) = stamp {
                    self.token_checks.put(s, token, &p);
                }
                p
            }
        };
        if !access.accepts_audience(principal.audience.as_deref()) {
            return Err(AuthError::TokenAudienceMismatch);
        }
        match (self.stage(&principal), access) {
            (Stage::Verified, _)
            | (Stage::Setup, Access::AllowSetup)
            | (_, Access::AllowPendingOtp) => Ok(principal),
            (Stage::Setup, _) => Err(AuthError::TwoFactorSetupRequired),
            (Stage::PendingOtp, _) => Err(AuthError::OtpVerificationRequired),
        }
    }

    /// The stage of a checked token: its claims, and the user as stored
    /// now, so a token issued before the user had to have 2FA (the
    /// setting turned on, or `user require-2fa NAME yes`) is a set-up
    /// token from then on, like one issued as such.
    pub fn stage(&self, p: &Principal) -> Stage {
        if p.two_factor_setup {
            Stage::Setup
        } else if p.two_factor && !p.otp_verified {
            Stage::PendingOtp
        } else if self.must_enrol(&p.user) {
            Stage::Setup
        } else {
            Stage::Verified
        }
    }

    /// The signature, expiry and revocation checks of [`Self::authenticate`]
    /// (everything but the 2FA gate), against the store.
    async fn check_token(&self, token: &str, now: i64) -> Result<Principal, AuthError> {
        let claims = self.jwt.verify(token, now).map_err(AuthError::Token)?;
        let state = self
            .store
            .token_state(&claims.sub, &claims.jti)
            .await?
            .ok_or(AuthError::Token(TokenProblem::Revoked))?;
        // `uid`: a token of a deleted user never passes for a new user of
        // the same name.
        if state.jti_revoked
            || claims.iat < state.user.tokens_valid_after.get()
            || claims.uid != state.user.id.get()
        {
            return Err(AuthError::Token(TokenProblem::Revoked));
        }
        Ok(Principal {
            username: claims.sub,
            user_id: state.user.id,
            jti: claims.jti,
            expires_at: claims.exp,
            issued_at: claims.iat,
            two_factor: claims.two_factor,
            otp_verified: claims.otp_verified,
            two_factor_setup: claims.two_factor_setup,
            audience: claims.aud,
            user: state.user,
        })
    }

    /// Revokes only the presented token, until it would have expired; if
    /// it was the user's last, the backend's session ends too (API.md §9).
    pub async fn logout(&self, who: &Principal, caller: &Caller) -> Result<(), AuthError> {
        self.store
            .revoke_token(&who.jti, who.user_id, UnixTime::new(who.expires_at))
            .await?;
        self.signal_revocation();
        self.audit
            .record(AuthEvent::TokenRevoked, &who.username, caller);
        self.end_backend_session_if_last(who.user_id, &who.username)
            .await
    }

    /// The caller's profile (as read by the token check: no second read).
    pub async fn profile(&self, who: &Principal) -> Result<Profile, AuthError> {
        Ok(Profile::from(&who.user))
    }
}
