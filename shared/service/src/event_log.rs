//! [`EventLog`]: the one writer thread that owns `DATA_DIR/events.ndjson` (SPEC.md, "Storage").
//!
//! Request handlers never touch the file. They hand a batch of canonical lines to
//! [`EventLog::append`], which queues it and returns; that hand-off is what `202` means today
//! (SPEC's `--ack queued`). The writer thread takes *everything* queued at once and writes it
//! with one `write` call (group commit): under load, one system call carries the batches of
//! many requests, so the disk path gets cheaper per request exactly when requests pile up.
//!
//! ```text
//!  handler ─┐                     ┌──────────────── writer thread ───────────────┐
//!  handler ─┼─► append ─► queue ─►│ take all ─► one write ─► events_stored       │
//!  handler ─┘   (bounded)         │ queue dry? linger 1 ms, then sleep           │
//!               refused while     │ write failed? keep the group, cut the file   │
//!               storage fails     │ back to its last whole line, retry each 1 s  │
//!                                 └──────────────────────────────────────────────┘
//! ```
//!
//! # When the disk fails
//!
//! A full disk (`ENOSPC`), a quota (`EDQUOT`), a file-size limit (`EFBIG`) or an I/O error
//! (`EIO`) makes a group's write fail, often after part of it went in. The writer then:
//!
//! 1. cuts the file back (`ftruncate`) to where the group started, so the file never holds a
//!    torn line, and keeps the group in memory;
//! 2. marks storage as failing: `storage_ok` turns false in `/stats`, `/health` answers `503`,
//!    and [`EventLog::append`] refuses new batches with [`StorageUnavailable`] (the service
//!    answers `503` with `Retry-After: 1`). Nothing new is queued, so memory stays bounded by
//!    the queue plus the one failed group;
//! 3. retries the group about once a second ([`RETRY_INTERVAL`]). When a retry succeeds the
//!    service recovers by itself: `storage_ok` is true again and nothing was lost.
//!
//! The cut-back assumes this writer is the only one appending to the file: one server per
//! data dir (two servers sharing one would each truncate what the other appended).
//!
//! Only what is still unwritten when the process stops is lost: [`EventLog::finish`] keeps
//! retrying for [`FINISH_RETRY_LIMIT`], then counts the events it gives up on in
//! `events_lost`, logs an error and returns it (the process exits 1). A writer thread that dies
//! (a bug) marks storage failed for good, the same way, and counts what it held as lost.
//!
//! # Start-up recovery
//!
//! [`EventLog::open`] appends; it never truncates a whole line. A file that does not end in a
//! newline (a crash tore the last write) has its tail moved to `events.ndjson.torn` first
//! ([`recover_torn_tail`]), so every line of the log is always one complete event.
//!
//! # Durability
//!
//! After each group write the bytes are in the kernel's page cache, so they survive the
//! process crashing but not the machine losing power. [`EventLog::finish`] `fsync`s. SPEC's
//! `--ack written` and `--ack synced` (a `202` only once the batch is written, or synced) are
//! not built yet.

use std::collections::VecDeque;
use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::Duration;

use crate::Stats;

mod recovery;
mod writer;
pub use recovery::recover_torn_tail;
use writer::Writer;

/// The file name inside the data dir.
pub const LOG_FILE: &str = "events.ndjson";
/// Most batches waiting for the writer before [`EventLog::append`] blocks.
pub const MAX_QUEUED_BATCHES: usize = 1024;
/// Most bytes waiting for the writer before [`EventLog::append`] blocks.
pub const MAX_QUEUED_BYTES: usize = 16 * 1024 * 1024;
/// How long the writer waits for more batches before it goes to sleep (see `run_writer`).
/// Accepted events reach the kernel at most this much later; `202` never waits for it.
pub const LINGER: Duration = Duration::from_millis(1);
/// How often the writer retries a group whose write failed (SPEC: about once a second).
pub const RETRY_INTERVAL: Duration = Duration::from_secs(1);
/// How long [`EventLog::finish`] keeps retrying a failed group before it gives up and counts
/// the events as lost: as long as a graceful shutdown lets requests finish, so a shutdown
/// while the disk is full still ends.
pub const FINISH_RETRY_LIMIT: Duration = Duration::from_secs(5);

