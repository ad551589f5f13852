//! [`Conn`]: one connection's protocol state, driven by an I/O loop it knows nothing about.
//!
//! The loop's side of the contract, in the order a loop uses it:
//!
//! 1. `Conn::with_limits(now, limits)` when a connection is accepted.
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
//! 6. When [`Conn::is_waiting`]: the handler answered a request [`Reply::Later`] (SPEC's
//!    `--ack written`: a `202` only once the writer reports the batch written). The
//!    connection reads and answers nothing more meanwhile, so a pipelined client still gets
//!    its responses in order. When the handler's work may have moved on (the loop learns it
//!    from a wake-up of its own, never by blocking), call [`Conn::poll_pending`]; once it
//!    answers, go on at step 3 *and* step 2: the socket may hold requests that were not read
//!    while the connection waited, with no new readiness event to say so.
//!
//! Deadlines, in one place (SPEC.md, "Limits and timeouts"):
//!
//! - *header deadline*: a request's first byte + `header_timeout`, covering head and body;
//!   on expiry the request gets `408` and the connection closes (slowloris defence);
//! - *idle deadline*: last activity + `idle_timeout` while no request is open; on expiry the
//!   connection is done, silently (the client may have just gone away);
//! - *write-stall deadline*: pending output that has not moved for `idle_timeout`; on expiry
//!   the connection is done (a client that never reads cannot pin memory forever).
//!
//! Memory: an idle keep-alive connection holds no input buffer and at most a small output
//! buffer, so thousands of them cost little more than `size_of::<Conn>()` each.
//!
//! For graceful shutdown, [`Conn::begin_shutdown`] makes the connection finish the request in
//! progress (its response carries `Connection: close`) and close when idle.

use std::time::{Duration, Instant};

use crate::body::ChunkedDecoder;
use crate::response;
use crate::scan::HeadScan;
use crate::{HttpError, Limits, RequestHead, Response};

mod answer;

// ANCHOR: handler
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
    /// The answer is a response now, or a [`Pending`] one that [`Handler::poll_pending`]
    /// finishes later.
    fn on_request(&self, head: &RequestHead<'_>, body: &[u8]) -> Reply;

    /// Asked again for a request answered [`Reply::Later`], each time the loop calls
    /// [`Conn::poll_pending`]: `Some` once the answer is known. Must not block: a loop calls
    /// it for every waiting connection when it wakes up.
    fn poll_pending(&self, pending: &mut Pending) -> Option<Response>;

    /// Called for every final response `Conn` encodes (including its own 400, 408, 413, ...),
    /// for counting. `100 Continue` is not counted.
    fn on_response(&self, _status: u16) {}

    /// Called with the number of bytes read (`on_read`) and written (`on_written`).
    fn on_bytes(&self, _read: u64, _written: u64) {}
}
// ANCHOR_END: handler

// ANCHOR: reply
/// A handler's answer to a complete request.
#[derive(Debug)]
pub enum Reply {
    /// The response, now.
    Now(Response),
    /// The response comes later: the connection waits, answering nothing after this request
    /// until [`Handler::poll_pending`] returns it.
    Later(Pending),
}

/// What a handler keeps for a request it answers later. `Conn` holds it without looking
/// inside; the handler reads and updates it in [`Handler::poll_pending`].
#[derive(Debug, Default)]
pub struct Pending {
    /// What the answer waits for, in the handler's numbering (the service: the event log's
    /// batch number), or `None` while the work could not even be handed on yet.
    pub ticket: Option<u64>,
    /// A number the answer reports (the service: how many events the batch holds).
    pub count: u64,
    /// Work not yet handed on (the service: a batch the writer's full queue refused), kept
    /// here until there is room. Empty once handed on.
    pub work: Vec<u8>,
}
// ANCHOR_END: reply

impl From<Response> for Reply {
    fn from(response: Response) -> Reply {
        Reply::Now(response)
    }
}

/// Output capacity an idle connection may keep: enough for a typical response, so a busy
/// keep-alive connection does not reallocate per response, small enough that 10,000 idle
/// connections do not pin megabytes.
const IDLE_OUTPUT_CAPACITY: usize = 512;

/// What the connection is doing with the request at the start of its buffered input.
enum Reading {
    /// Waiting for a head, or for the rest of one (see `Conn::scan`).
    Head,
    /// The head (`head_len` bytes at the start of `input`) is checked; waiting for the `len`
    /// bytes of body after it.
    Length { head_len: usize, len: usize },
    /// The head is checked; decoding a chunked body. Boxed: it is rare and larger.
    Chunked(Box<ChunkedBody>),
}

