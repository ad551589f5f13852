//! One connection's readiness handling: what the reactor does when the kernel says a socket
//! can make progress.
//!
//! All of HTTP lives in [`ingest_http::Conn`]; this file only moves bytes between a
//! non-blocking socket and it, the way readiness demands:
//!
//! - **Edge-triggered reads.** An event says "new bytes arrived", once. So read until the
//!   socket is empty (`WouldBlock`, or a read that comes back short), and remember (in
//!   `read_ready`) whether we stopped early.
//! - **Write at once, wait only when stuck.** After a read produced responses, write them
//!   straight away; ask the poller for write readiness only while output is left over
//!   ([`Connection::wanted_interest`]).
//! - **Backpressure.** When a client does not read its responses, `Conn::wants_read` turns
//!   false above the high-water mark and we stop reading it: its requests stay in the kernel
//!   buffers, then TCP's flow control stops the client. Nothing here ever blocks, so the
//!   deadlock of a server stuck in `write()` while its client is stuck in its own `write()`
//!   cannot happen: a stuck connection just waits for an event, or for its deadline.
//! - **Waiting for the writer.** A request `Conn` answers later (`--ack written`) stops the
//!   reading; the reactor polls the connection when the event log moves on
//!   ([`Connection::poll_pending`]), and then it reads again what arrived meanwhile.
//!
//! This is phase 3's file with mio's types: the socket is a `mio::net::TcpStream`, the event a
//! `mio::event::Event`. Readiness handling does not depend on who delivers the events.

use std::io::{self, ErrorKind, Read, Write};
use std::time::Instant;

use ingest_http::{Conn, Handler};
use ingest_service::{ConnectionGuard, Service};
use mio::event::Event;
use mio::net::TcpStream;
use mio::{Interest, Registry, Token};
use p3_reactor::timers::TimerHandle;

/// A live connection: its socket, its protocol state, and what the reactor knows about both.
pub struct Connection {
    /// The socket, non-blocking.
    stream: TcpStream,
    /// The protocol state: buffers of an incomplete request or unsent output, deadlines.
    conn: Conn,
    /// The interest currently registered with the poller, so that we make a `reregister`
    /// system call only when it changes (when output starts or stops being pending).
    registered: Interest,
    /// The socket may hold bytes we have not read: set by a readable event, cleared when a
    /// read says `WouldBlock`, comes back short, or reaches the end of the stream. Edge-triggered polling will not tell us
    /// again about bytes it already told us about, so this flag is how we remember.
    read_ready: bool,
    /// The kernel said the peer hung up (`EPOLLRDHUP`, kqueue's `EV_EOF`): the socket ends in
    /// an end of stream that only a read until `0` will show us.
    peer_hung_up: bool,
    /// The timer heap's entry for this connection (see [`p3_reactor::timers`]).
    pub timer: TimerHandle,
    /// In the reactor's list of connections that wait on the event log: set and cleared by
    /// the reactor, so that a connection is listed once however often it is settled.
    pub listed: bool,
    /// Counts this connection in `connections_open` (and against `--max-conns`) until it is
    /// dropped.
    _guard: ConnectionGuard,
}

impl Connection {
    /// A connection just accepted (non-blocking already), registered for reading.
    pub fn new(stream: TcpStream, guard: ConnectionGuard, service: &Service, now: Instant) -> Self {
        Connection {
            stream,
            conn: Conn::with_limits(now, service.limits()),
            registered: Interest::READABLE,
            read_ready: false,
            peer_hung_up: false,
            timer: TimerHandle::default(),
            listed: false,
            _guard: guard,
        }
    }

    /// The socket, to register or deregister it.
    // NB: mio's `register` and `deregister` take `&mut` of the source (phase 3's took `&`):
    // a mio source may keep state of its own for the registration (Windows does).
    pub fn stream(&mut self) -> &mut TcpStream {
        &mut self.stream
    }

    /// When the reactor must call [`Connection::on_deadline`], if ever.
    pub fn deadline(&self) -> Option<Instant> {
        self.conn.deadline()
    }

    /// The socket should be closed and the connection dropped.
    pub fn is_done(&self) -> bool {
        self.conn.is_done()
    }

    /// A request waits on the event log: the reactor must call
    /// [`Connection::poll_pending`] when the log moves on, since no socket event will.
    pub fn is_waiting(&self) -> bool {
        self.conn.is_waiting()
    }

    /// Handles one event from the poller. `scratch` is the reactor's one read buffer.
    ///
    /// Any event may be spurious (nothing to read after all, or an event for a token that
    /// was closed and reused earlier in the same batch): every step below then simply meets
    /// `WouldBlock` and stops.
    pub fn on_event(
        &mut self,
        event: &Event,
        scratch: &mut [u8],
        service: &Service,
        now: Instant,
    ) -> io::Result<()> {
        // A hang-up or an error is news for the reader too: the next read returns 0 or the
        // error, which is how we learn which.
        if event.is_readable() || event.is_read_closed() || event.is_error() {
            self.read_ready = true;
        }
        if event.is_read_closed() {
            self.peer_hung_up = true;
        }
        self.make_progress(scratch, service, now)
    }

    /// The connection's deadline passed: let `Conn` decide (`408`, or close), then write
    /// whatever it decided to say.
    pub fn on_deadline(
        &mut self,
        scratch: &mut [u8],
        service: &Service,
        now: Instant,
    ) -> io::Result<()> {
        self.conn.on_deadline(now);
        self.make_progress(scratch, service, now)?;
        // Defensive: a deadline that is still due after `on_deadline` would make the reactor
        // call us again at once, forever. `Conn` never does that; if it ever did, closing
        // the connection beats spinning the loop.
        if !self.is_done() && self.deadline().is_some_and(|d| d <= now) {
            return Err(io::Error::new(ErrorKind::TimedOut, "deadline did not move"));
        }
        Ok(())
    }

