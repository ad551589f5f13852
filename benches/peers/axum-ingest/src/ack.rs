//! Waiting for the event log under `--ack written|synced`, the tokio way: the writer's
//! wake-up is a [`Notify`], and a request whose batch is not written yet awaits it.
//!
//! Phase 5 (`phases/p5-tokio/src/ack.rs`) has a twin of [`LogWaiter::new`]: a peer must not
//! depend on a phase nor a phase on a peer, and the shared service crate stays free of
//! tokio, so the few lines are written twice on purpose.

use std::pin::pin;
use std::sync::Arc;

use ingest_http::{Handler, Pending, Response};
use ingest_service::event_log::LogWatch;
use ingest_service::Service;
use tokio::sync::Notify;

/// The server's one registration with the event log, shared by every request.
#[derive(Debug)]
pub struct LogWaiter {
    /// Woken by the writer after each group, while some request has armed the watch.
    notify: Arc<Notify>,
    watch: LogWatch,
}

impl LogWaiter {
    /// Registers with `service`'s event log.
    pub fn new(service: &Service) -> LogWaiter {
        let notify = Arc::new(Notify::new());
        let woken = Arc::clone(&notify);
        // `notify_waiters` wakes the requests waiting now, and never blocks the writer.
        let watch = service.watch(move || woken.notify_waiters());
        LogWaiter { notify, watch }
    }

    /// The final response to a request the service answered later.
    pub async fn answer(&self, service: &Service, mut pending: Pending) -> Response {
        loop {
            // Register for the next wake-up *before* looking, so a group finished between
            // the look and the await still wakes this request.
            let mut notified = pin!(self.notify.notified());
            notified.as_mut().enable();
            // Every waiting request shares the one watch, so its "already moved" answer says
            // nothing about this request: the look below decides.
            let _ = self.watch.arm();
            if let Some(response) = service.poll_pending(&mut pending) {
                return response;
            }
            notified.await;
        }
    }
}