/// A chunked body in progress.
struct ChunkedBody {
    /// Bytes of the head at the start of `input`, kept to re-parse it when the body is done.
    head_len: usize,
    /// The decoder's state between reads.
    decoder: ChunkedDecoder,
    /// The de-chunked body so far.
    decoded: Vec<u8>,
    /// Raw bytes after the head already decoded (dropped from `input` after each read).
    raw_consumed: usize,
}

// ANCHOR: conn_state
/// One connection's protocol state. See the module documentation for the loop's contract.
pub struct Conn {
    /// Received bytes not yet answered: the start of an incomplete request, or requests held
    /// back by the high-water mark. Empty (and unallocated) between requests.
    input: Vec<u8>,
    /// Encoded responses; `output[written..]` is still to be sent.
    output: Vec<u8>,
    /// Bytes of `output` already written.
    written: usize,
    /// Where the request at the start of `input` is.
    reading: Reading,
    /// How far the end of an incomplete head has been searched for.
    scan: HeadScan,
    /// When the request in progress must be complete (first byte + `header_timeout`).
    request_deadline: Option<Instant>,
    /// The last read or write; the idle deadline counts from here.
    last_activity: Instant,
    /// When pending output last moved; the write-stall deadline counts from here.
    output_moved: Instant,
    /// `Limits::idle_timeout`, kept because `deadline()` has no handler to ask.
    idle_timeout: Duration,
    /// `Limits::high_water_mark`, kept for `wants_read()`.
    high_water_mark: usize,
    /// A status encoded where no handler was at hand (`408` from `on_deadline`), reported to
    /// `Handler::on_response` on the next call that has one.
    uncounted: Option<u16>,
    /// No further request will be read; done once the output is written.
    closing: bool,
    /// The peer sent FIN.
    read_closed: bool,
    /// `begin_shutdown` was called: the next response closes.
    shutting_down: bool,
    /// Close now, even with output pending (idle or write-stall deadline).
    done: bool,
    /// A request answered [`Reply::Later`]: nothing after it is read or answered until the
    /// handler finishes it. Boxed: most connections never wait, and an idle one should not
    /// carry the room.
    waiting: Option<Box<Waiting>>,
}

/// A request waiting for its handler's answer, with what its response needs from its head
/// (the head itself borrowed from a buffer that is gone by then).
struct Waiting {
    pending: Pending,
    keep_alive: bool,
    http10: bool,
    head_only: bool,
}
// ANCHOR_END: conn_state

impl Conn {
    /// A new connection accepted at `now`; its idle deadline (from the server's `limits`)
    /// starts now, so a client that connects and never sends a byte is closed on time.
    pub fn with_limits(now: Instant, limits: &Limits) -> Conn {
        Conn {
            input: Vec::new(),
            output: Vec::new(),
            written: 0,
            reading: Reading::Head,
            scan: HeadScan::default(),
            request_deadline: None,
            last_activity: now,
            output_moved: now,
            idle_timeout: limits.idle_timeout,
            high_water_mark: limits.high_water_mark,
            uncounted: None,
            closing: false,
            read_closed: false,
            shutting_down: false,
            done: false,
            waiting: None,
        }
    }

    // ANCHOR: on_read
    /// Bytes read from the socket. Answers every complete request in them (and in what was
    /// buffered before), stopping early while output is above the high-water mark.
    pub fn on_read<H: Handler>(&mut self, input: &[u8], now: Instant, handler: &H) {
        handler.on_bytes(input.len() as u64, 0);
        self.sync(handler);
        // After a framing error the next request's start is unknown: never parse further.
        if self.closing || self.done || self.read_closed || input.is_empty() {
            return;
        }
        self.last_activity = now;
        if self.input.is_empty() {
            // The common case: parse straight from the loop's buffer, copy only a tail.
            let used = self.process(input, now, handler);
            if !self.closing {
                self.input.extend_from_slice(&input[used..]);
            }
            self.after_processing(now, handler.limits());
        } else {
            self.input.extend_from_slice(input);
            self.resume(now, handler);
        }
    }
    // ANCHOR_END: on_read

