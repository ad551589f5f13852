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
//!   that may change it while a send is in flight*; what happens meanwhile (a deadline,
//!   shutdown) is noted and handed to `Conn` when the send completes.
//! - **One operation at a time.** A connection has a receive *or* a send in flight, never
//!   both: a receive is submitted only when there is nothing to send, a send only when no
//!   receive is pending (when a deadline produces a `408` while a receive waits, the receive
//!   is cancelled first). Request, response, request: HTTP/1.1 without pipelining is
//!   half-duplex anyway, and pipelined requests wait in the socket, not in our memory.
//! - **Backpressure comes free.** A client that does not read its responses keeps our send
//!   in flight; while it is, we submit no receive, so its requests stay in the kernel's
//!   buffers and TCP's flow control stops it, as in phase 3.
//! - **Closing** cancels the operation in flight; the connection (and its `Conn`, whose
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

/// `IORING_RECVSEND_POLL_FIRST` (Linux 5.19): wait for data before trying the receive. By
/// default the kernel first tries it at once, and on a keep-alive connection that has just
/// been answered, the next request is almost never there yet: a wasted attempt per request.
// NB: the io-uring crate keeps the constant in a private module.
const RECVSEND_POLL_FIRST: u16 = 1;

/// The operation a connection has in flight.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum InFlight {
    Nothing,
    /// A receive into a provided buffer.
    Recv,
    /// A send from `Conn`'s output: `Conn` must not change until it completes.
    Send,
}

// ANCHOR: connection
/// A live connection: its socket, its protocol state, and its operation in flight.
pub struct Connection {
    /// The socket. Blocking mode, as accepted: io_uring never blocks on it (it tries the
    /// operation without waiting, and if that cannot complete, arms a poll internally).
    stream: TcpStream,
    /// The protocol state: buffers of an incomplete request or unsent output, deadlines.
    conn: Conn,
    /// The receive or send submitted whose completion has not arrived.
    in_flight: InFlight,
    /// Cancellations submitted whose own completions have not arrived (at most two: one
    /// at a deadline, one at close).
    cancels: u8,
    /// Everything else a connection must remember between completions, one bit each.
    flags: Flags,
    /// The timer heap's entry for this connection (phase 3's lazy scheme).
    pub timer: TimerHandle,
    /// Counts this connection in `connections_open` (and against `--max-conns`) until it is
    /// dropped.
    _guard: ConnectionGuard,
}
// ANCHOR_END: connection

/// One-bit states, packed in a byte. Not for speed: an idle connection costs what this
/// struct weighs, times the slab's spare capacity, and five `bool`s would add 8 bytes to
/// every connection once alignment pads them.
#[derive(Debug, Default, Clone, Copy)]
struct Flags(u8);

impl Flags {
    /// The operation in flight has been cancelled already.
    const CANCELLED: u8 = 1;
    /// Closing: cancelled, waiting for the last completions before the slot is freed.
    const CLOSING: u8 = 1 << 1;
    /// The last receive met an empty buffer pool (`ENOBUFS`): the reactor re-arms it.
    const STARVED: u8 = 1 << 2;
    /// The deadline passed; `Conn` hears of it when no send is in flight.
    const DEADLINE: u8 = 1 << 3;
    /// Shutdown began; `Conn` hears of it when no send is in flight.
    const SHUTDOWN: u8 = 1 << 4;
    /// On the reactor's list of connections waiting for the event log (listed once).
    const LISTED: u8 = 1 << 5;

    fn has(self, flag: u8) -> bool {
        self.0 & flag != 0
    }

    fn set(&mut self, flag: u8) {
        self.0 |= flag;
    }

    /// Clears `flag`, returning whether it was set.
    fn take(&mut self, flag: u8) -> bool {
        let was = self.has(flag);
        self.0 &= !flag;
        was
    }
}

