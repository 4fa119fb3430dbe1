//! Why a connection was refused or closed early, and the connection
//! counters `/metrics` shows. A leaf of [`super`]: the budget, the
//! per-connection watch and the metrics all name it.

use std::sync::atomic::{AtomicU64, Ordering};

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
    /// Closed at the total cap to make room for a new connection.
    Evicted,
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
            Self::Evicted => "evicted",
        }
    }
}

/// Connection counters (plain atomics, read by `/metrics`).
#[derive(Debug, Default)]
pub struct ConnStats {
    /// The cap on concurrent connections overall (0 until serving).
    pub(super) max: AtomicU64,
    pub(super) open: AtomicU64,
    pub(super) accepted: AtomicU64,
    refused_total: AtomicU64,
    refused_per_address: AtomicU64,
    closed_header: AtomicU64,
    closed_idle: AtomicU64,
    closed_body: AtomicU64,
    evicted: AtomicU64,
}

impl ConnStats {
    /// The cap on concurrent connections overall (0 until serving).
    pub fn max(&self) -> u64 {
        self.max.load(Ordering::Relaxed)
    }

    /// Connections open now (upgraded WebSockets included).
    pub fn open(&self) -> u64 {
        self.open.load(Ordering::Relaxed)
    }

    /// Connections admitted since start.
    pub fn accepted(&self) -> u64 {
        self.accepted.load(Ordering::Relaxed)
    }

    /// Connections refused (a cap) or closed early (a timeout, an
    /// eviction) for `cause`.
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
            Cause::Evicted => &self.evicted,
        }
    }
}
