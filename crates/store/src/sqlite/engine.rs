//! How the SQLite backend talks to its file: reads run inline on pooled
//! read-only connections, writes run on one writer thread that commits
//! them in groups.
//!
//! Why not an async driver: a point read here costs a few microseconds,
//! less than handing it to another thread and back. So reads run on the
//! caller's thread with cached prepared statements (WAL lets them run
//! beside the writer and never wait for it).
//!
//! SQLite has one write lock, so there is one writer connection, owned by
//! one thread. Each write is a job; the thread takes every job waiting
//! (and those arriving meanwhile, for at most [`GROUP_BUDGET`]), runs each
//! inside its own savepoint (a failing job is rolled back alone) within
//! one `BEGIN IMMEDIATE` transaction, commits once, and only then answers
//! each caller: nothing is reported written before it is
//! committed (and, with `synchronous=FULL`, on disk), while one commit,
//! and one fsync, serves every write that arrived meanwhile.

use std::panic::AssertUnwindSafe;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, Sender};
use std::time::{Duration, Instant};

use otpgate_core::StoreError;
use rusqlite::{Connection, ErrorCode, OpenFlags};

/// Most jobs committed by one transaction.
const MAX_GROUP: usize = 512;
/// With `synchronous=NORMAL` a commit costs no fsync, so without a pause
/// groups stay at 2-4 jobs and every commit rewrites the same WAL pages:
/// while writes arrive concurrently (the last group had more than one
/// job), the writer sleeps this long after a group's first job, then takes
/// every job waiting (sleeping, not waiting on the queue: one wake-up per
/// group instead of one per job). A lone write is never held. (With
/// `FULL`, the previous group's fsync is that pause.) Measured in
/// docs/performance.md: 1 ms took normal-mode verify-otp from 9.0k to
/// 11.8k/s on 2 cores.
const NORMAL_COMMIT_DELAY: Duration = Duration::from_micros(1000);
/// How long a group may run its jobs before it commits; jobs still
/// waiting then start the next group. It bounds what a caller waits in a
/// group for the jobs behind it: under saturation a group could otherwise
/// run up to [`MAX_GROUP`] jobs (on a busy machine, with the writer thread
/// preempted, tens of milliseconds) before its first caller's commit.
/// Below it, groups are still as large as the writes waiting, so the fsync
/// per commit stays shared (docs/performance.md).
const GROUP_BUDGET: Duration = Duration::from_millis(5);
/// Prepared statements kept per connection: room for every statement of
/// the table (`statements.rs`, about 70, most of them run by the writer)
/// and the hand-written ones, so none is evicted and prepared again.
const STATEMENT_CACHE: usize = 128;

/// Connection settings shared by the writer and the readers.
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    pub path: PathBuf,
    pub synchronous_full: bool,
    pub busy_timeout: Duration,
    /// Idle read connections kept open.
    pub max_idle_readers: usize,
}

/// The answer to one job, sent once the group's commit is known.
type Reply = Box<dyn FnOnce(Option<StoreError>) + Send>;

/// A queued write.
trait WriteJob: Send {
    /// Runs on the writer connection; says whether its changes are to be
    /// kept, and how to answer its caller once the commit is known.
    fn run(self: Box<Self>, conn: &Connection) -> (bool, Reply);
    /// Answers the caller without running (the group could not start).
    fn fail(self: Box<Self>, err: StoreError);
}

/// A write and the channel to its caller.
struct Typed<T, F> {
    f: F,
    tx: tokio::sync::oneshot::Sender<Result<T, StoreError>>,
}

impl<T, F> WriteJob for Typed<T, F>
where
    T: Send + 'static,
    F: FnOnce(&Connection) -> rusqlite::Result<T> + Send + 'static,
{
    fn run(self: Box<Self>, conn: &Connection) -> (bool, Reply) {
        let Typed { f, tx } = *self;
        let result = f(conn).map_err(|e| classify(&e));
        let keep = result.is_ok();
        let reply: Reply = Box::new(move |failed_commit| {
            let _ = tx.send(match failed_commit {
                None => result,
                Some(e) => Err(e),
            });
        });
        (keep, reply)
    }

    fn fail(self: Box<Self>, err: StoreError) {
        let _ = self.tx.send(Err(err));
    }
}

type Job = Box<dyn WriteJob>;

/// The open database: a writer thread and a pool of readers.
#[derive(Debug)]
pub(crate) struct Engine {
    settings: Settings,
    readers: Mutex<Vec<Connection>>,
    /// `None` asks the writer thread to stop.
    writer: Sender<Option<Job>>,
    closed: AtomicBool,
}

fn stopped() -> StoreError {
    StoreError::Unavailable("the SQLite writer has stopped".into())
}

