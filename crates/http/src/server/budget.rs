//! The connection budget: how many sockets are open, overall and per client
//! address, and the counters `/metrics` shows about them.
//!
//! The accept loop asks [`Budget::admit`] for every accepted socket; the
//! [`Permit`] it returns travels with the socket (also through a WebSocket
//! upgrade) and gives the slot back when the socket is dropped. A refusal
//! never waits: the caller closes the socket at once.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv6Addr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// Why a connection was refused or closed early (the `cause` label).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cause {
    /// The cap on concurrent connections overall.
    TotalCap,
    /// The cap on concurrent connections from one client address.
    PerAddressCap,
    /// A request head not received within the header timeout.
    HeaderTimeout,
    /// A keep-alive connection idle for the idle timeout.
    IdleTimeout,
    /// A request body not received within the body timeout.
    BodyTimeout,
}

impl Cause {
    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::TotalCap => "total_cap",
            Self::PerAddressCap => "per_address_cap",
            Self::HeaderTimeout => "header_timeout",
            Self::IdleTimeout => "idle_timeout",
            Self::BodyTimeout => "body_timeout",
        }
    }
}

/// Connection counters (plain atomics, read by `/metrics`).
#[derive(Debug, Default)]
pub struct ConnStats {
    open: AtomicU64,
    accepted: AtomicU64,
    refused_total: AtomicU64,
    refused_per_address: AtomicU64,
    closed_header: AtomicU64,
    closed_idle: AtomicU64,
    closed_body: AtomicU64,
}

impl ConnStats {
    /// Connections open now (upgraded WebSockets included).
    pub fn open(&self) -> u64 {
        self.open.load(Ordering::Relaxed)
    }

    /// Connections admitted since start.
    pub fn accepted(&self) -> u64 {
        self.accepted.load(Ordering::Relaxed)
    }

    /// Connections refused (a cap) or closed early (a timeout) for `cause`.
    pub fn count(&self, cause: Cause) -> u64 {
        self.counter(cause).load(Ordering::Relaxed)
    }

    /// Counts one refusal or early close.
    pub fn record(&self, cause: Cause) {
        self.counter(cause).fetch_add(1, Ordering::Relaxed);
    }

    fn counter(&self, cause: Cause) -> &AtomicU64 {
        match cause {
            Cause::TotalCap => &self.refused_total,
            Cause::PerAddressCap => &self.refused_per_address,
            Cause::HeaderTimeout => &self.closed_header,
            Cause::IdleTimeout => &self.closed_idle,
            Cause::BodyTimeout => &self.closed_body,
        }
    }
}

/// The key a client address is counted under: the IPv4 address, or the
/// IPv6 /64 (one host usually holds a whole /64). IPv4-mapped IPv6
/// addresses count as their IPv4 address.
fn address_key(ip: IpAddr) -> IpAddr {
    match ip.to_canonical() {
        IpAddr::V4(v4) => IpAddr::V4(v4),
        IpAddr::V6(v6) => {
            let [a, b, c, d, ..] = v6.segments();
            IpAddr::V6(Ipv6Addr::new(a, b, c, d, 0, 0, 0, 0))
        }
    }
}

/// The caps and the live counts.
#[derive(Debug)]
pub struct Budget {
    max_total: u64,
    /// 0: no cap per address.
    max_per_address: usize,
    by_address: Mutex<HashMap<IpAddr, usize>>,
    stats: Arc<crate::metrics::HttpMetrics>,
}

impl Budget {
    /// A budget of `max_total` connections, `max_per_address` per client
    /// address (0: none), counted in `stats`.
    pub fn new(
        max_total: usize,
        max_per_address: usize,
        stats: Arc<crate::metrics::HttpMetrics>,
    ) -> Arc<Self> {
        Arc::new(Self {
            max_total: u64::try_from(max_total).unwrap_or(u64::MAX),
            max_per_address,
            by_address: Mutex::new(HashMap::new()),
            stats,
        })
    }

