//! # Phase 1: one thread per connection
//!
//! The simplest correct server: the main thread blocks in `accept()`, and every accepted
//! connection gets a thread of its own that blocks in `read()` and `write()` until the client
//! goes away. The code reads top to bottom like the protocol itself, and the kernel's
//! scheduler does all the multiplexing.
//!
//! ## What this model costs (the book measures each of these)
//!
//! - **A stack per connection.** Each thread reserves a stack (2 MiB by default for Rust
//!   threads). That is *virtual* memory: only the pages a thread touches become resident, so
//!   an idle connection costs tens of KiB of RAM, not megabytes. But 10,000 connections are
//!   10,000 threads, 20 GiB of address space, and 10,000 entries for the scheduler.
//! - **A context switch per wake-up.** Each request wakes a different thread: the kernel saves
//!   one thread's registers, loads another's, and the caches and TLB warm up again.
//! - **Timeouts by polling the kernel.** A blocked `read()` can only be bounded by the socket's
//!   read timeout (`SO_RCVTIMEO`), set again before each read as the deadline moves.
//! - **Shutdown is awkward.** Another thread cannot interrupt a blocked `read()` without
//!   closing the socket under it; see [`live`].
//!
//! ## Waiting for the writer
//!
//! Under `--ack written` (the default) and `--ack synced`, a `202` goes out only once the
//! event log's writer thread has written (and synced) the batch. A connection's thread has
//! nothing else to do meanwhile, so it simply blocks: `Service::wait_for_answer` sleeps on the
//! event log's condition variable until the writer reports the batch, then the loop writes
//! the answer and reads on. Every other connection has its own thread and carries on. The
//! writer groups whatever batches the waiting threads queued into one `write` (and one
//! `fdatasync`), so a thousand threads waiting at once cost the disk one group, not a
//! thousand writes. A waiting connection is not idle: shutdown lets it finish (see [`live`]).
//!
//! ## What it leaves out on purpose
//!
//! A bound on threads other than `--max-conns` (phase 2 adds a pool), and non-blocking I/O
//! (phase 3). `--threads` is accepted and ignored: there is one thread per connection.
//!
//! ## Run it, poke it, load it
//!
//! ```text
//! just run p1-blocking --addr 127.0.0.1:8080
//! curl -i http://127.0.0.1:8080/health
//! curl -i -d '{"name":"cpu.load","value":0.93}' http://127.0.0.1:8080/ingest
//! just load p1-blocking 100
//! ```
//!
//! The book's chapter "Phase 1: a thread per connection" walks through this file.
//!
//! # Layout
//!
//! - this file: the accept loop and shutdown.
//! - [`connection`]: one connection driven with blocking reads and writes (phase 2 reuses it).
//! - [`live`]: the set of live connections, so shutdown can close the idle ones.

// Every public item says what it is for: the documentation is part of the lesson.
#![warn(missing_docs)]

pub mod connection;
pub mod live;