impl Engine {
    /// Opens the writer (starting its thread) and one reader.
    pub(crate) fn open(settings: Settings) -> Result<Self, StoreError> {
        let writer = open_connection(&settings, false).map_err(|e| unavailable(&settings, &e))?;
        let reader = open_connection(&settings, true).map_err(|e| unavailable(&settings, &e))?;
        let (tx, rx) = std::sync::mpsc::channel::<Option<Job>>();
        let delay = if settings.synchronous_full {
            Duration::ZERO
        } else {
            NORMAL_COMMIT_DELAY
        };
        std::thread::Builder::new()
            .name("otpgate-sqlite-writer".into())
            .spawn(move || write_loop(&writer, &rx, delay))
            .map_err(|e| StoreError::Other(format!("cannot start the SQLite writer: {e}")))?;
        Ok(Self {
            settings,
            readers: Mutex::new(vec![reader]),
            writer: tx,
            closed: AtomicBool::new(false),
        })
    }

    /// Runs `f` on a read connection, on this thread.
    pub(crate) fn read<T>(
        &self,
        f: impl FnOnce(&Connection) -> rusqlite::Result<T>,
    ) -> Result<T, StoreError> {
        let idle = self.readers.lock().map(|mut v| v.pop()).unwrap_or(None);
        let conn = match idle {
            Some(c) => c,
            None => open_connection(&self.settings, true).map_err(|e| classify(&e))?,
        };
        let result = f(&conn).map_err(|e| classify(&e));
        if let Ok(mut idle) = self.readers.lock()
            && idle.len() < self.settings.max_idle_readers
        {
            idle.push(conn);
        }
        result
    }

    /// Queues `f` for the writer and waits until its group is committed.
    /// An error from `f` rolls back its changes only.
    pub(crate) async fn write<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection) -> rusqlite::Result<T> + Send + 'static,
    ) -> Result<T, StoreError> {
        let (tx, rx) = tokio::sync::oneshot::channel::<Result<T, StoreError>>();
        let job: Job = Box::new(Typed { f, tx });
        if self.closed.load(Ordering::Acquire) || self.writer.send(Some(job)).is_err() {
            return Err(stopped());
        }
        rx.await
            .map_err(|_| StoreError::Unavailable("the SQLite write did not complete".into()))?
    }

    /// Stops the writer once the queued jobs are done and closes the
    /// readers (the store is unusable afterwards).
    pub(crate) fn close(&self) {
        self.closed.store(true, Ordering::Release);
        let _ = self.writer.send(None);
        if let Ok(mut r) = self.readers.lock() {
            r.clear();
        }
    }
}

fn unavailable(settings: &Settings, e: &rusqlite::Error) -> StoreError {
    StoreError::Unavailable(format!("cannot open {}: {e}", settings.path.display()))
}

/// Opens a connection with the house settings: WAL, the configured
/// `synchronous`, a busy timeout, foreign keys.
fn open_connection(settings: &Settings, read_only: bool) -> rusqlite::Result<Connection> {
    let flags = if read_only {
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX
    } else {
        OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX
    };
    let conn = Connection::open_with_flags(&settings.path, flags)?;
    conn.busy_timeout(settings.busy_timeout)?;
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    if !read_only {
        conn.pragma_update(None, "journal_mode", "WAL")?;
    }
    conn.pragma_update(
        None,
        "synchronous",
        if settings.synchronous_full {
            "FULL"
        } else {
            "NORMAL"
        },
    )?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    // No memory map of the database file (`mmap_size` stays 0): a read
    // transaction that finds a new commit in the WAL drops the connection's
    // map, so under writes every read paid a munmap (a TLB shootdown on
    // every core), a new mmap and page faults; pread of the few pages a
    // point read touches costs less (docs/performance.md).
    Ok(conn)
}

/// The writer thread: group, run, commit, answer; until asked to stop or
/// every sender is gone. `delay`: how long to keep a group open for more
/// jobs while writes arrive concurrently ([`NORMAL_COMMIT_DELAY`]).
fn write_loop(conn: &Connection, jobs: &Receiver<Option<Job>>, delay: Duration) {
    let mut last_group = 0;
    while let Ok(Some(first)) = jobs.recv() {
        wait_for_company(group_deadline(last_group, delay));
        let (ran, stop) = run_group(conn, first, jobs, GROUP_BUDGET);
        last_group = ran;
        if stop {
            break;
        }
    }
}

/// When a group that has its first job starts running: at once unless
/// writes are arriving concurrently, shown by the last group holding more
/// than one job.
fn group_deadline(last_group: usize, delay: Duration) -> Option<Instant> {
    (last_group > 1 && !delay.is_zero()).then(|| Instant::now() + delay)
}

/// Sleeps until `deadline` (sleeping, not waiting on the queue: one
/// wake-up per group instead of one per job).
fn wait_for_company(deadline: Option<Instant>) {
    if let Some(at) = deadline {
        std::thread::sleep(at.saturating_duration_since(Instant::now()));
    }
}

/// What joins a running group next.
enum Next {
    Job(Job),
    /// Nothing waits, or the group is full or past its budget: commit.
    Close,
    /// A stop request: commit, then end the writer.
    Stop,
}

/// The job to run next in a group that started at `started` and has run
/// `ran` jobs: one already waiting, while the group is under
/// [`MAX_GROUP`] jobs and `budget`.
fn next_job(jobs: &Receiver<Option<Job>>, ran: usize, started: Instant, budget: Duration) -> Next {
    if ran >= MAX_GROUP || started.elapsed() >= budget {
        return Next::Close;
    }
    match jobs.try_recv() {
        Ok(Some(job)) => Next::Job(job),
        Ok(None) => Next::Stop,
        Err(_) => Next::Close,
    }
}

