//! `Conn` behaviour over whole conversations: pipelining, splits, 100-continue, keep-alive,
//! HEAD, backpressure, deadlines (with fake instants), shutdown and idle memory.

mod common;
use std::time::{Duration, Instant};

use common::{answer, feed, statuses, take_output, Echo};
use ingest_http::{Conn, Limits};

const GET: &[u8] = b"GET /health HTTP/1.1\r\nHost: a\r\n\r\n";
const POST: &[u8] = b"POST /ingest HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello";
const CHUNKED: &[u8] = b"POST /ingest HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n\
    5;ext=\"v\"\r\nhello\r\n6\r\n world\r\n0\r\nX-Trailer: t\r\n\r\n";

/// Ten pipelined requests in one read are all answered, in order.
#[test]
fn ten_pipelined_requests_in_order() {
    let mut buf = Vec::new();
    for i in 0..10 {
        buf.extend_from_slice(format!("GET /r{i} HTTP/1.1\r\nHost: a\r\n\r\n").as_bytes());
    }
    let out = answer(&buf);
    assert_eq!(statuses(&out), [200; 10]);
    let bodies: Vec<_> = (0..10).map(|i| format!("GET /r{i} 0")).collect();
    let mut rest = out.as_str();
    for body in bodies {
        let at = rest.find(&body).expect("response in order");
        rest = &rest[at + body.len()..];
    }
}

/// Every split of a mixed pipeline (GET, Content-Length POST, chunked POST) into two reads,
/// and byte-by-byte feeding, gives exactly the responses of one read.
#[test]
fn every_split_point_gives_the_same_responses() {
    let stream = [GET, POST, CHUNKED, GET].concat();
    let whole = answer(&stream);
    assert_eq!(statuses(&whole), [200; 4]);
    assert!(whole.contains("POST /ingest 11"));
    for split in 0..=stream.len() {
        let (out, _) = feed(&[&stream[..split], &stream[split..]], &Echo::default());
        assert_eq!(out, whole, "split at {split}");
    }
    let bytes: Vec<&[u8]> = stream.chunks(1).collect();
    let echo = Echo::default();
    let (out, _) = feed(&bytes, &echo);
    assert_eq!(out, whole);
    assert_eq!(echo.bodies.borrow()[2], b"hello world");
}

/// An error is the same whether the head came in one read or byte by byte.
#[test]
fn errors_do_not_depend_on_splits() {
    for req in [
        &b"G(T / HTTP/1.1\r\nHost: a\r\nX: \x01\n"[..],
        b"GET / HTTP/2.0\r\nX: a\rb",
        b"GET / HTTP/1.1\r\nHost: a\r\nX : b\r\n\r\n",
        b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5;\r\n",
    ] {
        let whole = answer(req);
        let bytes: Vec<&[u8]> = req.chunks(1).collect();
        assert_eq!(feed(&bytes, &Echo::default()).0, whole);
    }
}

/// A slow head is scanned incrementally: byte-by-byte feeding of a large head stays fast
/// and the partial head is buffered, not answered.
#[test]
fn slow_head_is_buffered() {
    let mut req = b"GET / HTTP/1.1\r\nHost: a\r\nX: ".to_vec();
    req.resize(8000, b'a');
    let echo = Echo::default();
    let now = Instant::now();
    let mut conn = Conn::with_limits(now, &echo.limits);
    for b in req.chunks(1) {
        conn.on_read(b, now, &echo);
    }
    assert!(conn.output().is_empty() && !conn.is_idle());
    conn.on_read(b"\r\n\r\n", now, &echo);
    assert_eq!(statuses(&take_output(&mut conn, now, &echo)), [200]);
}

/// 100 Continue is sent before the body is read when the client expects it.
#[test]
fn continue_is_sent_when_body_is_awaited() {
    let head =
        b"POST /ingest HTTP/1.1\r\nHost: a\r\nExpect: 100-Continue\r\nContent-Length: 5\r\n\r\n";
    let echo = Echo::default();
    let (out, mut conn) = feed(&[head], &echo);
    assert_eq!(out, "HTTP/1.1 100 Continue\r\n\r\n");
    conn.on_read(b"hello", Instant::now(), &echo);
    assert_eq!(
        statuses(&take_output(&mut conn, Instant::now(), &echo)),
        [200]
    );
    assert_eq!(*echo.statuses.borrow(), [200], "100 is not counted");
}

