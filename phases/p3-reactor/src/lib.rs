//! # Phase 3: a reactor, by hand
//!
//! One thread serves every connection. Sockets are non-blocking, so no call ever waits; the
//! one place the thread sleeps is `epoll_wait` (Linux) or `kevent` (macOS, BSD), which returns
//! as soon as any socket can make progress. The thread then does exactly that progress for
//! each socket the kernel named, and goes back to sleep. That loop is a *reactor*: it reacts
//! to readiness. Everything between the kernel and the protocol core is in this crate, down
//! to the system calls, so nothing about it is magic.
//!
//! ## What it shows
//!
//! - **Readiness, edge-triggered.** Register each socket once; the kernel reports *changes*.
//!   Hence: accept until `WouldBlock`, read until `WouldBlock`, and remember when we stopped
//!   reading early ([`connection`]).
//! - **State machines instead of stacks.** A connection is a struct in a [`slab`], not a
//!   thread: an idle keep-alive connection costs its slab entry, a few hundred bytes,
//!   because all reads go through one scratch buffer per reactor.
//! - **Backpressure without blocking.** Write interest only while output is pending; stop
//!   reading a client that does not read its answers, resume when it catches up.
//! - **Timers.** Header, idle and write-stall deadlines in a heap that sets the poll timeout
//!   ([`timers`]).
//! - **Waking the poller from another thread.** A [`poll::Waker`] (an `eventfd` on Linux, a
//!   user event on kqueue) is how a signal, or the event log's writer, makes `poll` return;
//!   the loop sees it like any other source.
//!
//! ## Waiting for the writer
//!
//! Under `--ack written` (the default) a `202` goes out only once the event log's writer has
//! written the batch. The loop cannot block for that, so the connection waits instead
//! (`Conn::is_waiting`): it reads and answers nothing more, and the reactor keeps it in a
//! list. Before sleeping with that list non-empty, the loop arms its `LogWatch`, and the
//! writer, after its next group, wakes the loop through the waker; on every turn the loop
//! asks `watch.moved()` and, if so, polls each waiting connection. One that got its answer
//! is driven like after a read: write, then read again, because bytes that arrived while it
//! waited raised their one edge-triggered event then.
//!
//! ## Where it breaks
//!
//! One core. `--threads` is ignored and one thread runs everything, so the server's
//! throughput is one core's, and whatever CPU time one request takes (parsing a large batch,
//! say) every other connection waits for. Phase 4 runs a reactor per core. Blocking work
//! breaks it too: a handler that blocked on the loop (a slow disk, a lock, a `sleep`) would
//! stall every connection at once. That is why the event log has its own writer thread.
//!
//! ## What it leaves out on purpose
//!
//! Any system without epoll or kqueue: this crate, and phase 4 which reuses its slab and
//! timers, are Unix only (Linux, macOS, the BSDs).
//!
//! ## Run it, poke it, load it
//!
//! ```text
//! just run p3-reactor --addr 127.0.0.1:8080
//! curl -i http://127.0.0.1:8080/health
//! curl -i -d '{"name":"cpu.load","value":0.93}' http://127.0.0.1:8080/ingest
//! strace -f -e trace=epoll_wait,accept4,read,write -p $(pgrep p3-reactor)   # watch it react
//! just load p3-reactor 1000
//! scripts/measure.sh                                     # wrk: /health and /ingest, 100 and 1,000 conns
//! just idle p3-reactor 5000                               # RSS per idle connection (5,000 of them)
//! ```
//!
//! The book's chapter "Phase 3: a reactor on epoll and kqueue" walks through these files in the order of
//! the layout below.
//!
//! # Layout
//!
//! - this file: [`serve`], which builds the reactor and runs it.
//! - [`poll`]: `Poll`, `Registry`, `Token`, `Interest`, `Events`, `Waker`: mio's
//!   vocabulary, so that phase 4 is a small diff.
//! - [`sys`]: the system calls. `sys/epoll.rs` (Linux) and `sys/kqueue.rs` (macOS, BSD),
//!   picked by one `cfg` list in `sys/mod.rs`; `sys/net.rs`, `accept4` where it exists.
//! - [`reactor`]: the event loop: dispatch events, poll the connections that wait on the
//!   event log, expire timers, shut down. Its accept
//!   path (admission, the `503`, the EMFILE reserve) is in `reactor/accept.rs`.
//! - [`connection`]: one connection's readiness handling: read, write, backpressure.
//! - [`slab`]: connections indexed by token, with generations.
//! - [`timers`]: the deadline heap with lazy deletion.

// Every public item says what it is for: the documentation is part of the lesson.
#![warn(missing_docs)]

pub mod connection;
pub mod poll;
pub mod reactor;
pub mod slab;
pub mod sys;
pub mod timers;

use std::io;

use ingest_service::{Phase, Server};
use tracing::info;

use crate::reactor::Reactor;

/// Who this phase is, for the CLI and `/stats`.
pub const PHASE: Phase = Phase {
    name: "p3-reactor",
    threads_help: "Ignored: phase 3 runs one reactor on one thread",
};

// ANCHOR: serve
/// Serves on one thread until shutdown has drained the connections.
pub fn serve(server: Server) -> io::Result<()> {
    let Server {
        listener,
        service,
        shutdown,
        config,
    } = server;
    if config.threads.is_some_and(|n| n > 1) {
        info!("--threads ignored: phase 3 runs one reactor on one thread");
    }
    Reactor::new(listener, service, shutdown)?.run()
}
// ANCHOR_END: serve
