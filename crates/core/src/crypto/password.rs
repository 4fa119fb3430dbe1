//! Argon2id hashing, run on a fixed set of dedicated threads.
//!
//! A hash costs tens of milliseconds of CPU and 19 MiB of memory by design.
//! Running it on the async worker threads would let a login storm stall
//! every other request, so [`HashingPool`] runs at most `threads` hashes at
//! once and sheds callers with [`AuthError::Busy`] once `max_waiting` are
//! already waiting, instead of queueing without limit.
//!
//! The hashes run on `threads` named threads started with the pool, not on
//! Tokio's blocking pool: every thread that ever hashed keeps a malloc arena
//! holding its 19 MiB, so a blocking pool that grows under load (up to 512
//! threads) made the peak RSS grow with it. Each pool thread also keeps one
//! argon2 memory block for all its hashes, allocated on its first hash, so
//! a hash neither allocates nor page-faults 19 MiB afresh. The PHC strings
//! are the argon2 crate's own (`$argon2id$v=19$m=...`), byte for byte.

use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, TryLockError, mpsc};

use argon2::password_hash::phc::{Output, ParamsString, PasswordHash, Salt};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use tokio::sync::{Semaphore, oneshot};

use crate::config::Argon2Cost;
use crate::error::AuthError;
use crate::secret::SecretString;

/// A fixed-cost argon2id hasher.
#[derive(Clone)]
pub struct Argon2idHasher {
    argon: Argon2<'static>,
    /// The memory a pool thread reuses across hashes; `None` elsewhere (a
    /// hash then allocates its memory and frees it when done).
    memory: Option<Arc<Mutex<Vec<Block>>>>,
}

impl std::fmt::Debug for Argon2idHasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Argon2idHasher")
    }
}

/// The algorithm and version of every hash this module makes.
const ALGORITHM: Algorithm = Algorithm::Argon2id;
const VERSION: Version = Version::V0x13;

impl Argon2idHasher {
    /// A hasher with that cost.
    pub fn new(cost: Argon2Cost) -> Result<Self, AuthError> {
        let params = Params::new(cost.memory_kib, cost.iterations, cost.parallelism, None)
            .map_err(|e| AuthError::Internal(format!("argon2 parameters: {e}")))?;
        Ok(Self {
            argon: Argon2::new(ALGORITHM, VERSION, params),
            memory: None,
        })
    }

    /// The same hasher, reusing one memory block across its hashes (for a
    /// pool thread: the block lives as long as the thread).
    fn with_reused_memory(&self) -> Self {
        Self {
            argon: self.argon.clone(),
            memory: Some(Arc::new(Mutex::new(Vec::new()))),
        }
    }

    /// The PHC string of `secret` with a fresh random salt.
    pub fn hash(&self, secret: &SecretString) -> Result<String, AuthError> {
        let salt = argon2::password_hash::try_generate_salt()
            .map_err(|e| AuthError::Internal(format!("argon2 salt: {e}")))?;
        self.hash_with_salt(secret, &salt)
    }

    /// The PHC string of `secret` with `salt`: the same string as the
    /// argon2 crate's `PasswordHasher::hash_password_with_salt`.
    fn hash_with_salt(&self, secret: &SecretString, salt: &[u8]) -> Result<String, AuthError> {
        let failed = |e: &dyn std::fmt::Display| AuthError::Internal(format!("argon2 hash: {e}"));
        let params = self.argon.params();
        let mut buffer = [0u8; Output::MAX_LENGTH];
        let out = buffer
            .get_mut(..params.output_len().unwrap_or(Params::DEFAULT_OUTPUT_LEN))
            .ok_or_else(|| failed(&"output length"))?;
        self.compute(&self.argon, secret.expose().as_bytes(), salt, out)
            .map_err(|e| failed(&e))?;
        let phc = PasswordHash {
            algorithm: ALGORITHM.ident(),
            version: Some(VERSION.into()),
            params: ParamsString::try_from(params).map_err(|e| failed(&e))?,
            salt: Some(Salt::new(salt).map_err(|e| failed(&e))?),
            hash: Some(Output::new(out).map_err(|e| failed(&e))?),
        };
        Ok(phc.to_string())
    }

