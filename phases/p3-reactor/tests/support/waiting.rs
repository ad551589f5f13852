//! A reactor whose event log writer stops on command, to check what the loop does while a
//! request waits for it (`--ack written`). Shared by phase 3's and phase 4's `tests/waiting.rs`
//! (phase 4 includes this file by path): the twins are checked by the same code.
//!
//! The writer is held inside its `write` by a [`Gate`] (a disk that stalls on command), so
//! an ingest waits for as long as a test likes, without timing luck.

use std::io;
use std::net::{SocketAddr, TcpListener};
use std::sync::atomic::Ordering::SeqCst;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use conformance::client::Client;
use conformance::support::{event, get, post_ingest};
use ingest_service::event_log::gate::Gate;
use ingest_service::event_log::Ack;
use ingest_service::{Config, Service, Shutdown};

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
    let gate = Gate::closed();
    let service = Service::open_with("waiting-test", &config, gate.event_log()).unwrap();
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
        self.gate.close();
        let mut client = Client::connect(self.addr).unwrap();
        client.send(&post_ingest(&event(1))).unwrap();
        self.gate.wait_reached();
        client
    }

    /// Triggers shutdown, waits for the reactor to end, and stops the writer.
    fn stop(self) {
        self.gate.open();
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

    running.gate.open();
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

    running.gate.open();
    let accepted = waiting.read_response().unwrap();
    assert_eq!(accepted.status, 202, "{}", accepted.show());
    assert!(accepted.closes(), "{}", accepted.show());
    waiting.expect_closed(Duration::from_secs(3)).unwrap();
    let stats = Arc::clone(running.service.stats());
    running.stop();
    assert_eq!(stats.events_stored.load(SeqCst), 1);
}
