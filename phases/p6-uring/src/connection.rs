//! One connection's operations: what the reactor submits for it, and what each completion
//! means.
//!
//! All of HTTP lives in [`ingest_http::Conn`], as in phase 3; this file moves bytes between
//! completions and it. The rules change with the model:
//!
//! - **No readiness, so no read-until-`WouldBlock`.** A receive completion carries the bytes;
//!   we give them to `Conn` and submit the next receive. A send completion says how much
//!   went; a partial send is simply followed by a send of the rest.
//! - **Ownership.** A send hands the kernel a pointer into `Conn`'s output. Until its
//!   completion arrives, that memory is the kernel's: any call that may append to the output
//!   (`on_read`, `on_deadline`) could reallocate it under the kernel. So *no call into `Conn`
//!   while a send is in flight*: at most one send per connection, and whatever arrives
//!   meanwhile (received bytes, a deadline, shutdown) waits until the send completes.
//! - **A receive only when nothing is sent.** A receive is submitted only while no send is
//!   in flight, so the two rarely overlap; they do when a deadline produces output (`408`)
//!   while a receive waits, and then a receive completing during the send parks its buffer
//!   until the send is done.
//! - **Backpressure comes free.** A client that does not read its responses keeps our send
//!   in flight; while it is, we submit no receive, so its requests stay in the kernel's
//!   buffers and TCP's flow control stops it, as in phase 3.
//! - **Closing** cancels the operations in flight; the connection (and its `Conn`, whose
//!   output a send may still point to) lives until the last completion for it is in.

use std::io::{self, ErrorKind};
use std::net::TcpStream;
use std::os::fd::AsRawFd;
use std::time::Instant;

use ingest_http::{Conn, Handler};
use ingest_service::{ConnectionGuard, Service};
use io_uring::{cqueue, opcode, types};
use p3_reactor::timers::TimerHandle;

use crate::buf_ring::{self, BufRing};
use crate::ring::Ring;
use crate::user_data::{Op, UserData};

/// A receive that completed while a send was in flight: its bytes wait here for the send.
#[derive(Debug, Clone, Copy)]
enum Parked {
    /// `len` bytes in provided buffer `bid` (not yet given back to the ring).
    Bytes { bid: u16, len: u32 },
    /// The peer's FIN (a receive of 0 bytes).
    Eof,
}

// ANCHOR: connection
/// A live connection: its socket, its protocol state, and its operations in flight.
pub struct Connection {
    /// The socket. Blocking mode, as accepted: io_uring never blocks on it (it tries the
    /// operation without waiting, and if that cannot complete, arms a poll internally).
    stream: TcpStream,
    /// The protocol state: buffers of an incomplete request or unsent output, deadlines.
    conn: Conn,
    /// A receive is submitted and its completion has not arrived.
    recv_in_flight: bool,
    /// A send from `conn.output()` is submitted and its completion has not arrived: `conn`
    /// must not be touched (see the module documentation).
    send_in_flight: bool,
    /// Cancellations submitted whose own completions have not arrived.
    cancels_in_flight: u8,
    /// Bytes (or a FIN) received while a send was in flight, for `conn` once it is done.
    parked: Option<Parked>,
    /// The last receive met an empty buffer pool (`ENOBUFS`): the reactor re-arms it.
    starved: bool,
    /// The deadline passed while a send was in flight; handled when the send completes.
    deadline_due: bool,
    /// Shutdown began while a send was in flight; `Conn` hears of it when the send completes.
    shutdown_due: bool,
    /// Cancelled: waiting for the last completions before the slot can be freed.
    closing: bool,
    /// The timer heap's entry for this connection (phase 3's lazy scheme).
    pub timer: TimerHandle,
    /// Counts this connection in `connections_open` (and against `--max-conns`) until it is
    /// dropped.
    _guard: ConnectionGuard,
}
// ANCHOR_END: connection

impl Connection {
    /// A connection just accepted; nothing submitted yet.
    pub fn new(stream: TcpStream, guard: ConnectionGuard, service: &Service, now: Instant) -> Self {
        Connection {
            stream,
            conn: Conn::with_limits(now, service.limits()),
            recv_in_flight: false,
            send_in_flight: false,
            cancels_in_flight: 0,
            parked: None,
            starved: false,
            deadline_due: false,
            shutdown_due: false,
            closing: false,
            timer: TimerHandle::default(),
            _guard: guard,
        }
    }

    /// When the reactor must call [`Connection::deadline_passed`], if ever.
    pub fn deadline(&self) -> Option<Instant> {
        self.conn.deadline()
    }

    /// `Conn` is finished with the connection: cancel and close.
    pub fn is_done(&self) -> bool {
        self.conn.is_done()
    }