impl Connection {
    /// A connection just accepted; nothing submitted yet.
    pub fn new(stream: TcpStream, guard: ConnectionGuard, service: &Service, now: Instant) -> Self {
        Connection {
            stream,
            conn: Conn::with_limits(now, service.limits()),
            in_flight: InFlight::Nothing,
            cancels: 0,
            flags: Flags::default(),
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
        self.flags.has(Flags::CLOSING)
    }

    /// Operations submitted whose completions have not arrived. The slot may be freed only
    /// at zero: until then the kernel may still post a completion naming it, or read the
    /// output a send points to.
    pub fn in_flight(&self) -> usize {
        usize::from(self.in_flight != InFlight::Nothing) + usize::from(self.cancels)
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
        self.operation_completed();
        // A completion that names a buffer hands it to us, whatever else it says.
        let bid = cqueue::buffer_select(flags);
        if bid.is_some() {
            pool.taken();
        }
        let outcome = match result {
            n if n > 0 => {
                if let (Some(bid), false) = (bid, self.is_closing()) {
                    // `Conn` answers complete requests straight from the buffer and copies
                    // only an incomplete one's tail, so the buffer can go back at once.
                    self.conn.on_read(pool.bytes(bid, n as usize), now, service);
                }
                Ok(())
            }
            // The peer's FIN: finish what we owe it.
            0 => {
                if !self.is_closing() {
                    self.conn.on_read_eof(now);
                }
                Ok(())
            }
            // The pool was empty when bytes arrived. They are still in the socket; the
            // reactor submits the receive again once buffers are back.
            n if -n == libc::ENOBUFS => {
                self.flags.set(Flags::STARVED);
                Ok(())
            }
            // Our own cancellation, or a signal: nothing was received.
            n if matches!(-n, libc::ECANCELED | libc::EINTR | libc::EAGAIN) => Ok(()),
            // Reset by the peer and the like: nobody left to answer.
            n => Err(io::Error::from_raw_os_error(-n)),
        };
        if let Some(bid) = bid {
            pool.give_back(bid);
        }
        outcome
    }
    // ANCHOR_END: on_recv

    // ANCHOR: on_send
    /// A send completed: `result` bytes of the output went (maybe fewer than submitted), or
    /// it failed (negative errno). Only now may `Conn` change again.
    pub fn on_send(&mut self, result: i32, service: &Service, now: Instant) -> io::Result<()> {
        self.operation_completed();
        if self.is_closing() {
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
    /// either way, the operation's own completion is what counts).
    pub fn on_cancel(&mut self) {
        self.cancels -= 1;
    }

    fn operation_completed(&mut self) {
        self.in_flight = InFlight::Nothing;
        self.flags.take(Flags::CANCELLED);
    }

    /// The connection's deadline passed. `Conn` may answer `408`, which appends to its
    /// output: if a send is in flight, cancel it, and let its completion bring us back.
    pub fn deadline_passed(&mut self, ring: &mut Ring, key: usize, generation: u64) {
        self.flags.set(Flags::DEADLINE);
        if self.in_flight == InFlight::Send {
            self.cancel(ring, key, generation);
        }
    }

    /// Graceful shutdown: `Conn` finishes the request in progress, or closes if idle.
    pub fn shutdown(&mut self) {
        self.flags.set(Flags::SHUTDOWN);
    }

    /// Whether the reactor should put this connection on its list of those waiting for the
    /// event log: `Conn` waits ([`Conn::is_waiting`]) and it is not listed yet.
    pub fn list_if_waiting(&mut self) -> bool {
        if !self.conn.is_waiting() || self.flags.has(Flags::LISTED) {
            return false;
        }
        self.flags.set(Flags::LISTED);
        true
    }

    /// Taken off the waiting list (the log moved; `drive` will ask again).
    pub fn unlist(&mut self) {
        self.flags.take(Flags::LISTED);
    }

    /// The receive met an empty pool earlier, and buffers are back: try again.
    pub fn take_starved(&mut self) -> bool {
        self.flags.take(Flags::STARVED)
    }

    // ANCHOR: drive
    /// After any completion (or when the event log moved): tell `Conn` what waited for a
    /// send to finish, ask it for a waiting request's answer, then submit what it wants
    /// next, one operation at a time.
    pub fn drive(
        &mut self,
        ring: &mut Ring,
        service: &Service,
        key: usize,
        generation: u64,
        now: Instant,
    ) -> io::Result<()> {
        if self.is_closing() {
            return Ok(());
        }
        if self.in_flight != InFlight::Send {
            // `Conn`'s output is ours (no send points into it): it may change.
            if self.flags.take(Flags::SHUTDOWN) {
                self.conn.begin_shutdown();
            }
            if self.flags.take(Flags::DEADLINE) {
                self.on_deadline(now)?;
            }
            // `--ack written`: the answer appends to the output, so it too waits for any
            // send to complete. If it is in, the match below sends it, then receives.
            if self.conn.is_waiting() {
                self.conn.poll_pending(now, service);
            }
            if self.conn.is_done() {
                return Ok(()); // the reactor closes it
            }
        }
        match self.in_flight {
            InFlight::Nothing if self.conn.wants_write() => self.submit_send(ring, key, generation),
            InFlight::Nothing if self.conn.wants_read() && !self.flags.has(Flags::STARVED) => {
                self.submit_recv(ring, key, generation)
            }
            // Something to send (a `408`) while a receive waits: cancel the receive; its
            // completion brings us back here with nothing in flight.
            InFlight::Recv if self.conn.wants_write() && !self.flags.has(Flags::CANCELLED) => {
                self.cancel(ring, key, generation)
            }
            _ => {}
        }
        Ok(())
    }
    // ANCHOR_END: drive

    // ANCHOR: submit_send
    /// Submits a send of `Conn`'s whole output.
    fn submit_send(&mut self, ring: &mut Ring, key: usize, generation: u64) {
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
        // SAFETY: the bytes are `conn`'s output, which nothing changes or frees until this
        // send's completion: `drive` makes no call that changes `conn` while
        // `in_flight == Send`, and the reactor keeps the connection until `in_flight()` is 0.
        unsafe { ring.push(entry) };
        self.in_flight = InFlight::Send;
    }
    // ANCHOR_END: submit_send

    // ANCHOR: submit_recv
    /// Submits a receive into whichever provided buffer the kernel picks when bytes arrive.
    fn submit_recv(&mut self, ring: &mut Ring, key: usize, generation: u64) {
        let entry = opcode::Recv::new(
            types::Fd(self.stream.as_raw_fd()),
            // No buffer of ours: the kernel takes one from group GROUP when bytes arrive,
            // and names it in the completion.
            std::ptr::null_mut(),
            buf_ring::BUFFER_SIZE as u32,
        )
        .buf_group(buf_ring::GROUP)
        .ioprio(RECVSEND_POLL_FIRST)
        .build()
        .flags(io_uring::squeue::Flags::BUFFER_SELECT)
        .user_data(UserData::connection(Op::Recv, key, generation).encode());
        // SAFETY: the entry points to no memory of ours; the provided buffer it will fill
        // belongs to the pool, which outlives every receive.
        unsafe { ring.push(entry) };
        self.in_flight = InFlight::Recv;
    }
    // ANCHOR_END: submit_recv

    /// The deadline passed and no send is in flight: `Conn` decides (`408`, or close).
    fn on_deadline(&mut self, now: Instant) -> io::Result<()> {
        if self.conn.deadline().is_none_or(|d| d > now) {
            return Ok(()); // moved later meanwhile (the cancelled send had gone through)
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
    /// Starts closing: cancels the operation in flight. The cancellation and the cancelled
    /// operation both complete; the reactor frees the slot when `in_flight()` is 0.
    pub fn close(&mut self, ring: &mut Ring, key: usize, generation: u64) {
        if self.is_closing() {
            return;
        }
        self.flags.set(Flags::CLOSING);
        if self.in_flight != InFlight::Nothing && !self.flags.has(Flags::CANCELLED) {
            self.cancel(ring, key, generation);
        }
    }

    /// Submits the cancellation of the operation in flight, found by its `user_data`.
    fn cancel(&mut self, ring: &mut Ring, key: usize, generation: u64) {
        let op = match self.in_flight {
            InFlight::Recv => Op::Recv,
            InFlight::Send => Op::Send,
            InFlight::Nothing => return,
        };
        let target = UserData::connection(op, key, generation).encode();
        let entry = opcode::AsyncCancel::new(target)
            .build()
            .user_data(UserData::connection(Op::Cancel, key, generation).encode());
        // SAFETY: a cancellation points to no memory; it names its target by `user_data`.
        unsafe { ring.push(entry) };
        self.cancels += 1;
        self.flags.set(Flags::CANCELLED);
    }
    // ANCHOR_END: close
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A connection weighs what phase 3's does: its size is the idle cost per connection.
    #[test]
    fn no_heavier_than_phase_3() {
        assert!(
            std::mem::size_of::<Connection>()
                <= std::mem::size_of::<p3_reactor::connection::Connection>(),
            "{} > {}",
            std::mem::size_of::<Connection>(),
            std::mem::size_of::<p3_reactor::connection::Connection>()
        );
    }

    /// Flags are independent bits, and `take` clears only its own.
    #[test]
    fn flags_are_independent() {
        let mut flags = Flags::default();
        flags.set(Flags::DEADLINE);
        flags.set(Flags::STARVED);
        assert!(flags.take(Flags::DEADLINE));
        assert!(!flags.take(Flags::DEADLINE));
        assert!(flags.has(Flags::STARVED));
        assert!(!flags.has(Flags::CLOSING));
    }
}
