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
//! # What a `202` waits for: `--ack`
//!
//! Every batch gets a number (its *ticket*) when it is queued. After each group the writer
//! publishes the highest ticket it has finished and wakes whoever asked ([`LogWatch`] for an
//! event loop, [`EventLog::wait_progress`] for a thread that may block), once per group, not
//! once per batch. [`Ack`] says when a batch counts as finished, so when its `202` goes out:
//!
//! - [`Ack::Queued`]: at once, when it is queued. A crash loses what was still queued.
//! - [`Ack::Written`] (the default): after the group's `write` returned. The bytes are in the
//!   kernel's page cache: a crash of the process loses nothing acknowledged, a power loss can.
//! - [`Ack::Synced`]: after the group's `write` *and* one `fdatasync` for the whole group
//!   (group commit: the more requests arrive together, the fewer syncs per event).
//!
//! Under `written` and `synced` a group whose write (or sync) fails is cut back out of the
//! file and every batch in it, and every batch queued behind it, is answered `503`: never
//! acknowledged, never stored later (the client retries). The writer then *probes* once a
//! second (it writes a line's worth of spaces with no newline where the next group would go,
//! and cuts it back) and lets batches in again when the probe succeeds. Under `queued` the
//! batches were already acknowledged, so the writer keeps the failed group and retries it
//! instead, as "When the disk fails" says.

use std::collections::VecDeque;
use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::SeqCst};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::Duration;

use crate::Stats;

mod recovery;
mod watch;
mod writer;
pub use recovery::recover_torn_tail;
pub use watch::LogWatch;
use watch::Watches;
use writer::Writer;

// ANCHOR: ack
/// What a `202` promises (SPEC.md, "Storage"): the `--ack` flag.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Ack {
    /// The batch was handed to the writer. A crash loses what was still queued.
    Queued,
    /// The batch was written to the file with `write(2)`. A crash of the process loses nothing
    /// acknowledged; a power loss can.
    #[default]
    Written,
    /// The batch was written and `fdatasync`ed, one sync per group. Nothing acknowledged is
    /// lost even on power loss.
    Synced,
}
// ANCHOR_END: ack

impl Ack {
    /// The mode's name, as `--ack` takes it and `/stats` shows it.
    pub fn as_str(self) -> &'static str {
        match self {
            Ack::Queued => "queued",
            Ack::Written => "written",
            Ack::Synced => "synced",
        }
    }
}

/// The file name inside the data dir.
pub const LOG_FILE: &str = "events.ndjson";
/// Most batches waiting for the writer: past it the queue is full ([`EventLog::try_append`]
/// refuses, [`EventLog::append`] blocks).
pub const MAX_QUEUED_BATCHES: usize = 1024;
/// Most bytes waiting for the writer before the queue is full.
pub const MAX_QUEUED_BYTES: usize = 16 * 1024 * 1024;
/// How long the writer waits for more batches before it goes to sleep, under `--ack queued`
/// only (see `Writer::run`). Accepted events reach the kernel at most this much later; `202`
/// never waits for it.
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
    /// `fdatasync(2)`: the data and what is needed to read it back (the file's length), not
    /// its timestamps; once per group under [`Ack::Synced`].
    fn sync_data(&mut self) -> io::Result<()> {
        self.sync()
    }
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

    fn sync_data(&mut self) -> io::Result<()> {
        File::sync_data(self)
    }
}