/// Where the writer's bytes go: the log file itself, or, in tests, a wrapper around it that
/// fails on demand (a full disk is hard to arrange in a unit test).
///
/// The writer is the only user, from its own thread; the file is open with `O_APPEND`.
pub trait LogSink: Send {
    /// One `write(2)` at the end of the file: may write part of `buf`, or fail (`ENOSPC`,
    /// `EFBIG`, `EIO`...). (Not named `write`, which `File` already has from `io::Write`.)
    fn append(&mut self, buf: &[u8]) -> io::Result<usize>;
    /// `ftruncate(2)`: cuts the file back to `len` bytes, dropping a torn line.
    fn truncate(&mut self, len: u64) -> io::Result<()>;
    /// `fsync(2)`, at shutdown.
    fn sync(&mut self) -> io::Result<()>;
}

impl LogSink for File {
    fn append(&mut self, buf: &[u8]) -> io::Result<usize> {
        Write::write(self, buf)
    }

    fn truncate(&mut self, len: u64) -> io::Result<()> {
        self.set_len(len)
    }

    fn sync(&mut self) -> io::Result<()> {
        self.sync_all()
    }
}

/// The error [`EventLog::append`] returns while the log cannot be written: the service
/// answers `503` with `Retry-After: 1` (SPEC.md, "Storage"). Find it in an `io::Error`
/// with [`StorageUnavailable::of`].
#[derive(Debug, Clone)]
pub struct StorageUnavailable {
    /// Why the last write failed, as the OS said it (`No space left on device`).
    pub reason: String,
}

impl StorageUnavailable {
    /// The `StorageUnavailable` inside `e`, if `e` is one.
    pub fn of(e: &io::Error) -> Option<&StorageUnavailable> {
        e.get_ref()?.downcast_ref()
    }
}

impl std::fmt::Display for StorageUnavailable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "storage unavailable: {}", self.reason)
    }
}

impl std::error::Error for StorageUnavailable {}

/// The append-only event log and its writer thread. Shared by every handler (`&self`).
pub struct EventLog {
    /// The queue and its condition variables, shared with the writer thread.
    shared: Arc<Shared>,
    /// The writer thread, taken by the first [`EventLog::finish`].
    writer: Mutex<Option<JoinHandle<io::Result<()>>>>,
    /// The log file's path, for messages.
    path: PathBuf,
}

/// What handlers and the writer share.
struct Shared {
    queue: Mutex<Queue>,
    /// Signalled when the queue gets its first batch while the writer sleeps, or on close.
    not_empty: Condvar,
    /// Signalled when the writer empties a queue that an appender is waiting on, or when
    /// storage starts failing (waiting appenders then give up with `503`).
    not_full: Condvar,
    /// Where the writer counts `events_stored`, `events_lost` and `storage_ok`.
    stats: Arc<Stats>,
}

/// The queue proper. Everything in it is guarded by one mutex.
struct Queue {
    /// Batches of canonical lines with their event counts, oldest first.
    batches: VecDeque<(Vec<u8>, u64)>,
    /// Sum of the batches' lengths, for the byte bound.
    bytes: usize,
    /// The writer is (about to be) waiting on `not_empty`. Appenders notify only then.
    writer_asleep: bool,
    /// Appenders waiting on `not_full`. The writer notifies only when there are any.
    appenders_waiting: usize,
    /// [`EventLog::finish`] was called: the writer drains and exits, appends fail.
    closed: bool,
    /// Why the last write failed, while it has not succeeded since. Appends are refused
    /// meanwhile: an event the server may never store must not be acknowledged.
    failing: Option<String>,
}

impl EventLog {
    /// Creates `data_dir` if needed, recovers a torn last line ([`recover_torn_tail`]), opens
    /// `data_dir/events.ndjson` for appending (creating it, never truncating it: a restarted
    /// server appends), and starts the writer thread.
    pub fn open(data_dir: &Path, stats: Arc<Stats>) -> io::Result<EventLog> {
        EventLog::open_with_sink(data_dir, stats, |file| Box::new(file))
    }