use std::io::{self, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use ingest_service::{ConnectionGuard, Phase, Server, Service, Shutdown, DRAIN_TIMEOUT};
use tracing::{debug, info, warn};

use crate::live::Live;

/// Who this phase is, for the CLI and `/stats`.
pub const PHASE: Phase = Phase {
    name: "p1-blocking",
    threads_help: "Ignored: phase 1 runs one thread per connection",
};

// ANCHOR: serve
/// Accepts connections until shutdown and gives each one a thread of its own.
pub fn serve(server: Server) -> io::Result<()> {
    let Server {
        listener,
        service,
        shutdown,
        ..
    } = server;
    let live = Arc::new(Live::default());

    accept_until_shutdown(&listener, &service, &shutdown, |stream, guard| {
        let service = Arc::clone(&service);
        let shutdown = shutdown.clone();
        let live = Arc::clone(&live);
        let spawned = thread::Builder::new()
            .name("p1-conn".into())
            .spawn(move || {
                let _guard = guard; // counts this connection as open until the thread ends
                if let Err(e) = connection::serve_connection(stream, &service, &shutdown, &live) {
                    debug!("connection ended with an error: {e}");
                }
            });
        if let Err(e) = spawned {
            // Out of threads (RLIMIT_NPROC, memory for stacks): the closure, and with it the
            // socket and the connection count, was dropped; the client sees a closed connection.
            warn!("cannot start a thread for a connection: {e}");
        }
    })?;

    drain(&live);
    Ok(())
}
// ANCHOR_END: serve

// ANCHOR: accept_until_shutdown
/// The accept loop of both blocking phases: accept until shutdown, count each connection
/// (answering `503` past `--max-conns`), and hand it to `dispatch`. Phase 1 dispatches to a
/// new thread, phase 2 to its pool.
pub fn accept_until_shutdown(
    listener: &TcpListener,
    service: &Service,
    shutdown: &Shutdown,
    mut dispatch: impl FnMut(TcpStream, ConnectionGuard),
) -> io::Result<()> {
    wake_accept_on_shutdown(listener, shutdown)?;
    for stream in listener.incoming() {
        if shutdown.is_triggered() {
            break;
        }
        let stream = match stream {
            Ok(stream) => stream,
            Err(e) => {
                accept_failed(&e);
                continue;
            }
        };
        // `--max-conns`: past it, answer 503 and close rather than take on another client.
        let Some(guard) = service.try_connection() else {
            reject_overloaded(stream, service);
            continue;
        };
        dispatch(stream, guard);
    }
    Ok(())
}
// ANCHOR_END: accept_until_shutdown

/// Graceful shutdown, SPEC.md: close the idle connections now, let the ones in the middle of
/// a request finish (their response says `Connection: close`) for up to [`DRAIN_TIMEOUT`],
/// then close whatever is left.
pub fn drain(live: &Live) {
    info!(
        connections = live.len(),
        "shutting down: draining connections"
    );
    live.close_idle();
    if !live.wait_until_empty(DRAIN_TIMEOUT) {
        warn!(
            connections = live.len(),
            "drain timeout passed: closing the connections still open"
        );
        live.close_all();
        live.wait_until_empty(Duration::from_millis(500));
    }
}

/// `accept()` blocks, and no signal handler can make it return in a portable way. The
/// classic trick: when shutdown is triggered, connect to our own listener, so `accept()`
/// returns and the loop sees the flag.
pub fn wake_accept_on_shutdown(listener: &TcpListener, shutdown: &Shutdown) -> io::Result<()> {
    let mut addr = listener.local_addr()?;
    if addr.ip().is_unspecified() {
        // Bound to 0.0.0.0 or [::]: connect through loopback of the same family.
        let loopback = if addr.is_ipv4() {
            std::net::Ipv4Addr::LOCALHOST.into()
        } else {
            std::net::Ipv6Addr::LOCALHOST.into()
        };
        addr.set_ip(loopback);
    }
    shutdown.on_trigger(move || {
        let _ = TcpStream::connect_timeout(&addr, Duration::from_secs(1));
    });
    Ok(())
}

/// What an error from `accept()` means, and what to do about it.
pub fn accept_failed(e: &io::Error) {
    match e.raw_os_error() {
        // EMFILE / ENFILE: out of file descriptors. The pending connection stays in the
        // backlog, so retrying at once would spin at 100% CPU. Back off briefly; the
        // connections that close meanwhile give descriptors back.
        Some(EMFILE | ENFILE) => {
            // Say it once a second, not a hundred times.
            static LAST_WARNING: std::sync::Mutex<Option<std::time::Instant>> =
                std::sync::Mutex::new(None);
            let mut last = LAST_WARNING.lock().unwrap_or_else(|e| e.into_inner());
            if last.is_none_or(|t| t.elapsed() >= Duration::from_secs(1)) {
                warn!("accept: out of file descriptors ({e}); backing off 10 ms at a time");
                *last = Some(std::time::Instant::now());
            }
            drop(last);
            thread::sleep(Duration::from_millis(10));
        }
        // ECONNABORTED and friends: the client gave up while in the backlog. Nothing to do.
        _ => debug!("accept failed: {e}"),
    }
}

// The two errno values, without a libc dependency for this phase: they are the same on
// Linux, macOS and the BSDs.
const EMFILE: i32 = 24;
const ENFILE: i32 = 23;

/// Answers `503` on a connection the server will not serve (`--max-conns`) and closes it.
///
/// Closing a socket whose receive buffer still holds unread bytes makes the kernel send a
/// reset (RST) instead of a FIN, and a reset can destroy the 503 before the client reads it.
/// So: discard what the client already sent, write the answer into the (empty, so
/// non-blocking in practice) send buffer, and half-close before dropping.
pub fn reject_overloaded(mut stream: TcpStream, service: &Service) {
    use std::io::Read;
    let mut discard = [0u8; 4096];
    if stream.set_nonblocking(true).is_ok() {
        while let Ok(n) = stream.read(&mut discard) {
            if n == 0 {
                break;
            }
        }
    }
    let _ = stream.set_nonblocking(false);
    let _ = stream.write_all(&service.overloaded_response());
    let _ = stream.shutdown(std::net::Shutdown::Write);
}
