//! Live sessions (logged-in Socket.IO clients): is each one still valid?
//!
//! A socket authenticated once, at its `login` event, with
//! [`AuthService::authenticate`] (or the legacy check). Afterwards its
//! token may be revoked by this process or by another one sharing the
//! store (the CLI, another instance), so the transport asks
//! [`AuthService::still_valid`] for all of its sockets at once, in one
//! batched store read, and acts on the verdicts. The rules are the same as
//! the token check's: expiry, the `jti` (or legacy grant), the user's
//! cut-off, the user's existence, and the 2FA gate's set-up stage: a
//! socket whose user must now enrol 2FA first (API.md §11: the setting, or
//! `user require-2fa NAME yes` while it is connected) ends.

use std::collections::{HashMap, HashSet};

use crate::error::AuthError;
use crate::model::{UnixTime, UserId, UserLiveState};
use crate::service::AuthService;
pub use crate::service::live_session::{EndReason, LiveCredential, LiveSession, LiveVerdict};
use crate::service::swaps::Followed;

impl AuthService {
    /// Checks many live sessions with one batched store read; the verdicts
    /// come in the order of `sessions`.
    pub async fn still_valid(
        &self,
        sessions: &[LiveSession],
    ) -> Result<Vec<LiveVerdict>, AuthError> {
        if sessions.is_empty() {
            return Ok(Vec::new());
        }
        // A session whose token verify-otp is swapping is held; one whose
        // token it swapped is checked as the new one (`swaps`).
        let now_ms = self.clock.now_ms();
        // Per session: (the session to check, held, rebound to).
        let followed: Vec<(LiveSession, bool, Option<LiveSession>)> = sessions
            .iter()
            .map(|s| {
                let LiveCredential::Jwt(jti) = &s.credential else {
                    return (s.clone(), false, None);
                };
                match self.swaps.follow(jti, now_ms) {
                    Some(Followed::Pending) => (s.clone(), true, None),
                    Some(Followed::To(to)) => {
                        let to = LiveSession {
                            two_factor: s.two_factor,
                            ..to
                        };
                        (to.clone(), false, Some(to))
                    }
                    None => (s.clone(), false, None),
                }
            })
            .collect();
        let (swapped, rest): (Vec<LiveSession>, Vec<(bool, Option<LiveSession>)>) = followed
            .into_iter()
            .map(|(s, held, rebound)| (s, (held, rebound)))
            .unzip();
        let sessions = swapped.as_slice();
        let mut user_ids: Vec<UserId> = sessions.iter().map(|s| s.user_id).collect();
        user_ids.sort_unstable();
        user_ids.dedup();
        let mut jtis = Vec::new();
        let mut grants = Vec::new();
        for s in sessions {
            match &s.credential {
                LiveCredential::Jwt(j) => jtis.push(j.clone()),
                LiveCredential::Legacy(h) => grants.push(h.clone()),
            }
        }
        let now = self.clock.now_secs();
        let state = self
            .store
            .live_state(&user_ids, &jtis, &grants, UnixTime::new(now))
            .await?;
        let users: HashMap<UserId, UserLiveState> =
            state.users.into_iter().map(|u| (u.user_id, u)).collect();
        let revoked: HashSet<String> = state.revoked_jtis.into_iter().collect();
        // Past the sunset, legacy sessions end like their HTTP requests do.
        let live_grants: HashSet<String> = if self.policy.legacy.is_active(now) {
            state.live_grants.into_iter().collect()
        } else {
            HashSet::new()
        };
        let setting = self.policy.two_factor_required;
        Ok(sessions
            .iter()
            .zip(rest)
            .map(|(s, (held, rebound))| {
                if held {
                    return LiveVerdict::default();
                }
                let v = verdict(
                    s,
                    users.get(&s.user_id),
                    &revoked,
                    &live_grants,
                    now,
                    setting,
                );
                LiveVerdict { rebound, ..v }
            })
            .collect())
    }
}