    /// Whether `secret` matches the PHC string `phc` (algorithm, version
    /// and parameters are taken from the string, as the argon2 crate's
    /// `PasswordVerifier` does). A malformed string never matches.
    pub fn verify(&self, secret: &SecretString, phc: &str) -> bool {
        self.matches(secret, phc).unwrap_or(false)
    }

    fn matches(&self, secret: &SecretString, phc: &str) -> Option<bool> {
        let phc = PasswordHash::new(phc).ok()?;
        let algorithm = Algorithm::try_from(phc.algorithm.as_str()).ok()?;
        let version = match phc.version {
            Some(v) => Version::try_from(v).ok()?,
            None => Version::default(),
        };
        let params = Params::try_from(&phc).ok()?;
        let (salt, expected) = (phc.salt?, phc.hash?);
        let argon = Argon2::new(algorithm, version, params);
        let mut buffer = [0u8; Output::MAX_LENGTH];
        let out = buffer.get_mut(..expected.len())?;
        self.compute(&argon, secret.expose().as_bytes(), &salt, out)
            .ok()?;
        // `Output`'s equality is constant-time.
        Some(Output::new(out).ok()? == expected)
    }

    /// Runs `argon` in this hasher's reused memory when it has some (and
    /// the hash needs no more blocks than this hasher's own cost, so a
    /// stored hash of a higher cost cannot make a thread keep more), else
    /// in memory allocated for this hash.
    fn compute(
        &self,
        argon: &Argon2<'_>,
        pwd: &[u8],
        salt: &[u8],
        out: &mut [u8],
    ) -> argon2::Result<()> {
        let needed = argon.params().block_count();
        if needed <= self.argon.params().block_count()
            && let Some(mut blocks) = self.memory.as_deref().and_then(try_lock)
        {
            if blocks.len() < needed {
                blocks.resize(needed, Block::new());
            }
            return argon.hash_password_into_with_memory(pwd, salt, out, blocks.as_mut_slice());
        }
        argon.hash_password_into(pwd, salt, out)
    }
}

/// The lock if it is free (a poisoned lock is fine: every hash overwrites
/// the blocks before reading them).
fn try_lock<T>(m: &Mutex<T>) -> Option<MutexGuard<'_, T>> {
    match m.try_lock() {
        Ok(g) => Some(g),
        Err(TryLockError::Poisoned(p)) => Some(p.into_inner()),
        Err(TryLockError::WouldBlock) => None,
    }
}

/// A job for a pool thread.
type Job = Box<dyn FnOnce(&Argon2idHasher) + Send>;

/// Runs hashing jobs with bounded concurrency and a bounded queue.
///
/// The threads end once every clone of the pool is dropped (a job already
/// running finishes first).
#[derive(Debug, Clone)]
pub struct HashingPool {
    permits: Arc<Semaphore>,
    waiting: Arc<AtomicUsize>,
    max_waiting: usize,
    hasher: Argon2idHasher,
    jobs: mpsc::Sender<Job>,
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
        let (jobs, queue) = mpsc::channel::<Job>();
        let queue = Arc::new(Mutex::new(queue));
        let mut started = 0;
        for n in 0..threads.max(1) {
            let queue = queue.clone();
            let own = hasher.with_reused_memory();
            match std::thread::Builder::new()
                .name(format!("otpgate-hash-{n}"))
                .spawn(move || work(&queue, &own))
            {
                Ok(_) => started += 1,
                Err(e) => tracing::warn!(error = %e, "cannot start a hashing thread"),
            }
        }
        // At most one job per thread is handed over at a time, so a job
        // sent always finds a thread.
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
            jobs,
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
        let job: Job = Box::new(move |h| {
            let r = job(h);
            // The slot is free before the caller hears back.
            drop(permit);
            let _ = reply.send(r);
        });
        self.jobs
            .send(job)
            .map_err(|_| AuthError::Internal("hashing pool closed".into()))?;
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

/// A pool thread: takes jobs until every sender is gone. A job that
/// panics drops its reply (the caller gets an error) and its permit; the
/// thread goes on.
fn work(queue: &Mutex<mpsc::Receiver<Job>>, hasher: &Argon2idHasher) {
    loop {
        let next = queue.lock().unwrap_or_else(PoisonError::into_inner).recv();
        let Ok(job) = next else {
            return;
        };
        let _ = std::panic::catch_unwind(AssertUnwindSafe(|| job(hasher)));
    }
}

#[cfg(test)]
mod tests {
    use std::cell::RefCell;
    use std::time::Duration;