/// Why [`EventLog::try_append`] did not queue a batch.
#[derive(Debug)]
pub enum Refused {
    /// The queue is full: the disk is slower than the clients. Nothing was taken; try again
    /// when the log has moved on (a [`LogWatch`] wake-up, or [`EventLog::wait_progress`]).
    Full,
    /// The last write failed: answer `503`.
    Unavailable(StorageUnavailable),
    /// [`EventLog::finish`] was called.
    Closed,
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
    /// Every ticket up to this one is finished: written (and synced), or refused.
    done: AtomicU64,
    /// Set once any batch has been refused after queueing, so [`EventLog::outcome`] looks at
    /// `Queue::refused` only when there can be something in it.
    ever_refused: AtomicBool,
    /// Bumped each time tickets finish or the queue makes room: what waiters wait for.
    progress: AtomicU64,
    /// Signalled with `progress`, for threads in [`EventLog::wait_progress`].
    progressed: Condvar,
    /// The event loops' wake-ups.
    watches: Watches,
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
    /// The ticket the next batch gets. Tickets count from 1, so 0 means "none finished".
    next_ticket: u64,
    /// A `try_append` was refused for want of room: the writer reports progress when it
    /// takes the queue, so the refused can try again.
    refused_full: bool,
    /// Tickets refused after they were queued (`written`/`synced`: their group's write
    /// failed), as inclusive ranges with the reason, newest last. A few a failure, at most
    /// one failure a second; the oldest are dropped past [`REFUSED_KEPT`].
    refused: VecDeque<(u64, u64, String)>,
    /// Threads in [`EventLog::wait_progress`]: the writer signals `progressed` only then.
    blocked_waiters: usize,
}

/// How many refused ranges [`Queue::refused`] keeps. A waiter asks about its ticket within
/// milliseconds of its refusal; this many failures are at least this many seconds apart.
const REFUSED_KEPT: usize = 256;