/// Runs `first` and the jobs that join it in one transaction, commits,
/// and answers them. Jobs join while they are waiting, up to
/// [`MAX_GROUP`], until the group has run for `budget`; an aborted group
/// takes no more. Returns the jobs run and whether a stop request was met.
fn run_group(
    conn: &Connection,
    first: Job,
    jobs: &Receiver<Option<Job>>,
    budget: Duration,
) -> (usize, bool) {
    let started = Instant::now();
    if let Err(e) = conn.execute_batch("BEGIN IMMEDIATE") {
        // The jobs waiting would meet the same error: they fail with it.
        let err = classify(&e);
        first.fail(err.clone());
        let mut failed = 1;
        loop {
            match next_job(jobs, failed, started, Duration::MAX) {
                Next::Job(job) => job.fail(err.clone()),
                Next::Close => return (failed, false),
                Next::Stop => return (failed, true),
            }
            failed += 1;
        }
    }
    let mut replies: Vec<Reply> = Vec::new();
    let mut aborted: Option<StoreError> = None;
    let mut ran = 0;
    let mut stop = false;
    let mut next = Some(first);
    while let Some(job) = next.take() {
        ran += 1;
        run_job(conn, job, &mut replies, &mut aborted);
        if aborted.is_some() {
            break;
        }
        match next_job(jobs, ran, started, budget) {
            Next::Job(job) => next = Some(job),
            Next::Close => {}
            Next::Stop => stop = true,
        }
    }
    let failure = match aborted {
        Some(err) => {
            let _ = conn.execute_batch("ROLLBACK");
            Some(err)
        }
        None => conn.execute_batch("COMMIT").err().map(|e| {
            let _ = conn.execute_batch("ROLLBACK");
            classify(&e)
        }),
    };
    for reply in replies {
        reply(failure.clone());
    }
    (ran, stop)
}

/// Runs one job of a group inside its own savepoint; its answer joins
/// `replies`. Sets `aborted` when the group's transaction cannot go on.
fn run_job(
    conn: &Connection,
    job: Job,
    replies: &mut Vec<Reply>,
    aborted: &mut Option<StoreError>,
) {
    if let Err(e) = savepoint(conn, "SAVEPOINT job") {
        *aborted = Some(classify(&e));
        job.fail(classify(&e));
        return;
    }
    // A panicking job drops its channel: its caller gets an error.
    match std::panic::catch_unwind(AssertUnwindSafe(|| job.run(conn))) {
        Ok((keep, reply)) => {
            replies.push(reply);
            let closed = if keep {
                savepoint(conn, "RELEASE job")
            } else {
                rollback_savepoint(conn)
            };
            if let Err(e) = closed {
                *aborted = Some(classify(&e));
            }
        }
        Err(_) => {
            tracing::error!("a SQLite write job panicked; its changes are rolled back");
            if let Err(e) = rollback_savepoint(conn) {
                *aborted = Some(classify(&e));
            }
        }
    }
    // SQLite may end a transaction by itself (an I/O error, a full disk):
    // then nothing of this group was kept.
    if aborted.is_none() && conn.is_autocommit() {
        *aborted = Some(StoreError::Unavailable(
            "SQLite rolled the transaction back".into(),
        ));
    }
}

fn rollback_savepoint(conn: &Connection) -> rusqlite::Result<()> {
    savepoint(conn, "ROLLBACK TO job")?;
    savepoint(conn, "RELEASE job")
}

fn savepoint(conn: &Connection, sql: &str) -> rusqlite::Result<()> {
    conn.prepare_cached(sql)?.execute([]).map(|_| ())
}

/// Classifies a SQLite error: busy, locked, I/O or a full disk are
/// worth retrying and not the client's fault; a uniqueness violation is a
/// conflict; anything else is a plain error.
pub(crate) fn classify(e: &rusqlite::Error) -> StoreError {
    if let rusqlite::Error::SqliteFailure(f, _) = e {
        match f.code {
            ErrorCode::ConstraintViolation
                if matches!(
                    f.extended_code,
                    rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE
                        | rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY
                ) =>
            {
                return StoreError::Conflict(e.to_string());
            }
            ErrorCode::DatabaseBusy
            | ErrorCode::DatabaseLocked
            | ErrorCode::SystemIoFailure
            | ErrorCode::DiskFull
            | ErrorCode::CannotOpen
            | ErrorCode::ReadOnly => return StoreError::Unavailable(e.to_string()),
            _ => {}
        }
    }
    StoreError::Other(e.to_string())
}

/// Whether `path` names an in-memory database (not supported: the writer
/// and the readers must share one file).
pub(crate) fn is_memory(path: &Path) -> bool {
    let s = path.to_string_lossy();
    s.is_empty() || s == ":memory:" || s.contains("mode=memory")
}

#[cfg(test)]
#[allow(clippy::expect_used, clippy::unwrap_used)]
#[path = "engine_tests.rs"]
mod tests;
