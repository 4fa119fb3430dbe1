//! The figures the rules run with (lifetimes, thresholds, argon2 cost).
//!
//! Loaded and validated by the binary from `otpgate.toml` and `OTPGATE_*`;
//! the defaults here are the ones API.md documents.

/// Back-off rule for one kind of failure counter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ThrottlePolicy {
    /// Failures that trigger a lock.
    pub max_failures: u32,
    /// `None`: consecutive failures (a success resets them). `Some(w)`:
    /// failures counted within a window of `w` seconds.
    pub window_secs: Option<i64>,
    /// First lock length in seconds; each further failure doubles it.
    pub base_secs: i64,
    /// Longest lock in seconds.
    pub cap_secs: i64,
}

impl ThrottlePolicy {
    /// How long to lock after the `failures`-th failure, if at all.
    pub fn lock_secs(&self, failures: u32) -> Option<i64> {
        if failures < self.max_failures {
            return None;
        }
        let doublings = (failures - self.max_failures).min(30);
        let secs = self.base_secs.saturating_mul(1_i64 << doublings);
        Some(secs.min(self.cap_secs))
    }
}

/// Argon2id cost parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Argon2Cost {
    /// Memory in KiB.
    pub memory_kib: u32,
    /// Passes.
    pub iterations: u32,
    /// Lanes.
    pub parallelism: u32,
}

impl Default for Argon2Cost {
    /// OWASP's argon2id minimum: 19 MiB, 2 passes, 1 lane.
    fn default() -> Self {
        Self {
            memory_kib: 19 * 1024,
            iterations: 2,
            parallelism: 1,
        }
    }
}

/// When the deprecated legacy challenge login (API.md §2) runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LegacyPolicy {
    /// `Some(true)`: on whatever the date; `Some(false)`: off; `None` (the
    /// default): on until `sunset`, off from then on.
    pub enabled: Option<bool>,
    /// The sunset (unix seconds; default 2026-06-01T00:00:00Z).
    pub sunset: i64,
    /// The announced deprecation date (unix seconds; default
    /// 2025-06-01T00:00:00Z), sent in the `Deprecation` header.
    pub deprecated_since: i64,
    /// How long a challenge (nonce) waits for its first use (60 s).
    pub nonce_ttl_secs: i64,
}

/// 2026-06-01T00:00:00Z, the sunset the CTI documentation announced.
pub const DEFAULT_LEGACY_SUNSET: i64 = 1_780_272_000;
/// 2025-06-01T00:00:00Z.
pub const DEFAULT_LEGACY_DEPRECATED_SINCE: i64 = 1_748_736_000;

impl Default for LegacyPolicy {
    fn default() -> Self {
        Self {
            enabled: None,
            sunset: DEFAULT_LEGACY_SUNSET,
            deprecated_since: DEFAULT_LEGACY_DEPRECATED_SINCE,
            nonce_ttl_secs: 60,
        }
    }
}

impl LegacyPolicy {
    /// Whether the legacy method answers at `now` (unix seconds).
    pub fn is_active(&self, now: i64) -> bool {
        self.enabled.unwrap_or(now < self.sunset)
    }
}

/// Everything the core's rules are parameterised by.
#[derive(Debug, Clone)]
pub struct Policy {
    /// Issuer shown in authenticator apps and written into `iss`.
    pub issuer: String,
    /// JWT lifetime in seconds (default 14 days).
    pub token_lifetime_secs: i64,
    /// Persistent (integration) token lifetime in seconds (default 10
    /// years, API.md §10).
    pub persistent_lifetime_secs: i64,
    /// TOTP steps accepted either side of the current one (default 1).
    pub totp_skew_steps: u32,
    /// OTP failures per user (default: 5 consecutive, 30 s doubling to 15 min).
    pub otp_lockout: ThrottlePolicy,
    /// Password failures per username (default as OTP).
    pub login_user: ThrottlePolicy,
    /// Password failures per client IP (default: 20 within 10 minutes).
    pub login_ip: ThrottlePolicy,
    /// Cost of every argon2id hash (passwords, recovery codes).
    pub argon2: Argon2Cost,
    /// Hashes run at once (default: the number of CPUs).
    pub hashing_threads: usize,
    /// Hash requests allowed to wait; beyond it a login is shed with 503.
    pub hashing_queue: usize,
    /// Out-of-band codes sent per user (default: 5 within 10 minutes, then
    /// none until the window has passed).
    pub oob_send: ThrottlePolicy,
    /// The legacy challenge login's sunset.
    pub legacy: LegacyPolicy,
    /// Audit records older than this many days are deleted by the hourly
    /// housekeeping (default 90; 0 keeps them forever).
    pub audit_retention_days: u32,
    /// Shortest password an operator may set, in characters (default 8;
    /// see `password_policy`).
    pub password_min_length: usize,
    /// `two_factor.required`: every user must have 2FA (API.md §11),
    /// unless their per-user override says otherwise (default false).
    pub two_factor_required: bool,
}

impl Policy {
    /// A send limit of `max` codes per user within `window_secs` (then
    /// locked for the rest of the window).
    pub fn oob_send_limit(max: u32, window_secs: i64) -> ThrottlePolicy {
        ThrottlePolicy {
            max_failures: max,
            window_secs: Some(window_secs),
            base_secs: window_secs,
            cap_secs: window_secs,
        }
    }
}

impl Default for Policy {
    fn default() -> Self {
        let consecutive = ThrottlePolicy {
            max_failures: 5,
            window_secs: None,
            base_secs: 30,
            cap_secs: 15 * 60,
        };
        let threads = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(2);
        Self {
            issuer: "otpgate".to_owned(),
            token_lifetime_secs: 14 * 24 * 3600,
            persistent_lifetime_secs: 10 * 365 * 24 * 3600,
            totp_skew_steps: 1,
            otp_lockout: consecutive,
            login_user: consecutive,
            login_ip: ThrottlePolicy {
                max_failures: 20,
                window_secs: Some(600),
                ..consecutive
            },
            argon2: Argon2Cost::default(),
            hashing_threads: threads,
            hashing_queue: 256,
            oob_send: Self::oob_send_limit(5, 600),
            legacy: LegacyPolicy::default(),
            audit_retention_days: 90,
            password_min_length: crate::password_policy::DEFAULT_MIN_LENGTH,
            two_factor_required: false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_starts_at_threshold_doubles_and_caps() {
        let p = Policy::default().otp_lockout;
        assert_eq!(p.lock_secs(4), None);
        assert_eq!(p.lock_secs(5), Some(30));
        assert_eq!(p.lock_secs(6), Some(60));
        assert_eq!(p.lock_secs(7), Some(120));
        assert_eq!(p.lock_secs(10), Some(900));
        assert_eq!(p.lock_secs(1000), Some(900));
    }

    #[test]
    fn legacy_runs_until_the_sunset_unless_told_otherwise() {
        let mut l = LegacyPolicy::default();
        assert!(l.is_active(DEFAULT_LEGACY_SUNSET - 1));
        assert!(!l.is_active(DEFAULT_LEGACY_SUNSET));
        l.enabled = Some(true);
        assert!(l.is_active(DEFAULT_LEGACY_SUNSET + 1));
        l.enabled = Some(false);
        assert!(!l.is_active(DEFAULT_LEGACY_SUNSET - 1));
    }
}
