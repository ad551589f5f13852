//! Graceful shutdown, the tokio way: one [`CancellationToken`] that every task watches, and
//! a [`TaskTracker`] that waits for the connection tasks to finish.
//!
//! Phase 1 had to close sockets under blocked threads, phase 3 registered a self-pipe with
//! epoll. Here shutdown is one more future: the accept loop and every connection task
//! `select!` on `cancel.cancelled()` next to their I/O, so they notice it wherever they are
//! parked, and each decides what "stopping" means for it (the accept loop stops at once; a
//! connection finishes the request it is reading).
//!
//! Two sources feed the token:
//!
//! - the server's [`Shutdown`], which `main_with` triggers on SIGINT/SIGTERM for every phase,
//!   and which tests (or an embedding program) may trigger directly;
//! - tokio's own signal streams ([`watch_signals`]), the way a tokio program on its own
//!   would catch Ctrl-C. They trigger the same `Shutdown`, so both paths end in one place and
//!   whichever comes first wins; triggering twice is harmless.

use ingest_service::{Shutdown, DRAIN_TIMEOUT};
use tokio::signal::unix::{signal, SignalKind};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{info, warn};

/// A token cancelled when `shutdown` is triggered, for the accept loop and every connection.
///
/// `Shutdown::on_trigger` runs its callback on whichever thread triggers (the signal
/// watcher, a test, a worker running [`watch_signals`]), or at once if shutdown has already
/// started. Either is fine: `CancellationToken::cancel` may be called from any thread, never
/// blocks, and wakes the tasks waiting on it wherever they are parked.
pub fn cancellation_for(shutdown: &Shutdown) -> CancellationToken {
    let cancel = CancellationToken::new();
    let on_trigger = cancel.clone();
    shutdown.on_trigger(move || on_trigger.cancel());
    cancel
}

/// Waits for Ctrl-C (SIGINT) or SIGTERM, then triggers `shutdown`.
///
/// Runs as a task of its own for the whole life of the runtime; dropping the runtime ends it.
pub async fn watch_signals(shutdown: Shutdown) {
    let mut terminate = match signal(SignalKind::terminate()) {
        Ok(stream) => stream,
        Err(e) => {
            // `main_with` still catches both signals; only this second listener is lost.
            warn!("cannot listen for SIGTERM through tokio: {e}");
            return;
        }
    };
    let which = tokio::select! {
        result = tokio::signal::ctrl_c() => match result {
            Ok(()) => "SIGINT",
            Err(e) => {
                warn!("cannot listen for SIGINT through tokio: {e}");
                return;
            }
        },
        _ = terminate.recv() => "SIGTERM",
    };
    // The shared signal watcher may have seen the same signal first and said so already.
    if !shutdown.is_triggered() {
        info!(signal = which, "shutting down gracefully");
    }
    shutdown.trigger();
}

/// Waits for every connection task to finish, at most [`DRAIN_TIMEOUT`].
///
/// The connection tasks have seen the token already: idle ones close at once, the ones in the
/// middle of a request answer it with `Connection: close`. Whatever is still running after
/// the timeout is dropped with the runtime, which closes its socket.
pub async fn drain(tracker: &TaskTracker) {
    // No more tasks will be added: `wait()` resolves once the tracked ones are gone.
    tracker.close();
    info!(
        connections = tracker.len(),
        "shutting down: draining connections"
    );
    if tokio::time::timeout(DRAIN_TIMEOUT, tracker.wait())
        .await
        .is_err()
    {
        warn!(
            connections = tracker.len(),
            "drain timeout passed: closing the connections still open"
        );
    }
}
