//! Natural batching for the PostgreSQL store: jobs go to one queue; each
//! of a few lanes (tasks) takes the next job and every job waiting at that
//! moment, runs them together (one statement, or one per kind), and only
//! then takes the next group. While the lanes are busy, jobs gather; a lone
//! job is run at once (no timer).

use std::future::Future;
use std::sync::{Arc, OnceLock};

use tokio::sync::{Mutex, mpsc};

/// The most jobs one lane takes at once.
const MAX_GROUP: usize = 256;

/// The lanes of one kind of job, started by the first job.
#[derive(Debug)]
pub(crate) struct Lanes<J> {
    queue: OnceLock<Option<mpsc::UnboundedSender<J>>>,
}

impl<J> Default for Lanes<J> {
    fn default() -> Self {
        Self {
            queue: OnceLock::new(),
        }
    }
}

impl<J: Send + 'static> Lanes<J> {
    /// Queues `job` for `lanes` tasks running `run` on each group (started
    /// in the current runtime by the first call). Gives the job back when
    /// no lane can run it (outside a tokio runtime, or the lanes ended):
    /// the caller then runs it alone.
    pub(crate) fn send<F, Fut>(&self, lanes: usize, run: F, job: J) -> Result<(), J>
    where
        F: Fn(Vec<J>) -> Fut + Clone + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let queue = self.queue.get_or_init(|| {
            let handle = tokio::runtime::Handle::try_current().ok()?;
            let (tx, rx) = mpsc::unbounded_channel();
            let rx = Arc::new(Mutex::new(rx));
            for _ in 0..lanes.max(1) {
                handle.spawn(lane(Arc::clone(&rx), run.clone()));
            }
            Some(tx)
        });
        match queue {
            Some(queue) => queue.send(job).map_err(|e| e.0),
            None => Err(job),
        }
    }
}

/// One lane: the next job and all those waiting, then the next group.
/// Ends when the queue's sender (the store) is gone.
async fn lane<J, F, Fut>(queue: Arc<Mutex<mpsc::UnboundedReceiver<J>>>, run: F)
where
    F: Fn(Vec<J>) -> Fut,
    Fut: Future<Output = ()>,
{
    loop {
        let mut jobs = Vec::new();
        {
            let mut rx = queue.lock().await;
            let Some(first) = rx.recv().await else {
                return;
            };
            jobs.push(first);
            while jobs.len() < MAX_GROUP {
                match rx.try_recv() {
                    Ok(job) => jobs.push(job),
                    Err(_) => break,
                }
            }
        }
        run(jobs).await;
    }
}
