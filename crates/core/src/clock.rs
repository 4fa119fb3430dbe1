//! Where the core learns the time: injected, so tests can set it.
//!
//! The core never reads the wall clock directly; every use case asks its
//! [`Clock`]. Production uses [`SystemClock`]; tests use [`ManualClock`] and
//! move it explicitly (TOTP steps, lock expiry, token expiry).

use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::model::UnixTime;

/// A source of "now" in unix milliseconds.
pub trait Clock: Send + Sync + 'static {
    /// Milliseconds since the unix epoch.
    fn now_ms(&self) -> i64;

    /// Whole seconds since the unix epoch.
    fn now_secs(&self) -> i64 {
        self.now_ms().div_euclid(1000)
    }

    /// [`Clock::now_secs`] as the store's time type.
    fn now(&self) -> UnixTime {
        UnixTime::new(self.now_secs())
    }
}

/// The operating system's clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> i64 {
        match SystemTime::now().duration_since(UNIX_EPOCH) {
            Ok(d) => i64::try_from(d.as_millis()).unwrap_or(i64::MAX),
            Err(_) => 0,
        }
    }
}

/// A clock that only moves when told to (tests, benchmarks).
#[derive(Debug)]
pub struct ManualClock {
    ms: AtomicI64,
}

impl ManualClock {
    /// A clock stopped at `secs` seconds after the epoch.
    pub fn at_secs(secs: i64) -> Self {
        Self {
            ms: AtomicI64::new(secs.saturating_mul(1000)),
        }
    }

    /// Moves the clock forward (or back, with a negative value) by `secs`.
    pub fn advance_secs(&self, secs: i64) {
        self.ms
            .fetch_add(secs.saturating_mul(1000), Ordering::SeqCst);
    }

    /// Sets the clock to `secs` seconds after the epoch.
    pub fn set_secs(&self, secs: i64) {
        self.ms.store(secs.saturating_mul(1000), Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now_ms(&self) -> i64 {
        self.ms.load(Ordering::SeqCst)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manual_clock_moves_only_when_told() {
        let c = ManualClock::at_secs(100);
        assert_eq!(c.now_secs(), 100);
        c.advance_secs(31);
        assert_eq!(c.now_secs(), 131);
        c.set_secs(5);
        assert_eq!(c.now_ms(), 5000);
    }

    #[test]
    fn system_clock_is_after_2024() {
        assert!(SystemClock.now_secs() > 1_700_000_000);
    }
}
