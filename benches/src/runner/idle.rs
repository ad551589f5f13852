//! The idle-connection memory test: what one keep-alive connection that does
//! nothing costs the server.
//!
//! Open N connections, send one `GET /health` on each and read its answer (so the
//! server has really taken each one on: accepted it, allocated its buffers, spawned
//! its thread or task), then leave them open and silent. The server's RSS with
//! them, minus its RSS before, divided by the connections it is holding, is the
//! price of an idle connection in that I/O model: a thread stack in p1, a slab
//! entry and two buffers in p3.
//!
//! A server that cannot hold them all must not break the test: p2's bounded pool
//! answers the excess with `503` and closes, or leaves it queued without an answer.
//! Every connection ends in exactly one bucket of [`IdleReport`], and the table
//! says how many went where.

use std::io::{self, Read as _, Write as _};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use mio::net::TcpStream;
use mio::{Events, Interest, Poll, Token};
use serde::Serialize;

use super::sampler;
use crate::loadgen::response::ResponseReader;

/// How long a single blocking connect may take. Loopback handshakes complete in
/// the kernel without the server's help while its backlog has room, so a slow
/// connect means the backlog overflowed.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// Opening stops after this long, so a server that stops accepting cannot make
/// the test take 10,000 connect timeouts.
const OPEN_BUDGET: Duration = Duration::from_secs(30);
/// How long to wait for the answers once every request is sent. A connection
/// still unanswered after it is counted as queued (open, but not served).
const ANSWER_TIMEOUT: Duration = Duration::from_secs(5);
/// Time the server gets to settle (finish allocations, let threads start) before
/// its RSS is read.
const SETTLE: Duration = Duration::from_millis(300);

/// Where each of the N idle connections ended up, and what they cost.
#[derive(Debug, Clone, Default, Serialize)]
pub struct IdleReport {
    /// Connections asked for.
    pub requested: usize,
    /// Answered `2xx` and left open: the idle keep-alive connections measured.
    pub held: usize,
    /// Open, request sent, no answer within the wait (queued behind busy workers).
    pub queued: usize,
    /// Answered with another status (a `503` from a full server) and closed.
    pub rejected: usize,
    /// Closed or reset by the server before any answer.
    pub closed: usize,
    /// Could not connect, or not attempted after the opening budget ran out.
    pub connect_failed: usize,
    /// Server RSS before opening, bytes.
    pub rss_before: Option<u64>,
    /// Server RSS with the connections open, bytes.
    pub rss_after: Option<u64>,
    /// `(rss_after - rss_before) / (held + queued)`: bytes per open connection.
    pub bytes_per_conn: Option<f64>,
    /// The first failure seen, as an example.
    pub first_error: Option<String>,
}

impl IdleReport {
    /// Connections the server still holds open at measurement time.
    pub fn open(&self) -> usize {
        self.held + self.queued
    }

    /// One short phrase for the table: `10000 of 10000`, or what became of the rest.
    pub fn summary(&self) -> String {
        let mut s = format!("{} of {}", self.held, self.requested);
        let parts: Vec<String> = [
            (self.queued, "queued unanswered"),
            (self.rejected, "rejected (non-2xx)"),
            (self.closed, "closed unanswered"),
            (self.connect_failed, "connect failed"),
        ]
        .iter()
        .filter(|(n, _)| *n > 0)
        .map(|(n, what)| format!("{n} {what}"))
        .collect();
        if !parts.is_empty() {
            s.push_str(&format!(" ({})", parts.join(", ")));
        }
        s
    }
}

/// The connections the server is holding; dropping this closes them all.
pub struct IdleConnections {
    _streams: Vec<TcpStream>,
}

/// Opens `n` idle keep-alive connections to `addr` and measures server `pid`'s RSS
/// before and after. Keep the returned connections alive while the active load runs.
pub fn open(addr: SocketAddr, pid: u32, n: usize) -> (IdleConnections, IdleReport) {
    let mut report = IdleReport {
        requested: n,
        rss_before: sampler::sample(pid).map(|s| s.rss_bytes),
        ..Default::default()
    };
    let streams = connect_all(addr, n, &mut report);
    let held = read_answers(streams, &mut report);
    std::thread::sleep(SETTLE);
    report.rss_after = sampler::sample(pid).map(|s| s.rss_bytes);
    if let (Some(before), Some(after)) = (report.rss_before, report.rss_after) {
        if report.open() > 0 {
            report.bytes_per_conn = Some((after as f64 - before as f64) / report.open() as f64);
        }
    }
    (IdleConnections { _streams: held }, report)
}