impl EventLog {
    /// Creates `data_dir` if needed, recovers a torn last line ([`recover_torn_tail`]), opens
    /// `data_dir/events.ndjson` for appending (creating it, never truncating it: a restarted
    /// server appends), and starts the writer thread. The [`Ack`] mode is `stats.ack`, the
    /// one `/stats` reports, so the two cannot disagree.
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
                next_ticket: 1,
                refused_full: false,
                refused: VecDeque::new(),
                blocked_waiters: 0,
            }),
            not_empty: Condvar::new(),
            not_full: Condvar::new(),
            stats,
            done: AtomicU64::new(0),
            ever_refused: AtomicBool::new(false),
            progress: AtomicU64::new(0),
            progressed: Condvar::new(),
            watches: Watches::default(),
        });
        let writer = Writer {
            shared: Arc::clone(&shared),
            sink: wrap(file),
            whole,
            path: path.clone(),
            ack: shared.stats.ack,
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

    // ANCHOR: try_append
    /// Queues `lines` (whole canonical lines holding `events` events) for the writer and
    /// returns the batch's ticket; `lines` is left empty. Never blocks, so an event loop can
    /// call it: when the queue is full it refuses with [`Refused::Full`] and leaves `lines` as
    /// they were, and the caller stops reading that connection until the log moves on.
    ///
    /// Costs no system call in the common case: an uncontended mutex and, only when the writer
    /// is asleep, one wake-up.
    pub fn try_append(&self, lines: &mut Vec<u8>, events: u64) -> Result<u64, Refused> {
        let mut q = self.lock();
        if q.closed {
            return Err(Refused::Closed);
        }
        if let Some(reason) = &q.failing {
            return Err(Refused::Unavailable(StorageUnavailable {
                reason: reason.clone(),
            }));
        }
        if q.is_full(lines.len()) {
            q.refused_full = true;
            return Err(Refused::Full);
        }
        Ok(self.push(q, std::mem::take(lines), events))
    }
    // ANCHOR_END: try_append

    /// [`EventLog::try_append`] for a caller that may block (tests, benches): when the queue
    /// is full it waits for room. Fails while the last write failed, with a
    /// [`StorageUnavailable`] inside the error, and after [`EventLog::finish`].
    pub fn append(&self, lines: Vec<u8>, events: u64) -> io::Result<u64> {
        let mut q = self.lock();
        while !q.closed && q.failing.is_none() && q.is_full(lines.len()) {
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
        Ok(self.push(q, lines, events))
    }

    /// Queues a batch that fits, and wakes the writer if it sleeps.
    fn push(&self, mut q: MutexGuard<'_, Queue>, lines: Vec<u8>, events: u64) -> u64 {
        let ticket = q.next_ticket;
        q.next_ticket += 1;
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
        ticket
    }

    // ANCHOR: outcome
    /// What became of the batch with `ticket`: `None` while the writer has not finished it,
    /// `Ok` once it is written (and synced, under [`Ack::Synced`]), `Err` if its write failed
    /// and it was cut back out of the file (answer `503`; it will never be stored).
    pub fn outcome(&self, ticket: u64) -> Option<Result<(), StorageUnavailable>> {
        if ticket > self.shared.done.load(SeqCst) {
            return None;
        }
        if !self.shared.ever_refused.load(SeqCst) {
            return Some(Ok(()));
        }
        let q = self.lock();
        let refused = q
            .refused
            .iter()
            .rev()
            .find(|(lo, hi, _)| (*lo..=*hi).contains(&ticket));
        Some(match refused {
            Some((_, _, reason)) => Err(StorageUnavailable {
                reason: reason.clone(),
            }),
            None => Ok(()),
        })
    }
    // ANCHOR_END: outcome

    /// A wake-up for an event loop: `wake` is called (from the writer thread, so it must be
    /// quick and must not block: write an eventfd, wake a `mio::Waker`) after the writer
    /// finishes a group or makes room, whenever the loop has armed the watch. See
    /// [`LogWatch`].
    pub fn watch(&self, wake: impl Fn() + Send + Sync + 'static) -> LogWatch {
        LogWatch::new(Arc::clone(&self.shared), Box::new(wake))
    }

    /// How many times the writer has reported progress so far; pass it to
    /// [`EventLog::wait_progress`].
    pub fn progress(&self) -> u64 {
        self.shared.progress.load(SeqCst)
    }

    /// For a thread that may block (phases 1 and 2): waits until the writer reports progress
    /// after `seen` (tickets finished, or room in the queue), or the log is closed, and
    /// returns the new progress count. Read `seen` *before* looking at what you wait for.
    pub fn wait_progress(&self, seen: u64) -> u64 {
        let mut q = self.lock();
        while self.shared.progress.load(SeqCst) == seen && !q.closed {
            q.blocked_waiters += 1;
            q = self
                .shared
                .progressed
                .wait(q)
                .unwrap_or_else(|e| e.into_inner());
            q.blocked_waiters -= 1;
        }
        self.shared.progress.load(SeqCst)
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
        // Appenders blocked on a full queue, and threads waiting for progress, must not wait
        // forever: they will see `closed`.
        self.shared.not_full.notify_all();
        self.shared.progressed.notify_all();
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

    // ANCHOR: progressed
    /// The writer finished tickets or made room: tell every waiter, once. A blocked thread
    /// is signalled only if one waits; an event loop is woken only if it armed its watch.
    fn progressed(&self) {
        {
            let q = self.lock();
            self.progress.fetch_add(1, SeqCst);
            if q.blocked_waiters > 0 {
                self.progressed.notify_all();
            }
        }
        self.watches.wake_armed();
    }
    // ANCHOR_END: progressed

    /// Tickets `first..=last` will never be written (their group failed, or they were queued
    /// behind it): record why, mark them finished and tell the waiters. The caller holds `q`.
    fn refuse(&self, q: &mut Queue, first: u64, reason: &str) {
        let last = q.next_ticket - 1;
        if first <= last {
            if q.refused.len() == REFUSED_KEPT {
                q.refused.pop_front();
            }
            q.refused.push_back((first, last, reason.to_string()));
            self.ever_refused.store(true, SeqCst);
        }
        self.done.store(last, SeqCst);
    }
}

impl Queue {
    /// No room for a batch of `len` bytes. A batch larger than the byte bound still goes into
    /// an empty queue, or it never could.
    fn is_full(&self, len: usize) -> bool {
        self.batches.len() >= MAX_QUEUED_BATCHES
            || (self.bytes > 0 && self.bytes + len > MAX_QUEUED_BYTES)
    }
}
