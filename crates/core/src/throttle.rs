//! Lockout and back-off, enforced in one place for every route and dialect.
//!
//! A [`Throttle`] pairs a counter kind with its [`ThrottlePolicy`]: check it
//! before an attempt (locked: refuse, without even looking at the code), count
//! a failure after a wrong one, clear it after a right one.

use crate::config::ThrottlePolicy;
use crate::error::AuthError;
use crate::model::{ThrottleKind, ThrottleState};
use crate::store::Store;

/// One failure counter with its rule.
#[derive(Debug, Clone, Copy)]
pub struct Throttle {
    /// Which counter.
    pub kind: ThrottleKind,
    /// Its rule.
    pub policy: ThrottlePolicy,
}

impl Throttle {
    /// Refuses with [`AuthError::Throttled`] while `key` is locked;
    /// otherwise returns the counter it saw (so a success only writes a
    /// reset when there is something to reset).
    pub async fn check(
        &self,
        store: &dyn Store,
        key: &str,
        now: i64,
    ) -> Result<Option<ThrottleState>, AuthError> {
        let state = store.throttle(self.kind, key).await?;
        if let Some(s) = state
            && s.locked_until > now
        {
            return Err(AuthError::Throttled {
                retry_after_secs: s.locked_until - now,
            });
        }
        Ok(state)
    }

    /// Counts a failure; locks `key` when the count reaches the threshold.
    /// Returns the lock's end if this failure (re)locked it.
    pub async fn fail(
        &self,
        store: &dyn Store,
        key: &str,
        now: i64,
    ) -> Result<Option<i64>, AuthError> {
        let failures = store
            .record_failure(self.kind, key, now, self.policy.window_secs)
            .await?;
        match self.policy.lock_secs(failures) {
            Some(secs) => {
                let until = now + secs;
                store.extend_lock(self.kind, key, until).await?;
                Ok(Some(until))
            }
            None => Ok(None),
        }
    }

    /// Forgets the failures of `key` (after a success).
    pub async fn clear(&self, store: &dyn Store, key: &str) -> Result<(), AuthError> {
        store.clear_throttle(self.kind, key).await?;
        Ok(())
    }

    /// Counts one use of a rate-limited action (sending a code) and
    /// refuses it when `key` is locked or this use is past the limit. The
    /// count is one atomic write, so concurrent uses never all slip under
    /// the limit; the use that reaches the limit locks the key.
    pub async fn take(&self, store: &dyn Store, key: &str, now: i64) -> Result<(), AuthError> {
        self.check(store, key, now).await?;
        let uses = store
            .record_failure(self.kind, key, now, self.policy.window_secs)
            .await?;
        if let Some(secs) = self.policy.lock_secs(uses) {
            store.extend_lock(self.kind, key, now + secs).await?;
            if uses > self.policy.max_failures {
                return Err(AuthError::Throttled {
                    retry_after_secs: secs,
                });
            }
        }
        Ok(())
    }
}