    /// The peer closed its sending side. A request in progress is abandoned; the connection
    /// finishes writing what it owes and is then done.
    pub fn on_read_eof(&mut self, _now: Instant) {
        self.read_closed = true;
        // Complete requests held back by the high-water mark are still answered (from
        // `on_written`); anything else buffered is an incomplete request: abandon it.
        if !self.held_back() && self.waiting.is_none() {
            self.close_input();
        }
    }

    /// Bytes waiting to be written, oldest first.
    pub fn output(&self) -> &[u8] {
        &self.output[self.written..]
    }

    /// `n` bytes of [`Conn::output`] were written. Once output falls below the high-water
    /// mark, buffered pipelined requests are answered again (which is why it takes the handler).
    pub fn on_written<H: Handler>(&mut self, n: usize, now: Instant, handler: &H) {
        handler.on_bytes(0, n as u64);
        self.sync(handler);
        let was_held_back = self.held_back();
        self.written = (self.written + n).min(self.output.len());
        if n > 0 {
            self.output_moved = now;
            self.last_activity = now;
        }
        if self.written == self.output.len() {
            self.written = 0;
            self.output.clear();
            if self.output.capacity() > IDLE_OUTPUT_CAPACITY {
                self.output = Vec::new();
            }
        } else if self.written >= 4096 && self.written * 2 >= self.output.len() {
            // Slide the unsent half to the front rather than grow forever.
            self.output.drain(..self.written);
            self.written = 0;
        }
        if was_held_back && !self.held_back() && !self.closing && !self.done {
            self.resume(now, handler);
        }
        if self.read_closed && !self.held_back() && self.waiting.is_none() {
            self.close_input();
        }
    }

    // ANCHOR: wait
    /// A request was answered [`Reply::Later`] and its answer is not known yet: the
    /// connection reads nothing (see [`Conn::wants_read`]) until [`Conn::poll_pending`]
    /// gets it. The loop keeps such connections in a list and polls them when it wakes.
    pub fn is_waiting(&self) -> bool {
        self.waiting.is_some()
    }

    /// Asks the handler whether the waiting request's answer is ready. If it is, encodes it
    /// behind the responses already in the output, answers the requests that were buffered
    /// behind it, and returns `true`: the loop should then write, and read again if
    /// [`Conn::wants_read`]. Returns `false`, changing nothing, while it still waits.
    pub fn poll_pending<H: Handler>(&mut self, now: Instant, handler: &H) -> bool {
        self.sync(handler);
        let Some(waiting) = self.waiting.as_mut() else {
            return false;
        };
        let Some(resp) = handler.poll_pending(&mut waiting.pending) else {
            return false;
        };
        let waiting = self.waiting.take().expect("checked above");
        self.respond_to(
            (waiting.keep_alive, waiting.http10, waiting.head_only),
            resp,
            false,
            now,
            handler,
        );
        if !self.closing && !self.done && !self.held_back() {
            self.resume(now, handler);
        } else if self.closing {
            self.close_input();
        }
        if self.read_closed && !self.held_back() && self.waiting.is_none() {
            self.close_input();
        }
        true
    }
    // ANCHOR_END: wait

    // ANCHOR: wants_read
    /// Should the loop read from this socket? `false` while output is above the high-water
    /// mark (backpressure: a client that does not read gets no more answers queued), while
    /// a request waits for its handler ([`Conn::is_waiting`]), and once the connection is
    /// closing.
    pub fn wants_read(&self) -> bool {
        !self.closing
            && !self.done
            && !self.read_closed
            && !self.held_back()
            && self.waiting.is_none()
    }

    /// Should the loop write? `true` while output is pending.
    pub fn wants_write(&self) -> bool {
        !self.done && !self.output().is_empty()
    }
    // ANCHOR_END: wants_read

    // ANCHOR: deadline
    /// The next instant at which [`Conn::on_deadline`] must be called: the header deadline
    /// while a request is being read, the idle deadline while waiting for one, the
    /// write-stall deadline while output is pending. `None` once done. A request waiting for
    /// its handler has no deadline of its own: the handler always answers (the event log
    /// answers every batch, `503` included), and requests buffered behind it are not timed
    /// while they cannot be answered.
    pub fn deadline(&self) -> Option<Instant> {
        if self.is_done() {
            return None;
        }
        let stall = (!self.output().is_empty()).then(|| self.output_moved + self.idle_timeout);
        let request = self.request_deadline.filter(|_| self.may_time_request());
        let idle = self
            .is_idle()
            .then(|| self.last_activity + self.idle_timeout);
        [stall, request, idle].into_iter().flatten().min()
    }

