//! A thread pool, written by hand: N workers and a bounded queue.
//!
//! The same shape as the Rust Book's web-server pool, with two changes that matter for a
//! server: the queue is **bounded** ([`ThreadPool::try_submit`] hands the job back when it is
//! full, so the caller can shed load instead of queueing without limit), and jobs are values
//! of one type `T` handled by one function, so a rejected job (a connection) comes back to
//! the caller intact.

use std::collections::VecDeque;
use std::io;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::{self, JoinHandle};

/// A fixed set of worker threads taking jobs of type `T` from a bounded queue.
pub struct ThreadPool<T> {
    queue: Arc<Queue<T>>,
    workers: Vec<JoinHandle<()>>,
}

/// The queue the workers share.
struct Queue<T> {
    state: Mutex<QueueState<T>>,
    /// Signalled when a job arrives or the pool closes; idle workers sleep on it.
    job_ready: Condvar,
    /// Jobs waiting beyond this many are refused.
    capacity: usize,
}

struct QueueState<T> {
    jobs: VecDeque<T>,
    /// Set when the pool is dropped: workers finish the queued jobs, then exit.
    closed: bool,
}

impl<T: Send + 'static> ThreadPool<T> {
    /// Starts `workers` threads named `name-N`, each running `work` on one job at a time.
    pub fn new<F>(name: &str, workers: usize, capacity: usize, work: F) -> io::Result<Self>
    where
        F: Fn(T) + Send + Sync + 'static,
    {
        assert!(workers > 0, "a pool needs at least one worker");
        let queue = Arc::new(Queue {
            state: Mutex::new(QueueState {
                jobs: VecDeque::with_capacity(capacity),
                closed: false,
            }),
            job_ready: Condvar::new(),
            capacity,
        });
        let work = Arc::new(work);
        let mut pool = ThreadPool {
            queue,
            workers: Vec::with_capacity(workers),
        };
        for id in 0..workers {
            let queue = Arc::clone(&pool.queue);
            let work = Arc::clone(&work);
            let handle = thread::Builder::new()
                .name(format!("{name}-{id}"))
                .spawn(move || queue.run_worker(&*work))?;
            pool.workers.push(handle);
        }
        Ok(pool)
    }

    // ANCHOR: try_submit
    /// Queues a job, or hands it back when the queue is full.
    pub fn try_submit(&self, job: T) -> Result<(), T> {
        let mut state = self.queue.lock();
        if state.jobs.len() >= self.queue.capacity {
            return Err(job);
        }
        state.jobs.push_back(job);
        drop(state);
        self.queue.job_ready.notify_one();
        Ok(())
    }
    // ANCHOR_END: try_submit

    /// Jobs waiting for a worker.
    pub fn queued(&self) -> usize {
        self.queue.lock().jobs.len()
    }

    /// Number of worker threads.
    pub fn workers(&self) -> usize {
        self.workers.len()
    }
}

impl<T> Queue<T> {
    // ANCHOR: run_worker
    /// A worker's life: take a job, run it, repeat; exit once the pool is closed and empty.
    fn run_worker(&self, work: &dyn Fn(T)) {
        loop {
            let job = {
                let mut state = self.lock();
                loop {
                    if let Some(job) = state.jobs.pop_front() {
                        break job;
                    }
                    if state.closed {
                        return;
                    }
                    state = self
                        .job_ready
                        .wait(state)
                        .unwrap_or_else(|e| e.into_inner());
                }
            };
            // The lock is released before the job runs: other workers keep taking jobs.
            work(job);
        }
    }
    // ANCHOR_END: run_worker

    fn lock(&self) -> MutexGuard<'_, QueueState<T>> {
        // No job runs under this lock (see `run_worker`), so a panicking job cannot poison
        // it: the panic unwinds and ends that job's worker thread for good, and the pool
        // serves one worker short from then on. Pushing and popping cannot leave the queue
        // half-updated, so even a poisoned lock would guard a consistent queue: take it.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl<T> Drop for ThreadPool<T> {
    /// Closes the queue and joins every worker: queued jobs still run first.
    fn drop(&mut self) {
        self.queue.lock().closed = true;
        self.queue.job_ready.notify_all();
        for worker in self.workers.drain(..) {
            // A worker that panicked has already printed its panic; nothing more to do.
            let _ = worker.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::mpsc;
    use std::time::Duration;

    /// Every submitted job runs exactly once, and dropping the pool waits for all of them.
    #[test]
    fn runs_every_job_and_drop_joins() {
        let done = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&done);
        let pool = ThreadPool::new("t", 4, 1000, move |n: usize| {
            counter.fetch_add(n, Ordering::SeqCst);
        })
        .unwrap();
        for _ in 0..500 {
            pool.try_submit(1).unwrap();
        }
        drop(pool);
        assert_eq!(done.load(Ordering::SeqCst), 500);
    }

    /// A full queue hands the job back instead of growing.
    #[test]
    fn full_queue_hands_the_job_back() {
        let (release_tx, release_rx) = mpsc::channel::<()>();
        let release_rx = Mutex::new(release_rx);
        let (started_tx, started_rx) = mpsc::channel::<()>();
        let started_tx = Mutex::new(started_tx);
        let pool = ThreadPool::new("t", 1, 2, move |_: u32| {
            started_tx.lock().unwrap().send(()).unwrap();
            release_rx.lock().unwrap().recv().unwrap();
        })
        .unwrap();
        pool.try_submit(0).unwrap(); // taken by the only worker, which then blocks
        started_rx.recv_timeout(Duration::from_secs(5)).unwrap();
        pool.try_submit(1).unwrap();
        pool.try_submit(2).unwrap();
        assert_eq!(pool.queued(), 2);
        assert_eq!(pool.try_submit(3), Err(3));
        for _ in 0..3 {
            release_tx.send(()).unwrap();
        }
        drop(pool);
    }
}
