//! # Phase 2: a fixed pool of workers and a bounded queue
//!
//! Phase 1 starts a thread for every connection, so a burst of clients becomes a burst of
//! threads. Here the number of threads is fixed up front: `--threads` workers (default: the
//! number of CPUs x 4) take accepted connections from a **bounded** queue. When the queue is
//! full the acceptor answers `503 Service Unavailable` and closes: load shedding, counted in
//! `/stats` as `connections_rejected`. Resources are bounded whatever the load.
//!
//! ## What that means for keep-alive clients (read this before the benchmark)
//!
//! A worker runs phase 1's blocking connection loop, so it owns a connection until the client
//! closes it or it idles out (`--idle-timeout`, 30 s). With N workers, the first N keep-alive
//! clients are served and client N+1 waits in the queue, however idle the first N are, until
//! one of them leaves. Past the queue, clients get 503. A pool of blocking workers bounds
//! memory, but it turns "how many connections" into "how many *idle* connections" you can
//! afford, and browsers and load balancers keep connections idle all the time. Phase 3 serves
//! all of them from one thread.
//!
//! ## Waiting for the writer
//!
//! A worker runs phase 1's connection loop, so under `--ack written` (the default) and
//! `--ack synced` it blocks in `Service::wait_for_answer` until the event log's writer has
//! written the batch, exactly as phase 1's thread does. The connections queued for the pool
//! lose nothing by it (they wait for a worker whose connection *closes*, which waiting does
//! not change), but the pool now bounds something new: at most `--threads` requests can wait
//! for the writer at once, so a group the writer writes (and syncs) carries at most
//! `--threads` batches. Under `--ack synced` that caps the served connections at about
//! `--threads` answers per `fdatasync`; the chapter measures it.
//!
//! ## What it leaves out on purpose
//!
//! Growing or shrinking the pool, and fairness between connections (a worker could give up a
//! connection between requests; it would then need readiness notification to know when that
//! connection has a request again, which is phase 3's subject).
//!
//! ## Run it, poke it, load it
//!
//! ```text
//! just run p2-threadpool --addr 127.0.0.1:8080 --threads 4
//! curl -i http://127.0.0.1:8080/health
//! just load p2-threadpool 100
//! ```
//!
//! The book's chapter "Phase 2: a thread pool" walks through this file and [`pool`].
//!
//! # Layout
//!
//! - this file: the accept loop, queueing connections for the pool.
//! - [`pool`]: the thread pool itself.
//! - phase 1's `connection` and `live` modules: the blocking connection loop and the
//!   shutdown registry, reused unchanged.

// Every public item says what it is for: the documentation is part of the lesson.
#![warn(missing_docs)]

pub mod pool;

use std::io;
use std::net::TcpStream;
use std::sync::Arc;

use ingest_service::{ConnectionGuard, Phase, Server};
use p1_blocking::connection::serve_connection;
use p1_blocking::live::Live;
use p1_blocking::{accept_until_shutdown, drain, reject_overloaded};
use tracing::{debug, info};

use crate::pool::ThreadPool;

/// Who this phase is, for the CLI and `/stats`.
pub const PHASE: Phase = Phase {
    name: "p2-threadpool",
    threads_help: "Worker threads [default: number of CPUs x 4]",
};

/// Accepted connections that may wait for a worker before new ones get `503`. About what a
/// kernel's default listen backlog holds: a short burst waits, a flood is shed.
pub const QUEUE_CAPACITY: usize = 128;

/// A job for the pool: an accepted connection, counted as open until it is dropped.
struct Job {
    stream: TcpStream,
    guard: ConnectionGuard,
}

// ANCHOR: serve
/// Accepts connections until shutdown and queues each one for the pool.
pub fn serve(server: Server) -> io::Result<()> {
    let Server {
        listener,
        service,
        shutdown,
        config,
    } = server;
    let workers = config.threads.unwrap_or_else(default_workers);
    let live = Arc::new(Live::default());

    let pool = {
        let (service, shutdown, live) = (service.clone(), shutdown.clone(), live.clone());
        ThreadPool::new("p2-worker", workers, QUEUE_CAPACITY, move |job: Job| {
            let _guard = job.guard;
            if let Err(e) = serve_connection(job.stream, &service, &shutdown, &live) {
                debug!("connection ended with an error: {e}");
            }
        })?
    };
    info!(workers, queue = QUEUE_CAPACITY, "thread pool started");

    accept_until_shutdown(&listener, &service, &shutdown, |stream, guard| {
        // Load shedding: every worker busy and the queue full. Answer now rather than let
        // the client wait for a worker that may not come free for a whole idle timeout.
        if let Err(job) = pool.try_submit(Job { stream, guard }) {
            drop(job.guard);
            service.stats().connection_shed();
            reject_overloaded(job.stream, &service);
        }
    })?;
    // ANCHOR_END: serve

    drain(&live);
    // Dropping the pool joins the workers. Connections still queued are picked up, see the
    // shutdown flag, and close without being read.
    drop(pool);
    Ok(())
}

/// The default pool size: blocking workers spend most of their time waiting on sockets, so
/// more workers than cores keeps the cores busy.
fn default_workers() -> usize {
    std::thread::available_parallelism().map_or(4, |n| n.get() * 4)
}
