//! `--ack written` (the default): a `POST /ingest` waits for the event log's writer without
//! holding up its worker thread, and a waiting request still sees shutdown. The writer is
//! held mid-write by a sink that waits at a gate the test opens.

use std::fs::File;
use std::io::{self, ErrorKind, Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
use std::sync::{Arc, Condvar, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use ingest_service::event_log::LogSink;
use ingest_service::EventLog;

mod common;
use common::{assert_closing_202, connect, read_response, read_to_close, start_with, Running};

/// The log file behind a gate: each write waits until the gate is open.
struct GatedFile {
    file: File,
    gate: Arc<Gate>,
}

/// Closed until [`Gate::open`]; says whether the writer has reached it.
#[derive(Default)]
struct Gate {
    open: Mutex<bool>,
    opened: Condvar,
    reached: AtomicBool,
}

impl Gate {
    fn open(&self) {
        *self.open.lock().unwrap() = true;
        self.opened.notify_all();
    }

    /// Waits (up to 5 s) until the writer is held at the gate.
    fn wait_reached(&self) {
        let start = Instant::now();
        while !self.reached.load(SeqCst) {
            assert!(start.elapsed() < Duration::from_secs(5), "no write came");
            thread::sleep(Duration::from_millis(1));
        }
    }
}

impl LogSink for GatedFile {
    fn append(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.gate.reached.store(true, SeqCst);
        let mut open = self.gate.open.lock().unwrap();
        while !*open {
            open = self.gate.opened.wait(open).unwrap();
        }
        self.file.write(buf)
    }

    fn truncate(&mut self, len: u64) -> io::Result<()> {
        self.file.set_len(len)
    }

    fn sync(&mut self) -> io::Result<()> {
        self.file.sync_all()
    }
}

/// A server with one worker thread, so that a blocked worker would show, and its gate.
fn start_gated() -> (Running, Arc<Gate>) {
    let gate = Arc::new(Gate::default());
    let sink_gate = Arc::clone(&gate);
    let server = start_with(1, move |dir, stats| {
        EventLog::open_with_sink(dir, stats, move |file| {
            Box::new(GatedFile {
                file,
                gate: sink_gate,
            })
        })
    });
    (server, gate)
}

/// Sends one `POST /ingest` of one event on a new connection.
fn post_one_event(server: &Running) -> TcpStream {
    let mut stream = connect(server.addr);
    let body = br#"{"name":"cpu.load","value":0.93}"#;
    let head = format!(
        "POST /ingest HTTP/1.1\r\nHost: t\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).unwrap();
    stream.write_all(body).unwrap();
    stream
}

/// Nothing arrives on `stream` for a while: its request is still waiting.
fn assert_no_answer_yet(stream: &mut TcpStream) {
    stream
        .set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let mut byte = [0u8; 1];
    match stream.read(&mut byte) {
        Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
        other => panic!("expected no answer while the writer is held, got {other:?}"),
    }
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
}

/// While one connection's ingest waits for a held writer, the server's only worker thread
/// still answers another connection's `/health`; opening the gate answers the ingest `202`.
#[test]
fn a_waiting_ingest_holds_up_no_other_connection() {
    let (server, gate) = start_gated();
    let mut waiting = post_one_event(&server);
    gate.wait_reached();

    let mut other = connect(server.addr);
    other
        .write_all(b"GET /health HTTP/1.1\r\nHost: t\r\n\r\n")
        .unwrap();
    let health = read_response(&mut other, "ok");
    assert!(health.starts_with("HTTP/1.1 200 "), "{health}");
    assert_no_answer_yet(&mut waiting);

    gate.open();
    let answer = read_response(&mut waiting, r#"{"accepted":1}"#);
    assert!(answer.starts_with("HTTP/1.1 202 "), "{answer}");
    server.shutdown.trigger();
    server.expect_served("after the trigger");
}

/// Shutdown reaches a connection while its request waits for the writer: the request is
/// still answered `202`, with `Connection: close` (so the connection saw the shutdown while
/// waiting), and `serve` returns once it is.
#[test]
fn shutdown_lets_a_waiting_ingest_finish() {
    let (server, gate) = start_gated();
    let mut waiting = post_one_event(&server);
    gate.wait_reached();

    server.shutdown.trigger();
    assert_no_answer_yet(&mut waiting);
    assert!(
        server.done.try_recv().is_err(),
        "serve must wait for the waiting request"
    );
    gate.open();
    assert_closing_202(&read_to_close(&mut waiting));
    server.expect_served("once the request is done");
}
