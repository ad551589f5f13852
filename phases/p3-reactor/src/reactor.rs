//! The event loop: one thread, one poller, every connection.
//!
//! ```text
//! loop {
//!     sleep in poll() until a socket is ready, the waker is woken, or the earliest deadline
//!     for each event: the listener -> accept; the waker -> shutdown?; else -> connection
//!     the event log moved? poll each connection that waits on it
//!     call on_deadline for each connection whose deadline passed
//! }
//! ```
//!
//! The loop sleeps in `poll` and, by design, nowhere else: sockets are non-blocking, and the
//! disk is the event log writer thread's business. A request that must wait for the writer
//! (`--ack written` or `synced`, or any batch while the writer's queue is full) leaves its
//! connection waiting ([`ingest_http::Conn::is_waiting`]) in the `waiting` list, and the
//! writer wakes the loop through the waker when it has moved on. Whatever one connection
//! does, the others wait only for the CPU time it takes.

mod accept;

use std::fs::File;
use std::io::{self, ErrorKind};
use std::net::TcpListener;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ingest_service::event_log::LogWatch;
use ingest_service::{Service, Shutdown, DRAIN_TIMEOUT};
use tracing::{debug, info, warn};

use crate::connection::Connection;
use crate::poll::{Events, Interest, Poll, Token, Waker};
use crate::slab::Slab;
use crate::timers::Timers;

/// The listener's token. Connections use slab indices, which never get this large.
// NB: mio reserves no tokens; these are our choice (mio's own examples do the same).
const LISTENER: Token = Token(usize::MAX);
/// The waker's token: shutdown, or the event log's writer moved on.
const WAKER: Token = Token(usize::MAX - 1);

/// Events taken from the kernel per `poll`. More ready sockets than this are not lost: they
/// come with the next `poll`. 1024 amortises the system call well; a larger buffer only adds
/// latency for the first connections of a huge batch.
const EVENTS_PER_POLL: usize = 1024;

/// The one read buffer of the reactor. Every connection reads into it in turn, and `Conn`
/// keeps only the bytes of an incomplete request: an idle connection holds no buffer at all.
/// 64 KiB drains a loopback socket's typical receive queue in one or two reads.
const SCRATCH_BUFFER: usize = 64 * 1024;

/// The reactor: the poller, the listener, and every connection.
pub struct Reactor {
    poll: Poll,
    /// `None` once shutdown began: dropping the listener makes new connects fail at once.
    listener: Option<TcpListener>,
    shutdown: Shutdown,
    service: Arc<Service>,
    /// Live connections, indexed by token.
    connections: Slab<Connection>,
    /// The event log writer's progress as this loop saw it, and its way to wake the loop.
    watch: LogWatch,
    /// Connections that wait on the event log, by slab key and generation. A connection
    /// closed while it waited leaves a stale entry, dropped at the next look.
    waiting: Vec<(usize, u64)>,
    timers: Timers,
    scratch: Box<[u8]>,
    /// A descriptor held in reserve (on `/dev/null`) for when the process runs out: see
    /// [`Reactor::shed_with_reserve`].
    reserve_fd: Option<File>,
    /// Set when shutdown begins: the loop ends when the last connection closes, or at this
    /// instant.
    drain_deadline: Option<Instant>,
}

