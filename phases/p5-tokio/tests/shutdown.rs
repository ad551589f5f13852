//! Graceful shutdown driven by the server's `Shutdown` alone, with no signal: the path tests
//! and embedding programs use, next to the signals the conformance suite sends.

use std::io::Write;
use std::net::TcpStream;
use std::sync::atomic::Ordering;
use std::thread;
use std::time::{Duration, Instant};

mod common;
use common::{assert_closing_202, connect, read_response, read_to_close, start};

/// `Shutdown::trigger` alone closes an idle keep-alive connection, stops accepting, and makes
/// `serve` return well before the drain timeout.
#[test]
fn trigger_closes_idle_connections_and_returns() {
    let server = start();
    let mut idle = connect(server.addr);
    idle.write_all(b"GET /health HTTP/1.1\r\nHost: t\r\n\r\n")
        .unwrap();
    let response = read_response(&mut idle, "ok");
    assert!(response.starts_with("HTTP/1.1 200 "), "{response}");

    let started = Instant::now();
    server.shutdown.trigger();
    assert_eq!(
        read_to_close(&mut idle),
        "",
        "an idle connection closes silently"
    );
    let served = server
        .done
        .recv_timeout(Duration::from_secs(4))
        .expect("serve should return soon after the trigger");
    served.expect("serve returns Ok");
    assert!(started.elapsed() < Duration::from_secs(4));
    assert!(
        TcpStream::connect(server.addr).is_err(),
        "the listener is closed after shutdown"
    );
}

/// A request half-read when shutdown starts is still answered, with `Connection: close`.
#[test]
fn request_in_progress_is_finished_with_connection_close() {
    let server = start();
    let mut busy = connect(server.addr);
    let body = br#"{"name":"cpu.load","value":0.93}"#;
    let head = format!(
        "POST /ingest HTTP/1.1\r\nHost: t\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    let mut idle = connect(server.addr);
    idle.write_all(b"GET /health HTTP/1.1\r\nHost: t\r\n\r\n")
        .unwrap();
    read_response(&mut idle, "ok");
    let before = server.service.stats().bytes_read.load(Ordering::Relaxed);
    busy.write_all(head.as_bytes()).unwrap();
    busy.write_all(&body[..10]).unwrap();
    // The server must have read the head before shutdown starts: wait until it counts the
    // bytes, not for a guessed while.
    let sent = (head.len() + 10) as u64;
    let waiting = Instant::now();
    while server.service.stats().bytes_read.load(Ordering::Relaxed) < before + sent {
        assert!(
            waiting.elapsed() < Duration::from_secs(5),
            "the server did not read the request head"
        );
        thread::sleep(Duration::from_millis(1));
    }

    server.shutdown.trigger();
    // The idle connection closing shows the shutdown reached the connection tasks; the busy
    // one sees it first too when it wakes (its `select!` is biased to cancellation).
    assert_eq!(read_to_close(&mut idle), "");
    busy.write_all(&body[10..]).unwrap();
    assert_closing_202(&read_to_close(&mut busy));
    server.expect_served("once the request is done");
}