    /// The loop's clock passed [`Conn::deadline`]: a request in progress gets `408` and the
    /// connection closes after it; an idle or stalled connection is done at once.
    pub fn on_deadline(&mut self, now: Instant) {
        if self.is_done() {
            return;
        }
        if !self.output().is_empty() && now >= self.output_moved + self.idle_timeout {
            self.done = true;
        } else if self
            .request_deadline
            .is_some_and(|d| now >= d && self.may_time_request())
        {
            let resp = Response::error(HttpError::TIMEOUT.status, HttpError::TIMEOUT.message);
            self.mark_output_start(now);
            response::encode(&mut self.output, &resp, false, true);
            self.uncounted = Some(resp.status);
            self.close_input();
        } else if self.is_idle() && now >= self.last_activity + self.idle_timeout {
            self.done = true;
        }
    }
    // ANCHOR_END: deadline

    /// No request in progress, none waiting, and no output pending.
    pub fn is_idle(&self) -> bool {
        self.input.is_empty()
            && matches!(self.reading, Reading::Head)
            && self.output().is_empty()
            && self.waiting.is_none()
    }

    /// Graceful shutdown: answer the request in progress with `Connection: close`, then be done.
    /// An idle connection is done at once.
    pub fn begin_shutdown(&mut self) {
        self.shutting_down = true;
        if self.input.is_empty() && matches!(self.reading, Reading::Head) && self.waiting.is_none()
        {
            // Nothing being read: finish writing (usually nothing) and close.
            self.closing = true;
        }
    }

    /// The socket should be closed now: the connection is closing and its output is written.
    pub fn is_done(&self) -> bool {
        self.done || (self.closing && self.output().is_empty())
    }

    /// Bytes of input (capacity) and output (capacity) this connection holds, to check that
    /// idle connections hold no buffers (tests, and the book's chapter "C10K and memory per
    /// connection").
    pub fn buffer_capacity(&self) -> (usize, usize) {
        (self.input.capacity(), self.output.capacity())
    }

    /// Output above the high-water mark: stop reading and answering until it drains.
    fn held_back(&self) -> bool {
        self.output().len() > self.high_water_mark
    }

    /// Whether the request at the start of the input is the client's to finish: not while
    /// output is held back or a request before it waits, when the server is the slow one.
    fn may_time_request(&self) -> bool {
        !self.held_back() && self.waiting.is_none()
    }

    /// Refreshes the limits kept for handler-less calls and reports a pending count.
    fn sync<H: Handler>(&mut self, handler: &H) {
        let limits = handler.limits();
        self.idle_timeout = limits.idle_timeout;
        self.high_water_mark = limits.high_water_mark;
        if let Some(status) = self.uncounted.take() {
            handler.on_response(status);
        }
    }

    /// Drops buffered input and any request in progress; no further request will be read.
    fn close_input(&mut self) {
        self.closing = true;
        self.input = Vec::new();
        self.reading = Reading::Head;
        self.scan = HeadScan::default();
        self.request_deadline = None;
    }

    /// Answers what `input` now holds (after new bytes, or after output drained).
    fn resume<H: Handler>(&mut self, now: Instant, handler: &H) {
        let mut buf = std::mem::take(&mut self.input);
        let used = self.process(&buf, now, handler);
        if !self.closing && used < buf.len() {
            buf.drain(..used);
            if buf.capacity() > 4 * buf.len().max(1024) {
                buf.shrink_to_fit();
            }
            self.input = buf;
        }
        // Otherwise `buf` drops here: an idle connection holds no input buffer.
        self.after_processing(now, handler.limits());
    }

    /// Book-keeping once a batch of input has been processed.
    fn after_processing(&mut self, now: Instant, limits: &Limits) {
        if self.closing {
            self.close_input();
            return;
        }
        if let Reading::Chunked(body) = &mut self.reading {
            // Decoded raw bytes are no longer needed; keep only the head and what is left.
            let start = body.head_len;
            self.input.drain(start..start + body.raw_consumed);
            body.raw_consumed = 0;
        }
        if self.input.is_empty() {
            self.input = Vec::new();
            self.request_deadline = None;
        } else if self.request_deadline.is_none() {
            // The first byte of a new request arrived in this read.
            self.request_deadline = Some(now + limits.header_timeout);
        }
    }
}
