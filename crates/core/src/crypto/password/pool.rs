//! [`HashingPool`]: argon2id hashes on a fixed set of dedicated threads.
//!
//! A hash costs tens of milliseconds of CPU by design. Running it on the
//! async worker threads would let a login storm stall every other request,
//! so the pool runs at most `threads` hashes at once and sheds callers with
//! [`AuthError::Busy`] once `max_waiting` are already waiting, instead of
//! queueing without limit.
//!
//! The hashes run on `threads` named threads started with the pool, not on
//! Tokio's blocking pool: every thread that ever hashed kept a malloc arena
//! holding its 19 MiB, so a blocking pool that grew under load (up to 512
//! threads) made the peak RSS grow with it. The threads share the memory
//! blocks of [`super::memory`] and free them once they have all been idle
//! for [`IDLE`].

use std::collections::VecDeque;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use tokio::sync::{Semaphore, oneshot};

use super::argon2id::Argon2idHasher;
use crate::error::AuthError;
use crate::secret::SecretString;

/// How long the threads wait without a job before freeing the memory
/// blocks. A login storm keeps them (jobs follow each other within
/// microseconds); a gateway that hashes now and then faults its 19 MiB in
/// again, which a single hash hardly notices.
const IDLE: Duration = Duration::from_millis(200);

/// A job for a pool thread.
type Job = Box<dyn FnOnce(&Argon2idHasher) + Send>;

/// The jobs handed to the threads, and whether the pool is gone.
#[derive(Default)]
struct Queue {
    state: Mutex<QueueState>,
    ready: Condvar,
}

#[derive(Default)]
struct QueueState {
    jobs: VecDeque<Job>,
    closed: bool,
}

impl Queue {
    fn lock(&self) -> MutexGuard<'_, QueueState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn push(&self, job: Job) {
        self.lock().jobs.push_back(job);
        self.ready.notify_one();
    }

    /// The next job; `None` once the pool is gone. Frees the hasher's idle
    /// memory blocks after [`IDLE`] without a job.
    fn next(&self, hasher: &Argon2idHasher) -> Option<Job> {
        let mut state = self.lock();
        loop {
            if let Some(job) = state.jobs.pop_front() {
                return Some(job);
            }
            if state.closed {
                return None;
            }
            if hasher.kept_blocks() == 0 {
                state = self
                    .ready
                    .wait(state)
                    .unwrap_or_else(PoisonError::into_inner);
                continue;
            }
            let (s, waited) = self
                .ready
                .wait_timeout(state, IDLE)
                .unwrap_or_else(PoisonError::into_inner);
            state = s;
            if waited.timed_out() && state.jobs.is_empty() {
                hasher.release_blocks();
            }
        }
    }
}

/// Closes the queue when the last clone of the pool is dropped.
struct Closer(Arc<Queue>);

impl Drop for Closer {
    fn drop(&mut self) {
        self.0.lock().closed = true;
        self.0.ready.notify_all();
    }
}

/// Runs hashing jobs with bounded concurrency and a bounded queue.
///
/// The threads end once every clone of the pool is dropped (a job already
/// running finishes first).
#[derive(Clone)]
pub struct HashingPool {
    permits: Arc<Semaphore>,
    waiting: Arc<AtomicUsize>,
    max_waiting: usize,
    hasher: Argon2idHasher,
    queue: Arc<Closer>,
}

impl std::fmt::Debug for HashingPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HashingPool")
            .field("max_waiting", &self.max_waiting)
            .finish_non_exhaustive()
    }
}

/// Decrements the waiting count when dropped.
struct WaitingGuard(Arc<AtomicUsize>);

impl Drop for WaitingGuard {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

impl HashingPool {
    /// A pool running `threads` hashes at once with up to `max_waiting` queued.
    pub fn new(hasher: Argon2idHasher, threads: usize, max_waiting: usize) -> Self {
        let queue = Arc::new(Queue::default());
        let shared = hasher.with_reused_memory();
        let mut started = 0;
        for n in 0..threads.max(1) {
            let (queue, hasher) = (queue.clone(), shared.clone());
            match std::thread::Builder::new()
                .name(format!("otpgate-hash-{n}"))
                .spawn(move || work(&queue, &hasher))
            {
                Ok(_) => started += 1,
                Err(e) => tracing::warn!(error = %e, "cannot start a hashing thread"),
            }
        }
        // A job is queued only with a permit, one per thread, so a queued
        // job always finds a thread.
        let permits = Arc::new(Semaphore::new(started));
        if started == 0 {
            // `run` then fails at once instead of waiting for ever.
            permits.close();
        }
        Self {
            permits,
            waiting: Arc::new(AtomicUsize::new(0)),
            max_waiting,
            hasher,
            queue: Arc::new(Closer(queue)),
        }
    }

    /// The hasher, for synchronous use (CLI, tests).
    pub fn hasher(&self) -> &Argon2idHasher {
        &self.hasher
    }

