//! [`Conn`]: one connection's protocol state, driven by an I/O loop it knows nothing about.
//!
//! The loop's side of the contract, in the order a loop uses it:
//!
//! 1. `Conn::new(now)` when a connection is accepted.
//! 2. When the socket is readable and [`Conn::wants_read`]: read into a buffer *the loop* owns
//!    (one scratch buffer per thread or reactor) and call [`Conn::on_read`] with the bytes. `Conn`
//!    parses every complete request in them, calls the [`Handler`], and appends the responses,
//!    in order, to its output. Only the bytes of an incomplete request are copied into the
//!    connection, so an idle keep-alive connection holds no input buffer at all.
//!    A read of 0 bytes (the peer's FIN) is reported with [`Conn::on_read_eof`].
//! 3. While [`Conn::output`] is not empty: write it and report what went with
//!    [`Conn::on_written`]. That may resume requests that were held back by the high-water mark.
//! 4. Before sleeping: [`Conn::deadline`] is when the loop must wake up for this connection;
//!    when that time comes, call [`Conn::on_deadline`].
//! 5. When [`Conn::is_done`]: close the socket and drop the `Conn`.
//!
//! For graceful shutdown, [`Conn::begin_shutdown`] makes the connection finish the request in
//! progress (its response carries `Connection: close`) and close when idle.

use std::time::Instant;

use crate::{Limits, RequestHead, Response};

/// What the server does with requests. `Conn` knows nothing of routes: it parses and frames,
/// the handler decides. One handler is shared by all connections of a server (`&self`).
pub trait Handler {
    /// The limits every connection enforces.
    fn limits(&self) -> &Limits;

    /// Called once the head is complete and checked, before any of the body is read.
    /// Returning `Some(response)` answers the request at once without reading the body (for
    /// `404`, `405`, `411`); if a body was announced the connection closes after that response,
    /// since its bytes were never read. For `Expect: 100-continue`, `Conn` sends
    /// `100 Continue` only when this returns `None` and the body is not already here.
    fn on_head(&self, head: &RequestHead<'_>) -> Option<Response>;

    /// Called with a complete request (the body de-chunked) when `on_head` returned `None`.
    fn on_request(&self, head: &RequestHead<'_>, body: &[u8]) -> Response;

    /// Called for every final response `Conn` encodes (including its own 400, 408, 413, ...),
    /// for counting. `100 Continue` is not counted.
    fn on_response(&self, _status: u16) {}

    /// Called with the number of bytes read (`on_read`) and written (`on_written`).
    fn on_bytes(&self, _read: u64, _written: u64) {}
}

/// One connection's protocol state. See the module documentation for the loop's contract.
pub struct Conn {
    // Fields are private to this module; see the implementation.
    _private: (),
}

#[allow(unused_variables)]
impl Conn {
    /// A new connection accepted at `now`; its idle deadline starts now.
    pub fn new(now: Instant) -> Conn {
        todo!()
    }

    /// Bytes read from the socket. Answers every complete request in them (and in what was
    /// buffered before), stopping early while output is above the high-water mark.
    pub fn on_read<H: Handler>(&mut self, input: &[u8], now: Instant, handler: &H) {
        todo!()
    }

    /// The peer closed its sending side. A request in progress is abandoned; the connection
    /// finishes writing what it owes and is then done.
    pub fn on_read_eof(&mut self, now: Instant) {
        todo!()
    }

    /// Bytes waiting to be written, oldest first.
    pub fn output(&self) -> &[u8] {
        todo!()
    }

    /// `n` bytes of [`Conn::output`] were written. Once output falls below the high-water
    /// mark, buffered pipelined requests are answered again (which is why it takes the handler).
    pub fn on_written<H: Handler>(&mut self, n: usize, now: Instant, handler: &H) {
        todo!()
    }

    /// Should the loop read from this socket? `false` while output is above the high-water
    /// mark (backpressure: a client that does not read gets no more answers queued) and
    /// once the connection is closing.
    pub fn wants_read(&self) -> bool {
        todo!()
    }

    /// Should the loop write? `true` while output is pending.
    pub fn wants_write(&self) -> bool {
        todo!()
    }

    /// The next instant at which [`Conn::on_deadline`] must be called: the header deadline
    /// while a request is being read, the idle deadline while waiting for one, the
    /// write-stall deadline while output is pending. `None` once done.
    pub fn deadline(&self) -> Option<Instant> {
        todo!()
    }

    /// The loop's clock passed [`Conn::deadline`]: a request in progress gets `408` and the
    /// connection closes after it; an idle or stalled connection is done at once.
    pub fn on_deadline(&mut self, now: Instant) {
        todo!()
    }

    /// No request in progress and no output pending.
    pub fn is_idle(&self) -> bool {
        todo!()
    }

    /// Graceful shutdown: answer the request in progress with `Connection: close`, then be done.
    /// An idle connection is done at once.
    pub fn begin_shutdown(&mut self) {
        todo!()
    }

    /// The socket should be closed now: the connection is closing and its output is written.
    pub fn is_done(&self) -> bool {
        todo!()
    }
}
