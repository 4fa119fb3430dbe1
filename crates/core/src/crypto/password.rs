//! Argon2id hashing, run on a bounded pool off the async runtime.
//!
//! A hash costs tens of milliseconds of CPU by design. Running it on the
//! async worker threads would let a login storm stall every other request,
//! so [`HashingPool`] runs at most `threads` hashes at once on blocking
//! threads and sheds callers with [`AuthError::Busy`] once `queue` are
//! already waiting, instead of queueing without limit.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use argon2::{Algorithm, Argon2, Params, Version};
use tokio::sync::Semaphore;

use crate::config::Argon2Cost;
use crate::error::AuthError;
use crate::secret::SecretString;

/// A fixed-cost argon2id hasher.
#[derive(Clone)]
pub struct Argon2idHasher {
    argon: Argon2<'static>,
}

impl std::fmt::Debug for Argon2idHasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Argon2idHasher")
    }
}

impl Argon2idHasher {
    /// A hasher with that cost.
    pub fn new(cost: Argon2Cost) -> Result<Self, AuthError> {
        let params = Params::new(cost.memory_kib, cost.iterations, cost.parallelism, None)
            .map_err(|e| AuthError::Internal(format!("argon2 parameters: {e}")))?;
        Ok(Self {
            argon: Argon2::new(Algorithm::Argon2id, Version::V0x13, params),
        })
    }

    /// The PHC string of `secret` with a fresh random salt.
    pub fn hash(&self, secret: &SecretString) -> Result<String, AuthError> {
        self.argon
            .hash_password(secret.expose().as_bytes())
            .map(|h| h.to_string())
            .map_err(|e| AuthError::Internal(format!("argon2 hash: {e}")))
    }

    /// Whether `secret` matches the PHC string `phc` (parameters are taken
    /// from the string). A malformed string never matches.
    pub fn verify(&self, secret: &SecretString, phc: &str) -> bool {
        self.argon
            .verify_password(secret.expose().as_bytes(), phc)
            .is_ok()
    }
}

/// Runs hashing jobs with bounded concurrency and a bounded queue.
#[derive(Debug, Clone)]
pub struct HashingPool {
    permits: Arc<Semaphore>,
    waiting: Arc<AtomicUsize>,
    max_waiting: usize,
    hasher: Argon2idHasher,
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
        Self {
            permits: Arc::new(Semaphore::new(threads.max(1))),
            waiting: Arc::new(AtomicUsize::new(0)),
            max_waiting,
            hasher,
        }
    }

    /// The hasher, for synchronous use (CLI, tests).
    pub fn hasher(&self) -> &Argon2idHasher {
        &self.hasher
    }

    /// Runs `job` with the hasher on a blocking thread once a slot is free.
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
        let hasher = self.hasher.clone();
        tokio::task::spawn_blocking(move || {
            let r = job(&hasher);
            drop(permit);
            r
        })
        .await
        .map_err(|e| AuthError::Internal(format!("hashing task failed: {e}")))
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

#[cfg(test)]
mod tests {
    use super::*;

    fn cheap() -> Argon2idHasher {
        Argon2idHasher::new(Argon2Cost {
            memory_kib: 1024,
            iterations: 1,
            parallelism: 1,
        })
        .expect("params")
    }

    #[test]
    fn hash_is_salted_argon2id_and_verifies() {
        let h = cheap();
        let pw = SecretString::new("correct horse");
        let a = h.hash(&pw).expect("hash");
        let b = h.hash(&pw).expect("hash");
        assert!(a.starts_with("$argon2id$"));
        assert_ne!(a, b, "salted");
        assert!(h.verify(&pw, &a));
        assert!(!h.verify(&SecretString::new("wrong"), &a));
        assert!(!h.verify(&pw, "not a phc string"));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn pool_sheds_when_the_queue_is_full() {
        let pool = HashingPool::new(cheap(), 1, 1);
        let (tx, rx) = std::sync::mpsc::channel::<()>();
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