    /// [`EventLog::open`], with every write, truncation and sync going through the sink
    /// `wrap` makes of the opened file: tests wrap it to inject `ENOSPC` and partial writes.
    pub fn open_with_sink(
        data_dir: &Path,
        stats: Arc<Stats>,
        wrap: impl FnOnce(File) -> Box<dyn LogSink>,
    ) -> io::Result<EventLog> {
        std::fs::create_dir_all(data_dir)?;
        let path = data_dir.join(LOG_FILE);
        recover_torn_tail(&path)?;
        // `append` makes every write land at the current end of file, which after a
        // truncation is the end of the last whole line.
        let file = OpenOptions::new().append(true).create(true).open(&path)?;
        let whole = file.metadata()?.len();
        let shared = Arc::new(Shared {
            queue: Mutex::new(Queue {
                batches: VecDeque::with_capacity(MAX_QUEUED_BATCHES),
                bytes: 0,
                writer_asleep: false,
                appenders_waiting: 0,
                closed: false,
                failing: None,
            }),
            not_empty: Condvar::new(),
            not_full: Condvar::new(),
            stats,
        });
        let writer = Writer {
            shared: Arc::clone(&shared),
            sink: wrap(file),
            whole,
            path: path.clone(),
        };
        let writer = std::thread::Builder::new()
            .name("event-log".into())
            .spawn(move || writer.run())?;
        Ok(EventLog {
            shared,
            writer: Mutex::new(Some(writer)),
            path,
        })
    }

    /// The log file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Queues `lines` (whole canonical lines holding `events` events) for the writer.
    ///
    /// Costs no system call in the common case: an uncontended mutex and, only when the writer
    /// is asleep, one wake-up. When the queue is full (the disk is slower than the clients),
    /// this **blocks** until the writer makes room. That is the right backpressure: the
    /// alternatives are unbounded memory or failing requests that the disk would have stored
    /// a moment later. For an event-loop thread it means a brief stall, bounded by the time
    /// the disk takes to write one group (at most 16 MiB), during which its other connections
    /// wait too.
    ///
    /// Fails (nothing is queued) while the last write failed, with a [`StorageUnavailable`]
    /// inside the error, and after [`EventLog::finish`].
    pub fn append(&self, lines: Vec<u8>, events: u64) -> io::Result<()> {
        let mut q = self.lock();
        // A batch larger than the byte bound still goes into an empty queue, or it never could.
        while !q.closed
            && q.failing.is_none()
            && (q.batches.len() >= MAX_QUEUED_BATCHES
                || (q.bytes > 0 && q.bytes + lines.len() > MAX_QUEUED_BYTES))
        {
            q.appenders_waiting += 1;
            q = self
                .shared
                .not_full
                .wait(q)
                .unwrap_or_else(|e| e.into_inner());
            q.appenders_waiting -= 1;
        }
        if q.closed {
            return Err(io::Error::other("the event log is closed"));
        }
        if let Some(reason) = &q.failing {
            return Err(io::Error::other(StorageUnavailable {
                reason: reason.clone(),
            }));
        }
        q.bytes += lines.len();
        q.batches.push_back((lines, events));
        // `Condvar::notify_one` makes a futex system call every time, waiter or not. Under
        // load the writer is busy writing, not waiting, so appenders skip the call; the
        // writer sets `writer_asleep` under this same mutex before it waits, so no batch can
        // slip in between its last look at the queue and its sleep.
        let wake = std::mem::replace(&mut q.writer_asleep, false);
        drop(q);
        if wake {
            self.shared.not_empty.notify_one();
        }
        Ok(())
    }

    /// Whether the last write succeeded (SPEC's `storage_ok`). Also in [`Stats`].
    pub fn storage_ok(&self) -> bool {
        self.lock().failing.is_none()
    }

    /// Drains the queue, `fsync`s the file and stops the writer. Idempotent: later calls
    /// return `Ok`. While storage is failing it retries for up to [`FINISH_RETRY_LIMIT`], then
    /// gives up: the events not written are counted in `events_lost` and the write error is
    /// returned, and the caller should exit non-zero.
    pub fn finish(&self) -> io::Result<()> {
        let Some(writer) = self.writer.lock().unwrap_or_else(|e| e.into_inner()).take() else {
            return Ok(());
        };
        self.lock().closed = true;
        self.shared.not_empty.notify_one();
        // Appenders blocked on a full queue must not wait forever: they will see `closed`.
        self.shared.not_full.notify_all();
        writer
            .join()
            .map_err(|_| io::Error::other("the event log writer thread panicked"))?
    }

    fn lock(&self) -> MutexGuard<'_, Queue> {
        self.shared.lock()
    }
}

impl Drop for EventLog {
    /// A log dropped without [`EventLog::finish`] (a test, an early error) still drains.
    fn drop(&mut self) {
        if let Err(e) = self.finish() {
            tracing::error!(path = %self.path.display(), error = %e, "event log not finished cleanly");
        }
    }
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Queue> {
        // A panic while holding this lock cannot leave the queue half-updated in a way that
        // matters (every update is a push or a swap), so a poisoned lock is still usable.
        self.queue.lock().unwrap_or_else(|e| e.into_inner())
    }
}