/// Connects and sends one request on each connection, blocking: on loopback a
/// connect returns as soon as the kernel has queued it, and the ~50-byte request
/// always fits the socket buffer.
fn connect_all(addr: SocketAddr, n: usize, report: &mut IdleReport) -> Vec<TcpStream> {
    let request = format!("GET /health HTTP/1.1\r\nHost: {addr}\r\n\r\n");
    let started = Instant::now();
    let mut streams = Vec::with_capacity(n);
    for attempted in 0..n {
        if started.elapsed() > OPEN_BUDGET {
            report.connect_failed += n - attempted;
            note(report, || {
                format!("opening took over {OPEN_BUDGET:?}; stopped")
            });
            break;
        }
        let stream =
            std::net::TcpStream::connect_timeout(&addr, CONNECT_TIMEOUT).and_then(|mut s| {
                s.write_all(request.as_bytes())?;
                s.set_nonblocking(true)?;
                Ok(s)
            });
        match stream {
            Ok(s) => streams.push(TcpStream::from_std(s)),
            Err(e) => {
                report.connect_failed += 1;
                note(report, || format!("connect: {e}"));
            }
        }
    }
    streams
}

/// Reads every answer (one event loop over all connections) until each has its
/// response or [`ANSWER_TIMEOUT`] passes; returns the connections still open.
fn read_answers(mut streams: Vec<TcpStream>, report: &mut IdleReport) -> Vec<TcpStream> {
    // `None`: waiting; `Some(true)`: answered 2xx and open; `Some(false)`: gone.
    let mut state: Vec<Option<bool>> = vec![None; streams.len()];
    let mut poll = match Poll::new() {
        Ok(p) => p,
        Err(e) => {
            // Without a poller nothing can be read: count them all as unanswered.
            note(report, || {
                format!("cannot create a poller to read the answers: {e}")
            });
            report.queued = streams.len();
            return streams;
        }
    };
    let mut readers: Vec<ResponseReader> = (0..streams.len())
        .map(|_| ResponseReader::new(false))
        .collect();
    let mut waiting = streams.len();
    for (i, s) in streams.iter_mut().enumerate() {
        if let Err(e) = poll.registry().register(s, Token(i), Interest::READABLE) {
            state[i] = Some(false);
            report.closed += 1;
            waiting -= 1;
            note(report, || format!("register: {e}"));
        }
    }
    let mut events = Events::with_capacity(1024);
    let mut buf = vec![0u8; 4096];
    let deadline = Instant::now() + ANSWER_TIMEOUT;
    while waiting > 0 {
        let Some(wait) = deadline.checked_duration_since(Instant::now()) else {
            break;
        };
        match poll.poll(&mut events, Some(wait)) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => {
                note(report, || format!("poll: {e}"));
                break;
            }
        }
        for event in events.iter() {
            let i = event.token().0;
            if state[i].is_some() {
                continue;
            }
            let outcome = read_one(&mut streams[i], &mut readers[i], &mut buf);
            match &outcome {
                Answer::Pending => continue,
                Answer::Ok => report.held += 1,
                Answer::Status(code) => {
                    report.rejected += 1;
                    note(report, || format!("answered {code}"));
                }
                Answer::Closed(why) => {
                    report.closed += 1;
                    note(report, || why.clone());
                }
            }
            state[i] = Some(matches!(outcome, Answer::Ok));
            waiting -= 1;
        }
    }
    report.queued = waiting;
    streams
        .into_iter()
        .zip(state)
        .filter(|(_, s)| *s != Some(false))
        .map(|(s, _)| s)
        .collect()
}

/// What one read of an idle connection's answer found.
enum Answer {
    /// No complete response yet.
    Pending,
    /// A 2xx response; the connection stays open.
    Ok,
    /// Another status (the server will close).
    Status(u16),
    /// The connection ended before a response.
    Closed(String),
}

/// Reads what `stream` has; a `/health` answer is tiny, so one response per
/// connection is all there is to frame.
fn read_one(stream: &mut TcpStream, reader: &mut ResponseReader, buf: &mut [u8]) -> Answer {
    loop {
        match stream.read(buf) {
            Ok(0) => return Answer::Closed("closed by the server before answering".into()),
            Ok(n) => {
                let mut status = None;
                if let Err(e) = reader.feed(&buf[..n], |r| status = Some(r.status)) {
                    return Answer::Closed(format!("bad response: {}", e.0));
                }
                match status {
                    Some(s) if (200..300).contains(&s) => return Answer::Ok,
                    Some(s) => return Answer::Status(s),
                    None => {}
                }
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Answer::Pending,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Answer::Closed(format!("read: {e}")),
        }
    }
}

fn note(report: &mut IdleReport, why: impl FnOnce() -> String) {
    if report.first_error.is_none() {
        report.first_error = Some(why());
    }
}
