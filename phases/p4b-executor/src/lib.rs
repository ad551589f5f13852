//! # Phase 4b: a runtime of our own
//!
//! Between phase 4 (a reactor calling connection code on mio events) and phase 5 (tokio), this
//! phase writes the piece in the middle: a small async runtime, and the server on it. Each
//! connection is one task, an `async fn` driving the same [`ingest_http::Conn`] as every
//! phase; under it, an executor with a ready queue and wakers built by hand, a reactor that
//! turns mio events into wake-ups, timers, and a `select` that cancels by dropping.
//!
//! ## What it shows
//!
//! - **`Future::poll` and the `Waker`.** A task runs only when woken; a future that must
//!   wait leaves its waker where the event will be seen and returns `Pending`
//!   ([`executor`]).
//! - **How an epoll event becomes a wake-up.** The reactor records, per socket, what the
//!   kernel last reported and which task waits for it; an event sets the first and wakes the
//!   second ([`reactor`], [`net`]).
//! - **Where phase 4's state machine went.** [`connection`] is phase 4's event handler as
//!   one `async fn`; the compiler writes the state machine.
//! - **Cancellation by drop.** [`select`] drops the future that lost; [`time::Sleep`] takes
//!   its timer out in `Drop`. Everything the connection waits on is cancel-safe.
//!
//! ## Waiting for the writer
//!
//! Under `--ack written` (the default) a `POST /ingest` is answered once the event log's
//! writer thread has written the batch, and `Conn` waits meanwhile. The connection's task
//! awaits [`ack::answered`] in its `select`, beside the socket and the deadline: the future
//! asks `Conn::poll_pending`, and if the answer is not in, files the task's waker in the
//! reactor's list of log waiters. Before sleeping with that list non-empty, the reactor
//! arms its `LogWatch`, so the writer's next group interrupts `epoll_wait` through the same
//! `mio::Waker` as shutdown; after every wait, if the watch moved, the reactor wakes the
//! list. Only the task that waits is parked: the thread goes on serving the others.
//!
//! ## What it leaves out on purpose
//!
//! More than one thread: one executor, one reactor, one core, like phase 3 (`--threads` is
//! ignored, and `--help` says so). Work stealing, a shared I/O driver and cooperative
//! budgets are what tokio adds, and the next chapter shows them. A timer wheel (a `BTreeMap`
//! does), `JoinHandle`s (nothing here awaits a task's result), and the EMFILE reserve
//! descriptor of phases 3 and 4 (this phase backs off like phase 5 instead). No `unsafe`:
//! std's [`std::task::Wake`] builds the wakers, and every future the runtime combines is
//! `Unpin`.
//!
//! ## Run it, poke it, load it
//!
//! ```text
//! just run p4b-executor --addr 127.0.0.1:8080
//! curl -i http://127.0.0.1:8080/health
//! curl -i -d '{"name":"cpu.load","value":0.93}' http://127.0.0.1:8080/ingest
//! strace -f -e trace=epoll_wait,accept4,read,write,recvfrom,sendto -p $(pgrep p4b-executor)
//! just load p4b-executor 1000
//! ```
//!
//! The book's chapter "Async in depth" walks through these files, from [`executor`] down.
//!
//! # Layout
//!
//! - this file: [`serve`], the accept loop and the drain at shutdown.
//! - [`executor`]: tasks, the ready queue, wakers, `block_on`.
//! - [`reactor`]: mio's `Poll`, the token → waker table, the timers.
//! - [`net`]: `TcpListener` and `TcpStream` whose operations are futures.
//! - [`time`]: [`time::Sleep`], a deadline as a future.
//! - [`select`]: two futures, first one wins, the other is dropped.
//! - [`ack`]: a future that waits for the event log's writer, not for a socket.
//! - [`connection`]: one connection as one task.

#![warn(missing_docs)]

pub mod ack;
pub mod connection;
pub mod executor;
pub mod net;
pub mod reactor;
pub mod select;
pub mod time;

use std::cell::RefCell;
use std::io;
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ingest_service::{Phase, Server, Service, Shutdown, DRAIN_TIMEOUT};
use tracing::{debug, info, warn};

use crate::connection::Scratch;
use crate::executor::{shutdown_requested, Executor};
use crate::net::TcpListener;
use crate::reactor::Reactor;
use crate::select::{select, Either};
use crate::time::sleep_until;

/// Who this phase is, for the CLI and `/stats`.
pub const PHASE: Phase = Phase {
    name: "p4b-executor",
    threads_help: "Ignored: one thread runs the executor and the reactor",
};

