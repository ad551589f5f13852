//! [`Shutdown`]: one "stop now" flag that every phase can wait on in the way its I/O model
//! needs (SPEC.md, graceful shutdown on SIGINT / SIGTERM).
//!
//! A signal handler may do almost nothing (no locks, no allocation), so signal-hook's
//! `Signals` iterator turns signals into ordinary reads on a watcher thread, and that thread
//! calls [`Shutdown::trigger`]. From there each phase picks its way to hear about it:
//!
//! | phase model | how it learns | API |
//! |---|---|---|
//! | blocking accept loop (p1, p2) | a callback connects to its own listener to wake `accept` | [`Shutdown::on_trigger`], [`Shutdown::is_triggered`] |
//! | epoll/kqueue reactor (p3) | a self-pipe registered with the poller becomes readable | [`Shutdown::subscribe`] |
//! | mio (p4) | a callback calls `mio::Waker::wake` | [`Shutdown::on_trigger`] |
//! | tokio (p5), main threads | block or poll | [`Shutdown::wait`], [`Shutdown::wait_timeout`] |

use std::io::{self, Write};
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
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
    /// Callbacks and pipe ends waiting for the trigger.
    waiting: Mutex<Waiting>,
    /// Wakes [`Shutdown::wait`].
    condvar: Condvar,
}

#[derive(Default)]
struct Waiting {
    callbacks: Vec<Callback>,
    /// Write ends of the pipes handed out by [`Shutdown::subscribe`].
    pipes: Vec<UnixStream>,
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

    /// A flag that SIGINT and SIGTERM set. Starts the signal watcher thread; callbacks
    /// registered with [`Shutdown::on_trigger`] run on that thread when a signal arrives.
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
                        // A second Ctrl-C while draining, or a phase that also listens
                        // through its runtime (p5's tokio::signal) getting there first.
                        tracing::debug!(signal = name, "already shutting down");
                    } else {
                        tracing::info!(signal = name, "shutting down gracefully");
                        watcher.trigger();
                    }
                }
            })?;
        Ok(shutdown)
    }

    /// Starts the shutdown: sets the flag, writes a byte to every subscribed pipe, runs the
    /// callbacks (on the calling thread), and wakes [`Shutdown::wait`]ers. Later calls do nothing.
    pub fn trigger(&self) {
        let mut waiting = self.lock();
        if self.inner.triggered.swap(true, Ordering::SeqCst) {
            return;
        }
        for pipe in &mut waiting.pipes {
            notify_pipe(pipe);
        }
        // Callbacks run under the lock so that one registered concurrently cannot be missed;
        // they must not call back into this `Shutdown` except `is_triggered`.
        for callback in &waiting.callbacks {
            callback();
        }
        self.inner.condvar.notify_all();
    }

    /// Whether shutdown has started. Cheap (one atomic load): loops may poll it.
    pub fn is_triggered(&self) -> bool {
        self.inner.triggered.load(Ordering::SeqCst)
    }

    /// Blocks until shutdown starts.
    pub fn wait(&self) {
        let mut waiting = self.lock();
        while !self.is_triggered() {
            waiting = self
                .inner
                .condvar
                .wait(waiting)
                .unwrap_or_else(|e| e.into_inner());
        }
    }

    /// Blocks until shutdown starts or `timeout` passes; `true` if it started.
    pub fn wait_timeout(&self, timeout: Duration) -> bool {
        let waiting = self.lock();
        let (_waiting, _) = self
            .inner
            .condvar
            .wait_timeout_while(waiting, timeout, |_| !self.is_triggered())
            .unwrap_or_else(|e| e.into_inner());
        self.is_triggered()
    }

    /// Runs `f` when shutdown starts (at once, on this thread, if it already has). Use it to
    /// wake a loop that sleeps somewhere the flag cannot reach: `mio::Waker::wake`, or a
    /// connection to one's own listener to return from a blocking `accept`.
    pub fn on_trigger(&self, f: impl Fn() + Send + Sync + 'static) {
        let mut waiting = self.lock();
        if self.is_triggered() {
            drop(waiting);
            f();
        } else {
            waiting.callbacks.push(Box::new(f));
        }
    }

    /// The read end of a self-pipe (a non-blocking Unix socket pair) that becomes readable,
    /// with one byte, when shutdown starts: a file descriptor an epoll/kqueue reactor can
    /// register next to its sockets. The byte stays until read, so level- and edge-triggered
    /// registration both see it.
    pub fn subscribe(&self) -> io::Result<UnixStream> {
        let (read_end, mut write_end) = UnixStream::pair()?;
        read_end.set_nonblocking(true)?;
        // A full pipe must never block `trigger`; one byte is all it ever carries anyway.
        write_end.set_nonblocking(true)?;
        let mut waiting = self.lock();
        if self.is_triggered() {
            notify_pipe(&mut write_end);
        }
        waiting.pipes.push(write_end);
        Ok(read_end)
    }

    fn lock(&self) -> MutexGuard<'_, Waiting> {
        self.inner.waiting.lock().unwrap_or_else(|e| e.into_inner())
    }
}

fn notify_pipe(pipe: &mut UnixStream) {
    // WouldBlock cannot happen with one byte in an empty buffer, and a reader that closed its
    // end no longer cares: nothing to do with an error but note it.
    if let Err(e) = pipe.write(&[1]) {
        tracing::debug!(error = %e, "shutdown pipe not notified");
    }
}
