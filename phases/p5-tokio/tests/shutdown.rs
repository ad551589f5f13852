//! Graceful shutdown driven by the server's `Shutdown` alone, with no signal: the path tests
//! and embedding programs use, next to the signals the conformance suite sends.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::Ordering;
use std::sync::mpsc;
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use ingest_service::{Config, Server, Service, Shutdown};

/// A p5 server on an ephemeral port, running `serve` on a thread of its own.
struct Running {
    addr: std::net::SocketAddr,
    shutdown: Shutdown,
    /// The server's service, to watch its counters.
    service: Arc<Service>,
    /// Receives `serve`'s result when it returns.
    done: mpsc::Receiver<std::io::Result<()>>,
    _data_dir: tempfile::TempDir,
}

fn start() -> Running {
    let data_dir = tempfile::tempdir().expect("temp dir");
    let config = Config {
        data_dir: data_dir.path().to_path_buf(),
        threads: Some(2),
        ..Config::default()
    };
    let service = Arc::new(Service::open("p5-tokio", &config).expect("open service"));
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("local addr");
    let shutdown = Shutdown::new();
    let server = Server {
        listener,
        service: Arc::clone(&service),
        shutdown: shutdown.clone(),
        config,
    };
    let (tx, done) = mpsc::channel();
    thread::spawn(move || {
        let _ = tx.send(p5_tokio::serve(server));
    });
    Running {
        addr,
        shutdown,
        service,
        done,
        _data_dir: data_dir,
    }
}

fn connect(addr: std::net::SocketAddr) -> TcpStream {
    let stream = TcpStream::connect(addr).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .expect("read timeout");
    stream
}

/// Reads until the peer closes (or the read timeout fails the test).
fn read_to_close(stream: &mut TcpStream) -> String {
    let mut out = Vec::new();
    stream
        .read_to_end(&mut out)
        .expect("the server should close the connection");
    String::from_utf8_lossy(&out).into_owned()
}

/// Reads one response that ends with `suffix` (the body we expect).
fn read_response(stream: &mut TcpStream, suffix: &str) -> String {
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    while !out.ends_with(suffix.as_bytes()) {
        let n = stream.read(&mut buf).expect("read response");
        assert!(n > 0, "closed before the response ended: {out:?}");
        out.extend_from_slice(&buf[..n]);
    }
    String::from_utf8_lossy(&out).into_owned()
}

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
    let response = read_to_close(&mut busy);
    assert!(response.starts_with("HTTP/1.1 202 "), "{response}");
    assert!(
        response
            .to_ascii_lowercase()
            .contains("connection: close\r\n"),
        "{response}"
    );
    assert!(response.ends_with(r#"{"accepted":1}"#), "{response}");
    server
        .done
        .recv_timeout(Duration::from_secs(4))
        .expect("serve should return once the request is done")
        .expect("serve returns Ok");
}