    /// Cancelled, waiting for its last completions.
    pub fn is_closing(&self) -> bool {
        self.closing
    }

    /// Operations submitted whose completions have not arrived. The slot may be freed only
    /// at zero: until then the kernel may still write a completion naming it, or read the
    /// output a send points to.
    pub fn in_flight(&self) -> usize {
        usize::from(self.recv_in_flight)
            + usize::from(self.send_in_flight)
            + usize::from(self.cancels_in_flight)
    }

    // ANCHOR: on_recv
    /// A receive completed: `result` bytes (0 for the peer's FIN, negative for an errno) in
    /// the provided buffer named in `flags`.
    pub fn on_recv(
        &mut self,
        result: i32,
        flags: u32,
        pool: &mut BufRing,
        service: &Service,
        now: Instant,
    ) -> io::Result<()> {
        self.recv_in_flight = false;
        // A completion that names a buffer hands it to us, whatever else it says.
        let bid = cqueue::buffer_select(flags);
        if bid.is_some() {
            pool.taken();
        }
        match (result, bid) {
            (n, Some(bid)) if n > 0 => {
                if self.closing {
                    pool.give_back(bid);
                } else if self.send_in_flight {
                    self.parked = Some(Parked::Bytes { bid, len: n as u32 });
                } else {
                    // `Conn` copies only an incomplete request's tail out of the buffer, so
                    // the buffer goes back to the kernel at once.
                    self.conn.on_read(pool.bytes(bid, n as usize), now, service);
                    pool.give_back(bid);
                }
                Ok(())
            }
            (0, bid) => {
                if let Some(bid) = bid {
                    pool.give_back(bid); // never filled; defensive
                }
                if self.send_in_flight {
                    self.parked = Some(Parked::Eof);
                } else if !self.closing {
                    self.conn.on_read_eof(now);
                }
                Ok(())
            }
            (n, bid) => {
                if let Some(bid) = bid {
                    pool.give_back(bid);
                }
                match -n {
                    // The pool was empty when bytes arrived. They are still in the socket;
                    // the reactor submits the receive again once buffers are back.
                    libc::ENOBUFS => {
                        self.starved = true;
                        Ok(())
                    }
                    // Our own cancellation (closing), or a signal: nothing was received.
                    libc::ECANCELED | libc::EINTR | libc::EAGAIN => Ok(()),
                    // Reset by the peer and the like: nobody left to answer.
                    errno => Err(io::Error::from_raw_os_error(errno)),
                }
            }
        }
    }
    // ANCHOR_END: on_recv

    // ANCHOR: on_send
    /// A send completed: `result` bytes of the output went (maybe fewer than submitted), or
    /// it failed (negative errno). Only now may `Conn` change again.
    pub fn on_send(&mut self, result: i32, service: &Service, now: Instant) -> io::Result<()> {
        self.send_in_flight = false;
        if self.closing {
            return Ok(());
        }
        match result {
            // A zero-length send of a non-empty buffer: the socket can take nothing, ever.
            0 => Err(ErrorKind::WriteZero.into()),
            // A partial send is no error: `drive` submits the rest from the new output.
            n if n > 0 => {
                self.conn.on_written(n as usize, now, service);
                Ok(())
            }
            // Cancelled because a deadline passed: `drive` lets `Conn` decide what follows.
            n if -n == libc::ECANCELED => Ok(()),
            // EPIPE / ECONNRESET: the client is gone.
            n => Err(io::Error::from_raw_os_error(-n)),
        }
    }
    // ANCHOR_END: on_send

    /// A cancellation's own completion (`ENOENT` if the operation had completed already;
    /// either way, the operation's completion is what counts).
    pub fn on_cancel(&mut self) {
        self.cancels_in_flight -= 1;
    }

    /// The connection's deadline passed. `Conn` may answer `408`, which appends to its
    /// output: if a send is in flight, cancel it first and let its completion bring us back.
    pub fn deadline_passed(&mut self, ring: &mut Ring, key: usize, generation: u64) {
        self.deadline_due = true;
        if self.send_in_flight {
            self.cancel(ring, Op::Send, key, generation);
        }
    }

    /// Graceful shutdown: `Conn` finishes the request in progress, or closes if idle.
    pub fn shutdown(&mut self) {
        self.shutdown_due = true;
    }

    /// The receive met an empty pool earlier and buffers are back: try again.
    pub fn take_starved(&mut self) -> bool {
        std::mem::take(&mut self.starved)
    }

