//! # Phase 4: mio and a reactor per core
//!
//! Phase 3's reactor, twice changed. First, the poller is no longer ours: [mio] replaces
//! the hand-written `epoll`/`kqueue` layer with the same vocabulary (`Poll`, `Registry`,
//! `Token`, `Interest`, `Events`), so [`reactor`] and [`connection`] are phase 3's files
//! with mio's types, and `diff` shows little else. Second, with the poller no longer our
//! concern, the phase spends the effort on phase 3's limit, one core: `--threads N` runs N
//! reactors, each on its own thread with its own `Poll` and its own listening socket, and the
//! kernel spreads the connections across them.
//!
//! ## What it shows
//!
//! - **Portable readiness.** mio is edge-triggered on every poller it speaks (epoll, kqueue;
//!   mio also emulates readiness over IOCP on Windows, but this phase reuses phase 3's slab
//!   and timers and so runs where phase 3 does: Unix only, Linux, macOS and the BSDs). The
//!   reactor obeys the same rules as in phase 3: accept and read until `WouldBlock`, write
//!   interest only while output waits. A `mio::Waker` stands in for phase 3's hand-made
//!   one (the same eventfd, the same `EVFILT_USER`).
//! - **A reactor per core.** The reactors share nothing but the `Service` (its stats are
//!   atomics, its event log a bounded queue to the writer thread): no connection moves between
//!   them, and each one's state is touched by its own thread only. N copies of phase 3.
//! - **Kernel load balancing.** On Linux the listeners form a `SO_REUSEPORT` group and the
//!   kernel hashes each new connection to one of them ([`listeners`]). Each reactor logs how
//!   many it accepted when it stops (`reactor stopped reactor=1 accepted=...`).
//! - **Unchanged, reused:** phase 3's slab and timer heap, imported from `p3-reactor`.
//!
//! ## Waiting for the writer
//!
//! As in phase 3: under `--ack written` (the default) a connection whose request waits for
//! the event log's writer sits in its reactor's list, the reactor arms its `LogWatch` before
//! sleeping, the writer wakes that reactor's `mio::Waker` after a group, and the reactor
//! polls the waiting connections when `watch.moved()`, then writes and reads again for each
//! that got its answer. Each reactor has its own watch and waker: the writer wakes only the
//! reactors that have a connection waiting.
//!
//! ## Where it breaks
//!
//! The state machine gets long. Everything a connection may be waiting for (bytes, room to
//! write, a deadline, shutdown) is a flag or an interest switched on and off by hand, in the
//! right order; each new feature (TLS, HTTP/2, a request that awaits a database) adds
//! states. And hashing is not balancing: a reactor that drew the heavy clients stays busy
//! while another idles. Phase 5 has the compiler write the state machine and lets idle
//! threads steal work.
//!
//! ## What it leaves out on purpose
//!
//! Balancing outside Linux: on macOS and the BSDs `SO_REUSEPORT` does not spread TCP
//! connections, so there the reactors share one listening socket (each registers a
//! duplicate; all wake for each connection and one wins the `accept`), and the phase logs
//! that at start. Pinning each reactor to a core (`sched_setaffinity`), which production
//! servers do and which would need `libc` calls that teach nothing new about readiness.
//! Handing work between reactors: a connection lives and dies on the reactor that
//! accepted it.
//!
//! ## Run it, poke it, load it
//!
//! ```text
//! just run p4-mio --addr 127.0.0.1:8080 --threads 2
//! curl -i http://127.0.0.1:8080/health
//! curl -i -d '{"name":"cpu.load","value":0.93}' http://127.0.0.1:8080/ingest
//! ss -ltnp 'sport = :8080'                     # one listening socket per reactor (Linux)
//! top -H -p $(pgrep p4-mio)                    # the reactor-N threads share the load
//! just load p4-mio 1000
//! scripts/measure.sh target/release/p4-mio    # wrk, as for phase 3
//! just idle p4-mio 5000                                   # RSS per idle connection
//! ```
//!
//! Stop it with Ctrl-C: each reactor logs `reactor stopped` with the connections it accepted.
//! The book's chapter "Phase 4: the reactor on mio" walks through these files, after
//! the generated diff of `reactor.rs` against phase 3's.
//!
//! # Layout
//!
//! - this file: [`serve`], which sets up the listeners, starts a reactor thread for each,
//!   and joins them.
//! - [`listeners`]: one listener per reactor: the `SO_REUSEPORT` group, or one shared socket.
//! - [`reactor`]: the event loop: dispatch events, poll the connections that wait on the
//!   event log, expire timers, shut down; the accept path
//!   in `reactor/accept.rs` (phase 3's two files, on mio).
//! - [`connection`]: one connection's readiness handling: read, write, backpressure (phase
//!   3's, on mio).
//! - from `p3-reactor`: `slab` (connections indexed by token) and `timers` (the deadline heap).
//!
//! [mio]: https://docs.rs/mio

// Every public item says what it is for: the documentation is part of the lesson.
#![warn(missing_docs)]

pub mod connection;
pub mod listeners;
pub mod reactor;

use std::io;
use std::sync::Arc;

use ingest_service::{run_loops, Phase, Server};
use tracing::info_span;

use crate::reactor::Reactor;

/// Who this phase is, for the CLI and `/stats`.
pub const PHASE: Phase = Phase {
    name: "p4-mio",
    threads_help: "Reactors, each on its own thread with its own listener [default: one per CPU]",
};

// ANCHOR: serve
/// Serves with one reactor per `--threads` (default: one per CPU) until shutdown has drained
/// every reactor's connections. Returns the first error of any reactor.
pub fn serve(server: Server) -> io::Result<()> {
    let Server {
        listener,
        service,
        shutdown,
        config,
    } = server;
    // ANCHOR: reactors
    let threads = config.threads_or_one_per_cpu()?;
    // Every reactor is built before any starts, so that a failure here (no poller, no
    // listener) leaves no thread behind.
    let reactors = listeners::per_reactor(listener, threads)?
        .into_iter()
        .enumerate()
        .map(|(id, listener)| Reactor::new(id, listener, Arc::clone(&service), shutdown.clone()))
        .collect::<io::Result<Vec<Reactor>>>()?;

    // A reactor that fails or panics triggers the shutdown: the others drain and stop, and
    // `serve` returns the failure rather than go on serving with fewer reactors than asked.
    run_loops("reactor", reactors, &shutdown, |id, reactor: Reactor| {
        let _span = info_span!("reactor", id).entered();
        reactor.run()
    })
    // ANCHOR_END: reactors
}
// ANCHOR_END: serve
