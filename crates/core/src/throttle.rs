//! Lockout and back-off, enforced in one place for every route and dialect.
//!
//! A [`Throttle`] pairs a counter kind with its [`ThrottlePolicy`]. Every
//! attempt first [reserves](Throttle::reserve) its place on the counter in
//! one conditional store write, which refuses a locked key and itself
//! counts the attempt and sets the lock when the count reaches the
//! threshold; only then is the code or password checked. A failure so costs
//! no further write, a success [gives the attempt back](Throttle::release).
//! Concurrent attempts therefore cannot slip past the limit: of any number
//! in flight, exactly `max_failures` are admitted before the lock.

use crate::config::ThrottlePolicy;
use crate::error::AuthError;
use crate::model::{Reservation, ThrottleKind, UnixTime};
use crate::store::Store;

/// One failure counter with its rule.
#[derive(Debug, Clone, Copy)]
pub struct Throttle {
    /// Which counter.
    pub kind: ThrottleKind,
    /// Its rule.
    pub policy: ThrottlePolicy,
}

/// An admitted attempt ([`Throttle::reserve`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[must_use = "a reservation is released after a success"]
pub struct Reserved {
    /// Whether this attempt's reservation locked the key: if the attempt
    /// fails, it is the one that caused the lockout.
    pub locks: bool,
}

impl Throttle {
    /// Reserves one attempt on `key`: refused with
    /// [`AuthError::Throttled`] while the key is locked (nothing counted);
    /// otherwise counted, locking the key when the count reaches the
    /// threshold, in one atomic store write.
    pub async fn reserve(
        &self,
        store: &dyn Store,
        key: &str,
        now: UnixTime,
    ) -> Result<Reserved, AuthError> {
        // A lock already in the store is refused by a read: a flood against
        // a locked key (a spinning client, an attacker) costs no write, so
        // the writer stays free for the attempts that are admitted and for
        // everyone else. The write below still decides atomically.
        if let Some(state) = store.throttle(self.kind, key).await?
            && state.locked_until > now
        {
            return Err(throttled(state.locked_until, now));
        }
        match store
            .reserve_attempt(self.kind, key, now, &self.policy)
            .await?
        {
            Reservation::Admitted { locks, .. } => Ok(Reserved { locks }),
            Reservation::Locked { until } => Err(throttled(until, now)),
        }
    }

    /// Gives a reserved attempt back after a success: a counter of
    /// consecutive failures is forgotten, a windowed one drops by one.
    pub async fn release(&self, store: &dyn Store, key: &str) -> Result<(), AuthError> {
        match self.policy.window_secs {
            None => store.clear_throttle(self.kind, key).await?,
            Some(_) => {
                store
                    .return_attempt(self.kind, key, self.policy.max_failures)
                    .await?
            }
        }
        Ok(())
    }

    /// Gives back a reservation whose attempt was never evaluated (the
    /// request failed before the check): the count drops by one.
    pub async fn give_back(&self, store: &dyn Store, key: &str) -> Result<(), AuthError> {
        store
            .return_attempt(self.kind, key, self.policy.max_failures)
            .await?;
        Ok(())
    }

    /// Counts one use of a rate-limited action (sending a code) and
    /// refuses it when `key` is locked. Uses are reservations never given
    /// back, so concurrent uses never all slip under the limit; the use
    /// that reaches the limit locks the key.
    pub async fn take(&self, store: &dyn Store, key: &str, now: UnixTime) -> Result<(), AuthError> {
        self.reserve(store, key, now).await.map(drop)
    }
}

/// The refusal for a key locked until `until`.
pub(crate) fn throttled(until: UnixTime, now: UnixTime) -> AuthError {
    AuthError::Throttled {
        retry_after_secs: until.secs_since(now).max(1),
    }
}
