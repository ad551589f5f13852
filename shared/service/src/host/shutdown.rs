//! [`Shutdown`]: one "stop now" flag, and callbacks that run when it is set (SPEC.md,
//! graceful shutdown on SIGINT / SIGTERM).
//!
//! A signal handler may do almost nothing (no locks, no allocation), so signal-hook's
//! `Signals` iterator turns signals into ordinary reads on one watcher thread, and that
//! thread calls [`Shutdown::trigger`]. How a phase then wakes whatever it sleeps in is the
//! phase's own business, and part of what it teaches: each registers a callback with
//! [`Shutdown::on_trigger`] that pokes its own sleeper (a connection to its own listener for a
//! blocking `accept`, a byte into a self-pipe for a hand-written reactor, a `mio::Waker`, a
//! tokio `CancellationToken`), and checks [`Shutdown::is_triggered`] where it wakes.

use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook::iterator::Signals;

/// How long a graceful shutdown lets requests already being read finish (SPEC.md: 5 s).
/// After it, remaining connections are closed and the log is drained anyway.
pub const DRAIN_TIMEOUT: Duration = Duration::from_secs(5);

type Callback = Box<dyn Fn() + Send + Sync>;

/// A cloneable handle on the shutdown flag. All clones see the same trigger.
#[derive(Clone, Default)]
pub struct Shutdown {
    inner: Arc<Inner>,
}

#[derive(Default)]
struct Inner {
    /// Set once, never cleared; read without the lock by [`Shutdown::is_triggered`].
    triggered: AtomicBool,
    /// Callbacks waiting for the trigger.
    callbacks: Mutex<Vec<Callback>>,
}

impl std::fmt::Debug for Shutdown {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shutdown")
            .field("triggered", &self.is_triggered())
            .finish()
    }
}

impl Shutdown {
    /// A flag that only [`Shutdown::trigger`] sets: for tests, and for code that stops a
    /// server programmatically.
    pub fn new() -> Shutdown {
        Shutdown::default()
    }

    /// A flag that SIGINT and SIGTERM set. Starts the process's one signal watcher thread;
    /// callbacks registered with [`Shutdown::on_trigger`] run on that thread when a signal
    /// arrives.
    pub fn install() -> io::Result<Shutdown> {
        let shutdown = Shutdown::new();
        let mut signals = Signals::new([SIGINT, SIGTERM])?;
        let watcher = shutdown.clone();
        std::thread::Builder::new()
            .name("signals".into())
            .spawn(move || {
                // The thread lives until the process exits: later signals are read and
                // ignored, so a second Ctrl-C does not kill a drain that is saving data.
                for signal in signals.forever() {
                    let name = if signal == SIGINT {
                        "SIGINT"
                    } else {
                        "SIGTERM"
                    };
                    if watcher.is_triggered() {
                        tracing::debug!(signal = name, "already shutting down");
                    } else {
                        tracing::info!(signal = name, "shutting down gracefully");
                        watcher.trigger();
                    }
                }
            })?;
        Ok(shutdown)
    }

    /// Starts the shutdown: sets the flag and runs the callbacks (on the calling thread).
    /// Later calls do nothing.
    pub fn trigger(&self) {
        let callbacks = self.lock();
        if self.inner.triggered.swap(true, Ordering::SeqCst) {
            return;
        }
        // Callbacks run under the lock so that one registered concurrently cannot be missed;
        // they must not call back into this `Shutdown` except `is_triggered`.
        for callback in callbacks.iter() {
            callback();
        }
    }

    /// Whether shutdown has started. Cheap (one atomic load): loops may poll it.
    pub fn is_triggered(&self) -> bool {
        self.inner.triggered.load(Ordering::SeqCst)
    }

    /// Runs `f` when shutdown starts (at once, on this thread, if it already has). A phase
    /// uses it to wake a loop that sleeps somewhere the flag cannot reach. `f` runs on the
    /// triggering thread (usually the signal watcher), so it must be quick and must not
    /// block: write a byte, wake a waker, cancel a token.
    pub fn on_trigger(&self, f: impl Fn() + Send + Sync + 'static) {
        let mut callbacks = self.lock();
        if self.is_triggered() {
            drop(callbacks);
            f();
        } else {
            callbacks.push(Box::new(f));
        }
    }

    fn lock(&self) -> MutexGuard<'_, Vec<Callback>> {
        self.inner
            .callbacks
            .lock()
            .unwrap_or_else(|e| e.into_inner())
    }
}
