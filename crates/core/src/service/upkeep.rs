//! What the transports and the CLI ask of the service beside the use
//! cases, each by its purpose: readiness, the counters `/metrics` shows,
//! the audit writer and its flush, the legacy method's dates, and the
//! service's clock. So no caller reaches the store, the audit log, the
//! clock or the policy through the service.

use std::future::Future;

use crate::config::LegacyPolicy;
use crate::error::{AuthError, StoreError};
use crate::service::AuthService;
use crate::service::audit::AuthCounters;

impl AuthService {
    /// Readiness: whether the store answers.
    pub async fn readiness(&self) -> Result<(), AuthError> {
        Ok(self.store.ping().await?)
    }

    /// Now, in unix milliseconds, by the service's clock: transports and
    /// the CLI time their own deadlines and windows by the clock the tests
    /// set.
    pub fn now_ms(&self) -> i64 {
        self.clock.now_ms()
    }

    /// The counters of authentication outcomes (for `/metrics`).
    pub fn audit_counters(&self) -> &AuthCounters {
        self.audit.counters()
    }

    /// Writes every queued audit record to the store now; returns how
    /// many were written (the CLI has no background writer). On a store
    /// error the records are kept for the next call.
    pub async fn flush_audit(&self) -> Result<usize, StoreError> {
        self.audit.flush().await
    }

    /// The audit writer to spawn: it drains the queue every
    /// [`super::audit::FLUSH_INTERVAL`] until `shutdown` turns true, then
    /// flushes a last time.
    pub fn audit_writer(
        &self,
        shutdown: tokio::sync::watch::Receiver<bool>,
    ) -> impl Future<Output = ()> + Send + 'static {
        self.audit.clone().run_writer(shutdown)
    }

    /// When the deprecated legacy method was deprecated and ends (its
    /// `Deprecation` and `Sunset` headers).
    pub fn legacy_policy(&self) -> LegacyPolicy {
        self.policy.legacy
    }
}