    // ANCHOR: drive
    /// After any completion: let `Conn` catch up on what waited for a send, then submit
    /// what it wants next. At most one receive and one send in flight, and `Conn` touched
    /// only while no send is.
    pub fn drive(
        &mut self,
        ring: &mut Ring,
        pool: &mut BufRing,
        key: usize,
        generation: u64,
        service: &Service,
        now: Instant,
    ) -> io::Result<()> {
        if self.closing {
            return Ok(());
        }
        if !self.send_in_flight {
            match self.parked.take() {
                Some(Parked::Bytes { bid, len }) => {
                    self.conn
                        .on_read(pool.bytes(bid, len as usize), now, service);
                    pool.give_back(bid);
                }
                Some(Parked::Eof) => self.conn.on_read_eof(now),
                None => {}
            }
            if std::mem::take(&mut self.shutdown_due) {
                self.conn.begin_shutdown();
            }
            if std::mem::take(&mut self.deadline_due) {
                self.on_deadline(now)?;
            }
            if self.conn.is_done() {
                return Ok(()); // the reactor closes it
            }
            if self.conn.wants_write() {
                let output = self.conn.output();
                let entry = opcode::Send::new(
                    types::Fd(self.stream.as_raw_fd()),
                    output.as_ptr(),
                    // A send takes at most 4 GiB; what is left goes with the next one.
                    output.len().min(u32::MAX as usize) as u32,
                )
                // Rust ignores SIGPIPE already; the flag says so to the kernel too.
                .flags(libc::MSG_NOSIGNAL)
                .build()
                .user_data(UserData::connection(Op::Send, key, generation).encode());
                // SAFETY: the bytes are `conn`'s output, which nothing changes or frees
                // until this send's completion: `send_in_flight` keeps every call into
                // `conn` away, and the reactor keeps the connection until `in_flight()`
                // is zero.
                unsafe { ring.push(entry) };
                self.send_in_flight = true;
            }
        }
        let may_receive = !self.send_in_flight && self.parked.is_none() && !self.starved;
        if may_receive && !self.recv_in_flight && self.conn.wants_read() {
            let entry = opcode::Recv::new(
                types::Fd(self.stream.as_raw_fd()),
                // No buffer of ours: the kernel picks one from group GROUP when bytes
                // arrive, and names it in the completion.
                std::ptr::null_mut(),
                buf_ring::BUFFER_SIZE as u32,
            )
            .buf_group(buf_ring::GROUP)
            .build()
            .flags(io_uring::squeue::Flags::BUFFER_SELECT)
            .user_data(UserData::connection(Op::Recv, key, generation).encode());
            // SAFETY: the entry points to no memory of ours; the provided buffer it will
            // fill belongs to the pool, which outlives every receive.
            unsafe { ring.push(entry) };
            self.recv_in_flight = true;
        }
        Ok(())
    }
    // ANCHOR_END: drive

    /// The deadline passed and no send is in flight: `Conn` decides (`408`, or close).
    fn on_deadline(&mut self, now: Instant) -> io::Result<()> {
        if self.conn.deadline().is_none_or(|d| d > now) {
            return Ok(()); // moved later meanwhile (the send that was cancelled had completed)
        }
        self.conn.on_deadline(now);
        // Defensive, as in phase 3: a deadline still due after `on_deadline` would make the
        // reactor call us again at once, forever.
        if !self.is_done() && self.deadline().is_some_and(|d| d <= now) {
            return Err(io::Error::new(ErrorKind::TimedOut, "deadline did not move"));
        }
        Ok(())
    }

    // ANCHOR: close
    /// Starts closing: cancels the operations in flight. Each cancellation and each
    /// cancelled operation completes; the reactor frees the slot when `in_flight()` is 0.
    pub fn close(&mut self, ring: &mut Ring, pool: &mut BufRing, key: usize, generation: u64) {
        if self.closing {
            return;
        }
        self.closing = true;
        if let Some(Parked::Bytes { bid, .. }) = self.parked.take() {
            pool.give_back(bid);
        }
        if self.recv_in_flight {
            self.cancel(ring, Op::Recv, key, generation);
        }
        if self.send_in_flight {
            self.cancel(ring, Op::Send, key, generation);
        }
    }

    /// Submits the cancellation of this connection's `op`, found by its `user_data`.
    fn cancel(&mut self, ring: &mut Ring, op: Op, key: usize, generation: u64) {
        let target = UserData::connection(op, key, generation).encode();
        let entry = opcode::AsyncCancel::new(target)
            .build()
            .user_data(UserData::connection(Op::Cancel, key, generation).encode());
        // SAFETY: a cancellation points to no memory; it names its target by `user_data`.
        unsafe { ring.push(entry) };
        self.cancels_in_flight += 1;
    }
    // ANCHOR_END: close
}
