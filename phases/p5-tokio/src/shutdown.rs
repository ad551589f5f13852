//! Graceful shutdown, the tokio way: one [`CancellationToken`] that every task watches, and
//! a [`TaskTracker`] that waits for the connection tasks to finish.
//!
//! Phase 1 had to close sockets under blocked threads, and a hand-written reactor has to give
//! its poll something to wake on, a waker (the book's "Phase 3" chapter). Here shutdown is
//! one more future: the accept loop and every connection task `select!` on
//! `cancel.cancelled()` next to their I/O, so they notice it wherever they are parked, and
//! each decides what "stopping" means for it (the accept loop stops at once; a connection
//! finishes the request it is reading).
//!
//! The token is fed by the server's [`Shutdown`], which `main_with` triggers on SIGINT/SIGTERM
//! from the one signal watcher every phase shares (tests, or an embedding program, may
//! trigger it directly). A tokio program on its own would catch the signals with
//! `tokio::signal`; here that would be a second watcher for the same signals.

use ingest_service::{Shutdown, DRAIN_TIMEOUT};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{info, warn};

/// A token cancelled when `shutdown` is triggered, for the accept loop and every connection.
///
/// `Shutdown::on_trigger` runs its callback on whichever thread triggers (the signal
/// watcher, a test), or at once if shutdown has already started. Either is fine:
/// `CancellationToken::cancel` may be called from any thread, never blocks, and wakes the
/// tasks waiting on it wherever they are parked.
pub fn cancellation_for(shutdown: &Shutdown) -> CancellationToken {
    let cancel = CancellationToken::new();
    let on_trigger = cancel.clone();
    shutdown.on_trigger(move || on_trigger.cancel());
    cancel
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
