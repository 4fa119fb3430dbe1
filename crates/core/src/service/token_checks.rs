//! Token checks remembered while the store reports no commit since.
//!
//! Every authenticated request runs [`AuthService::authenticate`]: the
//! signature check, then one store read for revocation and the user. A
//! client calls with the same token again and again, and the answer can
//! only change when something is committed (a logout, a cut-off, a
//! deletion, from this process or another one). Stores that can tell that
//! cheaply ([`Store::change_stamp`]: SQLite's wal-index header,
//! PostgreSQL's change feed) let the check be answered
//! from memory: an answer is kept with the stamp read *before* it was
//! computed, and served only while the stamp still reads the same. A
//! commit during the computation therefore leaves it stamped as older than
//! it is, so it is never served. The expiry and the 2FA gate are still
//! checked on every use, by the caller.
//!
//! The key is the whole token as presented, so only the exact string that
//! passed the signature check is answered. At most [`MAX_ENTRIES`] are
//! kept; all of them are dropped as soon as the stamp moves.
//!
//! An answer is kept as an [`Authenticated`] (one allocation, shared by
//! every request it serves, with the profile body rendered for it): a hit
//! costs an `Arc` clone, not a copy of the user. The map hashes with
//! foldhash seeded at random per map (a keyed hash, so colliding keys
//! cannot be chosen in advance; only tokens that passed the signature check
//! are inserted anyway), instead of SipHash, which cost more per lookup of
//! a few hundred bytes of token.
//!
//! [`AuthService::authenticate`]: crate::AuthService::authenticate
//! [`Store::change_stamp`]: crate::Store::change_stamp

use std::collections::HashMap;
use std::sync::RwLock;

use foldhash::fast::RandomState;

use crate::model::Authenticated;
use crate::store::ChangeStamp;

/// Most tokens remembered; the map is emptied when full.
pub(crate) const MAX_ENTRIES: usize = 4096;

/// Principals by token, all valid under one stamp.
#[derive(Debug, Default)]
pub(crate) struct TokenChecks {
    /// Readers share it (every request); a writer only after a miss.
    inner: RwLock<Entries>,
}

#[derive(Debug, Default)]
struct Entries {
    stamp: Option<ChangeStamp>,
    by_token: HashMap<Box<str>, Authenticated, RandomState>,
}

impl TokenChecks {
    /// The principal remembered for `token`, if nothing was committed
    /// since it was computed (`stamp` is the store's stamp now).
    pub(crate) fn get(&self, stamp: ChangeStamp, token: &str) -> Option<Authenticated> {
        let entries = self.inner.read().ok()?;
        if entries.stamp != Some(stamp) {
            return None;
        }
        entries.by_token.get(token).cloned()
    }

    /// Remembers `principal` for `token`, computed after `stamp` was read.
    pub(crate) fn put(&self, stamp: ChangeStamp, token: &str, principal: &Authenticated) {
        let Ok(mut entries) = self.inner.write() else {
            return;
        };
        if entries.stamp != Some(stamp) || entries.by_token.len() >= MAX_ENTRIES {
            entries.by_token.clear();
            entries.stamp = Some(stamp);
        }
        entries.by_token.insert(token.into(), principal.clone());
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::*;
    use crate::model::{Principal, TotpState, User};

    fn principal(name: &str) -> Authenticated {
        Authenticated::new(Principal {
            username: name.into(),
            user_id: crate::model::UserId::new(1),
            jti: "j".into(),
            expires_at: 100,
            issued_at: 0,
            two_factor: false,
            otp_verified: false,
            two_factor_setup: false,
            audience: None,
            user: User {
                id: crate::model::UserId::new(1),
                username: name.into(),
                display_name: String::new(),
                email: None,
                phone: None,
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
            },
        })
    }

    #[test]
    fn an_answer_is_served_only_under_its_stamp_and_for_its_token() {
        let checks = TokenChecks::default();
        checks.put(ChangeStamp(1), "t-alice", &principal("alice"));
        assert_eq!(
            checks.get(ChangeStamp(1), "t-alice").as_deref(),
            Some(principal("alice").principal())
        );
        assert!(checks.get(ChangeStamp(2), "t-alice").is_none(), "a commit");
        assert!(checks.get(ChangeStamp(1), "t-alice2").is_none());
        assert!(checks.get(ChangeStamp(1), "t-alic").is_none());
    }

    #[test]
    fn an_answer_computed_before_a_commit_is_never_served_after_it() {
        let checks = TokenChecks::default();
        checks.put(ChangeStamp(2), "t-alice", &principal("alice"));
        // A slow check that read its stamp before the commit puts late.
        checks.put(ChangeStamp(1), "t-bob", &principal("bob"));
        assert!(checks.get(ChangeStamp(2), "t-alice").is_none());
        assert!(checks.get(ChangeStamp(2), "t-bob").is_none());
    }

    #[test]
    fn the_map_never_holds_more_than_its_bound() {
        let checks = TokenChecks::default();
        for i in 0..=MAX_ENTRIES {
            checks.put(ChangeStamp(1), &format!("t{i}"), &principal("alice"));
        }
        let held = checks.inner.read().map(|e| e.by_token.len()).unwrap_or(0);
        assert!(held <= MAX_ENTRIES);
        let last = format!("t{MAX_ENTRIES}");
        assert!(checks.get(ChangeStamp(1), &last).is_some());
    }

    #[test]
    fn a_rendered_body_lives_and_dies_with_its_answer() {
        let checks = TokenChecks::default();
        checks.put(ChangeStamp(1), "t-alice", &principal("alice"));
        let hit = checks.get(ChangeStamp(1), "t-alice").expect("hit");
        let body = hit.profile_body(|_| Bytes::from_static(b"first"));
        let again = checks
            .get(ChangeStamp(1), "t-alice")
            .expect("hit")
            .profile_body(|_| Bytes::from_static(b"rendered twice"));
        assert_eq!(again, body, "one rendering per answer");
        // A commit: the next check is a fresh answer, rendered afresh.
        checks.put(ChangeStamp(2), "t-alice", &principal("alice"));
        let fresh = checks
            .get(ChangeStamp(2), "t-alice")
            .expect("hit")
            .profile_body(|_| Bytes::from_static(b"second"));
        assert_eq!(fresh, Bytes::from_static(b"second"));
    }
}
