//! The event loop: one thread, one ring, every connection its listener accepts.
//!
//! ```text
//! loop {
//!     submit everything queued, wait for a completion or the earliest deadline (one call)
//!     for each completion: by its user_data -> accept / shutdown / a connection's op
//!     if the event log moved: drive each connection waiting for it
//!     call deadline_passed for each connection whose deadline passed
//! }
//! ```
//!
//! Phase 3's loop, with the question turned around: not "which sockets can make progress?"
//! but "which operations are done?". The loop never makes an I/O system call of its own:
//! receives, sends, accepts and cancellations are all submissions, and the one system call
//! per turn (`io_uring_enter`) carries them all.

use std::fs::File;
use std::io::{self, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::fd::{AsRawFd, FromRawFd};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ingest_service::event_log::LogWatch;
use ingest_service::{run_loops, Server, Service, Shutdown, DRAIN_TIMEOUT};
use io_uring::{cqueue, opcode, types};
use p3_reactor::slab::Slab;
// NB: phase 3's timers name a connection by phase 3's `Token(usize)`, the slab key.
use p3_reactor::timers::Timers;
use tracing::{debug, info, info_span, warn};

use crate::buf_ring::BufRing;
use crate::connection::Connection;
use crate::listeners;
use crate::ring::Ring;
use crate::user_data::{Op, UserData, MAX_KEY};
use crate::wakeup::Wakeup;

/// After the drain timeout, the operations still in flight are cancelled; their completions
/// normally arrive within microseconds. Past this grace the loop gives up on them and leaks
/// their memory rather than free what the kernel might still touch.
const CANCEL_GRACE: Duration = Duration::from_secs(1);

/// How long accepting pauses after running out of descriptors with no reserve to shed with
/// (nginx pauses 500 ms): re-arming at once would fail at once, in a loop.
const ACCEPT_PAUSE: Duration = Duration::from_millis(100);

// ANCHOR: serve
/// Serves with one ring per `--threads` (default 1), each on its own thread with its own
/// listener, until shutdown has drained them all. Returns the first error of any ring.
pub fn serve(server: Server) -> io::Result<()> {
    let Server {
        listener,
        service,
        shutdown,
        config,
    } = server;
    let threads = config.threads.unwrap_or(1).max(1);
    let listeners = listeners::per_ring(listener, threads)?;
    // The ring is set up *on* its thread: it is created single-issuer, so the thread that
    // creates it is the one that submits. A ring that fails or panics triggers the shutdown,
    // as in phase 4.
    let loop_shutdown = shutdown.clone();
    run_loops("ring", listeners, &shutdown, move |id, listener| {
        let _span = info_span!("ring", id).entered();
        Reactor::new(listener, Arc::clone(&service), loop_shutdown.clone())?.run()
    })
}
// ANCHOR_END: serve

/// A ring, its listener, and every connection it accepted. Which ring it is shows in the
/// `ring{id=N}` span of its log lines.
pub struct Reactor {
    /// Connections this ring accepted, to show how the kernel spread them.
    accepted: u64,
    ring: Ring,
    /// Where receives get their buffers. `None` only while being released at the end.
    pool: Option<BufRing>,
    /// `None` once shutdown began.
    listener: Option<TcpListener>,
    /// The multishot accept is submitted and has not ended.
    accept_armed: bool,
    /// Out of descriptors with no reserve: accept again after this instant.
    accept_paused_until: Option<Instant>,
    /// Written by the shutdown callback; a read of it is always in flight.
    shutdown_wakeup: Wakeup,
    shutdown: Shutdown,
    /// Written by the event log's writer after a group, when `watch` is armed; a read of it
    /// is always in flight.
    log_wakeup: Wakeup,
    /// The writer's progress, as this ring last saw it.
    watch: LogWatch,
    /// Connections waiting for the event log (`--ack written`), by key and generation. A
    /// stale entry (the connection closed meanwhile) is dropped the next time the log moves.
    waiting: Vec<(usize, u64)>,
    service: Arc<Service>,
    /// Live connections, and closing ones waiting for their last completions.
    connections: Slab<Connection>,
    timers: Timers,
    /// Connections whose receive met an empty pool (`ENOBUFS`), to re-arm once buffers are
    /// back. A key may be stale or repeated: the connection's own flag decides.
    starved: Vec<usize>,
    /// The completions of one turn, taken from the CQ at once (reused across turns).
    completions: Vec<cqueue::Entry>,
    /// A descriptor held in reserve (on `/dev/null`) for when the process runs out.
    reserve_fd: Option<File>,
    /// Set when shutdown begins: the loop ends when the last connection closes, or then.
    drain_deadline: Option<Instant>,
    /// The drain timeout passed and the remaining connections were cancelled.
    forced: bool,
}

impl Reactor {
    /// Sets up the ring, the provided buffers, and the shutdown eventfd. Nothing submitted.
    pub fn new(
        listener: TcpListener,
        service: Arc<Service>,
        shutdown: Shutdown,
    ) -> io::Result<Reactor> {
        let ring = Ring::new()?;
        let pool = BufRing::new(ring.io_uring())?;
        let shutdown_wakeup = Wakeup::new(Op::Shutdown)?;
        shutdown.on_trigger(shutdown_wakeup.notifier());
        // ANCHOR: watch
        let log_wakeup = Wakeup::new(Op::LogMoved)?;
        // The writer calls this on its own thread, once per group while the watch is
        // armed: one eventfd write, which never blocks.
        let watch = service.watch(log_wakeup.notifier());
        // ANCHOR_END: watch
        Ok(Reactor {
            accepted: 0,
            ring,
            pool: Some(pool),
            listener: Some(listener),
            accept_armed: false,
            accept_paused_until: None,
            shutdown_wakeup,
            shutdown,
            log_wakeup,
            watch,
            waiting: Vec::new(),
            service,
            connections: Slab::new(),
            timers: Timers::default(),
            starved: Vec::new(),
            completions: Vec::new(),
            reserve_fd: open_reserve_fd(),
            drain_deadline: None,
            forced: false,
        })
    }

    // ANCHOR: event_loop
    /// Runs until shutdown has drained the connections (or [`DRAIN_TIMEOUT`] passed).
    pub fn run(mut self) -> io::Result<()> {
        self.arm_accept();
        self.shutdown_wakeup.submit_read(&mut self.ring);
        self.log_wakeup.submit_read(&mut self.ring);
        loop {
            if self.drain_deadline.is_some() && self.connections.is_empty() {
                info!(
                    accepted = self.accepted,
                    "all connections closed; ring stopped"
                );
                break;
            }
            if self.drain_deadline.is_some_and(|d| Instant::now() >= d) {
                if self.forced {
                    warn!(
                        connections = self.connections.len(),
                        "cancelled operations did not complete: leaking their memory"
                    );
                    // Dropping the reactor leaks them (see `Drop for Reactor`).
                    return Ok(());
                }
                self.force_close(Instant::now());
            }

            let mut timeout = self.wait_timeout(Instant::now());
            // Connections wait for the event log: ask its writer for a wake-up, and if it
            // moved since our last look, do not sleep (arm, then look: no wake-up is lost).
            if !self.waiting.is_empty() && self.watch.arm() {
                timeout = Some(Duration::ZERO);
            }
            // The one system call of the turn: every submission queued since the last one
            // goes in, and we sleep until a completion (or the timeout) comes out.
            self.ring.submit_and_wait(timeout)?;

            // One clock reading per batch, as in phase 3.
            let now = Instant::now();
            let mut batch = std::mem::take(&mut self.completions);
            self.ring.take_completions(&mut batch);
            for completion in batch.drain(..) {
                self.dispatch(&completion, now);
            }
            self.completions = batch;
            // Whatever woke us: one atomic load says whether the writer finished a group.
            if self.watch.moved() {
                self.drive_waiting(now);
            }
            self.expire_timers(Instant::now());
            self.rearm_starved(now);
            if self.accept_paused_until.is_some_and(|t| now >= t) {
                self.accept_paused_until = None;
                self.arm_accept();
            }
        }
        if let Some(pool) = self.pool.take() {
            // No receive is in flight (no connection is left), so the kernel is done with
            // the buffers.
            pool.release(self.ring.io_uring());
        }
        Ok(())
    }
    // ANCHOR_END: event_loop

    /// How long the wait may sleep: until the earliest timer, the drain deadline, or the end
    /// of an accept pause.
    fn wait_timeout(&self, now: Instant) -> Option<Duration> {
        [
            self.timers.next_timeout(now),
            self.drain_deadline
                .map(|d| d.saturating_duration_since(now)),
            self.accept_paused_until
                .map(|t| t.saturating_duration_since(now)),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    // ANCHOR: dispatch
    /// One completion: its `user_data` says whose operation it was.
    fn dispatch(&mut self, completion: &cqueue::Entry, now: Instant) {
        let Some(data) = UserData::decode(completion.user_data()) else {
            warn!(
                user_data = completion.user_data(),
                "completion we never submitted"
            );
            return;
        };
        let (result, flags) = (completion.result(), completion.flags());
        match data.op {
            Op::Accept => self.on_accept(result, flags, now),
            Op::Shutdown if self.shutdown.is_triggered() => self.begin_shutdown(now),
            // The read ended without a trigger (a signal interrupted it): read again.
            Op::Shutdown => self.shutdown_wakeup.submit_read(&mut self.ring),
            // The writer finished a group: the loop's `watch.moved()` after this batch acts
            // on it; here, only keep a read in flight for the next one.
            Op::LogMoved => self.log_wakeup.submit_read(&mut self.ring),
            Op::StopAccept => {} // the accept's own completion (ECANCELED) says the rest
            Op::Recv | Op::Send | Op::Cancel => {
                self.on_connection_completion(data, result, flags, now)
            }
        }
    }

    /// A completion of a connection's operation.
    fn on_connection_completion(&mut self, data: UserData, result: i32, flags: u32, now: Instant) {
        let pool = self
            .pool
            .as_mut()
            .expect("the pool lives while the loop runs");
        let current = self.connections.generation(data.key);
        let Some(connection) = self
            .connections
            .get_mut(data.key)
            .filter(|_| current.map(|g| g as u32) == Some(data.generation))
        else {
            // Never happens while slots are freed only after their last completion; if it
            // did, this completion belongs to a connection that is gone, and must not touch
            // the one now in its slot. A buffer it names is still ours to give back.
            warn!(key = data.key, op = ?data.op, "completion for a connection that is gone");
            if let Some(bid) = cqueue::buffer_select(flags) {
                pool.taken();
                pool.give_back(bid);
            }
            return;
        };
        let result = match data.op {
            Op::Recv => {
                if result == -libc::ENOBUFS {
                    self.starved.push(data.key);
                }
                connection.on_recv(result, flags, pool, &self.service, now)
            }
            Op::Send => connection.on_send(result, &self.service, now),
            _ => {
                connection.on_cancel();
                Ok(())
            }
        };
        self.settle(data.key, result, now);
    }
    // ANCHOR_END: dispatch

    // ANCHOR: settle
    /// After anything happened to a connection: free its slot if it closed and nothing is in
    /// flight; else submit what it wants next, and close it if it is done or failed.
    fn settle(&mut self, key: usize, result: io::Result<()>, now: Instant) {
        let Some(generation) = self.connections.generation(key) else {
            return;
        };
        let Some(connection) = self.connections.get_mut(key) else {
            return;
        };
        if connection.is_closing() {
            if connection.in_flight() == 0 {
                // Every completion is in: the kernel holds nothing of it any more.
                self.connections.remove(key);
            }
            return;
        }
        let result = result
            .and_then(|()| connection.drive(&mut self.ring, &self.service, key, generation, now));
        match result {
            Ok(()) if !connection.is_done() => {
                let deadline = connection.deadline();
                connection
                    .timer
                    .update(deadline, key, generation, &mut self.timers);
                if connection.list_if_waiting() {
                    self.waiting.push((key, generation));
                }
            }
            Ok(()) => self.close(key),
            Err(e) => {
                debug!(key, "closing connection: {e}");
                self.close(key);
            }
        }
    }

    /// Closes a connection: cancels what it has in flight; frees the slot now if nothing is,
    /// else when the last completion arrives (`settle`).
    fn close(&mut self, key: usize) {
        let Some(generation) = self.connections.generation(key) else {
            return;
        };
        let Some(connection) = self.connections.get_mut(key) else {
            return;
        };
        connection.close(&mut self.ring, key, generation);
        if connection.in_flight() == 0 {
            self.connections.remove(key);
        }
    }
    // ANCHOR_END: settle

    // ANCHOR: drive_waiting
    /// The event log moved: drive every connection that waits for it. `drive` asks its
    /// `Conn` for the answer; one that has it submits the send of the `202`, and then a
    /// receive (the socket may hold pipelined requests that arrived while it waited). The
    /// others go back on the list in `settle`.
    fn drive_waiting(&mut self, now: Instant) {
        for (key, generation) in std::mem::take(&mut self.waiting) {
            // Stale: closed while it waited; its slot may hold a newer connection.
            if self.connections.generation(key) != Some(generation) {
                continue;
            }
            if let Some(connection) = self.connections.get_mut(key) {
                connection.unlist();
                self.settle(key, Ok(()), now);
            }
        }
    }
    // ANCHOR_END: drive_waiting

    // ANCHOR: timers
    /// Tells every connection whose deadline has passed; phase 3's lazy heap, unchanged.
    fn expire_timers(&mut self, now: Instant) {
        while let Some(timer) = self.timers.pop_expired(now) {
            let key = timer.key;
            // Stale: the connection is gone, and its slot may hold a newer one.
            if self.connections.generation(key) != Some(timer.generation) {
                continue;
            }
            let Some(connection) = self.connections.get_mut(key) else {
                continue;
            };
            // Stale: superseded by an earlier entry for the same connection.
            if !connection.timer.fired(&timer) {
                continue;
            }
            if !connection.is_closing() && connection.deadline().is_some_and(|d| d <= now) {
                connection.deadline_passed(&mut self.ring, key, timer.generation);
            }
            self.settle(key, Ok(()), now);
        }
        if self.timers.needs_compaction(self.connections.len()) {
            let live = self.connections.iter().filter_map(|(key, connection)| {
                let generation = self.connections.generation(key)?;
                connection.timer.armed(key, generation)
            });
            self.timers.rebuild(live.collect::<Vec<_>>());
        }
    }
    // ANCHOR_END: timers

    /// Receives that met an empty pool get another try once buffers are back.
    fn rearm_starved(&mut self, now: Instant) {
        if self.starved.is_empty() || !self.pool.as_ref().is_some_and(BufRing::has_free) {
            return;
        }
        for key in std::mem::take(&mut self.starved) {
            let Some(connection) = self.connections.get_mut(key) else {
                continue;
            };
            if connection.take_starved() {
                self.settle(key, Ok(()), now);
            }
        }
    }

    // ANCHOR: accept
    /// Submits the multishot accept: one submission, one completion per new connection, until
    /// a completion without `IORING_CQE_F_MORE` says it ended.
    fn arm_accept(&mut self) {
        let Some(listener) = &self.listener else {
            return;
        };
        if self.accept_armed {
            return;
        }
        let entry = opcode::AcceptMulti::new(types::Fd(listener.as_raw_fd()))
            // The new sockets are close-on-exec; blocking mode is fine for io_uring.
            .flags(libc::SOCK_CLOEXEC)
            .build()
            .user_data(UserData::reactor(Op::Accept).encode());
        // SAFETY: no memory of ours: multishot accept takes no address buffer.
        unsafe { self.ring.push(entry) };
        self.accept_armed = true;
    }

    /// A completion of the multishot accept: a new socket, or why not.
    fn on_accept(&mut self, result: i32, flags: u32, now: Instant) {
        if !cqueue::more(flags) {
            self.accept_armed = false; // it ended; re-armed below if we still listen
        }
        if result >= 0 {
            // SAFETY: a successful accept completion carries a new descriptor we own.
            let stream = unsafe { TcpStream::from_raw_fd(result) };
            if self.listener.is_some() {
                self.on_accepted(stream, now);
            } // else: accepted while shutdown began; dropping it closes it
        } else {
            let error = io::Error::from_raw_os_error(-result);
            match -result {
                // Our own cancellation at shutdown.
                libc::ECANCELED => {}
                // Out of descriptors (this process, or the whole system).
                libc::EMFILE | libc::ENFILE => self.shed_with_reserve(&error, now),
                // One pending connection failed; the next may be fine.
                errno if is_connection_error(errno) => debug!("accept: {error}"),
                // ENOBUFS, ENOMEM: the kernel is short of memory. Pause, then retry.
                _ => {
                    warn!("accept failed: {error}");
                    self.accept_paused_until = Some(now + ACCEPT_PAUSE);
                }
            }
        }
        if self.accept_paused_until.is_none() {
            self.arm_accept();
        }
    }

    /// A new connection: admit it (or answer 503 past `--max-conns`), then let it submit
    /// its first receive.
    fn on_accepted(&mut self, stream: TcpStream, now: Instant) {
        self.accepted += 1;
        let Some(guard) = self.service.try_connection() else {
            reject(stream, &self.service);
            return;
        };
        // Small responses should leave at once, not wait for Nagle's algorithm.
        if let Err(e) = stream.set_nodelay(true) {
            debug!("TCP_NODELAY: {e}");
        }
        let key = self
            .connections
            .insert(Connection::new(stream, guard, &self.service, now));
        if key > MAX_KEY {
            warn!("more connections than user_data can name; closing this one");
            self.connections.remove(key);
            return;
        }
        self.settle(key, Ok(()), now);
    }
    // ANCHOR_END: accept

    /// Out of descriptors: phase 3's answer (libuv's `uv__emfile_trick`). Close the reserve
    /// descriptor, accept the pending connections one at a time with plain `accept4`, answer
    /// each `503`, take the reserve back. Without a reserve, pause accepting a moment.
    fn shed_with_reserve(&mut self, error: &io::Error, now: Instant) {
        let (Some(reserve), Some(listener)) = (self.reserve_fd.take(), &self.listener) else {
            warn!("accept: {error}; no reserve descriptor, pausing accepts");
            self.accept_paused_until = Some(now + ACCEPT_PAUSE);
            return;
        };
        drop(reserve);
        let mut shed = 0u64;
        // Non-blocking only while shedding: the multishot accept has ended (that is what
        // an EMFILE completion without F_MORE means), so nothing else uses the flag.
        if listener.set_nonblocking(true).is_ok() {
            while let Ok(stream) = p3_reactor::sys::net::accept(listener) {
                self.service.stats().connection_refused();
                reject(stream, &self.service);
                shed += 1;
            }
            let _ = listener.set_nonblocking(false);
        }
        self.reserve_fd = open_reserve_fd();
        warn!(
            shed,
            "accept: {error}; answered 503 to the pending connections"
        );
    }

    // ANCHOR: shutdown
    /// Shutdown was triggered: stop accepting, ask every connection to finish, and let the
    /// loop run until they have (or the drain timeout passes).
    fn begin_shutdown(&mut self, now: Instant) {
        if self.drain_deadline.is_some() || !self.shutdown.is_triggered() {
            return;
        }
        // Connections waiting for the event log are requests in flight: the writer goes on
        // answering them, and the loop runs until they have their answers and close.
        info!(
            connections = self.connections.len(),
            "shutting down: draining connections"
        );
        if self.accept_armed {
            // The accept holds a reference to the listening socket: closing our descriptor
            // alone would keep it listening until the accept ends.
            let entry = opcode::AsyncCancel::new(UserData::reactor(Op::Accept).encode())
                .build()
                .user_data(UserData::reactor(Op::StopAccept).encode());
            // SAFETY: a cancellation points to no memory.
            unsafe { self.ring.push(entry) };
        }
        self.listener = None;
        self.accept_paused_until = None;
        self.drain_deadline = Some(now + DRAIN_TIMEOUT);
        for key in self.connections.keys() {
            if let Some(connection) = self.connections.get_mut(key) {
                connection.shutdown();
            }
            self.settle(key, Ok(()), now);
        }
    }
    // ANCHOR_END: shutdown

    /// The drain timeout passed: cancel every connection's operations, then wait at most
    /// [`CANCEL_GRACE`] for their completions.
    fn force_close(&mut self, now: Instant) {
        warn!(
            connections = self.connections.len(),
            "drain timeout passed: closing the connections still open"
        );
        for key in self.connections.keys() {
            self.close(key);
        }
        self.forced = true;
        self.drain_deadline = Some(now + CANCEL_GRACE);
    }
}

impl Drop for Reactor {
    /// However the loop ended (drained, forced, an error, a panic), a connection left in the
    /// slab may have an operation in flight that the kernel still runs until it notices the
    /// ring is gone: a send reading `Conn`'s output, a receive writing into the pool. Leak
    /// them rather than free memory under the kernel. (The pool, if not released, stays
    /// mapped: `BufRing` has no `Drop`.)
    fn drop(&mut self) {
        if !self.connections.is_empty() {
            std::mem::forget(std::mem::take(&mut self.connections));
        }
    }
}

/// Answers `503` on a connection the server will not serve and closes it, best effort and
/// without waiting (phase 3's `reject`, on a socket made non-blocking for it).
///
/// Bytes the client already sent are read and discarded first: closing a socket with unread
/// input makes the kernel send a reset, which can destroy the `503` before the client reads it.
fn reject(mut stream: TcpStream, service: &Service) {
    if stream.set_nonblocking(true).is_err() {
        return;
    }
    let mut discard = [0u8; 4096];
    let _ = stream.read(&mut discard);
    let _ = stream.write(&service.overloaded_response());
    let _ = stream.shutdown(std::net::Shutdown::Write);
}

/// The descriptor kept in reserve for [`Reactor::shed_with_reserve`].
fn open_reserve_fd() -> Option<File> {
    match File::open("/dev/null") {
        Ok(file) => Some(file),
        Err(e) => {
            warn!("cannot open a reserve descriptor (/dev/null): {e}");
            None
        }
    }
}

/// Errors of one pending connection, not of the listener: try the next one.
fn is_connection_error(errno: i32) -> bool {
    matches!(
        errno,
        libc::ECONNABORTED
            | libc::EPROTO
            | libc::ENOPROTOOPT
            | libc::EHOSTDOWN
            | libc::EHOSTUNREACH
            | libc::ENETDOWN
            | libc::ENETUNREACH
            | libc::EOPNOTSUPP
            | libc::EPERM
    )
}