impl Reactor {
    /// Sets up the poller, registers the listener, and has shutdown and the event log wake
    /// the poller.
    pub fn new(
        listener: TcpListener,
        service: Arc<Service>,
        shutdown: Shutdown,
    ) -> io::Result<Reactor> {
        // A blocking accept() would stall the loop whenever a client gave up between the
        // event and the call.
        listener.set_nonblocking(true)?;
        let poll = Poll::new()?;
        poll.registry()
            .register(&listener, LISTENER, Interest::READABLE)?;
        // ANCHOR: waker
        // One waker (one per `Poll`, as in mio) for all that is not a socket: the shutdown
        // callback, on the signal thread, and the event log's writer, after a group while
        // this loop has armed its watch. A wake-up before the first `poll` is not lost.
        let waker = Arc::new(Waker::new(poll.registry(), WAKER)?);
        let on_shutdown = Arc::clone(&waker);
        shutdown.on_trigger(move || {
            if let Err(e) = on_shutdown.wake() {
                warn!("cannot wake the reactor for shutdown: {e}");
            }
        });
        let watch = service.watch(move || {
            if let Err(e) = waker.wake() {
                warn!("cannot wake the reactor for the event log: {e}");
            }
        });
        // ANCHOR_END: waker
        Ok(Reactor {
            poll,
            listener: Some(listener),
            shutdown,
            service,
            connections: Slab::new(),
            watch,
            waiting: Vec::new(),
            timers: Timers::default(),
            scratch: vec![0; SCRATCH_BUFFER].into_boxed_slice(),
            reserve_fd: accept::open_reserve_fd(),
            drain_deadline: None,
        })
    }

    // ANCHOR: event_loop
    /// Runs until shutdown has drained the connections (or [`DRAIN_TIMEOUT`] passed).
    pub fn run(mut self) -> io::Result<()> {
        let mut events = Events::with_capacity(EVENTS_PER_POLL);
        loop {
            if let Some(deadline) = self.drain_deadline {
                if self.connections.is_empty() {
                    info!("all connections closed");
                    return Ok(());
                }
                if Instant::now() >= deadline {
                    warn!(
                        connections = self.connections.len(),
                        "drain timeout passed: closing the connections still open"
                    );
                    return Ok(()); // dropping `self` closes them
                }
            }

            let mut timeout = self.poll_timeout(Instant::now());
            // Connections wait on the event log: ask its writer to wake us when it moves on,
            // and do not sleep at all if it moved since we last looked.
            if !self.waiting.is_empty() && self.watch.arm() {
                timeout = Some(Duration::ZERO);
            }
            match self.poll.poll(&mut events, timeout) {
                Ok(()) => {}
                // A signal interrupted the wait. If it was SIGINT/SIGTERM, the waker is (or is
                // about to be) woken and the next poll says so.
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }

            // One clock reading per batch: `Conn`'s deadlines are in seconds, so the
            // microseconds spent handling the batch do not matter, and `Instant::now()`
            // per event would.
            let now = Instant::now();
            for event in events.iter() {
                match event.token() {
                    LISTENER => self.accept(now),
                    // Shutdown, or the writer: `begin_shutdown` acts only on the first
                    // wake-up after a trigger; the writer's progress is looked at below.
                    WAKER => self.begin_shutdown(now),
                    token => self.on_connection_event(token, &event, now),
                }
            }
            // One atomic load each turn, whatever woke us.
            if self.watch.moved() {
                self.poll_waiting(now);
            }
            self.expire_timers(Instant::now());
        }
    }
    // ANCHOR_END: event_loop