    use argon2::password_hash::{PasswordHasher, PasswordVerifier};

    use super::*;

    fn cost() -> Argon2Cost {
        Argon2Cost {
            memory_kib: 1024,
            iterations: 1,
            parallelism: 1,
        }
    }

    fn cheap() -> Argon2idHasher {
        Argon2idHasher::new(cost()).expect("params")
    }

    /// The argon2 crate's own hasher with the same cost.
    fn plain(cost: Argon2Cost) -> Argon2<'static> {
        let params =
            Params::new(cost.memory_kib, cost.iterations, cost.parallelism, None).expect("params");
        Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
    }

    #[test]
    fn hash_is_salted_argon2id_and_verifies() {
        let h = cheap();
        let pw = SecretString::new("correct horse");
        let a = h.hash(&pw).expect("hash");
        let b = h.hash(&pw).expect("hash");
        assert!(a.starts_with("$argon2id$v=19$m=1024,t=1,p=1$"), "{a}");
        assert_ne!(a, b, "salted");
        assert!(h.verify(&pw, &a));
        assert!(!h.verify(&SecretString::new("wrong"), &a));
        assert!(!h.verify(&pw, "not a phc string"));
        assert!(!h.verify(&pw, "$argon2id$v=19$m=1024,t=1,p=1"));
    }

    #[test]
    fn reused_memory_gives_the_argon2_crates_strings_and_accepts_its_hashes() {
        let pw = SecretString::new("correct horse");
        let reusing = cheap().with_reused_memory();
        let salt = *b"0123456789abcdef";
        let reference = plain(cost())
            .hash_password_with_salt(b"correct horse", &salt)
            .expect("hash")
            .to_string();
        // Twice: the second hash runs in memory the first one filled.
        for _ in 0..2 {
            assert_eq!(reusing.hash_with_salt(&pw, &salt).expect("hash"), reference);
            let ours = reusing.hash(&pw).expect("hash");
            plain(cost())
                .verify_password(b"correct horse", ours.as_str())
                .expect("the argon2 crate accepts our hash");
            assert!(reusing.verify(&pw, &reference));
            assert!(!reusing.verify(&SecretString::new("wrong"), &reference));
        }
        // Hashes of other costs: fewer blocks (in the reused memory) and
        // more blocks (in memory of their own), and the other variants.
        for (m, t, alg) in [
            (64, 3, Algorithm::Argon2id),
            (4096, 1, Algorithm::Argon2id),
            (256, 2, Algorithm::Argon2i),
            (256, 2, Algorithm::Argon2d),
        ] {
            let params = Params::new(m, t, 1, None).expect("params");
            let other = Argon2::new(alg, Version::V0x13, params)
                .hash_password(b"correct horse")
                .expect("hash")
                .to_string();
            assert!(reusing.verify(&pw, &other), "{other}");
            assert!(!reusing.verify(&SecretString::new("wrong"), &other));
        }
        let kept = reusing
            .memory
            .as_deref()
            .map(|m| try_lock(m).map(|b| b.len()));
        assert_eq!(kept, Some(Some(1024)), "one block per KiB of the own cost");
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
        let busy = pool.clone();
        let first = tokio::spawn(async move { busy.run(move |_| rx.recv().is_ok()).await });
        // Wait until the first job holds the only permit.
        while pool.permits.available_permits() > 0 {
            tokio::task::yield_now().await;
        }
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
