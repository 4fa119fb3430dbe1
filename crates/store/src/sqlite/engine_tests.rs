//! Tests of the SQLite engine ([`super`]): the writer's grouping, its
//! failure handling and the error classes.

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
    let busy =
        rusqlite::Error::SqliteFailure(rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_BUSY), None);
    assert!(matches!(classify(&busy), StoreError::Unavailable(_)));
    assert!(matches!(
        classify(&rusqlite::Error::InvalidQuery),
        StoreError::Other(_)
    ));
}
