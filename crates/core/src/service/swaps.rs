//! Token swaps that live sockets follow (API.md §3): `verify-otp` revokes
//! the token it is called with and issues a new one, and a socket that
//! logged in with the old token is the session that swapped, so it goes
//! on with the new one instead of ending.
//!
//! The swap is announced ([`Swaps::begin`]) before the second factor is
//! checked, because a successful check revokes (enabling 2FA moves the
//! user's cut-off and wakes the live-session watcher at once): while a
//! swap is pending, [`AuthService::still_valid`](super::AuthService::still_valid)
//! holds its sockets as they are; once done ([`Swaps::finish`]), they are
//! checked as the new token and rebound to it. Kept in memory for a
//! minute (the watcher polls far more often), at most [`MAX_SWAPS`] at
//! once; a swap that does not fit is not followed (its sockets end, as
//! before). Sockets of another instance sharing the store do not see it.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};

use crate::service::live_session::LiveSession;

/// How long a swap is remembered (milliseconds).
const KEEP_MS: i64 = 60_000;
/// Most swaps remembered at once.
pub const MAX_SWAPS: usize = 10_000;

#[derive(Debug)]
enum Swap {
    /// The second factor is being checked.
    Pending { until_ms: i64 },
    /// Swapped for this session.
    Done { to: LiveSession, until_ms: i64 },
}

/// What a live session's token became.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Followed {
    /// A swap is under way: hold the session as it is.
    Pending,
    /// Swapped for this session.
    To(LiveSession),
}

/// The swaps of this process, by the swapped token's `jti`.
#[derive(Debug, Default)]
pub(crate) struct Swaps {
    map: Mutex<HashMap<String, Swap>>,
}

impl Swaps {
    fn lock(&self) -> MutexGuard<'_, HashMap<String, Swap>> {
        self.map.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Announces that the token `jti` may be swapped; false if there is
    /// no room (the swap will not be followed).
    pub(crate) fn begin(&self, jti: &str, now_ms: i64) -> bool {
        let mut map = self.lock();
        map.retain(|_, s| match s {
            Swap::Pending { until_ms } | Swap::Done { until_ms, .. } => *until_ms > now_ms,
        });
        if map.len() >= MAX_SWAPS {
            return false;
        }
        map.insert(
            jti.to_owned(),
            Swap::Pending {
                until_ms: now_ms.saturating_add(KEEP_MS),
            },
        );
        true
    }

    /// The swap did not happen (the code was wrong).
    pub(crate) fn cancel(&self, jti: &str) {
        self.lock().remove(jti);
    }

    /// The token `jti` was swapped for `to`.
    pub(crate) fn finish(&self, jti: &str, to: LiveSession, now_ms: i64) {
        if let Some(s) = self.lock().get_mut(jti) {
            *s = Swap::Done {
                to,
                until_ms: now_ms.saturating_add(KEEP_MS),
            };
        }
    }

    /// What the token `jti` became, if it is being or was swapped.
    pub(crate) fn follow(&self, jti: &str, now_ms: i64) -> Option<Followed> {
        match self.lock().get(jti)? {
            Swap::Pending { until_ms } if *until_ms > now_ms => Some(Followed::Pending),
            Swap::Done { to, until_ms } if *until_ms > now_ms => Some(Followed::To(to.clone())),
            _ => None,
        }
    }

    /// Whether nothing is remembered.
    #[cfg(test)]
    fn is_empty(&self) -> bool {
        self.lock().is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::service::live::LiveCredential;

    fn to() -> LiveSession {
        LiveSession {
            user_id: crate::model::UserId::new(1),
            credential: LiveCredential::Jwt("new".into()),
            issued_at: 5,
            expires_at: 50,
            two_factor: true,
        }
    }

    #[test]
    fn a_swap_is_pending_then_done_then_forgotten() {
        let s = Swaps::default();
        assert_eq!(s.follow("old", 0), None);
        assert!(s.begin("old", 0));
        assert_eq!(s.follow("old", 1), Some(Followed::Pending));
        s.finish("old", to(), 2);
        assert_eq!(s.follow("old", 3), Some(Followed::To(to())));
        assert_eq!(s.follow("old", 2 + KEEP_MS), None, "kept a minute");
        assert!(s.begin("other", 3 + KEEP_MS));
        assert_eq!(s.follow("old", 0), None, "expired swaps are dropped");
        s.cancel("other");
        assert!(s.is_empty());
        // Finishing a swap that was never begun records nothing.
        s.finish("never", to(), 0);
        assert!(s.is_empty());
    }

    #[test]
    fn at_most_max_swaps_are_remembered() {
        let s = Swaps::default();
        for i in 0..MAX_SWAPS {
            assert!(s.begin(&i.to_string(), 0));
        }
        assert!(!s.begin("one more", 1));
        assert!(s.begin("after expiry", KEEP_MS + 1));
    }
}
