//! The global per-client-IP request rate limit (a token bucket per IP), as
//! the service we replace had: `average` requests/s with bursts of `burst`.
//!
//! This is a per-instance guard against floods, not a security rule: the
//! rules that must hold across instances (lockouts, back-off) live in the
//! core and the store.
//!
//! Clients are keyed as the core's per-IP login throttle keys them
//! ([`AddressKey`]): an IPv6 client by its /64.

use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use otpgate_core::address::AddressKey;

const SHARDS: usize = 16;
/// Buckets idle this long are full again and can be forgotten.
const IDLE: Duration = Duration::from_secs(180);

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    last: Instant,
}

/// Token buckets keyed by client address (an IPv6 /64 as one), sharded to
/// keep locks short.
#[derive(Debug)]
pub struct RateLimiter {
    rate: f64,
    burst: f64,
    shards: Vec<Mutex<HashMap<AddressKey, Bucket>>>,
    hasher: RandomState,
}

impl RateLimiter {
    /// `average` tokens per second, at most `burst` (at least 1) at once.
    pub fn new(average: u32, burst: u32) -> Self {
        Self {
            rate: f64::from(average.max(1)),
            burst: f64::from(burst.max(1)),
            shards: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
            hasher: RandomState::new(),
        }
    }

    fn shard(&self, key: &AddressKey) -> Option<&Mutex<HashMap<AddressKey, Bucket>>> {
        let i = usize::try_from(self.hasher.hash_one(key) % SHARDS as u64).unwrap_or(0);
        self.shards.get(i)
    }

    /// Takes one token for `ip`'s client (its /64 for IPv6) at `now`;
    /// `Err(seconds)` to wait if none.
    pub fn check(&self, ip: IpAddr, now: Instant) -> Result<(), u64> {
        let key = AddressKey::of(ip);
        let Some(shard) = self.shard(&key) else {
            return Ok(());
        };
        let mut map = shard.lock().unwrap_or_else(|p| p.into_inner());
        let b = map.entry(key).or_insert(Bucket {
            tokens: self.burst,
            last: now,
        });
        let elapsed = now.saturating_duration_since(b.last).as_secs_f64();
        b.tokens = (b.tokens + elapsed * self.rate).min(self.burst);
        b.last = now;
        if b.tokens >= 1.0 {
            b.tokens -= 1.0;
            Ok(())
        } else {
            let wait = (1.0 - b.tokens) / self.rate;
            Err(wait.ceil().max(1.0) as u64)
        }
    }

    /// Forgets buckets idle for more than three minutes.
    pub fn evict_idle(&self, now: Instant) {
        for shard in &self.shards {
            let mut map = shard.lock().unwrap_or_else(|p| p.into_inner());
            map.retain(|_, b| now.saturating_duration_since(b.last) < IDLE);
        }
    }

    /// Number of IPs tracked.
    pub fn tracked(&self) -> usize {
        self.shards
            .iter()
            .map(|s| s.lock().unwrap_or_else(|p| p.into_inner()).len())
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn burst_then_refill() {
        let rl = RateLimiter::new(2, 3);
        let ip: IpAddr = "10.0.0.1".parse().expect("ip");
        let other: IpAddr = "10.0.0.2".parse().expect("ip");
        let t0 = Instant::now();
        for _ in 0..3 {
            assert!(rl.check(ip, t0).is_ok());
        }
        assert_eq!(rl.check(ip, t0), Err(1));
        assert!(rl.check(other, t0).is_ok(), "per IP");
        assert!(
            rl.check(ip, t0 + Duration::from_millis(500)).is_ok(),
            "refilled one token"
        );
        assert!(rl.check(ip, t0 + Duration::from_millis(500)).is_err());
        rl.evict_idle(t0 + Duration::from_secs(600));
        assert_eq!(rl.tracked(), 0);
    }

    #[test]
    fn an_ipv6_64_shares_one_bucket() {
        let rl = RateLimiter::new(1, 2);
        let t0 = Instant::now();
        let a: IpAddr = "2001:db8:7:1::1".parse().expect("ip");
        let b: IpAddr = "2001:db8:7:1:ffff::2".parse().expect("ip");
        let other: IpAddr = "2001:db8:7:2::1".parse().expect("ip");
        assert!(rl.check(a, t0).is_ok());
        assert!(rl.check(b, t0).is_ok());
        assert!(rl.check(a, t0).is_err(), "the /64's burst is spent");
        assert!(rl.check(other, t0).is_ok(), "another /64 has its own");
        let mapped: IpAddr = "::ffff:10.0.0.9".parse().expect("ip");
        let v4: IpAddr = "10.0.0.9".parse().expect("ip");
        assert!(rl.check(mapped, t0).is_ok());
        assert!(rl.check(v4, t0).is_ok());
        assert!(
            rl.check(v4, t0).is_err(),
            "a mapped address is the IPv4 one"
        );
        assert_eq!(rl.tracked(), 3);
    }
}
