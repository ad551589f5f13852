//! # Phase 5: async/await on tokio
//!
//! Phases 3 and 4 wrote the event loop by hand: a slab of connections, a token per socket,
//! interest switched on and off as output came and went, a timer structure consulted for the
//! poll timeout. This phase keeps every one of those ideas and writes none of them. Each
//! connection is a task, an `async fn` that reads like phase 1's blocking loop, and the
//! compiler turns it into the state machine phase 3 wrote by hand: every `.await` is a state,
//! and the variables alive across it are the state's fields. Tokio's runtime is the reactor
//! (epoll or kqueue through mio), the timer wheel, and a pool of worker threads that steal
//! tasks from each other.
//!
//! ## What the runtime does for us, and what it costs (the book measures both)
//!
//! - **Readiness.** `stream.readable().await` registers interest, parks the task, and wakes it
//!   when epoll says so; phase 3 did this with `epoll_ctl` and a token.
//! - **Timers.** One `tokio::time::Sleep` per connection, reset to `Conn::deadline()`; the
//!   runtime keeps them in a hierarchical timer wheel, phase 3 in a heap of its own
//!   (`phases/p3-reactor/src/timers.rs`).
//! - **All cores.** `--threads` worker threads, each with its own run queue, stealing work
//!   when idle. Phase 4 needed `SO_REUSEPORT` and a reactor per core for the same.
//! - **The price:** a heap-allocated task per connection, a waker per wake-up, atomic
//!   reference counts, and the cross-thread synchronisation work stealing needs. The bench
//!   shows how much that is next to phase 4's hand-written loop.
//!
//! ## Waiting for the writer
//!
//! Under `--ack written` (the default) and `--ack synced`, the `202` to `POST /ingest` waits
//! until the event log's writer thread has written (or synced) the batch. A task must not
//! block its worker, and the writer is a thread, not a socket the reactor could watch, so
//! the server registers one [`ack::LogWaiter`] with the log: the writer's wake-up is a
//! `tokio::sync::Notify`, and a waiting connection awaits it as one more branch of its
//! `select!`, next to shutdown and its socket. Phases 3 and 4 needed an `eventfd` or a
//! `mio::Waker` in their poller and a list of waiting connections for the same.
//!
//! ## What it leaves out on purpose
//!
//! Everything HTTP: the same sans-I/O [`ingest_http::Conn`] as every phase, so the difference
//! from phase 4 is the I/O model and nothing else. No `hyper`, no `tokio::io::BufReader`: they
//! would hide the very loop this phase is about. No `spawn_blocking`, see [`connection`].
//!
//! ## Run it, poke it, load it
//!
//! ```text
//! just run p5-tokio --addr 127.0.0.1:8080 --threads 2
//! curl -i http://127.0.0.1:8080/health
//! curl -i -d '{"name":"cpu.load","value":0.93}' http://127.0.0.1:8080/ingest
//! just load p5-tokio 1000
//! ```
//!
//! The book's chapter "Phase 5: tokio" walks through these files.
//!
//! # Layout
//!
//! - this file: the runtime, built by hand, and the accept loop.
//! - [`connection`]: one connection as one task: read, write, deadline, the writer's answer
//!   and shutdown in one `select!`.
//! - [`ack`]: the event log's wake-up as a `Notify` that waiting connections await.
//! - [`shutdown`]: the server's `Shutdown` turned into one `CancellationToken`, and the drain
//!   that waits for the connection tasks.

// Every public item says what it is for: the documentation is part of the lesson.
#![warn(missing_docs)]

pub mod ack;
pub mod connection;
pub mod shutdown;

use std::io;
use std::sync::Arc;
use std::time::Duration;

use ingest_service::{Phase, Server, Service};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{debug, warn};

use crate::ack::LogWaiter;

/// Who this phase is, for the CLI and `/stats`.
pub const PHASE: Phase = Phase {
    name: "p5-tokio",
    threads_help: "Worker threads of the tokio runtime [default: one per CPU]",
};

