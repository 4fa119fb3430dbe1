//! Failure counters: which counter, its stored state, and what reserving
//! an attempt on it found.

use super::ids::UnixTime;

/// Which failure counter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ThrottleKind {
    /// OTP / recovery-code failures of a user (key: user id).
    Otp,
    /// Password failures of a username (key: canonical username).
    LoginUser,
    /// Password failures from a client IP (key: the IP).
    LoginIp,
    /// Out-of-band codes sent to a user (key: user id), counted within a
    /// window: sending is rate-limited per user.
    OobSend,
}

impl ThrottleKind {
    /// The stable name stored in the database.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Otp => "otp",
            Self::LoginUser => "login_user",
            Self::LoginIp => "login_ip",
            Self::OobSend => "oob_send",
        }
    }
}

/// A failure counter as stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ThrottleState {
    /// Failures counted (consecutive, or within the window).
    pub failures: u32,
    /// Locked until this unix second (0: not locked).
    pub locked_until: UnixTime,
}

/// What reserving an attempt found ([`crate::store::ThrottleStore::reserve_attempt`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reservation {
    /// The attempt is counted and may be evaluated.
    Admitted {
        /// The count including this attempt.
        count: u32,
        /// Whether this reservation set (or extended) the lock: if the
        /// attempt then fails, it is the one that locked the key.
        locks: bool,
    },
    /// The key is locked until this unix second: nothing was written.
    Locked {
        /// The lock's end.
        until: UnixTime,
    },
}
