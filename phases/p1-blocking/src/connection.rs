//! One connection, driven with blocking reads and writes.
//!
//! All of HTTP lives in [`ingest_http::Conn`]; this loop only moves bytes between the
//! socket and it. Because `read()` and `write()` block, the loop needs no readiness
//! notifications and no state of its own: where it is in its code *is* its state. Phase 2
//! runs this very function on a pool of workers instead of a thread per connection.

use std::io::{self, ErrorKind, Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ingest_http::{Conn, Handler};
use ingest_service::{Service, Shutdown};

use crate::live::Live;

/// Bytes read per `read()` call. The buffer lives on this thread's stack, only for as long
/// as the connection does; `Conn` copies only the bytes of an incomplete request.
const READ_BUFFER: usize = 16 * 1024;

// ANCHOR: serve_connection
/// Serves one connection until it closes, times out, or shutdown closes it.
pub fn serve_connection(
    stream: TcpStream,
    service: &Service,
    shutdown: &Shutdown,
    live: &Arc<Live>,
) -> io::Result<()> {
    // Small responses should leave at once, not wait for Nagle's algorithm to batch them.
    stream.set_nodelay(true)?;
    // The write-stall rule (SPEC: a client that stops reading is closed after the idle
    // timeout) is exactly what `SO_SNDTIMEO` does: each blocking `write()` gives up after
    // that long without progress. Set once, it costs nothing per response.
    stream.set_write_timeout(Some(service.limits().idle_timeout))?;
    // Shared with `live`, so that shutdown can reach a thread blocked in `read()`. Reads and
    // writes go through `&TcpStream`, which implements `Read` and `Write` too.
    let stream = Arc::new(stream);
    let membership = live.join(&stream);
    let mut socket: &TcpStream = &stream;
    let mut conn = Conn::with_limits(Instant::now(), service.limits());
    let mut buf = [0u8; READ_BUFFER];

    loop {
        // 1. Write everything we owe. A client that does not read makes `write()` block;
        //    the write timeout (the write-stall deadline) bounds that.
        while conn.wants_write() {
            match socket.write(conn.output()) {
                Ok(n) => conn.on_written(n, Instant::now(), service),
                Err(e) if is_timeout(&e) => conn.on_deadline(Instant::now()),
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => return Err(e), // reset by the peer, broken pipe: nobody to answer
            }
            if conn.is_done() {
                return Ok(());
            }
        }
        if conn.is_done() {
            return Ok(());
        }

        // ANCHOR: wait_for_writer
        // 2. A `POST /ingest` answered later (`--ack written|synced`): this thread has
        //    nothing else to do, so it sleeps until the writer has the batch, then goes
        //    round to write the answer (and whatever pipelined requests it unblocked).
        if conn.is_waiting() {
            service.wait_for_answer(&mut conn);
            continue;
        }
        // ANCHOR_END: wait_for_writer
        if !conn.wants_read() {
            return Ok(());
        }

        // 3. Between requests, shutdown may close us (see `live`). Mark idle *before*
        //    checking the flag, so that shutdown cannot miss this connection.
        membership.set_idle(conn.is_idle());
        if shutdown.is_triggered() {
            conn.begin_shutdown();
            if conn.is_done() {
                return Ok(());
            }
        }

        // 4. Read, at most until the connection's next deadline.
        set_read_timeout(&stream, conn.deadline())?;
        let read = socket.read(&mut buf);
        membership.set_idle(false);
        let now = Instant::now();
        match read {
            Ok(0) => conn.on_read_eof(now),
            Ok(n) => conn.on_read(&buf[..n], now, service),
            Err(e) if is_timeout(&e) => conn.on_deadline(now),
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}
// ANCHOR_END: serve_connection

/// Sets the read timeout (`SO_RCVTIMEO`) to the time left until `deadline`. One system
/// call per read: the price of bounding a blocking call by a deadline that moves.
fn set_read_timeout(stream: &TcpStream, deadline: Option<Instant>) -> io::Result<()> {
    let left = deadline.map(|d| {
        // Zero means "no timeout" to the kernel, so never pass it: a deadline already
        // passed becomes one millisecond, and the next call reports the timeout.
        d.saturating_duration_since(Instant::now())
            .max(Duration::from_millis(1))
    });
    stream.set_read_timeout(left)
}

/// A socket timeout shows up as `WouldBlock` on Unix and `TimedOut` on Windows.
fn is_timeout(e: &io::Error) -> bool {
    matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut)
}
