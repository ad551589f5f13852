//! The reactor never waits for the event log's writer: a request that does (`--ack written`)
//! waits in the loop's list while the loop serves everyone else (see `support/waiting.rs`).

#[path = "support/waiting.rs"]
mod waiting;

use p3_reactor::reactor::Reactor;

/// Phase 3's reactor, as `serve` builds and runs it.
fn start() -> waiting::Running {
    waiting::start(|listener, service, shutdown| Reactor::new(listener, service, shutdown)?.run())
}

/// One connection's ingest waits; another connection's `/health` is answered meanwhile.
#[test]
fn waiting_ingest_does_not_block_the_loop() {
    waiting::waiting_ingest_does_not_block_the_loop(start());
}

/// Shutdown lets a waiting ingest finish before the loop ends.
#[test]
fn shutdown_finishes_a_waiting_ingest() {
    waiting::shutdown_finishes_a_waiting_ingest(start());
}
