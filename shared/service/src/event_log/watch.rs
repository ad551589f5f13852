//! [`LogWatch`]: how an event loop learns that the writer finished a group, without ever
//! blocking on it.
//!
//! An event loop sleeps in `epoll_wait` (or `kevent`, or `io_uring_enter`) and wakes only for
//! what that call watches: file descriptors. The writer is a thread, not a socket, so each
//! loop gives the log a `wake` closure that makes one of its own descriptors ready (an
//! `eventfd` on Linux, `EVFILT_USER` on kqueue, a `mio::Waker`, a `tokio::sync::Notify`).
//!
//! Waking a loop is a system call, so the writer does it only when asked. The protocol is
//! the one `mio::Waker` users and futexes follow, and it cannot lose a wake-up:
//!
//! ```text
//!  event loop                                   writer thread
//!  ──────────                                   ─────────────
//!  has connections waiting? then, before        finishes a group:
//!  sleeping: arm()                                progress += 1          (1)
//!    armed = true                  (2)            if armed.swap(false)   (3)
//!    progress changed since        (4)               wake()
//!    moved()? then don't sleep
//!  after waking: moved()? poll the waiting connections
//! ```
//!
//! All four steps are sequentially consistent, so either the loop's check (4) sees the
//! writer's increment (1), or the writer's swap (3) sees the loop's flag (2), or both. The
//! writer never calls `wake` for a loop with nothing waiting, and calls it at most once per
//! group however many connections of that loop wait.

use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
use std::sync::{Arc, Mutex};

use super::Shared;

/// One loop's registration: its flag and its way to be woken.
struct Entry {
    /// Set by [`LogWatch::arm`], cleared by the writer when it wakes the loop.
    armed: AtomicBool,
    /// Makes the loop's poller return. Called on the writer thread.
    wake: Box<dyn Fn() + Send + Sync>,
}

/// Every registered loop. A mutex, not a lock-free list: it is taken once per group by the
/// writer and once per loop at start and stop.
#[derive(Default)]
pub(super) struct Watches(Mutex<Vec<Arc<Entry>>>);

impl Watches {
    /// Called by the writer after each bit of progress: wakes the armed loops.
    pub(super) fn wake_armed(&self) {
        let entries = self.0.lock().unwrap_or_else(|e| e.into_inner());
        for entry in entries.iter() {
            if entry.armed.swap(false, SeqCst) {
                (entry.wake)();
            }
        }
    }
}

// ANCHOR: log_watch
/// An event loop's view of the writer's progress, from [`super::EventLog::watch`] (or
/// `Service::watch`). Dropping it unregisters the loop.
pub struct LogWatch {
    shared: Arc<Shared>,
    entry: Arc<Entry>,
    /// The progress count the loop last acted on.
    seen: u64,
}

impl LogWatch {
    /// Call before sleeping while any connection waits on the log. Asks the writer to wake
    /// the loop at its next progress, and returns `true` if there was progress since the last
    /// [`LogWatch::moved`] already: then poll the waiting connections instead of sleeping.
    pub fn arm(&self) -> bool {
        self.entry.armed.store(true, SeqCst);
        self.shared.progress.load(SeqCst) != self.seen
    }

    /// Whether the writer made progress since the last call (tickets finished, or room in its
    /// queue): if so, poll the connections that wait on the log. One atomic load; cheap
    /// enough to ask on every turn of the loop.
    pub fn moved(&mut self) -> bool {
        let now = self.shared.progress.load(SeqCst);
        std::mem::replace(&mut self.seen, now) != now
    }
}
// ANCHOR_END: log_watch

impl LogWatch {
    pub(super) fn new(shared: Arc<Shared>, wake: Box<dyn Fn() + Send + Sync>) -> LogWatch {
        let entry = Arc::new(Entry {
            armed: AtomicBool::new(false),
            wake,
        });
        shared
            .watches
            .0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(Arc::clone(&entry));
        let seen = shared.progress.load(SeqCst);
        LogWatch {
            shared,
            entry,
            seen,
        }
    }
}

impl Drop for LogWatch {
    fn drop(&mut self) {
        let mut entries = self
            .shared
            .watches
            .0
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        entries.retain(|e| !Arc::ptr_eq(e, &self.entry));
    }
}

impl std::fmt::Debug for LogWatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LogWatch")
            .field("seen", &self.seen)
            .finish()
    }
}
