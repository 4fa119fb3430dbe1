//! What a per-address limit counts: one function shared by the core's
//! per-IP login throttle and the HTTP layer's per-IP rate limit, so both
//! see the same client.
//!
//! An IPv4 address is one client. An IPv6 client usually holds a whole /64
//! (one subnet per customer, and privacy addresses change within it at
//! will), so an IPv6 address counts by its /64 (API.md §7). An IPv4-mapped
//! IPv6 address (`::ffff:a.b.c.d`) counts as the IPv4 address.

use std::fmt;
use std::net::{IpAddr, Ipv6Addr};

/// The unit a per-address limit keys: an IPv4 address or an IPv6 /64.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct AddressKey(IpAddr);

impl AddressKey {
    /// The limit key of a client address.
    pub fn of(ip: IpAddr) -> Self {
        match ip {
            IpAddr::V4(_) => Self(ip),
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => Self(IpAddr::V4(v4)),
                None => {
                    let prefix = u128::from(v6) & !u128::from(u64::MAX);
                    Self(IpAddr::V6(Ipv6Addr::from(prefix)))
                }
            },
        }
    }
}

impl fmt::Display for AddressKey {
    /// `192.0.2.1` for IPv4, `2001:db8:1:2::/64` for an IPv6 /64 (the form
    /// the login throttle stores).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            IpAddr::V4(v4) => write!(f, "{v4}"),
            IpAddr::V6(v6) => write!(f, "{v6}/64"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(s: &str) -> AddressKey {
        AddressKey::of(s.parse().expect("ip"))
    }

    #[test]
    fn ipv6_counts_by_its_64() {
        assert_eq!(
            key("2001:db8:1:2::1"),
            key("2001:db8:1:2:ffff:ffff:ffff:ffff")
        );
        assert_eq!(key("2001:db8:1:2:abcd::7").to_string(), "2001:db8:1:2::/64");
        assert_ne!(
            key("2001:db8:1:2::1"),
            key("2001:db8:1:3::1"),
            "another /64"
        );
        assert_ne!(key("2001:db8:1:2::1"), key("2001:db9:1:2::1"));
    }

    #[test]
    fn ipv4_counts_by_address_and_a_mapped_one_as_ipv4() {
        assert_eq!(key("192.0.2.1").to_string(), "192.0.2.1");
        assert_ne!(key("192.0.2.1"), key("192.0.2.2"), "IPv4: one address");
        assert_eq!(key("::ffff:192.0.2.1"), key("192.0.2.1"));
        assert_ne!(key("::ffff:192.0.2.1"), key("::ffff:192.0.2.2"));
        assert_eq!(key("::ffff:192.0.2.1").to_string(), "192.0.2.1");
    }
}
