//! Helpers shared by the storage and `--ack` tests: a disk that fills on demand, batches,
//! and requests run through the service as a loop would.
#![allow(dead_code)]

use std::fs::File;
use std::io::{self, Write};
use std::path::Path;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::atomic::{AtomicU64, AtomicUsize};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ingest_http::{Framing, Handler, Reply, RequestHead, Response, Version};
use ingest_service::event_log::LogSink;
use ingest_service::events::canonicalize;
use ingest_service::{EventLog, Service, Stats};

/// A log file with a size limit that tests move, like `RLIMIT_FSIZE`: a write that would
/// pass it writes up to the limit (a partial write), and a write at the limit fails with
/// `ENOSPC`. Truncation always works, as it does on a full disk.
pub struct LimitedFile {
    pub file: File,
    pub limit: Arc<AtomicU64>,
    /// Writes that stopped short of their buffer, so a test knows it exercised one.
    pub partial_writes: Arc<AtomicUsize>,
}

impl LogSink for LimitedFile {
    fn append(&mut self, buf: &[u8]) -> io::Result<usize> {
        let len = self.file.metadata()?.len();
        let room = self.limit.load(Relaxed).saturating_sub(len);
        if room == 0 {
            return Err(io::Error::from_raw_os_error(28)); // ENOSPC
        }
        let n = buf.len().min(usize::try_from(room).unwrap_or(usize::MAX));
        if n < buf.len() {
            self.partial_writes.fetch_add(1, Relaxed);
        }
        self.file.write(&buf[..n])
    }

    fn truncate(&mut self, len: u64) -> io::Result<()> {
        self.file.set_len(len)
    }

    fn sync(&mut self) -> io::Result<()> {
        self.file.sync_all()
    }
}

/// A limit that starts unlimited, and a counter of partial writes.
pub struct Disk {
    pub limit: Arc<AtomicU64>,
    pub partial_writes: Arc<AtomicUsize>,
}

impl Disk {
    pub fn new() -> Disk {
        Disk {
            limit: Arc::new(AtomicU64::new(u64::MAX)),
            partial_writes: Arc::new(AtomicUsize::new(0)),
        }
    }

    pub fn open(&self, dir: &Path, stats: Arc<Stats>) -> io::Result<EventLog> {
        let (limit, partial_writes) = (Arc::clone(&self.limit), Arc::clone(&self.partial_writes));
        EventLog::open_with_sink(dir, stats, move |file| {
            Box::new(LimitedFile {
                file,
                limit,
                partial_writes,
            })
        })
    }
}

pub fn batch(from: u64, n: u64) -> (Vec<u8>, u64) {
    let events: Vec<String> = (from..from + n)
        .map(|i| format!(r#"{{"name":"storage.test","value":{i},"ts":{i}}}"#))
        .collect();
    let batch = canonicalize(format!("[{}]", events.join(",")).as_bytes(), 0).unwrap();
    (batch.lines, batch.events)
}

/// Polls `done` every 10 ms for up to 5 s.
pub fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "timed out: {what}"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Every line of the log is a whole event and the file ends with a newline; returns them.
pub fn whole_lines(path: &Path) -> Vec<serde_json::Value> {
    let text = std::fs::read_to_string(path).unwrap();
    assert!(
        text.is_empty() || text.ends_with('\n'),
        "torn last line: {text:?}"
    );
    text.lines()
        .map(|line| serde_json::from_str(line).expect("a whole event per line"))
        .collect()
}

pub fn request(service: &Service, method: &str, path: &str, body: &[u8]) -> Response {
    let framing = if method == "POST" {
        Framing::Length(body.len() as u64)
    } else {
        Framing::None
    };
    let head = RequestHead {
        method,
        target: path,
        path,
        version: Version::Http11,
        headers: &[],
        framing,
        keep_alive: true,
        expect_continue: false,
    };
    service
        .on_head(&head)
        .unwrap_or_else(|| settle(service, service.on_request(&head, body)))
}

/// The final response to `reply`: a waiting one is polled (as a loop would, on each wake-up)
/// until the event log reports its batch's outcome.
pub fn settle(service: &Service, reply: Reply) -> Response {
    let mut pending = match reply {
        Reply::Now(response) => return response,
        Reply::Later(pending) => pending,
    };
    let give_up = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        if let Some(response) = service.poll_pending(&mut pending) {
            return response;
        }
        assert!(std::time::Instant::now() < give_up, "no answer in 10 s");
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
}

pub fn text(response: &Response) -> String {
    String::from_utf8_lossy(response.body.as_bytes()).into_owned()
}
