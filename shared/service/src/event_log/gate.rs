//! A disk that stalls on command, for tests of the phases and of this crate: [`Gate`] holds
//! the event log's writer inside its `write` until the test opens it, the way a slow disk
//! would, so a request that waits for the writer (`--ack written`) waits for exactly as long
//! as the test likes, without timing luck.
//!
//! It is public, not `#[cfg(test)]`, because the phases' tests need it too (a crate's
//! `cfg(test)` items are invisible to other crates), and a separate test-support crate would
//! be one more crate to build and name for a few dozen lines. Nothing in a server uses it.
//!
//! ```no_run
//! # use ingest_service::{event_log::gate::Gate, Config, Service};
//! let gate = Gate::closed();
//! let service = Service::open_with("test", &Config::default(), gate.event_log()).unwrap();
//! // ... send an ingest, then:
//! gate.wait_reached(); // the writer holds the batch: its request waits
//! gate.open(); // the write goes through and the request is answered
//! ```

use std::fs::File;
use std::io::{self, Write};
use std::path::Path;
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use super::{EventLog, LogSink};
use crate::Stats;

/// How long [`Gate::wait_reached`] waits before it fails the test: far longer than a writer
/// needs on a loaded machine, short enough that a broken test ends rather than hangs.
const REACH_TIMEOUT: Duration = Duration::from_secs(10);

/// Closed: every write of the log waits at it until [`Gate::open`]. Can be closed and opened
/// again any number of times.
#[derive(Debug)]
pub struct Gate {
    state: Mutex<State>,
    /// Notified whenever the gate opens or a writer arrives at it.
    changed: Condvar,
}

#[derive(Debug)]
struct State {
    open: bool,
    /// Writes waiting at the closed gate right now (the writer is one thread, so 0 or 1).
    held: usize,
}

impl Gate {
    /// A gate that starts closed: the log's first write waits.
    pub fn closed() -> Arc<Gate> {
        Arc::new(Gate {
            state: Mutex::new(State {
                open: false,
                held: 0,
            }),
            changed: Condvar::new(),
        })
    }

    /// Lets the held write, and every later one, through.
    pub fn open(&self) {
        self.state.lock().unwrap().open = true;
        self.changed.notify_all();
    }

    /// Holds the next write (one already past the gate is not called back).
    pub fn close(&self) {
        self.state.lock().unwrap().open = false;
    }

    /// Waits until the writer is held at the closed gate, so the batch it carries is neither
    /// written nor answered. Panics after 10 s: the write the test expected never came.
    pub fn wait_reached(&self) {
        let state = self.state.lock().unwrap();
        let (_state, waited) = self
            .changed
            .wait_timeout_while(state, REACH_TIMEOUT, |s| s.held == 0)
            .unwrap();
        assert!(
            !waited.timed_out(),
            "the event log's writer did not reach the closed gate within {REACH_TIMEOUT:?}"
        );
    }

    /// What [`EventLog::open_with_sink`] takes: the log file, behind this gate.
    pub fn sink(self: &Arc<Self>) -> impl FnOnce(File) -> Box<dyn LogSink> {
        let gate = Arc::clone(self);
        move |file| Box::new(GatedFile { file, gate })
    }

    /// What [`Service::open_with`](crate::Service::open_with) takes: an event log whose file
    /// is behind this gate.
    pub fn event_log(
        self: &Arc<Self>,
    ) -> impl FnOnce(&Path, Arc<Stats>) -> io::Result<EventLog> + Send + 'static {
        let sink = self.sink();
        move |dir: &Path, stats: Arc<Stats>| EventLog::open_with_sink(dir, stats, sink)
    }

    /// The writer's side: waits here while the gate is closed.
    fn pass(&self) {
        let mut state = self.state.lock().unwrap();
        if !state.open {
            state.held += 1;
            self.changed.notify_all();
            state = self.changed.wait_while(state, |s| !s.open).unwrap();
            state.held -= 1;
        }
    }
}

/// The log file behind a [`Gate`]: each write passes the gate first.
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

    fn sync_data(&mut self) -> io::Result<()> {
        self.file.sync_data()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::Ordering::SeqCst;

    use super::*;
    use crate::event_log::{Ack, LOG_FILE};

    /// A closed gate holds the write (nothing reaches the file) until it opens, and holds the
    /// next write again once closed again.
    #[test]
    fn holds_each_write_while_closed() {
        let dir = tempfile::tempdir().unwrap();
        let stats = Arc::new(Stats::new("test", Ack::Written));
        let gate = Gate::closed();
        let log = EventLog::open_with_sink(dir.path(), Arc::clone(&stats), gate.sink()).unwrap();
        let path = dir.path().join(LOG_FILE);
        for round in 1..=2u64 {
            let ticket = log.append(b"{}\n".to_vec(), 1).unwrap();
            gate.wait_reached();
            std::thread::sleep(Duration::from_millis(50));
            assert!(
                log.outcome(ticket).is_none(),
                "written through a closed gate"
            );
            assert_eq!(std::fs::metadata(&path).unwrap().len(), 3 * (round - 1));
            gate.open();
            let start = std::time::Instant::now();
            while log.outcome(ticket).is_none() {
                assert!(
                    start.elapsed() < REACH_TIMEOUT,
                    "the open gate held the write"
                );
                std::thread::sleep(Duration::from_millis(1));
            }
            assert_eq!(stats.events_stored.load(SeqCst), round);
            gate.close();
        }
        gate.open();
        log.finish().unwrap();
    }
}