/// Builds the runtime, serves until shutdown, drains the connections.
///
/// `main_with` calls this synchronously, as it calls every phase's `serve`; this phase builds
/// its runtime here by hand, where `#[tokio::main]` would hide it, so that `--threads` is
/// visibly the number of worker threads and the runtime's life is visibly this function's.
pub fn serve(server: Server) -> io::Result<()> {
    let Server {
        listener,
        service,
        shutdown,
        config,
    } = server;

    let threads = config.threads_or_one_per_cpu()?;
    // ANCHOR: runtime
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads)
        .thread_name("p5-worker")
        .enable_io() // the reactor: epoll / kqueue through mio
        .enable_time() // the timer wheel behind `sleep_until`
        // How many tasks a worker runs between two looks at the reactor (default 61). Each
        // look can wake up to 1,024 connections' tasks; a worker's local run queue holds
        // 256, and the rest overflow to the global queue, which a worker visits only every
        // few dozen tasks. With 1,000 busy connections on one worker, the tasks that land
        // there wait for many rounds. On `just load p5-tokio 1000` (one worker on one pinned
        // core of the book's 2-core machine) p99 was ~290 ms with the default and ~20 ms with
        // 256. Looking at the reactor once per local queue's worth of tasks keeps the order
        // close to first-come, first-served, as in phases 3 and 4; at 100 connections it
        // made no measurable difference.
        .event_interval(256)
        .build()?;
    // ANCHOR_END: runtime

    // Tokio's listener registers the socket with the runtime's reactor, which expects a
    // non-blocking descriptor; `from_std` must run inside the runtime, hence in `block_on`.
    listener.set_nonblocking(true)?;
    runtime.block_on(async move {
        let listener = TcpListener::from_std(listener)?;
        let cancel = shutdown::cancellation_for(&shutdown);

        let waiter = Arc::new(LogWaiter::new(&service));
        let tracker = TaskTracker::new();
        accept_loop(listener, &service, &waiter, &cancel, &tracker).await;
        shutdown::drain(&tracker).await;
        Ok(())
    })
    // Dropping the runtime here drops every task still alive after the drain timeout: their
    // sockets close and their connection counts are released.
}

// ANCHOR: accept_loop
/// Accepts connections until shutdown and spawns one task for each. Returns (dropping the
/// listener, so the kernel refuses new connections) as soon as `cancel` fires.
async fn accept_loop(
    listener: TcpListener,
    service: &Arc<Service>,
    waiter: &Arc<LogWaiter>,
    cancel: &CancellationToken,
    tracker: &TaskTracker,
) {
    loop {
        let accepted = tokio::select! {
            // `biased`: check shutdown first, so a flood of connections cannot delay it.
            biased;
            () = cancel.cancelled() => return,
            accepted = listener.accept() => accepted,
        };
        let stream = match accepted {
            Ok((stream, _peer)) => stream,
            Err(e) => {
                accept_failed(&e).await;
                continue;
            }
        };
        // `--max-conns`: past it, answer 503 and close rather than start another task.
        let Some(guard) = service.try_connection() else {
            tracker.spawn(connection::reject_overloaded(stream, Arc::clone(service)));
            continue;
        };
        // Small responses should leave at once, not wait for Nagle's algorithm to batch them.
        if let Err(e) = stream.set_nodelay(true) {
            debug!("TCP_NODELAY: {e}");
        }
        let service = Arc::clone(service);
        let waiter = Arc::clone(waiter);
        let cancel = cancel.clone();
        tracker.spawn(async move {
            let _guard = guard; // counts this connection as open until the task ends
            let served = connection::serve_connection(stream, &service, &waiter, &cancel);
            if let Err(e) = served.await {
                debug!("connection ended with an error: {e}");
            }
        });
    }
}
// ANCHOR_END: accept_loop

/// What an error from `accept()` means, and what to do about it.
async fn accept_failed(e: &io::Error) {
    match e.raw_os_error() {
        // EMFILE / ENFILE: out of file descriptors. The pending connection stays in the
        // backlog and the listener stays readable, so retrying at once would spin at 100% CPU.
        // Back off briefly (without blocking the worker thread); connections that close
        // meanwhile give descriptors back.
        Some(EMFILE | ENFILE) => {
            warn!("accept: out of file descriptors ({e}); backing off 10 ms");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        // ECONNABORTED and friends: the client gave up while in the backlog. Nothing to do.
        _ => debug!("accept failed: {e}"),
    }
}

// The two errno values, without a libc dependency for this phase: they are the same on
// Linux, macOS and the BSDs.
const EMFILE: i32 = 24;
const ENFILE: i32 = 23;
