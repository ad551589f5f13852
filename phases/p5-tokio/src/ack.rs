//! Waiting for the event log under `--ack written|synced`, the tokio way.
//!
//! A `202` goes out only once the writer thread has written (or synced) the batch, so a
//! connection whose `POST /ingest` is answered later (`Conn::is_waiting`) must learn when
//! the writer moved on, without blocking its worker thread. The writer is a thread, not a
//! socket, so tokio's reactor cannot see it; what a task can await instead is a
//! [`Notify`], and the writer's wake-up closure (`Service::watch`) is `notify_waiters`.
//!
//! One [`LogWaiter`] serves the whole server: the writer wakes it once per group it
//! finishes, and that wakes every task waiting at that moment. Each polls its own request;
//! those whose batch was in the group go on, the others wait again. A connection costs
//! nothing here until it waits.
//!
//! The axum peer (`benches/peers/axum-ingest/src/ack.rs`) has a twin of [`LogWaiter::new`]:
//! a phase must not depend on a peer nor a peer on a phase, and the shared service crate
//! stays free of tokio, so the few lines are written twice on purpose.

use std::pin::pin;
use std::sync::Arc;
use std::time::Instant;

use ingest_http::Conn;
use ingest_service::event_log::LogWatch;
use ingest_service::Service;
use tokio::sync::Notify;

/// The server's one registration with the event log, shared by every connection task.
#[derive(Debug)]
pub struct LogWaiter {
    /// Woken by the writer after each group, while some connection has armed the watch.
    notify: Arc<Notify>,
    /// The registration itself; dropping it (with the server) unregisters.
    watch: LogWatch,
}

impl LogWaiter {
    /// Registers with `service`'s event log.
    pub fn new(service: &Service) -> LogWaiter {
        let notify = Arc::new(Notify::new());
        let woken = Arc::clone(&notify);
        // Runs on the writer thread: `notify_waiters` wakes the tasks waiting now, takes no
        // lock a task could hold for long, and never blocks.
        let watch = service.watch(move || woken.notify_waiters());
        LogWaiter { notify, watch }
    }

    // ANCHOR: answered
    /// Resolves once `conn`'s waiting request is answered ([`Conn::poll_pending`] returned
    /// `true`); at once if it does not wait. Cancel-safe: the connection's `select!` drops
    /// it when shutdown or I/O comes first, and the next call starts over with nothing lost.
    pub async fn answered(&self, conn: &mut Conn, service: &Service) {
        loop {
            // Register for the next wake-up *before* looking, so a group finished between
            // the look and the await still wakes this task.
            let mut notified = pin!(self.notify.notified());
            notified.as_mut().enable();
            // Every waiting connection shares the one watch, so its "already moved" answer
            // says nothing about this connection: the look below decides.
            let _ = self.watch.arm();
            if !conn.is_waiting() || conn.poll_pending(Instant::now(), service) {
                return;
            }
            notified.await;
        }
    }
    // ANCHOR_END: answered
}
