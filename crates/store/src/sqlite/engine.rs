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
/// Prepared statements kept per connection.
const STATEMENT_CACHE: usize = 64;

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
        first.fail(clone_error(&err));
        let mut failed = 1;
        loop {
            match next_job(jobs, failed, started, Duration::MAX) {
                Next::Job(job) => job.fail(clone_error(&err)),
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
        reply(failure.as_ref().map(clone_error));
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

fn clone_error(e: &StoreError) -> StoreError {
    match e {
        StoreError::Unavailable(m) => StoreError::Unavailable(m.clone()),
        StoreError::Conflict(m) => StoreError::Conflict(m.clone()),
        StoreError::Other(m) => StoreError::Other(m.clone()),
    }
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
mod tests {
    use std::sync::Arc;

    use super::*;

    fn engine(dir: &tempfile::TempDir) -> Arc<Engine> {
        engine_with(dir, true)
    }

    fn engine_with(dir: &tempfile::TempDir, synchronous_full: bool) -> Arc<Engine> {
        let engine = Engine::open(Settings {
            path: dir.path().join("t.db"),
            synchronous_full,
            busy_timeout: Duration::from_secs(5),
            max_idle_readers: 2,
        })
        .expect("open");
        Arc::new(engine)
    }

    /// A job that does nothing; for the grouping tests.
    struct Noop;

    impl WriteJob for Noop {
        fn run(self: Box<Self>, _: &Connection) -> (bool, Reply) {
            (true, Box::new(|_| {}))
        }
        fn fail(self: Box<Self>, _: StoreError) {}
    }

    fn noop() -> Job {
        Box::new(Noop)
    }

    /// A job that sleeps `0` while it runs and, if set, queues `1` then.
    struct Slow(Duration, Option<std::sync::mpsc::Sender<Option<Job>>>);

    impl WriteJob for Slow {
        fn run(self: Box<Self>, _: &Connection) -> (bool, Reply) {
            std::thread::sleep(self.0);
            if let Some(tx) = self.1 {
                tx.send(Some(noop())).expect("send");
            }
            (true, Box::new(|_| {}))
        }
        fn fail(self: Box<Self>, _: StoreError) {}
    }

    fn memory() -> Connection {
        Connection::open_in_memory().expect("open")
    }

    #[test]
    fn a_group_takes_the_jobs_waiting_and_those_arriving_while_it_runs() {
        let (tx, rx) = std::sync::mpsc::channel::<Option<Job>>();
        tx.send(Some(noop())).expect("send");
        tx.send(Some(noop())).expect("send");
        let first = Box::new(Slow(Duration::ZERO, Some(tx.clone())));
        let (ran, stop) = run_group(&memory(), first, &rx, GROUP_BUDGET);
        assert_eq!((ran, stop), (4, false));
        assert!(rx.try_recv().is_err(), "a job was left behind");
    }

    #[test]
    fn a_group_commits_once_its_budget_is_spent_and_the_rest_wait_for_the_next() {
        let (tx, rx) = std::sync::mpsc::channel::<Option<Job>>();
        for _ in 0..5 {
            tx.send(Some(Box::new(Slow(Duration::from_millis(10), None))))
                .expect("send");
        }
        let first = Box::new(Slow(Duration::from_millis(10), None));
        let conn = memory();
        // 10 ms a job, 25 ms of budget: never more than 3 jobs.
        let (ran, stop) = run_group(&conn, first, &rx, Duration::from_millis(25));
        assert!((1..=3).contains(&ran), "{ran} jobs in one group");
        assert!(!stop);
        assert!(conn.is_autocommit(), "the group did not commit");
        let mut left = 0;
        while rx.try_recv().is_ok() {
            left += 1;
        }
        assert_eq!(ran + left, 6);
    }

    #[test]
    fn a_group_holds_at_most_max_group_jobs() {
        let (tx, rx) = std::sync::mpsc::channel::<Option<Job>>();
        for _ in 0..MAX_GROUP + 10 {
            tx.send(Some(noop())).expect("send");
        }
        let (ran, _) = run_group(&memory(), noop(), &rx, Duration::MAX);
        assert_eq!(ran, MAX_GROUP);
    }

    #[test]
    fn waiting_for_company_lets_jobs_arriving_before_the_deadline_join() {
        let (tx, rx) = std::sync::mpsc::channel::<Option<Job>>();
        let late = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(20));
            tx.send(Some(noop())).expect("send");
            tx
        });
        let opened = Instant::now();
        wait_for_company(Some(opened + Duration::from_millis(500)));
        assert!(opened.elapsed() >= Duration::from_millis(500), "woke early");
        let (ran, stop) = run_group(&memory(), noop(), &rx, GROUP_BUDGET);
        assert_eq!((ran, stop), (2, false));
        drop(late.join().expect("join"));
    }

    #[test]
    fn a_stop_request_closes_the_group_and_is_reported() {
        let (tx, rx) = std::sync::mpsc::channel::<Option<Job>>();
        tx.send(Some(noop())).expect("send");
        tx.send(None).expect("send");
        tx.send(Some(noop())).expect("send");
        let (ran, stop) = run_group(&memory(), noop(), &rx, GROUP_BUDGET);
        assert_eq!((ran, stop), (2, true));
    }

    #[test]
    fn only_concurrent_writes_in_normal_mode_hold_a_group_open() {
        assert!(group_deadline(0, NORMAL_COMMIT_DELAY).is_none());
        assert!(group_deadline(1, NORMAL_COMMIT_DELAY).is_none());
        assert!(group_deadline(2, NORMAL_COMMIT_DELAY).is_some());
        assert!(group_deadline(40, Duration::ZERO).is_none());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn in_normal_mode_every_answered_concurrent_write_is_committed() {
        let dir = tempfile::tempdir().expect("tmp");
        let e = engine_with(&dir, false);
        e.write(|c| c.execute_batch("CREATE TABLE t (x INTEGER PRIMARY KEY)"))
            .await
            .expect("table");
        let mut writes = Vec::new();
        for x in 1..=300_i64 {
            let e = e.clone();
            writes.push(tokio::spawn(async move {
                e.write(move |c| c.execute("INSERT INTO t (x) VALUES (?)", [x]))
                    .await
            }));
        }
        for w in writes {
            assert_eq!(w.await.expect("join").expect("written"), 1);
        }
        // Another connection, as another process would, sees them all.
        let other = Connection::open(dir.path().join("t.db")).expect("open");
        let n: i64 = other
            .query_row("SELECT count(*) FROM t", [], |r| r.get(0))
            .expect("count");
        assert_eq!(n, 300);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn a_failing_write_is_rolled_back_alone_within_its_group() {
        let dir = tempfile::tempdir().expect("tmp");
        let e = engine(&dir);
        e.write(|c| c.execute_batch("CREATE TABLE t (x INTEGER PRIMARY KEY)"))
            .await
            .expect("table");
        // Hold the writer so that the next writes queue up and run as one
        // group.
        let (started_tx, started_rx) = tokio::sync::oneshot::channel::<()>();
        let blocker = tokio::spawn({
            let e = e.clone();
            async move {
                e.write(move |_| {
                    let _ = started_tx.send(());
                    std::thread::sleep(Duration::from_millis(200));
                    Ok(())
                })
                .await
            }
        });
        started_rx.await.expect("writer busy");
        let mut writes = Vec::new();
        for x in 1..=30_i64 {
            let e = e.clone();
            writes.push(tokio::spawn(async move {
                e.write(move |c| {
                    c.execute("INSERT INTO t (x) VALUES (?)", [x])?;
                    if x % 3 == 0 {
                        // Changes made before the failure must go too.
                        c.execute("INSERT INTO t (x) VALUES (?)", [x + 1000])?;
                        return Err(rusqlite::Error::InvalidQuery);
                    }
                    Ok(x)
                })
                .await
            }));
        }
        blocker.await.expect("join").expect("blocker");
        for (i, w) in writes.into_iter().enumerate() {
            let x = i64::try_from(i).expect("small") + 1;
            let r = w.await.expect("join");
            if x % 3 == 0 {
                assert!(matches!(r, Err(StoreError::Other(_))), "{x}: {r:?}");
            } else {
                assert_eq!(r.expect("ok"), x);
            }
        }
        let kept: Vec<i64> = e
            .read(|c| {
                c.prepare("SELECT x FROM t ORDER BY x")?
                    .query_map([], |r| r.get(0))?
                    .collect()
            })
            .expect("read");
        let expected: Vec<i64> = (1..=30).filter(|x| x % 3 != 0).collect();
        assert_eq!(kept, expected);
    }

    #[tokio::test]
    async fn a_panicking_write_fails_its_caller_and_the_writer_goes_on() {
        let dir = tempfile::tempdir().expect("tmp");
        let e = engine(&dir);
        e.write(|c| c.execute_batch("CREATE TABLE t (x INTEGER)"))
            .await
            .expect("table");
        let r: Result<(), StoreError> = e
            .write(|c| {
                c.execute("INSERT INTO t (x) VALUES (1)", [])?;
                panic!("a bug in a write job");
            })
            .await;
        assert!(matches!(r, Err(StoreError::Unavailable(_))), "{r:?}");
        e.write(|c| c.execute("INSERT INTO t (x) VALUES (2)", []))
            .await
            .expect("the writer still runs");
        let xs: Vec<i64> = e
            .read(|c| {
                c.prepare("SELECT x FROM t")?
                    .query_map([], |r| r.get(0))?
                    .collect()
            })
            .expect("read");
        assert_eq!(xs, [2]);
    }

    #[tokio::test]
    async fn after_close_writes_fail_as_unavailable() {
        let dir = tempfile::tempdir().expect("tmp");
        let e = engine(&dir);
        e.close();
        let r = e.write(|c| c.execute_batch("SELECT 1")).await;
        assert!(matches!(r, Err(StoreError::Unavailable(_))), "{r:?}");
    }

    #[test]
    fn uniqueness_is_a_conflict_and_busy_is_unavailable() {
        let dir = tempfile::tempdir().expect("tmp");
        let c = Connection::open(dir.path().join("c.db")).expect("open");
        c.execute_batch("CREATE TABLE t (x INTEGER PRIMARY KEY, y TEXT UNIQUE)")
            .expect("table");
        c.execute("INSERT INTO t VALUES (1, 'a')", []).expect("row");
        let dup = c
            .execute("INSERT INTO t VALUES (2, 'a')", [])
            .expect_err("dup");
        assert!(matches!(classify(&dup), StoreError::Conflict(_)));
        let busy = rusqlite::Error::SqliteFailure(
            rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_BUSY),
            None,
        );
        assert!(matches!(classify(&busy), StoreError::Unavailable(_)));
        assert!(matches!(
            classify(&rusqlite::Error::InvalidQuery),
            StoreError::Other(_)
        ));
    }
}
