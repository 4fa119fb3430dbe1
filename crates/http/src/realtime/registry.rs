//! The connected sockets of this instance: each one's phase (waiting for
//! its login until a deadline, or logged in with its live session) and its
//! upstream relay.
//!
//! Cheap per socket: one map entry (the socket handle and a small
//! [`LiveSession`]); no task or timer per socket. The one watcher task of
//! the instance (`watcher`) reads and updates it.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};

use otpgate_core::service::live::{LiveSession, LiveVerdict};
use socketioxide::extract::{AckSender, SocketRef};
use socketioxide::socket::Sid;

use crate::realtime::relay::Handle;
use crate::realtime::wire::Payload;

#[derive(Debug)]
enum Phase {
    /// Connected, not logged in; disconnected at this clock time (ms).
    Pending { deadline_ms: i64 },
    /// Logged in.
    Live(LiveSession),
}

#[derive(Debug)]
struct Entry {
    socket: SocketRef,
    phase: Phase,
    /// The relay to the upstream Socket.IO server, if configured and
    /// logged in; dropped (closing the upstream connection) with the
    /// entry.
    relay: Option<Handle>,
}

/// The sockets of one instance, by id.
#[derive(Debug, Default)]
pub struct Registry {
    sockets: Mutex<HashMap<Sid, Entry>>,
}

impl Registry {
    fn lock(&self) -> MutexGuard<'_, HashMap<Sid, Entry>> {
        self.sockets.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A new socket that must log in before `deadline_ms`.
    pub fn add_pending(&self, socket: SocketRef, deadline_ms: i64) {
        self.lock().insert(
            socket.id,
            Entry {
                socket,
                phase: Phase::Pending { deadline_ms },
                relay: None,
            },
        );
    }

    /// Marks a socket logged in; false if it is gone already.
    pub fn set_live(&self, socket: &SocketRef, session: LiveSession) -> bool {
        match self.lock().get_mut(&socket.id) {
            Some(e) => {
                e.phase = Phase::Live(session);
                true
            }
            None => false,
        }
    }

    /// Attaches the upstream relay of a logged-in socket (replacing any
    /// previous one); false if the socket is gone already (the relay is
    /// then dropped, which ends it).
    pub fn attach_relay(&self, socket: &SocketRef, relay: Handle) -> bool {
        match self.lock().get_mut(&socket.id) {
            Some(e) if matches!(e.phase, Phase::Live(_)) => {
                e.relay = Some(relay);
                true
            }
            _ => false,
        }
    }

    /// Queues a client event (and its callback) for the socket's upstream
    /// relay; false if the socket has none (not logged in, no upstream) or
    /// its queue is full.
    pub fn forward(
        &self,
        socket: &SocketRef,
        event: String,
        payload: Payload,
        ack: Option<AckSender>,
    ) -> bool {
        self.lock()
            .get(&socket.id)
            .and_then(|e| e.relay.as_ref())
            .is_some_and(|r| r.forward(event, payload, ack))
    }

    /// Forgets a socket.
    pub fn remove(&self, socket: &SocketRef) {
        self.lock().remove(&socket.id);
    }

    /// Sockets held.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Sockets held: (waiting for their login, logged in).
    pub fn counts(&self) -> (usize, usize) {
        let map = self.lock();
        let live = map
            .values()
            .filter(|e| matches!(e.phase, Phase::Live(_)))
            .count();
        (map.len().saturating_sub(live), live)
    }

    /// Whether no socket is held.
    pub fn is_empty(&self) -> bool {
        self.lock().is_empty()
    }

    /// Removes and returns the pending sockets whose time is up, and
    /// returns a snapshot of the logged-in ones.
    pub(super) fn take_overdue_and_snapshot(
        &self,
        now_ms: i64,
    ) -> (Vec<SocketRef>, Vec<Sid>, Vec<LiveSession>) {
        let mut map = self.lock();
        let overdue: Vec<Sid> = map
            .iter()
            .filter(
                |(_, e)| matches!(e.phase, Phase::Pending { deadline_ms } if deadline_ms <= now_ms),
            )
            .map(|(sid, _)| *sid)
            .collect();
        let overdue = overdue
            .iter()
            .filter_map(|sid| map.remove(sid).map(|e| e.socket))
            .collect();
        let mut sids = Vec::new();
        let mut sessions = Vec::new();
        for (sid, e) in map.iter() {
            if let Phase::Live(s) = &e.phase {
                sids.push(*sid);
                sessions.push(s.clone());
            }
        }
        (overdue, sids, sessions)
    }

    /// Applies verdicts: rebinds swapped sessions, records 2FA changes,
    /// removes ended sockets, and returns what to tell whom (sent outside
    /// the lock).
    pub(super) fn apply(
        &self,
        sids: &[Sid],
        verdicts: Vec<LiveVerdict>,
    ) -> Vec<(SocketRef, LiveVerdict)> {
        let mut map = self.lock();
        let mut out = Vec::new();
        for (sid, v) in sids.iter().zip(verdicts) {
            if v.two_factor_changed.is_none() && v.ended.is_none() && v.rebound.is_none() {
                continue;
            }
            let Some(entry) = map.get_mut(sid) else {
                continue;
            };
            if let (Some(to), Phase::Live(s)) = (&v.rebound, &mut entry.phase) {
                *s = to.clone();
            }
            if let (Some(on), Phase::Live(s)) = (v.two_factor_changed, &mut entry.phase) {
                s.two_factor = on;
            }
            let socket = entry.socket.clone();
            if v.ended.is_some() {
                map.remove(sid);
            }
            out.push((socket, v));
        }
        out
    }
}
