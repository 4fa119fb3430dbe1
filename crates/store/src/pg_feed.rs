//! [`Store::change_stamp`] for PostgreSQL: the change feed every instance
//! hears, so token checks are answered from memory between commits.
//!
//! Every commit that changes what a token check reads (a user row, a
//! revoked token id) bumps a counter in the same transaction (triggers,
//! migration 0009), and the store that wrote notifies the channel
//! [`CHANNEL`] once it committed ([`Feed::changed`]: writes waiting at
//! the same moment share one notification, and the write returns only
//! after its own listener heard it, at most [`WRITE_WAIT`] later). Not inside the transaction: a notifying
//! transaction holds a database-wide lock until its commit is flushed,
//! which made every write wait for the previous one's fsync. Each store
//! keeps one dedicated `LISTEN` connection (named `otpgate-feed-PID-N` in
//! `pg_stat_activity.application_name`); every notification moves the
//! stamp, which empties the remembered checks. A write whose notification
//! never went out (the process died between commit and notification, an
//! operator's SQL) is caught by the counter poll below.
//!
//! The stamp is given out only while the feed is known to work:
//!
//! - **Connected and proven.** Every [`POLL`] the store sends a *ping*,
//!   a notification of its own, through the pool, and reads the counter
//!   in the same statement. PostgreSQL delivers notifications in commit
//!   order, so when the ping comes back every commit before it has been
//!   heard. The stamp is given out only after the first ping of a
//!   connection came back, and only while no ping is older than
//!   [`PING_DEADLINE`]: a listener that hears nothing (a half-open TCP
//!   connection, or PgBouncer in transaction mode, where `LISTEN` does
//!   not reach the session) turns the memory off instead of trusting it.
//! - **Lost.** When the listening connection ends (an error, end of
//!   stream, the backend terminated) or a ping is late, the stamp moves
//!   and none is given out (every request queries) until a new
//!   connection listens again, its first ping is back and the counter
//!   was read again.
//! - **Missed notification.** A poll that reads a counter different from
//!   the last one moves the stamp too, whatever was heard.
//!
//! Moving the stamp before turning the feed off, and again before turning
//! it on, means an answer remembered under one connection is never served
//! under another. Nothing has to arrive for the memory to turn off: a
//! ping has to come back for it to turn on, and to stay on.
//!
//! [`Store::change_stamp`]: otpgate_core::store::TokenStore::change_stamp

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use otpgate_core::store::ChangeStamp;
use sqlx::postgres::{PgConnectOptions, PgListener, PgPool, PgPoolOptions};
use tokio::sync::Notify;
use tokio::task::JoinHandle;
use tokio::time::Instant;

/// The channel stores notify after their commits, and listen on.
pub(crate) const CHANNEL: &str = "otpgate_changes";
/// How often a ping is sent and the counter read.
pub(crate) const POLL: Duration = Duration::from_millis(250);
/// A ping not back within this turns the memory off (and reconnects).
pub(crate) const PING_DEADLINE: Duration = Duration::from_secs(1);
/// The notification of a commit (every other instance forgets).
const NOTIFY: &str = "SELECT pg_notify('otpgate_changes', $1)";
/// Payloads of those start with this (then `otpgate-feed-PID-N:number`).
const WRITE_PREFIX: &str = "write:";
/// How long a write waits to hear its own notification back.
const WRITE_WAIT: Duration = Duration::from_millis(100);
/// Payloads of pings start with this; anything else moves the stamp.
const PING_PREFIX: &str = "ping:";
/// Waits between two connection attempts.
const RETRY: Duration = Duration::from_millis(200);

/// One ping and one counter read in one statement (and one round trip).
const PING_AND_READ: &str = "SELECT (SELECT COALESCE(sum(changes), 0) FROM change_feed)::BIGINT \
     FROM pg_notify('otpgate_changes', $1)";

/// What the tasks and [`Feed::stamp`] share.
#[derive(Debug, Default)]
struct Shared {
    /// Moves whenever something may have been committed unheard.
    generation: AtomicU64,
    /// Whether the stamp may be given out.
    live: AtomicBool,
    /// The newest ping of ours heard back.
    ping_heard: AtomicU64,
    /// The newest notification of this store's writes heard back.
    write_heard: AtomicU64,
    /// Wakes the writes waiting for it.
    write_back: Notify,
    /// Wakes the supervisor when a ping comes back.
    ping_back: Notify,
}

impl Shared {
    /// Forgets everything remembered, then turns the memory off.
    fn go_down(&self) {
        self.generation.fetch_add(1, Ordering::SeqCst);
        self.live.store(false, Ordering::SeqCst);
    }

    /// A new generation, then the memory on.
    fn go_up(&self) {
        self.generation.fetch_add(1, Ordering::SeqCst);
        self.live.store(true, Ordering::SeqCst);
    }
}