    /// Runs `job` with the hasher on a pool thread once one is free.
    pub async fn run<R, F>(&self, job: F) -> Result<R, AuthError>
    where
        R: Send + 'static,
        F: FnOnce(&Argon2idHasher) -> R + Send + 'static,
    {
        let queued = self.waiting.fetch_add(1, Ordering::SeqCst);
        let guard = WaitingGuard(self.waiting.clone());
        if queued >= self.max_waiting {
            return Err(AuthError::Busy {
                retry_after_secs: 1,
            });
        }
        let permit = self
            .permits
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| AuthError::Internal("hashing pool closed".into()))?;
        drop(guard);
        let (reply, answer) = oneshot::channel();
        self.queue.0.push(Box::new(move |h| {
            let r = job(h);
            // The slot is free before the caller hears back.
            drop(permit);
            let _ = reply.send(r);
        }));
        answer
            .await
            .map_err(|_| AuthError::Internal("hashing job failed".into()))
    }

    /// Hashes `secret` on the pool.
    pub async fn hash(&self, secret: SecretString) -> Result<String, AuthError> {
        self.run(move |h| h.hash(&secret)).await?
    }

    /// Verifies `secret` against `phc` on the pool.
    pub async fn verify(&self, secret: SecretString, phc: String) -> Result<bool, AuthError> {
        self.run(move |h| h.verify(&secret, &phc)).await
    }
}

/// A pool thread: runs jobs until the pool is gone. A job that panics
/// drops its reply (the caller gets an error) and its permit; the thread
/// goes on.
fn work(queue: &Queue, hasher: &Argon2idHasher) {
    while let Some(job) = queue.next(hasher) {
        let _ = std::panic::catch_unwind(AssertUnwindSafe(|| job(hasher)));
    }
}

#[cfg(test)]
mod tests {
    use std::cell::RefCell;
    use std::sync::mpsc;

    use super::*;
    use crate::config::Argon2Cost;

    fn cheap() -> Argon2idHasher {
        Argon2idHasher::new(Argon2Cost {
            memory_kib: 1024,
            iterations: 1,
            parallelism: 1,
        })
        .expect("params")
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn pool_hashes_on_its_own_named_threads() {
        let pool = HashingPool::new(cheap(), 2, 8);
        let name = pool
            .run(|_| std::thread::current().name().map(str::to_owned))
            .await
            .expect("run");
        assert!(name.is_some_and(|n| n.starts_with("otpgate-hash-")));
        let pw = SecretString::new("pw");
        let phc = pool.hash(pw.clone()).await.expect("hash");
        assert!(pool.verify(pw, phc).await.expect("verify"));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn memory_is_kept_between_hashes_and_freed_when_idle() {
        let pool = HashingPool::new(cheap(), 2, 8);
        let pw = SecretString::new("pw");
        for _ in 0..3 {
            pool.hash(pw.clone()).await.expect("hash");
        }
        let kept = || pool.run(|h| h.kept_blocks());
        // One hash at a time: one block, reused (unless the test itself
        // was idle long enough for it to be freed already).
        assert!(kept().await.expect("run") <= 1);
        let mut freed = false;
        // Polls further apart than IDLE, so they leave the threads idle.
        for _ in 0..25 {
            tokio::time::sleep(IDLE * 2).await;
            if kept().await.expect("run") == 0 {
                freed = true;
                break;
            }
        }
        assert!(freed, "the idle pool freed its block");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_panicking_job_fails_alone() {
        let pool = HashingPool::new(cheap(), 1, 8);
        #[allow(clippy::panic)]
        let failed = pool.run(|_| -> bool { panic!("job") }).await;
        assert!(matches!(failed, Err(AuthError::Internal(_))));
        assert!(matches!(pool.run(|_| true).await, Ok(true)));
    }

    thread_local! {
        /// Dropped when the thread that set it ends.
        static UNTIL_EXIT: RefCell<Option<mpsc::Sender<()>>> = const { RefCell::new(None) };
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn threads_end_with_the_pool() {
        let pool = HashingPool::new(cheap(), 1, 8);
        let (alive, ended) = mpsc::channel::<()>();
        pool.run(move |_| UNTIL_EXIT.with(|k| *k.borrow_mut() = Some(alive)))
            .await
            .expect("run");
        drop(pool);
        let r = tokio::task::spawn_blocking(move || ended.recv_timeout(Duration::from_secs(10)))
            .await
            .expect("join");
        assert_eq!(r, Err(mpsc::RecvTimeoutError::Disconnected));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn pool_sheds_when_the_queue_is_full() {
        let pool = HashingPool::new(cheap(), 1, 1);
        let (tx, rx) = mpsc::channel::<()>();
        let (started_tx, started) = tokio::sync::oneshot::channel::<()>();
        let busy = pool.clone();
        let first = tokio::spawn(async move {
            busy.run(move |_| {
                let _ = started_tx.send(());
                rx.recv().is_ok()
            })
            .await
        });
        // Wait until the first job runs on the only thread: then it holds
        // the only permit and no longer counts as waiting (seeing the
        // permit taken is not enough: its caller may still count as
        // waiting, and then the third call below would wait for ever).
        started.await.expect("first job started");
        assert_eq!(pool.permits.available_permits(), 0);
        let queued = pool.clone();
        let second = tokio::spawn(async move { queued.run(|_| true).await });
        while pool.waiting.load(Ordering::SeqCst) == 0 {
            tokio::task::yield_now().await;
        }
        let third = pool.run(|_| true).await;
        assert!(matches!(third, Err(AuthError::Busy { .. })));
        tx.send(()).expect("release");
        assert!(matches!(first.await, Ok(Ok(true))));
        assert!(matches!(second.await, Ok(Ok(true))));
    }
}