    fn conn_stats(&self) -> &ConnStats {
        &self.stats.connections
    }

    /// A slot for a connection from `ip`, or why there is none (already
    /// counted in the stats).
    pub fn admit(self: &Arc<Self>, ip: IpAddr) -> Result<Permit, Cause> {
        let stats = self.conn_stats();
        // Only the accept loop adds, so a load-then-add cannot overshoot.
        if stats.open.load(Ordering::Relaxed) >= self.max_total {
            stats.record(Cause::TotalCap);
            return Err(Cause::TotalCap);
        }
        let key = (self.max_per_address > 0).then(|| address_key(ip));
        if let Some(key) = key {
            let mut map = self.by_address.lock().unwrap_or_else(|p| p.into_inner());
            let n = map.entry(key).or_insert(0);
            if *n >= self.max_per_address {
                drop(map);
                stats.record(Cause::PerAddressCap);
                return Err(Cause::PerAddressCap);
            }
            *n += 1;
        }
        stats.open.fetch_add(1, Ordering::Relaxed);
        stats.accepted.fetch_add(1, Ordering::Relaxed);
        Ok(Permit {
            budget: self.clone(),
            key,
        })
    }
}

/// One admitted connection's slot, given back on drop.
#[derive(Debug)]
pub struct Permit {
    budget: Arc<Budget>,
    key: Option<IpAddr>,
}

impl Drop for Permit {
    fn drop(&mut self) {
        if let Some(key) = self.key {
            let mut map = self
                .budget
                .by_address
                .lock()
                .unwrap_or_else(|p| p.into_inner());
            if let Some(n) = map.get_mut(&key) {
                *n = n.saturating_sub(1);
                if *n == 0 {
                    map.remove(&key);
                }
            }
        }
        self.budget
            .conn_stats()
            .open
            .fetch_sub(1, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::HttpMetrics;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn the_total_cap_refuses_past_it_and_frees_on_drop() {
        let m = Arc::new(HttpMetrics::default());
        let b = Budget::new(2, 0, m.clone());
        let a = b.admit(ip("10.0.0.1")).unwrap();
        let _b = b.admit(ip("10.0.0.2")).unwrap();
        assert_eq!(b.admit(ip("10.0.0.3")).unwrap_err(), Cause::TotalCap);
        assert_eq!(m.connections.open(), 2);
        drop(a);
        assert_eq!(m.connections.open(), 1);
        assert!(b.admit(ip("10.0.0.3")).is_ok());
        assert_eq!(m.connections.count(Cause::TotalCap), 1);
        assert_eq!(m.connections.accepted(), 3);
    }

    #[test]
    fn the_per_address_cap_counts_ipv4_hosts_and_ipv6_slash_64s() {
        let m = Arc::new(HttpMetrics::default());
        let b = Budget::new(100, 2, m.clone());
        let _1 = b.admit(ip("10.0.0.1")).unwrap();
        let _2 = b.admit(ip("::ffff:10.0.0.1")).unwrap();
        assert_eq!(b.admit(ip("10.0.0.1")).unwrap_err(), Cause::PerAddressCap);
        assert!(b.admit(ip("10.0.0.2")).is_ok());
        let v6 = b.admit(ip("2001:db8:1:2::1")).unwrap();
        let _v6b = b.admit(ip("2001:db8:1:2:ffff::9")).unwrap();
        assert_eq!(
            b.admit(ip("2001:db8:1:2:abcd::1")).unwrap_err(),
            Cause::PerAddressCap
        );
        assert!(b.admit(ip("2001:db8:1:3::1")).is_ok());
        drop(v6);
        assert!(b.admit(ip("2001:db8:1:2:abcd::1")).is_ok());
        assert_eq!(m.connections.count(Cause::PerAddressCap), 2);
    }
}
