//! The harness of phase 5's in-process tests: a server on an ephemeral port that `serve`s on
//! a thread of its own and stops through its `Shutdown`, and raw-socket helpers.
// Each test file uses a part of it.
#![allow(dead_code)]

use std::io::{self, Read};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::sync::mpsc;
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use ingest_service::{Config, EventLog, Server, Service, Shutdown, Stats};

/// A p5 server on an ephemeral port, running `serve` on a thread of its own.
pub struct Running {
    pub addr: std::net::SocketAddr,
    pub shutdown: Shutdown,
    /// The server's service, to watch its counters.
    pub service: Arc<Service>,
    /// Receives `serve`'s result when it returns.
    pub done: mpsc::Receiver<io::Result<()>>,
    _data_dir: tempfile::TempDir,
}

/// A server with two worker threads and the real event log.
pub fn start() -> Running {
    start_with(2, EventLog::open)
}

/// A server with `threads` worker threads and the event log `open_log` opens (a test's own
/// sink, through `EventLog::open_with_sink`).
pub fn start_with(
    threads: usize,
    open_log: impl FnOnce(&Path, Arc<Stats>) -> io::Result<EventLog>,
) -> Running {
    let data_dir = tempfile::tempdir().expect("temp dir");
    let config = Config {
        data_dir: data_dir.path().to_path_buf(),
        threads: Some(threads),
        ..Config::default()
    };
    let service =
        Arc::new(Service::open_with("p5-tokio", &config, open_log).expect("open service"));
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

pub fn connect(addr: std::net::SocketAddr) -> TcpStream {
    let stream = TcpStream::connect(addr).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .expect("read timeout");
    stream
}

/// Reads until the peer closes (or the read timeout fails the test).
pub fn read_to_close(stream: &mut TcpStream) -> String {
    let mut out = Vec::new();
    stream
        .read_to_end(&mut out)
        .expect("the server should close the connection");
    String::from_utf8_lossy(&out).into_owned()
}

/// Reads one response that ends with `suffix` (the body we expect).
pub fn read_response(stream: &mut TcpStream, suffix: &str) -> String {
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    while !out.ends_with(suffix.as_bytes()) {
        let n = stream.read(&mut buf).expect("read response");
        assert!(n > 0, "closed before the response ended: {out:?}");
        out.extend_from_slice(&buf[..n]);
    }
    String::from_utf8_lossy(&out).into_owned()
}

impl Running {
    /// Waits (up to 4 s) for `serve` to return after shutdown, and for it to return `Ok`.
    pub fn expect_served(&self, when: &str) {
        self.done
            .recv_timeout(Duration::from_secs(4))
            .unwrap_or_else(|_| panic!("serve should return {when}"))
            .expect("serve returns Ok");
    }
}

/// `response` is the `202` for one event that closes the connection (shutdown had begun).
pub fn assert_closing_202(response: &str) {
    assert!(response.starts_with("HTTP/1.1 202 "), "{response}");
    assert!(
        response
            .to_ascii_lowercase()
            .contains("connection: close\r\n"),
        "{response}"
    );
    assert!(response.ends_with(r#"{"accepted":1}"#), "{response}");
}