    /// How long `poll` may sleep: until the earliest timer, and during shutdown no later
    /// than the drain deadline.
    fn poll_timeout(&self, now: Instant) -> Option<Duration> {
        let timer = self.timers.next_timeout(now);
        let drain = self
            .drain_deadline
            .map(|d| d.saturating_duration_since(now));
        match (timer, drain) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    // ANCHOR: on_connection_event
    /// An event for a connection: let it make progress, then settle its fate.
    fn on_connection_event(&mut self, token: Token, event: &crate::poll::Event, now: Instant) {
        // No connection: it was closed earlier in this same batch of events. Spurious.
        let Some(connection) = self.connections.get_mut(token.0) else {
            return;
        };
        let result = connection.on_event(event, &mut self.scratch, &self.service, now);
        self.settle(token, result);
    }

    /// After a connection did I/O: close it if it is done or failed; otherwise update its
    /// registration (write interest on or off) and its timer, and list it if it now waits on
    /// the event log.
    fn settle(&mut self, token: Token, result: io::Result<()>) {
        let Some(generation) = self.connections.generation(token.0) else {
            return;
        };
        let Some(connection) = self.connections.get_mut(token.0) else {
            return;
        };
        let result = result.and_then(|()| {
            if connection.is_done() {
                return Ok(false);
            }
            connection.update_registration(self.poll.registry(), token)?;
            Ok(true)
        });
        match result {
            Ok(true) => {
                let deadline = connection.deadline();
                connection
                    .timer
                    .update(deadline, token.0, generation, &mut self.timers);
                if connection.is_waiting() && !connection.listed {
                    connection.listed = true;
                    self.waiting.push((token.0, generation));
                }
            }
            Ok(false) => self.close(token),
            Err(e) => {
                debug!(token = token.0, "closing connection: {e}");
                self.close(token);
            }
        }
    }
    // ANCHOR_END: on_connection_event

    /// Closes a connection: deregisters its socket, drops it (closing the socket and
    /// releasing its `--max-conns` slot). Its timer entry, if any, goes stale.
    fn close(&mut self, token: Token) {
        if let Some(connection) = self.connections.remove(token.0) {
            // Closing a descriptor removes it from epoll and kqueue by itself; deregistering
            // first keeps the poller's view exact, and says so if it was not.
            if let Err(e) = self.poll.registry().deregister(connection.stream()) {
                debug!(token = token.0, "deregister failed: {e}");
            }
        }
    }

    // ANCHOR: poll_waiting
    /// The event log's writer moved on: ask each waiting connection whether its answer is
    /// there, and drive the ones that got it like after a read (`settle` lists again those
    /// that still wait, or wait again for a request that was pipelined behind).
    fn poll_waiting(&mut self, now: Instant) {
        for (key, generation) in std::mem::take(&mut self.waiting) {
            // Stale: closed while it waited (peer reset, drain timeout), and the slot may
            // hold a newer connection. Its batch is stored all the same; the answer goes
            // nowhere.
            if self.connections.generation(key) != Some(generation) {
                continue;
            }
            let Some(connection) = self.connections.get_mut(key) else {
                continue;
            };
            connection.listed = false;
            let result = connection.poll_pending(&mut self.scratch, &self.service, now);
            self.settle(Token(key), result);
        }
    }
    // ANCHOR_END: poll_waiting

    // ANCHOR: timers
    /// Calls `on_deadline` for every connection whose deadline has passed.
    fn expire_timers(&mut self, now: Instant) {
        while let Some(timer) = self.timers.pop_expired(now) {
            let token = Token(timer.key);
            // Stale: the connection is gone, and its slot may hold a newer one.
            if self.connections.generation(token.0) != Some(timer.generation) {
                continue;
            }
            let Some(connection) = self.connections.get_mut(token.0) else {
                continue;
            };
            // Stale: superseded by an earlier entry for the same connection.
            if !connection.timer.fired(&timer) {
                continue;
            }
            let result = match connection.deadline() {
                Some(deadline) if deadline <= now => {
                    connection.on_deadline(&mut self.scratch, &self.service, now)
                }
                // Not due: the deadline moved later since this entry was pushed (the lazy
                // case of `timers`). `settle` pushes the real one.
                _ => Ok(()),
            };
            self.settle(token, result);
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

    /// Shutdown was triggered: stop accepting, ask every connection to finish, and let the
    /// loop run until they have (or the drain timeout passes).
    fn begin_shutdown(&mut self, now: Instant) {
        if self.drain_deadline.is_some() || !self.shutdown.is_triggered() {
            return; // already draining, or the wake-up was the event log's
        }
        info!(
            connections = self.connections.len(),
            "shutting down: draining connections"
        );
        let registry = self.poll.registry();
        if let Some(listener) = self.listener.take() {
            // Deregistered and dropped: new connects are refused by the kernel from here on.
            let _ = registry.deregister(&listener);
        }
        // The waker stays registered: the event log's writer still wakes us for the
        // connections that wait on it, which finish their requests before the loop ends.
        self.drain_deadline = Some(now + DRAIN_TIMEOUT);
        for key in self.connections.keys() {
            let Some(connection) = self.connections.get_mut(key) else {
                continue;
            };
            let result = connection.begin_shutdown(&mut self.scratch, &self.service, now);
            self.settle(Token(key), result);
        }
    }
}