/// No 100 Continue when the body is already here, when it is too large (413), or when the
/// handler refuses the head (404, then close since the body was not read).
#[test]
fn continue_is_not_sent_otherwise() {
    let with_body = [
        &b"POST /i HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\n"[..],
        b"Content-Length: 5\r\n\r\nhello",
    ]
    .concat();
    assert_eq!(statuses(&answer(&with_body)), [200]);
    let too_big =
        b"POST /i HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 2000000\r\n\r\n";
    let out = answer(too_big);
    assert_eq!(statuses(&out), [413]);
    assert!(!out.contains("100 Continue") && out.contains("Connection: close"));
    let rejected =
        b"POST /reject HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n";
    let out = answer(rejected);
    assert_eq!(statuses(&out), [404]);
    assert!(!out.contains("100 Continue") && out.contains("Connection: close"));
}

/// Keep-alive: 1.1 by default, 1.0 only with `Connection: keep-alive`; close wins.
#[test]
fn keep_alive_rules() {
    let cases: [(&[u8], bool, &str); 7] = [
        (b"GET / HTTP/1.1\r\nHost: a\r\n\r\n", true, ""),
        (
            b"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
            false,
            "Connection: close",
        ),
        (
            b"GET / HTTP/1.1\r\nHost: a\r\nConnection: TE, CLOSE\r\n\r\n",
            false,
            "Connection: close",
        ),
        (b"GET / HTTP/1.0\r\n\r\n", false, "Connection: close"),
        (
            b"GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n",
            true,
            "Connection: keep-alive",
        ),
        (
            b"GET / HTTP/1.0\r\nConnection: foo,keep-alive\r\n\r\n",
            true,
            "Connection: keep-alive",
        ),
        (
            b"GET / HTTP/1.0\r\nConnection: keep-alive, close\r\n\r\n",
            false,
            "Connection: close",
        ),
    ];
    for (req, open, header) in cases {
        let (out, conn) = feed(&[req], &Echo::default());
        assert_eq!(!conn.is_done(), open, "{}", String::from_utf8_lossy(req));
        assert_eq!(out.contains("Connection:"), !header.is_empty());
        assert!(out.contains(header));
    }
    let (out, conn) = feed(
        &[b"GET /close HTTP/1.1\r\nHost: a\r\n\r\n"],
        &Echo::default(),
    );
    assert!(out.contains("Connection: close") && conn.is_done());
}

/// HEAD gets the Content-Length of the body but not its bytes.
#[test]
fn head_sends_no_body() {
    let out = answer(b"HEAD /health HTTP/1.1\r\nHost: a\r\n\r\n");
    assert_eq!(
        out,
        "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 14\r\n\r\n"
    );
}

/// Above the high-water mark the connection stops answering and reading; draining resumes it.
#[test]
fn high_water_mark_stops_and_resumes() {
    let echo = Echo::with_limits(Limits {
        high_water_mark: 200,
        ..Limits::default()
    });
    let now = Instant::now();
    let mut conn = Conn::with_limits(now, &echo.limits);
    let pipeline = GET.repeat(10);
    conn.on_read(&pipeline, now, &echo);
    let first = statuses(&common::strip_date(conn.output())).len();
    assert!(first < 10 && !conn.wants_read(), "held back after {first}");
    let mut total = 0;
    while conn.wants_write() {
        total += statuses(&take_output(&mut conn, now, &echo)).len();
    }
    assert_eq!(total, 10);
    assert!(conn.wants_read() && conn.is_idle());
}

/// An incomplete request gets 408 at its header deadline, then the connection closes.
#[test]
fn header_deadline_sends_408() {
    let echo = Echo::default();
    let t0 = Instant::now();
    let mut conn = Conn::with_limits(t0, &echo.limits);
    conn.on_read(b"GET / HTTP/1.1\r\n", t0, &echo);
    assert_eq!(conn.deadline(), Some(t0 + Duration::from_secs(10)));
    conn.on_deadline(t0 + Duration::from_secs(5));
    assert!(conn.output().is_empty(), "not yet");
    conn.on_deadline(t0 + Duration::from_secs(10));
    let out = take_output(&mut conn, t0 + Duration::from_secs(10), &echo);
    assert_eq!(statuses(&out), [408]);
    assert!(out.contains("Connection: close") && conn.is_done());
    assert_eq!(
        *echo.statuses.borrow(),
        [408],
        "408 is counted on the next handler call"
    );
}