/// The read buffer every connection shares, one at a time, as in phases 3 and 4.
const SCRATCH_BUFFER: usize = 64 * 1024;

// ANCHOR: serve
/// Builds the runtime (reactor, then executor), serves until shutdown, drains.
pub fn serve(server: Server) -> io::Result<()> {
    let Server {
        listener,
        service,
        shutdown,
        config: _,
    } = server;
    let reactor = Rc::new(Reactor::new()?);
    reactor.watch_log(&service);
    let executor = Rc::new(Executor::new(Rc::clone(&reactor), shutdown.clone()));
    let listener = TcpListener::new(listener, &reactor)?;
    let scratch: Scratch = Rc::new(RefCell::new(vec![0; SCRATCH_BUFFER].into_boxed_slice()));

    executor.block_on(async {
        accept_loop(listener, &executor, &reactor, &service, &shutdown, &scratch).await;
        drain(&executor, &reactor).await;
    })
    // `block_on` has dropped the tasks still alive after the drain: their sockets closed.
}
// ANCHOR_END: serve

// ANCHOR: accept_loop
/// Accepts connections until shutdown and spawns one task for each. Returns (dropping the
/// listener, so the kernel refuses new connections) as soon as shutdown begins.
async fn accept_loop(
    listener: TcpListener,
    executor: &Rc<Executor>,
    reactor: &Rc<Reactor>,
    service: &Arc<Service>,
    shutdown: &Shutdown,
    scratch: &Scratch,
) {
    loop {
        let accepted = std::pin::pin!(listener.accept());
        let stream = match select(shutdown_requested(shutdown), accepted).await {
            Either::Left(()) => return,
            Either::Right(Ok((stream, _peer))) => stream,
            Either::Right(Err(e)) => {
                accept_failed(&e, reactor).await;
                continue;
            }
        };
        let (service, shutdown) = (Arc::clone(service), shutdown.clone());
        let (reactor, scratch) = (Rc::clone(reactor), Rc::clone(scratch));
        // `--max-conns`: past it, answer 503 and close rather than serve.
        let Some(guard) = service.try_connection() else {
            executor.spawn(async move {
                connection::reject_overloaded(stream, &service, &reactor, &scratch).await;
            });
            continue;
        };
        // Small responses should leave at once, not wait for Nagle's algorithm to batch them.
        if let Err(e) = stream.socket().set_nodelay(true) {
            debug!("TCP_NODELAY: {e}");
        }
        executor.spawn(async move {
            let _guard = guard; // counts this connection as open until the task ends
            let served =
                connection::serve_connection(stream, &service, &shutdown, &reactor, &scratch);
            if let Err(e) = served.await {
                debug!("connection ended with an error: {e}");
            }
        });
    }
}
// ANCHOR_END: accept_loop

/// What an error from `accept()` means, and what to do about it.
async fn accept_failed(e: &io::Error, reactor: &Rc<Reactor>) {
    match e.raw_os_error() {
        // EMFILE / ENFILE: out of file descriptors. The connection stays in the backlog and
        // the listener readable, so retrying at once would spin. Back off briefly, as phase
        // 5 does; connections that close meanwhile give descriptors back.
        Some(EMFILE | ENFILE) => {
            warn!("accept: out of file descriptors ({e}); backing off 10 ms");
            sleep_until(reactor, Instant::now() + Duration::from_millis(10)).await;
        }
        // ECONNABORTED and friends: the client gave up while in the backlog.
        _ => debug!("accept failed: {e}"),
    }
}

// The two errno values, without a libc dependency: the same on Linux, macOS and the BSDs.
const EMFILE: i32 = 24;
const ENFILE: i32 = 23;

/// Waits for every connection task to finish, at most [`DRAIN_TIMEOUT`]. The tasks have been
/// woken and have seen the shutdown: idle ones are done, busy ones finish their request.
async fn drain(executor: &Rc<Executor>, reactor: &Rc<Reactor>) {
    info!(
        connections = executor.live_tasks(),
        "shutting down: draining connections"
    );
    let all_done = std::pin::pin!(executor.all_tasks_done());
    let timeout = sleep_until(reactor, Instant::now() + DRAIN_TIMEOUT);
    match select(all_done, timeout).await {
        Either::Left(()) => info!("all connections closed"),
        Either::Right(()) => warn!(
            connections = executor.live_tasks(),
            "drain timeout passed: closing the connections still open"
        ),
    }
}
