//! # Phase 6: io_uring
//!
//! Phase 3's reactor asks the kernel "which sockets are ready?" and then makes the system
//! calls itself: a `read` per readable socket, a `write` per response. This phase asks the
//! kernel to *do* the I/O and tell it when each operation is done. It writes requests
//! (*submissions*: "receive on socket 7", "send these 120 bytes on socket 9") into a ring
//! shared with the kernel, and reads results (*completions*: "received 78 bytes into buffer
//! 12", "sent 120 bytes") from a second ring. One `io_uring_enter` call per loop turn hands
//! over every submission and waits for completions: for hundreds of requests at once.
//!
//! ## What it shows
//!
//! - **Completions, not readiness.** A completion says what happened, with the bytes already
//!   moved: no `WouldBlock`, no read-until-empty, no write interest to switch on and off.
//! - **Buffer ownership.** Memory handed to a submitted operation belongs to the kernel
//!   until its completion arrives. A send's bytes stay in `Conn`'s output, unmoved, and the
//!   connection is not touched meanwhile ([`connection`]).
//! - **Provided buffers.** Receives draw a buffer from a ring of buffers the kernel picks
//!   from only when bytes arrive ([`buf_ring`]): an idle connection waiting for its next
//!   request holds no buffer at all, as in phase 3.
//! - **Cancellation.** Closing a connection cancels its operations and frees its slot only
//!   when every completion for it is in; a generation in each completion's `user_data` keeps
//!   a late one from touching a reused slot ([`user_data`]).
//! - **One ring per thread.** `--threads N` runs N rings, each with its own `SO_REUSEPORT`
//!   listener, as phase 4 runs N reactors.
//! - **Unchanged, reused:** the `Conn`, the service, phase 3's slab and timer heap.
//!
//! ## Waiting for the writer
//!
//! Under `--ack written` (the default) a `POST /ingest` is answered once the event log's
//! writer thread has written the batch; `Conn` waits meanwhile, with nothing in flight. The
//! ring cannot sleep on a thread, only on completions, so the writer's wake-up is an
//! `eventfd` on which the ring keeps a read in flight ([`wakeup`], the mechanism shutdown
//! already used). The reactor keeps a list of its waiting connections; before
//! `submit_and_wait` with that list non-empty it arms its `LogWatch` (and does not sleep if
//! the log moved already); after each batch of completions, if `watch.moved()`, it drives
//! every listed connection, which asks `Conn::poll_pending` and, once answered, submits the
//! send of the `202` and then a receive for whatever the client pipelined meanwhile.
//!
//! ## What it leaves out on purpose
//!
//! Registered files and buffers (`IORING_REGISTER_FILES`, fixed buffers),
//! `SQPOLL` (a kernel thread that polls the submission ring, so that no system call is needed
//! at all), multishot receive and zero-copy send: each is a further step on the same design,
//! left as an exercise in the book. Any OS but Linux, and Linux before 6.1: there the binary
//! says so in one line and exits 1.
//!
//! ## Run it, poke it, load it
//!
//! ```text
//! just run p6-uring --addr 127.0.0.1:8080
//! curl -i http://127.0.0.1:8080/health
//! curl -i -d '{"name":"cpu.load","value":0.93}' http://127.0.0.1:8080/ingest
//! strace -c -f -p $(pgrep p6-uring)              # one io_uring_enter for many requests
//! just load p6-uring 1000
//! just idle p6-uring 5000
//! ```
//!
//! The book's chapter "Phase 6: io_uring" walks through these files, after the generated
//! diff of `connection.rs` against phase 3's.
//!
//! # Layout
//!
//! - this file: [`serve`] (one ring per thread) and [`unavailable`] (can io_uring run here?).
//! - [`reactor`]: the loop: one submit-and-wait per turn, completions dispatched by their
//!   `user_data`, multishot accept, timers, the connections waiting for the event log.
//! - [`connection`]: one connection's operations: a receive or a send in flight, never
//!   both touching `Conn`.
//! - [`buf_ring`]: the provided-buffer ring receives draw from.
//! - [`ring`]: the io_uring instance: queue a submission, submit and wait, probe.
//! - [`user_data`]: what a completion is for: operation, slot, generation in 64 bits.
//! - [`listeners`]: one `SO_REUSEPORT` listener per ring.
//! - [`wakeup`]: an eventfd read the ring keeps in flight, so another thread can wake it.
//! - from `p3-reactor`: `slab` (connections by key, with generations) and `timers`.

#![warn(missing_docs)]

#[cfg(target_os = "linux")]
pub mod buf_ring;
#[cfg(target_os = "linux")]
pub mod connection;
#[cfg(target_os = "linux")]
pub mod listeners;
#[cfg(target_os = "linux")]
pub mod reactor;
#[cfg(target_os = "linux")]
pub mod ring;
#[cfg(target_os = "linux")]
pub mod user_data;
#[cfg(target_os = "linux")]
pub mod wakeup;

use ingest_service::Phase;

/// Who this phase is, for the CLI and `/stats`.
pub const PHASE: Phase = Phase {
    name: "p6-uring",
    threads_help: "Rings, each on its own thread with its own listener [default: 1]",
};

/// Why io_uring cannot run here, or `None` if it can: the kernel sets up a ring with this
/// phase's flags and knows every operation and registration it uses.
///
/// The usual answers: another OS; `ENOSYS` (a kernel built without io_uring); `EPERM`
/// (`/proc/sys/kernel/io_uring_disabled`, or a seccomp filter, as Docker's default profile
/// has in recent versions); `EINVAL` (a kernel older than 6.1, which lacks a setup flag or an
/// opcode).
pub fn unavailable() -> Option<String> {
    #[cfg(target_os = "linux")]
    {
        // On a thread of its own: tearing a ring down queues kernel work (task_work) to the
        // thread that created it, and that interrupts the thread's next blocking call that
        // has a timeout with EINTR (a test client's read with SO_RCVTIMEO, for one). A
        // thread that exits takes that work with it.
        std::thread::spawn(ring::probe)
            .join()
            .unwrap_or_else(|_| Err("the io_uring probe panicked".to_string()))
            .err()
    }
    #[cfg(not(target_os = "linux"))]
    {
        Some("io_uring exists only on Linux".to_string())
    }
}

/// Serves with one ring per `--threads` (default 1) until shutdown has drained every ring's
/// connections. Returns the first error of any ring.
#[cfg(target_os = "linux")]
pub fn serve(server: ingest_service::Server) -> std::io::Result<()> {
    reactor::serve(server)
}

/// For the crate's tests that need a ring: `true` if io_uring runs here; otherwise panics
/// with the reason, or (with `P6_SKIP_UNAVAILABLE=1`) says `SKIP` past the test harness's
/// capture and returns `false`. The same rule as `tests/conformance.rs`.
#[cfg(all(test, target_os = "linux"))]
fn ring_available_or_skip(test: &str) -> bool {
    use std::io::Write;
    let Some(why) = unavailable() else {
        return true;
    };
    if std::env::var_os("P6_SKIP_UNAVAILABLE").is_some_and(|v| v == "1") {
        let _ = writeln!(
            std::io::stderr(),
            "SKIP {test}: io_uring unavailable: {why}"
        );
        return false;
    }
    panic!("io_uring is unavailable here ({why}); set P6_SKIP_UNAVAILABLE=1 to skip");
}
