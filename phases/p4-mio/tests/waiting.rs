//! The reactor never waits for the event log's writer: a request that does (`--ack written`)
//! waits in the loop's list while the loop serves everyone else. The checks are phase 3's
//! (its `tests/support/waiting.rs`), run against this phase's reactor.

#[path = "../../p3-reactor/tests/support/waiting.rs"]
mod waiting;

use p4_mio::reactor::Reactor;

/// One of phase 4's reactors, as `serve` builds and runs each.
fn start() -> waiting::Running {
    waiting::start(|listener, service, shutdown| {
        Reactor::new(0, listener, service, shutdown)?.run()
    })
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
