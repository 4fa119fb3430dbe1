//! The watcher of logged-in sockets: one task per instance wakes every
//! poll interval (or at once when this process revoked something),
//! disconnects sockets whose login time is up, and checks every logged-in
//! socket with one batched core call
//! ([`otpgate_core::AuthService::still_valid`]), which sees revocations
//! made by any process sharing the store.

use std::sync::Arc;

use serde_json::json;

use crate::realtime::close::disconnect;
use crate::realtime::hub::Realtime;

impl Realtime {
    /// One pass of the watcher.
    pub async fn sweep(&self) {
        let now_ms = self.auth.now_ms();
        let (overdue, sids, sessions) = self.registry.take_overdue_and_snapshot(now_ms);
        for s in overdue {
            tracing::debug!(target: "otpgate::ws", sid = %s.id, "no login in time");
            disconnect(s);
        }
        if sessions.is_empty() {
            return;
        }
        let verdicts = match self.auth.still_valid(&sessions).await {
            Ok(v) => v,
            Err(e) => {
                // Never end sessions because the store hiccuped; retry
                // at the next tick.
                tracing::warn!(target: "otpgate::ws", error = %e, "live-session check failed");
                return;
            }
        };
        for (socket, v) in self.registry.apply(&sids, verdicts) {
            if let Some(on) = v.two_factor_changed {
                let _ = socket.emit("2fa_status", &json!({"status": on}));
            }
            if let Some(reason) = v.ended {
                let _ = socket.emit(
                    "session_revoked",
                    &json!({"message": "session revoked", "reason": reason.as_str()}),
                );
                disconnect(socket);
            }
        }
    }
}

/// Starts the watcher of `rt`: it runs until `rt` is dropped.
pub fn spawn_watcher(rt: &Arc<Realtime>) {
    let weak = Arc::downgrade(rt);
    let mut signal = rt.auth.revocation_signal();
    let poll = rt.settings.poll_interval;
    tokio::spawn(async move {
        loop {
            tokio::select! {
                () = tokio::time::sleep(poll) => {}
                changed = signal.changed() => {
                    if changed.is_err() {
                        tokio::time::sleep(poll).await;
                    }
                }
            }
            let Some(rt) = weak.upgrade() else { break };
            rt.sweep().await;
        }
    });
}
