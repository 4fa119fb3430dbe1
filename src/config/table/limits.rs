//! Rows of the settings table: tokens, TOTP, lockout, rate limit, password
//! hashing, out-of-band codes, audit, passwords and mandatory 2FA.

use crate::config::section::section;
use crate::config::value::Bounds;

section! {
    /// The settings of `[jwt]`.
    pub struct RawJwt = "jwt." {
        lifetime_secs: i64 = [14 * 24 * 3600] {
            env: "OTPGATE_JWT_LIFETIME_SECS",
            check: Bounds::positive(),
            default_doc: "`1209600` (14 days)",
            doc: "token lifetime",
            show: |c| c.policy.token_lifetime_secs.to_string(),
        }
        persistent_lifetime_secs: i64 = [10 * 365 * 24 * 3600] {
            env: "OTPGATE_JWT_PERSISTENT_LIFETIME_SECS",
            check: Bounds::positive_up_to(100 * 366 * 24 * 3600).hi_words("100 years"),
            default_doc: "`315360000` (10 years)",
            doc: "persistent (integration) token lifetime, at most 100 years",
            show: |c| c.policy.persistent_lifetime_secs.to_string(),
        }
    }
    children {  }
}

section! {
    /// The settings of `[totp]`.
    pub struct RawTotp = "totp." {
        skew_steps: u32 = [1] {
            env: "OTPGATE_TOTP_SKEW_STEPS",
            check: Bounds::at_most(10),
            default_doc: "`1`",
            doc: "steps accepted either side of now",
            show: |c| c.policy.totp_skew_steps.to_string(),
        }
    }
    children {  }
}

section! {
    /// The settings of `[lockout]`.
    pub struct RawLockout = "lockout." {
        otp_max_failures: u32 = [5] {
            env: "OTPGATE_LOCKOUT_OTP_MAX_FAILURES",
            check: Bounds::between(1, 100).note(" (NIST SP 800-63B caps consecutive failures at 100)"),
            default_doc: "`5`",
            doc: "consecutive wrong codes before a lock (1-100)",
            show: |c| c.policy.otp_lockout.max_failures.to_string(),
        }
        login_user_max_failures: u32 = [5] {
            env: "OTPGATE_LOCKOUT_LOGIN_USER_MAX_FAILURES",
            check: Bounds::between(1, 100).note(" (NIST SP 800-63B caps consecutive failures at 100)"),
            default_doc: "`5`",
            doc: "consecutive wrong passwords per username (1-100)",
            show: |c| c.policy.login_user.max_failures.to_string(),
        }
        login_ip_max_failures: u32 = [20] {
            env: "OTPGATE_LOCKOUT_LOGIN_IP_MAX_FAILURES",
            default_doc: "`20`",
            doc: "wrong passwords per client IP within the window",
            show: |c| c.policy.login_ip.max_failures.to_string(),
        }
        login_ip_window_secs: i64 = [600] {
            env: "OTPGATE_LOCKOUT_LOGIN_IP_WINDOW_SECS",
            check: Bounds::positive(),
            default_doc: "`600`",
            doc: "that window",
            show: |c| c.policy.login_ip.window_secs.unwrap_or(0).to_string(),
        }
        backoff_base_secs: i64 = [30] {
            env: "OTPGATE_LOCKOUT_BACKOFF_BASE_SECS",
            check: Bounds::positive(),
            default_doc: "`30`",
            doc: "first lock; doubles with each further failure",
            show: |c| c.policy.otp_lockout.base_secs.to_string(),
        }
        backoff_cap_secs: i64 = [900] {
            env: "OTPGATE_LOCKOUT_BACKOFF_CAP_SECS",
            check: Bounds::positive(),
            default_doc: "`900`",
            doc: "longest lock",
            show: |c| c.policy.otp_lockout.cap_secs.to_string(),
        }
    }
    children {  }
}

section! {
    /// The settings of `[rate_limit]`.
    pub struct RawRateLimit = "rate_limit." {
        average: u32 = [25] {
            env: "OTPGATE_RATE_LIMIT_AVERAGE",
            dropin: "NETHVOICE_MIDDLEWARE_GLOBAL_RATE_LIMIT_AVERAGE",
            default_doc: "`25`",
            doc: "requests/s per client IP; `0` turns the limit off",
            show: |c| format!("{} req/s", c.http.rate_limit_average),
        }
        burst: u32 = [100] {
            env: "OTPGATE_RATE_LIMIT_BURST",
            dropin: "NETHVOICE_MIDDLEWARE_GLOBAL_RATE_LIMIT_BURST",
            default_doc: "`100`",
            doc: "burst per client IP",
            show: |c| c.http.rate_limit_burst.to_string(),
        }
    }
    children {  }
}

