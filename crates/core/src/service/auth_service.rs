//! The service every use case hangs off: [`AuthService`], its parts (store,
//! clock, policy, keys, hashing pool, audit log, notifiers) and the small
//! helpers the use cases share (token minting, password hashing, the
//! throttles). The use cases themselves are `impl AuthService` blocks in
//! the sibling modules; the fields stay private to [`super`].

use std::sync::Arc;

use crate::clock::Clock;
use crate::config::Policy;
use crate::crypto::cipher::SecretCipher;
use crate::crypto::codes;
use crate::crypto::jwt::{Claims, JwtCodec};
use crate::crypto::password::{Argon2idHasher, HashingPool};
use crate::crypto::totp::TotpVerifier;
use crate::error::AuthError;
use crate::keys::KeyFiles;
use crate::model::{IssuedToken, ThrottleKind, UnixTime, UserId};
use crate::notify::Notifiers;
use crate::password_backend::PasswordBackend;
use crate::secret::{SecretBytes, SecretString};
use crate::service::audit;
use crate::service::swaps;
use crate::service::token_checks;
use crate::store::Store;
use crate::throttle::Throttle;

/// The gateway's use cases over a store, a clock and the keys.
pub struct AuthService {
    pub(super) store: Arc<dyn Store>,
    pub(super) clock: Arc<dyn Clock>,
    pub(super) policy: Policy,
    pub(super) jwt: JwtCodec,
    pub(super) cipher: SecretCipher,
    pub(super) pool: HashingPool,
    pub(super) totp: TotpVerifier,
    /// A hash verified when the user does not exist, so a wrong username
    /// costs as much time as a wrong password.
    /// Computed on first need, so start-up does not pay for a hash.
    dummy_hash: tokio::sync::OnceCell<String>,
    /// Key of the out-of-band codes' HMAC (derived from the at-rest key).
    pub(super) oob_key: SecretBytes,
    /// Where out-of-band codes are delivered (default: the outbox).
    pub(super) notifiers: Notifiers,
    /// Bumped whenever this process revokes something, so live sockets
    /// are checked at once instead of at the next poll.
    revocations: tokio::sync::watch::Sender<u64>,
    /// The audit trail (log line, counters, store records).
    pub(super) audit: Arc<audit::AuditLog>,
    /// Token checks remembered while the store reports no commit.
    pub(super) token_checks: token_checks::TokenChecks,
    /// Token swaps by verify-otp that live sockets follow.
    pub(super) swaps: swaps::Swaps,
    /// The password authority outside the store, if any (`None`: the
    /// built-in `local` backend, argon2id hashes in the store).
    pub(super) password_backend: Option<Arc<dyn PasswordBackend>>,
}

impl std::fmt::Debug for AuthService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthService")
            .field("policy", &self.policy)
            .finish_non_exhaustive()
    }
}

impl AuthService {
    /// Builds the service.
    pub fn new(
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
        policy: Policy,
        keys: &KeyFiles,
    ) -> Result<Self, AuthError> {
        let hasher = Argon2idHasher::new(policy.argon2)?;
        let notifiers = Notifiers::outbox(store.clone());
        Ok(Self {
            oob_key: crate::crypto::digest::derive_key(&keys.at_rest, "otpgate oob code v1"),
            notifiers,
            jwt: JwtCodec::new(&keys.jwt, policy.issuer.clone())?,
            cipher: SecretCipher::new(&keys.at_rest)?,
            pool: HashingPool::new(hasher, policy.hashing_threads, policy.hashing_queue),
            totp: TotpVerifier {
                skew_steps: policy.totp_skew_steps,
            },
            audit: Arc::new(audit::AuditLog::new(store.clone(), clock.clone())),
            store,
            clock,
            policy,
            dummy_hash: tokio::sync::OnceCell::new(),
            revocations: tokio::sync::watch::Sender::new(0),
            token_checks: token_checks::TokenChecks::default(),
            swaps: swaps::Swaps::default(),
            password_backend: None,
        })
    }

    /// The same service checking every password at `backend` (API.md §9)
    /// instead of against the stored hashes.
    pub fn with_password_backend(mut self, backend: Arc<dyn PasswordBackend>) -> Self {
        self.password_backend = Some(backend);
        self
    }