/// A body still arriving at the header deadline also gets 408 (the deadline covers it).
#[test]
fn header_deadline_covers_the_body() {
    let echo = Echo::default();
    let t0 = Instant::now();
    let mut conn = Conn::with_limits(t0, &echo.limits);
    conn.on_read(&POST[..POST.len() - 2], t0, &echo);
    conn.on_read(b"l", t0 + Duration::from_secs(9), &echo);
    assert_eq!(conn.deadline(), Some(t0 + Duration::from_secs(10)));
    conn.on_deadline(t0 + Duration::from_secs(10));
    assert_eq!(statuses(&common::strip_date(conn.output())), [408]);
}

/// An idle keep-alive connection is closed silently at its idle deadline.
#[test]
fn idle_deadline_closes_silently() {
    let echo = Echo::default();
    let t0 = Instant::now();
    let mut conn = Conn::with_limits(t0, &echo.limits);
    assert_eq!(conn.deadline(), Some(t0 + Duration::from_secs(30)));
    let t1 = t0 + Duration::from_secs(20);
    conn.on_read(GET, t1, &echo);
    take_output(&mut conn, t1, &echo);
    assert_eq!(conn.deadline(), Some(t1 + Duration::from_secs(30)));
    conn.on_deadline(t1 + Duration::from_secs(30));
    assert!(conn.is_done() && conn.output().is_empty());
    assert_eq!(conn.deadline(), None);
}

/// Output that does not move for the idle timeout ends the connection (write stall).
#[test]
fn write_stall_ends_the_connection() {
    let echo = Echo::default();
    let t0 = Instant::now();
    let mut conn = Conn::with_limits(t0, &echo.limits);
    conn.on_read(GET, t0, &echo);
    conn.on_written(3, t0 + Duration::from_secs(10), &echo);
    assert_eq!(conn.deadline(), Some(t0 + Duration::from_secs(40)));
    conn.on_deadline(t0 + Duration::from_secs(39));
    assert!(!conn.is_done());
    conn.on_deadline(t0 + Duration::from_secs(40));
    assert!(conn.is_done());
}

/// Shutdown: an idle connection is done at once; one mid-request answers with close.
#[test]
fn begin_shutdown() {
    let echo = Echo::default();
    let now = Instant::now();
    let mut idle = Conn::with_limits(now, &echo.limits);
    idle.begin_shutdown();
    assert!(idle.is_done());

    let mut busy = Conn::with_limits(now, &echo.limits);
    busy.on_read(&POST[..POST.len() - 1], now, &echo);
    busy.begin_shutdown();
    assert!(!busy.is_done());
    busy.on_read(b"o", now, &echo);
    let out = take_output(&mut busy, now, &echo);
    assert_eq!(statuses(&out), [200]);
    assert!(out.contains("Connection: close") && busy.is_done());
}

/// EOF mid-request abandons it; EOF when idle is done once output is flushed.
#[test]
fn eof_handling() {
    let echo = Echo::default();
    let now = Instant::now();
    let mut conn = Conn::with_limits(now, &echo.limits);
    conn.on_read(b"GET / HT", now, &echo);
    conn.on_read_eof(now);
    assert!(conn.is_done() && conn.output().is_empty());

    let mut conn = Conn::with_limits(now, &echo.limits);
    conn.on_read(GET, now, &echo);
    conn.on_read_eof(now);
    assert!(!conn.is_done(), "still owes a response");
    assert_eq!(statuses(&take_output(&mut conn, now, &echo)), [200]);
    assert!(conn.is_done());
}

