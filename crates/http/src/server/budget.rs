//! The connection budget: how many sockets are open, overall and per client
//! address, and the counters `/metrics` shows about them.
//!
//! The accept loop asks [`Budget::admit`] for every accepted socket; the
//! [`Permit`] it returns travels with the socket (also through a WebSocket
//! upgrade) and gives the slot back when the socket is dropped. A refusal
//! never waits: the caller closes the socket at once.
//!
//! At the total cap, a new connection is not simply refused: that would
//! let anyone who holds the cap's worth of half-open sockets (from enough
//! addresses) shut every new client out until the header timeout. Like
//! nginx draining keep-alive connections when it runs short, the oldest
//! connection that owes a request (a head not yet complete, or an idle
//! keep-alive) is closed to make room; a request being answered is never
//! cut. Only when no such connection is found is the new one refused.

use std::collections::{HashMap, VecDeque};
use std::net::{IpAddr, Ipv6Addr};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, Weak};

use super::watch::Watch;

pub use crate::metrics::{Cause, ConnStats};

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
    /// Open connections in order of admission (eviction candidates;
    /// entries of ended ones are dropped as they are met).
    queue: Mutex<VecDeque<Weak<Watch>>>,
    stats: Arc<crate::metrics::HttpMetrics>,
}

/// Evicted connections may still hold their descriptor for a moment: the
/// count may pass the cap by this many (within [`super::RESERVED_FDS`]).
const EVICTION_SLACK: u64 = 32;
/// Queue entries looked at per admission at the cap.
const EVICTION_SCAN: usize = 64;

impl Budget {
    /// A budget of `max_total` connections, `max_per_address` per client
    /// address (0: none), counted in `stats`.
    pub fn new(
        max_total: usize,
        max_per_address: usize,
        stats: Arc<crate::metrics::HttpMetrics>,
    ) -> Arc<Self> {
        let max_total = u64::try_from(max_total).unwrap_or(u64::MAX);
        stats.connections.max.store(max_total, Ordering::Relaxed);
        Arc::new(Self {
            max_total,
            max_per_address,
            by_address: Mutex::new(HashMap::new()),
            queue: Mutex::new(VecDeque::new()),
            stats,
        })
    }

    fn conn_stats(&self) -> &ConnStats {
        &self.stats.connections
    }