    /// Graceful shutdown: an idle connection is done at once; one in the middle of a request
    /// finishes it, answered with `Connection: close`.
    pub fn begin_shutdown(
        &mut self,
        scratch: &mut [u8],
        service: &Service,
        now: Instant,
    ) -> io::Result<()> {
        self.conn.begin_shutdown();
        self.make_progress(scratch, service, now)
    }

    // ANCHOR: poll_pending
    /// The event log moved on: if the waiting request's answer is there, write it and go on
    /// as after a read. Bytes that arrived while the connection waited were announced by an
    /// event then, when we did not read: `read_ready` remembers them, and no new event will.
    pub fn poll_pending(
        &mut self,
        scratch: &mut [u8],
        service: &Service,
        now: Instant,
    ) -> io::Result<()> {
        if !self.conn.poll_pending(now, service) {
            return Ok(()); // still waiting
        }
        self.make_progress(scratch, service, now)
    }
    // ANCHOR_END: poll_pending

    /// Writes what can be written, then reads what can be read.
    fn make_progress(
        &mut self,
        scratch: &mut [u8],
        service: &Service,
        now: Instant,
    ) -> io::Result<()> {
        self.on_writable(service, now)?;
        // Either an event just set `read_ready`, or we had stopped reading earlier with
        // bytes left in the socket (backpressure), and the write above may have drained the
        // output below the high-water mark so that `wants_read` is true again. In the second
        // case no event will ever come for those bytes: edge-triggered polling reported
        // them once, when they arrived, and we chose not to read then. Forgetting to read
        // here is the classic edge-triggered bug: the connection hangs with a request
        // sitting in its receive buffer until the client gives up.
        //
        // (In this reactor a reregister would mask the bug: `EPOLL_CTL_MOD` and kqueue's
        // `EV_ADD` re-arm the edge, so dropping write interest once the output is empty makes
        // the kernel report the unread bytes again. A server that registers READABLE |
        // WRITABLE once and never reregisters, a common and cheaper design, gets no such
        // help. Correctness should not hang on a side effect of a syscall we make only to
        // save wake-ups, hence `read_ready`.)
        self.on_readable(scratch, service, now)
    }

    // ANCHOR: on_readable
    /// Reads until the socket is empty (`WouldBlock`) or `Conn` wants no more input, and
    /// writes the responses after each read.
    fn on_readable(
        &mut self,
        scratch: &mut [u8],
        service: &Service,
        now: Instant,
    ) -> io::Result<()> {
        while self.read_ready && self.conn.wants_read() {
            match self.stream.read(scratch) {
                // End of stream: the client will send no more. Finish what we owe it.
                Ok(0) => {
                    self.read_ready = false;
                    self.conn.on_read_eof(now);
                }
                // `Conn` copies only the bytes of an incomplete request out of the scratch
                // buffer; complete requests are answered straight from it.
                Ok(n) => {
                    self.conn.on_read(&scratch[..n], now, service);
                    // A short read emptied the receive queue: bytes arriving from now on
                    // raise a new edge, so asking again would only hear `WouldBlock`. This
                    // saves one system call per request (nginx does the same). Only a hang-up
                    // the kernel already announced needs the read that returns 0.
                    if n < scratch.len() && !self.peer_hung_up {
                        self.read_ready = false;
                    }
                }
                // Read dry: the next readable event will tell us about new bytes.
                Err(e) if e.kind() == ErrorKind::WouldBlock => self.read_ready = false,
                // A signal arrived during the call: nothing happened, try again.
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                // Reset by the peer and the like: nobody left to answer.
                Err(e) => return Err(e),
            }
            // Write at once: the responses usually fit in the send buffer, so the client
            // gets them now and no write interest is ever registered.
            self.on_writable(service, now)?;
        }
        Ok(())
    }
    // ANCHOR_END: on_readable

    // ANCHOR: on_writable
    /// Writes pending output until it is all sent or the send buffer is full (`WouldBlock`).
    /// Called on writable events, and eagerly after reads.
    fn on_writable(&mut self, service: &Service, now: Instant) -> io::Result<()> {
        while self.conn.wants_write() {
            match self.stream.write(self.conn.output()) {
                // A zero-length write of a non-empty buffer: the socket can take nothing,
                // ever (not a normal TCP outcome; treat it as a dead connection).
                Ok(0) => return Err(ErrorKind::WriteZero.into()),
                // May resume requests held back by the high-water mark, which may add output:
                // hence the loop.
                Ok(n) => self.conn.on_written(n, now, service),
                // Send buffer full: the client is slower than us. Wait for a writable event
                // (see `wanted_interest`) or for the write-stall deadline.
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                // EPIPE / ECONNRESET: the client is gone. (Rust ignores SIGPIPE at start-up,
                // so a write to a closed socket is an error here, not a killed process.)
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }
    // ANCHOR_END: on_writable

    /// What to ask the poller for: always readable (also how we learn of a hang-up), and
    /// writable only while output is pending. Asking for writability when there is nothing
    /// to write would wake the loop for nothing each time the send buffer drains.
    pub fn wanted_interest(&self) -> Interest {
        if self.conn.wants_write() {
            Interest::READABLE | Interest::WRITABLE
        } else {
            Interest::READABLE
        }
    }

    /// Reregisters the socket if [`Connection::wanted_interest`] changed.
    pub fn update_registration(&mut self, registry: &Registry, token: Token) -> io::Result<()> {
        let wanted = self.wanted_interest();
        if wanted != self.registered {
            registry.reregister(&mut self.stream, token, wanted)?;
            self.registered = wanted;
        }
        Ok(())
    }
}