    /// The name of the password backend in use (`local`, `nethcti`).
    pub fn password_backend_name(&self) -> &'static str {
        self.password_backend
            .as_ref()
            .map_or(crate::password_backend::LOCAL, |b| b.name())
    }

    /// The same service delivering out-of-band codes through `notifiers`.
    pub fn with_notifiers(mut self, notifiers: Notifiers) -> Self {
        self.notifiers = notifiers;
        self
    }

    /// The notifiers in use.
    pub fn notifiers(&self) -> &Notifiers {
        &self.notifiers
    }

    /// A receiver that changes whenever this process revoked a token or
    /// moved a user's cut-off (logout, 2FA change, password change, ...).
    /// Revocations by other processes are only seen by polling
    /// [`AuthService::still_valid`].
    pub fn revocation_signal(&self) -> tokio::sync::watch::Receiver<u64> {
        self.revocations.subscribe()
    }

    /// Tells the live-session watchers of this process to look now.
    pub(super) fn signal_revocation(&self) {
        self.revocations.send_modify(|n| *n = n.wrapping_add(1));
    }

    /// "Everything issued until now is revoked": the cut-off to store.
    /// Tokens carry whole seconds, so the cut-off is the next second; the
    /// store also moves it past the previous cut-off (tokens issued after a
    /// cut-off carry an `iat` of at least that cut-off), so no token issued
    /// before a revocation survives it, even within one second.
    pub(super) fn cutoff_now(&self) -> UnixTime {
        self.clock.now().plus_secs(1)
    }

    pub(super) fn otp_throttle(&self) -> Throttle {
        Throttle {
            kind: ThrottleKind::Otp,
            policy: self.policy.otp_lockout,
        }
    }

    pub(super) fn login_user_throttle(&self) -> Throttle {
        Throttle {
            kind: ThrottleKind::LoginUser,
            policy: self.policy.login_user,
        }
    }

    pub(super) fn login_ip_throttle(&self) -> Throttle {
        Throttle {
            kind: ThrottleKind::LoginIp,
            policy: self.policy.login_ip,
        }
    }

    /// Issues a token for `username` that is valid after `valid_after`,
    /// with a lifetime of `lifetime_secs` and an
    /// audience (`None`: a person's token; `Some(app)`: a token for that
    /// application only); `stage` is (`2fa`, `otp_verified`). Also returns
    /// the token's id (`jti`).
    pub(super) fn issue_token_for(
        &self,
        user_id: UserId,
        username: &str,
        valid_after: UnixTime,
        stage: (bool, bool),
        lifetime_secs: i64,
        audience: Option<&str>,
    ) -> (IssuedToken, String) {
        let claims = self.claims_for(
            user_id,
            username,
            valid_after,
            stage,
            lifetime_secs,
            audience,
        );
        let token = self.sign(&claims);
        (token, claims.jti)
    }

    /// The claims of a new token (see [`Self::issue_token_for`]).
    pub(super) fn claims_for(
        &self,
        user_id: UserId,
        username: &str,
        valid_after: UnixTime,
        stage: (bool, bool),
        lifetime_secs: i64,
        audience: Option<&str>,
    ) -> Claims {
        let (two_factor, otp_verified) = stage;
        let iat = self.clock.now().max(valid_after).get();
        Claims {
            sub: username.to_owned(),
            id: username.to_owned(),
            uid: user_id.get(),
            iss: self.jwt.issuer().to_owned(),
            iat,
            exp: iat + lifetime_secs,
            jti: codes::token_id(),
            two_factor,
            otp_verified,
            two_factor_setup: false,
            aud: audience.map(str::to_owned),
        }
    }

    /// Signs `claims` into a token.
    pub(super) fn sign(&self, claims: &Claims) -> IssuedToken {
        IssuedToken {
            token: self.jwt.sign(claims),
            expires_at: claims.exp,
        }
    }

    /// Verifies `password` against `hash` on the hashing pool; with no
    /// hash (unknown user) it burns the same time and fails.
    pub(super) async fn password_matches(
        &self,
        password: &SecretString,
        hash: Option<&str>,
    ) -> Result<bool, AuthError> {
        let phc = match hash {
            Some(h) => h.to_owned(),
            None => self
                .dummy_hash
                .get_or_try_init(|| self.pool.hash(codes::generated_password()))
                .await?
                .clone(),
        };
        let ok = self.pool.verify(password.clone(), phc).await?;
        Ok(ok && hash.is_some())
    }

    /// Hashes a secret on the pool.
    pub(super) async fn hash_secret(&self, secret: SecretString) -> Result<String, AuthError> {
        self.pool.hash(secret).await
    }
}