section! {
    /// The settings of `[argon2]`.
    pub struct RawArgon2 = "argon2." {
        memory_kib: u32 = [19_456] {
            env: "OTPGATE_ARGON2_MEMORY_KIB",
            default_doc: "`19456`",
            doc: "argon2id memory",
            show: |c| c.policy.argon2.memory_kib.to_string(),
        }
        iterations: u32 = [2] {
            env: "OTPGATE_ARGON2_ITERATIONS",
            default_doc: "`2`",
            doc: "argon2id passes",
            show: |c| c.policy.argon2.iterations.to_string(),
        }
        parallelism: u32 = [1] {
            env: "OTPGATE_ARGON2_PARALLELISM",
            default_doc: "`1`",
            doc: "argon2id lanes",
            show: |c| c.policy.argon2.parallelism.to_string(),
        }
        threads: usize = [] {
            env: "OTPGATE_HASHING_THREADS",
            check: Bounds::at_least(1),
            default_doc: "number of CPUs",
            doc: "hashes computed at once",
            show: |c| c.policy.hashing_threads.to_string(),
        }
        queue: usize = [256] {
            env: "OTPGATE_HASHING_QUEUE",
            default_doc: "`256`",
            doc: "hash requests allowed to wait; beyond it 503",
            show: |c| c.policy.hashing_queue.to_string(),
        }
    }
    children {  }
}

section! {
    /// The settings of `[oob]`.
    pub struct RawOob = "oob." {
        send_max: u32 = [5] {
            env: "OTPGATE_OOB_SEND_MAX",
            check: Bounds::between(1, 100),
            default_doc: "`5`",
            doc: "e-mail/SMS codes sent per user within the window (1-100)",
            show: |c| {
                format!(
                    "{} (codes valid 10 min, 5 attempts each)",
                    c.policy.oob_send.max_failures
                )
            },
        }
        send_window_secs: i64 = [600] {
            env: "OTPGATE_OOB_SEND_WINDOW_SECS",
            check: Bounds::positive(),
            default_doc: "`600`",
            doc: "that window; past the limit, none until it has passed",
            show: |c| c.policy.oob_send.window_secs.unwrap_or(0).to_string(),
        }
    }
    children {  }
}

section! {
    /// The settings of `[audit]`.
    pub struct RawAudit = "audit." {
        retention_days: u32 = [90] {
            env: "OTPGATE_AUDIT_RETENTION_DAYS",
            check: Bounds::at_most(36_500).note(" (0 keeps records forever)"),
            default_doc: "`90`",
            doc: "audit records older than this are deleted hourly; `0` keeps them forever",
            show: |c| match c.policy.audit_retention_days {
                0 => "0 (kept forever)".to_owned(),
                d => d.to_string(),
            },
        }
    }
    children {  }
}

section! {
    /// The settings of `[password]`.
    pub struct RawPassword = "password." {
        min_length: usize = [8] {
            env: "OTPGATE_PASSWORD_MIN_LENGTH",
            check: Bounds::between(1, 128).note(" (NIST SP 800-63B asks for at least 8)"),
            default_doc: "`8`",
            doc: "shortest password `user add` / `user passwd` accept (characters, 1-128); commonly used passwords are refused at any length ([docs/security.md](docs/security.md#password-policy))",
            show: |c| {
                format!(
                    "{} (and not a commonly used password)",
                    c.policy.password_min_length
                )
            },
        }
    }
    children {  }
}

section! {
    /// The settings of `[two_factor]`.
    pub struct RawTwoFactor = "two_factor." {
        required: bool = [false] {
            env: "OTPGATE_TWO_FACTOR_REQUIRED",
            default_doc: "`false`",
            doc: "every user must have 2FA: one without it sets it up at the next login ([Mandatory two-factor authentication](#mandatory-two-factor-authentication)); `otpgate user require-2fa` overrides it per user",
            show: |c| c.policy.two_factor_required.to_string(),
        }
    }
    children {  }
}
