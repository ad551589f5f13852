//! A reactor whose event log writer stops on command, to check what the loop does while a
//! request waits for it (`--ack written`). Shared by phase 3's and phase 4's `tests/waiting.rs`
//! (phase 4 includes this file by path): the twins are checked by the same code.
//!
//! The writer is held inside its `write` by a [`Gate`], the way a slow disk would hold it,
//! so an ingest waits for as long as a test likes, without timing luck.

use std::fs::File;
use std::io::{self, Write};
use std::net::{SocketAddr, TcpListener};
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use conformance::client::Client;
use conformance::support::{event, get, post_ingest};
use ingest_service::event_log::{Ack, LogSink};
use ingest_service::{Config, EventLog, Service, Shutdown};

/// Closed: the writer's `write` waits until it opens. Counts the writes that arrived.
#[derive(Default)]
pub struct Gate {
    closed: Mutex<bool>,
    opened: Condvar,
    writes: AtomicUsize,
}

impl Gate {
    fn pass(&self) {
        self.writes.fetch_add(1, SeqCst);
        let closed = self.closed.lock().unwrap();
        drop(self.opened.wait_while(closed, |closed| *closed).unwrap());
    }

    fn set(&self, closed: bool) {
        *self.closed.lock().unwrap() = closed;
        self.opened.notify_all();
    }
}

/// The log file, behind the gate.
struct GatedFile {
    file: File,
    gate: Arc<Gate>,
}

impl LogSink for GatedFile {
    fn append(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.gate.pass();
        self.file.write(buf)
    }

    fn truncate(&mut self, len: u64) -> io::Result<()> {
        self.file.set_len(len)
    }

    fn sync(&mut self) -> io::Result<()> {
        self.file.sync_all()
    }
}

/// A reactor running on its own thread under `--ack written`, with its gate.
pub struct Running {
    pub addr: SocketAddr,
    pub service: Arc<Service>,
    pub shutdown: Shutdown,
    pub gate: Arc<Gate>,
    reactor: JoinHandle<io::Result<()>>,
    _dir: tempfile::TempDir,
}

/// Starts `run` (a phase's reactor: build it, run it) on a listener of its own.
pub fn start(
    run: impl FnOnce(TcpListener, Arc<Service>, Shutdown) -> io::Result<()> + Send + 'static,
) -> Running {
    let dir = tempfile::tempdir().unwrap();
    let config = Config {
        data_dir: dir.path().to_path_buf(),
        ack: Ack::Written,
        ..Config::default()
    };
    let gate = Arc::new(Gate::default());
    let sink_gate = Arc::clone(&gate);
    let service = Service::open_with("waiting-test", &config, move |dir, stats| {
        EventLog::open_with_sink(dir, stats, move |file| {
            Box::new(GatedFile {
                file,
                gate: sink_gate,
            })
        })
    })
    .unwrap();
    let service = Arc::new(service);
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let shutdown = Shutdown::new();
    let (for_reactor, stop) = (Arc::clone(&service), shutdown.clone());
    let reactor = std::thread::spawn(move || run(listener, for_reactor, stop));
    Running {
        addr,
        service,
        shutdown,
        gate,
        reactor,
        _dir: dir,
    }
}

impl Running {
    /// Holds the writer at its next write and sends an ingest on a new connection; returns
    /// once the writer holds that batch, so the connection now waits.
    fn ingest_held(&self) -> Client {
        self.gate.set(true);
        let before = self.gate.writes.load(SeqCst);
        let mut client = Client::connect(self.addr).unwrap();
        client.send(&post_ingest(&event(1))).unwrap();
        wait_until("the writer holds the batch", || {
            self.gate.writes.load(SeqCst) > before
        });
        client
    }

    /// Triggers shutdown, waits for the reactor to end, and stops the writer.
    fn stop(self) {
        self.gate.set(false);
        self.shutdown.trigger();
        wait_until("the reactor ends", || self.reactor.is_finished());
        self.reactor
            .join()
            .unwrap()
            .expect("the reactor ran without error");
        self.service.finish().unwrap();
    }
}

/// Polls `done` every 10 ms for up to 10 s.
fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "timed out: {what}"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// While one connection's ingest waits for the writer, another connection is served; when
/// the writer moves on, the waiting one gets its `202`, then the answer to the request it
/// sent while waiting (which raised its only readiness event then: the loop must read again
/// by itself).
pub fn waiting_ingest_does_not_block_the_loop(running: Running) {
    let mut waiting = running.ingest_held();
    waiting.send(&get("/health")).unwrap();

    let mut other = Client::connect(running.addr).unwrap();
    let health = other.request(&get("/health")).unwrap();
    assert_eq!(health.status, 200, "{}", health.show());
    waiting
        .expect_open(Duration::from_millis(200))
        .expect("no answer while the writer holds the batch");

    running.gate.set(false);
    let accepted = waiting.read_response().unwrap();
    assert_eq!(accepted.status, 202, "{}", accepted.show());
    assert_eq!(accepted.body, br#"{"accepted":1}"#);
    let health = waiting.read_response().unwrap();
    assert_eq!(health.status, 200, "{}", health.show());
    running.stop();
}

/// Shutdown while an ingest waits: the loop stays up until the writer answers it, and the
/// answer is a `202` that closes the connection; the event is stored.
pub fn shutdown_finishes_a_waiting_ingest(running: Running) {
    let mut waiting = running.ingest_held();
    running.shutdown.trigger();
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        !running.reactor.is_finished(),
        "the reactor ended with a request in flight"
    );

    running.gate.set(false);
    let accepted = waiting.read_response().unwrap();
    assert_eq!(accepted.status, 202, "{}", accepted.show());
    assert!(accepted.closes(), "{}", accepted.show());
    waiting.expect_closed(Duration::from_secs(3)).unwrap();
    let stats = Arc::clone(running.service.stats());
    running.stop();
    assert_eq!(stats.events_stored.load(SeqCst), 1);
}