/// An idle connection holds no input buffer and only a small output buffer, and the
/// struct itself is small.
#[test]
fn idle_connection_holds_no_buffers() {
    let echo = Echo::default();
    let now = Instant::now();
    let mut conn = Conn::with_limits(now, &echo.limits);
    conn.on_read(b"GET /", now, &echo);
    assert!(conn.buffer_capacity().0 > 0);
    let mut big = b"T".repeat(3000);
    big.extend_from_slice(b" HTTP/1.1\r\nHost: a\r\n\r\n");
    conn.on_read(&big, now, &echo);
    take_output(&mut conn, now, &echo);
    assert!(conn.is_idle());
    let (input, output) = conn.buffer_capacity();
    assert_eq!(input, 0);
    assert!(output <= 512, "output capacity {output}");
    assert!(
        std::mem::size_of::<Conn>() <= 256,
        "{}",
        std::mem::size_of::<Conn>()
    );
}

/// Bytes in and out are reported to the handler.
#[test]
fn bytes_are_counted() {
    let echo = Echo::default();
    let (out, _) = feed(&[GET, POST], &echo);
    assert_eq!(echo.bytes_read.get(), (GET.len() + POST.len()) as u64);
    assert!(
        echo.bytes_written.get() > out.len() as u64,
        "Date lines were stripped from out"
    );
}

/// A request answered later holds back the pipelined requests behind it: nothing is read or
/// answered after it until its answer is in the output, so responses stay in request order.
#[test]
fn waiting_request_keeps_pipelined_order() {
    let echo = Echo::default();
    let now = Instant::now();
    let mut conn = Conn::with_limits(now, &echo.limits);
    conn.on_read(
        b"GET /a HTTP/1.1\r\nHost: x\r\n\r\nPOST /later HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nhiGET /b HTTP/1.1\r\nHost: x\r\n\r\n",
        now,
        &echo,
    );
    assert!(conn.is_waiting());
    assert!(
        !conn.wants_read(),
        "a waiting connection reads nothing more"
    );
    assert!(!conn.is_idle());
    assert_eq!(statuses(&take_output(&mut conn, now, &echo)), [200]);
    assert_eq!(
        conn.deadline(),
        None,
        "the wait is the server's: no request deadline"
    );
    assert!(
        !conn.poll_pending(now, &echo),
        "not released yet: still waiting"
    );
    assert!(conn.is_waiting());
    echo.released.set(1);
    assert!(conn.poll_pending(now, &echo));
    let out = take_output(&mut conn, now, &echo);
    assert_eq!(statuses(&out), [202, 200], "{out}");
    assert!(
        out.contains("POST /later 2") && out.ends_with("GET /b 0"),
        "{out}"
    );
    assert!(conn.wants_read() && conn.is_idle());
    assert_eq!(*echo.statuses.borrow(), [200, 202, 200]);
}

/// Two waiting requests in one read are answered one after the other, each in its turn.
#[test]
fn waiting_requests_answer_in_turn() {
    let echo = Echo::default();
    let now = Instant::now();
    let mut conn = Conn::with_limits(now, &echo.limits);
    let later = b"POST /later HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\n\r\nx";
    conn.on_read(&[&later[..], &later[..]].concat(), now, &echo);
    echo.released.set(2);
    assert!(conn.poll_pending(now, &echo));
    assert!(conn.is_waiting(), "the second request waits in its turn");
    assert!(conn.poll_pending(now, &echo));
    assert!(!conn.is_waiting());
    assert_eq!(statuses(&take_output(&mut conn, now, &echo)), [202, 202]);
}

/// A client that half-closes while its request waits still gets the answer, then the
/// connection is done; a graceful shutdown meanwhile makes that answer `Connection: close`.
#[test]
fn waiting_request_survives_eof_and_shutdown() {
    let echo = Echo::default();
    let now = Instant::now();
    let mut conn = Conn::with_limits(now, &echo.limits);
    conn.on_read(
        b"POST /later HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n",
        now,
        &echo,
    );
    conn.on_read_eof(now);
    conn.begin_shutdown();
    assert!(!conn.is_done(), "the answer is still owed");
    echo.released.set(1);
    assert!(conn.poll_pending(now, &echo));
    let out = take_output(&mut conn, now, &echo);
    assert_eq!(statuses(&out), [202]);
    assert!(out.contains("Connection: close"), "{out}");
    assert!(conn.is_done());
}