fn verdict(
    s: &LiveSession,
    user: Option<&UserLiveState>,
    revoked: &HashSet<String>,
    live_grants: &HashSet<String>,
    now: i64,
    two_factor_required: bool,
) -> LiveVerdict {
    let Some(user) = user else {
        return LiveVerdict {
            ended: Some(EndReason::Revoked),
            ..LiveVerdict::default()
        };
    };
    let two_factor_changed = (user.two_factor != s.two_factor).then_some(user.two_factor);
    // The set-up stage of the token check (`AuthService::stage`): a user
    // who must enrol first holds no session but the enrolment.
    let must_enrol = !user.two_factor
        && super::mandatory::rule(two_factor_required, user.require_two_factor).required;
    let ended = if s.expires_at <= now {
        Some(EndReason::Expired)
    } else if s.issued_at < user.tokens_valid_after.get() || must_enrol {
        Some(EndReason::Revoked)
    } else {
        match &s.credential {
            LiveCredential::Jwt(j) if revoked.contains(j) => Some(EndReason::Logout),
            LiveCredential::Legacy(h) if !live_grants.contains(h) => Some(EndReason::Logout),
            // A legacy session of a user who turned 2FA on since.
            LiveCredential::Legacy(_) if user.two_factor => Some(EndReason::Revoked),
            _ => None,
        }
    };
    LiveVerdict {
        two_factor_changed,
        ended,
        rebound: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session(cred: LiveCredential) -> LiveSession {
        LiveSession {
            user_id: crate::model::UserId::new(1),
            credential: cred,
            issued_at: 100,
            expires_at: 1000,
            two_factor: false,
        }
    }

    fn user(tva: i64, two_factor: bool) -> UserLiveState {
        UserLiveState {
            user_id: crate::model::UserId::new(1),
            tokens_valid_after: crate::model::UnixTime::new(tva),
            two_factor,
            require_two_factor: None,
        }
    }

    #[test]
    fn verdicts_follow_the_token_rules() {
        let none = HashSet::new();
        let jwt = session(LiveCredential::Jwt("j".into()));
        assert_eq!(
            verdict(&jwt, Some(&user(100, false)), &none, &none, 500, false),
            LiveVerdict::default()
        );
        assert_eq!(
            verdict(&jwt, Some(&user(101, false)), &none, &none, 500, false).ended,
            Some(EndReason::Revoked)
        );
        assert_eq!(
            verdict(&jwt, None, &none, &none, 500, false).ended,
            Some(EndReason::Revoked)
        );
        assert_eq!(
            verdict(&jwt, Some(&user(100, false)), &none, &none, 1000, false).ended,
            Some(EndReason::Expired)
        );
        let revoked: HashSet<String> = ["j".to_owned()].into();
        assert_eq!(
            verdict(&jwt, Some(&user(100, false)), &revoked, &none, 500, false).ended,
            Some(EndReason::Logout)
        );
        let v = verdict(&jwt, Some(&user(100, true)), &none, &none, 500, false);
        assert_eq!(v.two_factor_changed, Some(true));
        assert_eq!(v.ended, None);
        let legacy = session(LiveCredential::Legacy("h".into()));
        assert_eq!(
            verdict(&legacy, Some(&user(100, false)), &none, &none, 500, false).ended,
            Some(EndReason::Logout)
        );
        let live: HashSet<String> = ["h".to_owned()].into();
        assert_eq!(
            verdict(&legacy, Some(&user(100, false)), &none, &live, 500, false).ended,
            None
        );
        // 2FA required (setting or override) and not on: the session ends.
        assert_eq!(
            verdict(&jwt, Some(&user(100, false)), &none, &none, 500, true).ended,
            Some(EndReason::Revoked)
        );
        assert_eq!(
            verdict(&legacy, Some(&user(100, false)), &none, &live, 500, true).ended,
            Some(EndReason::Revoked)
        );
        let exempt = UserLiveState {
            require_two_factor: Some(false),
            ..user(100, false)
        };
        assert_eq!(
            verdict(&jwt, Some(&exempt), &none, &none, 500, true).ended,
            None
        );
        let required = UserLiveState {
            require_two_factor: Some(true),
            ..user(100, false)
        };
        assert_eq!(
            verdict(&jwt, Some(&required), &none, &none, 500, false).ended,
            Some(EndReason::Revoked)
        );
        assert_eq!(
            verdict(&jwt, Some(&user(100, true)), &none, &none, 500, true).ended,
            None,
            "2FA on"
        );
    }
}