    /// A slot for the connection `watch` from `ip`, or why there is none
    /// (already counted in the stats). At the total cap, the oldest
    /// connection that owes a request is evicted to make room.
    pub fn admit(self: &Arc<Self>, ip: IpAddr, watch: &Arc<Watch>) -> Result<Permit, Cause> {
        let stats = self.conn_stats();
        // Only the accept loop adds, so a load-then-add cannot overshoot.
        let open = stats.open.load(Ordering::Relaxed);
        if open >= self.max_total.saturating_add(EVICTION_SLACK) {
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
        // From here the connection is counted; a refusal gives it back.
        let permit = Permit {
            budget: self.clone(),
            key,
        };
        stats.open.fetch_add(1, Ordering::Relaxed);
        let mut queue = self.queue.lock().unwrap_or_else(|p| p.into_inner());
        if open >= self.max_total && !evict_one(&mut queue, stats) {
            drop(queue);
            drop(permit);
            stats.record(Cause::TotalCap);
            return Err(Cause::TotalCap);
        }
        if queue.len()
            > usize::try_from(self.max_total)
                .unwrap_or(usize::MAX)
                .saturating_mul(2)
        {
            queue.retain(|w| w.upgrade().is_some_and(|w| !w.gone()));
        }
        queue.push_back(Arc::downgrade(watch));
        drop(queue);
        stats.accepted.fetch_add(1, Ordering::Relaxed);
        Ok(permit)
    }
}

impl Budget {
    /// Asks every open connection to finish its request and close (the
    /// server is stopping).
    pub fn stop_all(&self) {
        let queue = self.queue.lock().unwrap_or_else(|p| p.into_inner());
        for w in queue.iter().filter_map(Weak::upgrade) {
            w.stop();
        }
    }
}

/// Evicts the oldest queued connection that owes a request, looking at
/// [`EVICTION_SCAN`] entries at most; busy ones go to the back.
fn evict_one(queue: &mut VecDeque<Weak<Watch>>, stats: &ConnStats) -> bool {
    for _ in 0..EVICTION_SCAN {
        let Some(entry) = queue.pop_front() else {
            return false;
        };
        let Some(w) = entry.upgrade() else { continue };
        if w.gone() {
            continue;
        }
        if w.evictable() {
            w.evict();
            stats.record(Cause::Evicted);
            return true;
        }
        queue.push_back(entry);
    }
    false
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

    /// Admits a fresh connection (it owes its request head) from `addr`.
    fn admit(b: &Arc<Budget>, addr: &str) -> Result<(Permit, Arc<Watch>), Cause> {
        let w = Watch::new();
        b.admit(ip(addr), &w).map(|p| (p, w))
    }

    #[test]
    fn at_the_total_cap_the_oldest_connection_owing_a_request_makes_room() {
        let m = Arc::new(HttpMetrics::default());
        let b = Budget::new(2, 0, m.clone());
        let (_p1, w1) = admit(&b, "10.0.0.1").unwrap();
        let (_p2, w2) = admit(&b, "10.0.0.2").unwrap();
        w1.busy();
        let (_p3, w3) = admit(&b, "10.0.0.3").unwrap();
        assert!(!w1.is_evicted(), "a request being answered is never cut");
        assert!(w2.is_evicted());
        assert!(!w3.is_evicted());
        assert_eq!(m.connections.count(Cause::Evicted), 1);
        assert_eq!(m.connections.open(), 3, "until the evicted one closes");
        w3.busy();
        let refused = admit(&b, "10.0.0.4").unwrap_err();
        assert_eq!(refused, Cause::TotalCap, "nothing left to evict");
        assert_eq!(m.connections.count(Cause::TotalCap), 1);
        assert_eq!(m.connections.open(), 3);
        assert_eq!(m.connections.accepted(), 3);
    }

    #[test]
    fn slots_are_given_back_on_drop_and_ended_connections_are_not_evicted() {
        let m = Arc::new(HttpMetrics::default());
        let b = Budget::new(1, 0, m.clone());
        let (p1, w1) = admit(&b, "10.0.0.1").unwrap();
        w1.end();
        drop(p1);
        assert_eq!(m.connections.open(), 0);
        let (_p2, w2) = admit(&b, "10.0.0.2").unwrap();
        assert!(!w2.is_evicted());
        assert_eq!(m.connections.count(Cause::Evicted), 0);
    }

    #[test]
    fn the_per_address_cap_counts_ipv4_hosts_and_ipv6_slash_64s() {
        let m = Arc::new(HttpMetrics::default());
        let b = Budget::new(100, 2, m.clone());
        let _first = admit(&b, "10.0.0.1").unwrap();
        let _mapped = admit(&b, "::ffff:10.0.0.1").unwrap();
        assert_eq!(admit(&b, "10.0.0.1").unwrap_err(), Cause::PerAddressCap);
        assert!(admit(&b, "10.0.0.2").is_ok());
        let v6 = admit(&b, "2001:db8:1:2::1").unwrap();
        let _v6b = admit(&b, "2001:db8:1:2:ffff::9").unwrap();
        assert_eq!(
            admit(&b, "2001:db8:1:2:abcd::1").unwrap_err(),
            Cause::PerAddressCap
        );
        assert!(admit(&b, "2001:db8:1:3::1").is_ok());
        drop(v6);
        assert!(admit(&b, "2001:db8:1:2:abcd::1").is_ok());
        assert_eq!(m.connections.count(Cause::PerAddressCap), 2);
        assert_eq!(m.connections.count(Cause::Evicted), 0);
    }
}