/// Aborts the task when dropped (a `JoinHandle` alone would detach it).
#[derive(Debug)]
struct AbortOnDrop(JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// The change feed of one store, started by the first [`Feed::stamp`].
#[derive(Debug)]
pub(crate) struct Feed {
    shared: Arc<Shared>,
    pool: PgPool,
    connect: PgConnectOptions,
    application_name: String,
    task: OnceLock<Option<AbortOnDrop>>,
    notifier: Arc<Notifier>,
}

/// Notifications after commits, one per batch of writes waiting together.
#[derive(Debug)]
struct Notifier {
    /// Tickets handed to writes so far.
    requested: AtomicU64,
    /// The newest ticket whose notification was sent (or failed).
    sent: AtomicU64,
    /// Serialises senders: one notification in flight per store.
    sending: tokio::sync::Mutex<()>,
}

impl Feed {
    /// A feed for the database of `connect`, pinging through `pool`.
    pub(crate) fn new(pool: PgPool, connect: &PgConnectOptions) -> Self {
        static INSTANCE: AtomicU64 = AtomicU64::new(0);
        let n = INSTANCE.fetch_add(1, Ordering::Relaxed);
        let application_name = format!("otpgate-feed-{}-{n}", std::process::id());
        Self {
            shared: Arc::new(Shared::default()),
            pool,
            connect: connect.clone().application_name(&application_name),
            application_name,
            task: OnceLock::new(),
            notifier: Arc::new(Notifier {
                requested: AtomicU64::new(0),
                sent: AtomicU64::new(0),
                sending: tokio::sync::Mutex::new(()),
            }),
        }
    }

    /// Tells every instance that this store committed a change: returns
    /// once a notification sent after the caller's commit went out and,
    /// while the feed is up, came back (at most [`WRITE_WAIT`]). Writes
    /// arriving while one is in flight share the next one. A failure is
    /// not reported: the counter poll still sees the commit.
    pub(crate) async fn changed(&self) {
        let n = &self.notifier;
        let ticket = n.requested.fetch_add(1, Ordering::SeqCst) + 1;
        // Writes queue here (tokio's mutex is fair); the first one sends
        // for every ticket handed out so far, and those it covered find
        // their ticket sent when their turn comes.
        let _turn = n.sending.lock().await;
        if n.sent.load(Ordering::SeqCst) >= ticket {
            return;
        }
        let upto = n.requested.load(Ordering::SeqCst);
        let payload = format!("{WRITE_PREFIX}{}:{upto}", self.application_name);
        let sent = sqlx::query(NOTIFY)
            .bind(&payload)
            .execute(&self.pool)
            .await
            .is_ok();
        n.sent.fetch_max(upto, Ordering::SeqCst);
        // While the feed is up, wait (briefly) until this store's own
        // listener heard it: the other instances' listeners were woken by
        // the same commit, so by the time the caller answers its client
        // they have, almost always, heard it too.
        if sent && self.shared.live.load(Ordering::SeqCst) {
            let shared = &self.shared;
            let _ = tokio::time::timeout(WRITE_WAIT, async {
                loop {
                    let back = shared.write_back.notified();
                    if shared.write_heard.load(Ordering::SeqCst) >= upto {
                        return;
                    }
                    back.await;
                }
            })
            .await;
        }
    }

    /// The listening connection's `application_name`.
    pub(crate) fn application_name(&self) -> &str {
        &self.application_name
    }

    /// The stamp, or `None` while the feed is not known to work. The first
    /// call starts the feed (so one-shot CLI commands never listen).
    pub(crate) fn stamp(&self) -> Option<ChangeStamp> {
        let started = self.task.get_or_init(|| {
            let handle = tokio::runtime::Handle::try_current().ok()?;
            let supervisor = Supervisor {
                shared: Arc::clone(&self.shared),
                pool: self.pool.clone(),
                connect: self.connect.clone(),
                ping: format!("{PING_PREFIX}{}", self.application_name),
                write: format!("{WRITE_PREFIX}{}:", self.application_name),
            };
            Some(AbortOnDrop(handle.spawn(supervisor.run())))
        });
        started.as_ref()?;
        // The generation first: if the feed goes down after this read, the
        // generation moved, so what is remembered under it is never served.
        let generation = self.shared.generation.load(Ordering::SeqCst);
        if !self.shared.live.load(Ordering::SeqCst) {
            return None;
        }
        Some(ChangeStamp(u128::from(generation)))
    }
}

/// Keeps a listening connection, pings through it and reads the counter.
struct Supervisor {
    shared: Arc<Shared>,
    pool: PgPool,
    connect: PgConnectOptions,
    /// This store's ping payload prefix (`ping:otpgate-feed-PID-N`).
    ping: String,
    /// This store's write payload prefix (`write:otpgate-feed-PID-N:`).
    write: String,
}

/// Why a connection's session ended.
#[derive(Debug)]
enum Ended {
    /// The listener's connection ended or failed.
    Lost,
    /// A ping was not back in time, or could not be sent.
    Late,
}

impl Supervisor {
    async fn run(self) {
        let mut seq: u64 = 0;
        loop {
            let ended = self.session(&mut seq).await;
            self.shared.go_down();
            tracing::warn!(
                target: "otpgate_store::feed",
                ?ended,
                "PostgreSQL change feed lost: token checks query the database until it is back"
            );
            tokio::time::sleep(RETRY).await;
        }
    }

    /// One listening connection, from `LISTEN` until it is lost.
    async fn session(&self, seq: &mut u64) -> Ended {
        let pool = match PgPoolOptions::new()
            .max_connections(1)
            .min_connections(0)
            .max_lifetime(None)
            .idle_timeout(None)
            .connect_with(self.connect.clone())
            .await
        {
            Ok(pool) => pool,
            Err(_) => return Ended::Lost,
        };
        let mut listener = match PgListener::connect_with(&pool).await {
            Ok(l) => l,
            Err(_) => return Ended::Lost,
        };
        listener.eager_reconnect(false);
        listener.ignore_pool_close_event(true);
        if listener.listen(CHANNEL).await.is_err() {
            return Ended::Lost;
        }
        let reader = AbortOnDrop(tokio::spawn(read(
            listener,
            Arc::clone(&self.shared),
            format!("{}:", self.ping),
            self.write.clone(),
        )));
        let ended = self.watch(reader, seq).await;
        pool.close().await;
        ended
    }

    /// Pings every [`POLL`] while the reader runs; turns the memory on once
    /// a ping sent on this connection is back (its statement read the
    /// counter too).
    async fn watch(&self, mut reader: AbortOnDrop, seq: &mut u64) -> Ended {
        // Pings sent and not heard back yet: (seq, sent at). Pings of an
        // earlier connection carry smaller numbers than `first`.
        let first = *seq + 1;
        let mut pending: VecDeque<(u64, Instant)> = VecDeque::new();
        let mut last_changes: Option<i64> = None;
        let mut tick = tokio::time::interval(POLL);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = &mut reader.0 => return Ended::Lost,
                () = self.shared.ping_back.notified() => {}
                _ = tick.tick() => {
                    *seq += 1;
                    let payload = format!("{}:{}", self.ping, *seq);
                    pending.push_back((*seq, Instant::now()));
                    let changes = match tokio::time::timeout(
                        PING_DEADLINE,
                        sqlx::query_scalar::<_, i64>(PING_AND_READ)
                            .bind(&payload)
                            .fetch_one(&self.pool),
                    )
                    .await
                    {
                        Ok(Ok(changes)) => changes,
                        _ => return Ended::Late,
                    };
                    // A counter that moved unheard: forget, whatever was heard.
                    if last_changes.is_some_and(|c| c != changes) {
                        self.shared.generation.fetch_add(1, Ordering::SeqCst);
                    }
                    last_changes = Some(changes);
                }
            }
            let heard = self.shared.ping_heard.load(Ordering::SeqCst);
            while pending.front().is_some_and(|(s, _)| *s <= heard) {
                pending.pop_front();
            }
            if pending
                .front()
                .is_some_and(|(_, at)| at.elapsed() > PING_DEADLINE)
            {
                return Ended::Late;
            }
            if heard >= first && !self.shared.live.load(Ordering::SeqCst) {
                self.shared.go_up();
            }
        }
    }
}

/// Hears notifications until the connection ends: a ping of ours records
/// its number; anything else moves the generation (a write of ours also
/// records its number).
async fn read(mut listener: PgListener, shared: Arc<Shared>, own_ping: String, own_write: String) {
    while let Ok(Some(n)) = listener.try_recv().await {
        let payload = n.payload();
        if let Some(number) = payload.strip_prefix(own_write.as_str()) {
            shared.generation.fetch_add(1, Ordering::SeqCst);
            if let Ok(number) = number.parse::<u64>() {
                shared.write_heard.fetch_max(number, Ordering::SeqCst);
                shared.write_back.notify_waiters();
            }
        } else if let Some(number) = payload.strip_prefix(own_ping.as_str()) {
            if let Ok(number) = number.parse::<u64>() {
                shared.ping_heard.fetch_max(number, Ordering::SeqCst);
                shared.ping_back.notify_one();
            }
        } else if !payload.starts_with(PING_PREFIX) {
            shared.generation.fetch_add(1, Ordering::SeqCst);
        }
    }
    // Off at once, before the supervisor even looks.
    shared.go_down();
}
