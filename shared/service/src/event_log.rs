//! [`EventLog`]: the one writer thread that owns `DATA_DIR/events.ndjson` (SPEC.md, "Storage").
//!
//! Request handlers never touch the file. They hand a batch of canonical lines to
//! [`EventLog::append`], which queues it and returns; that hand-off is what `202` means. The
//! writer thread takes *everything* queued at once and writes it with one `write` call (group
//! commit): under load, one system call carries the batches of many requests, so the disk path
//! gets cheaper per request exactly when requests pile up.
//!
//! ```text
//!  handler ─┐                     ┌─────────────── writer thread ───────────────┐
//!  handler ─┼─► append ─► queue ─►│ take all ─► one write_all ─► events_stored  │
//!  handler ─┘   (bounded)         │ queue dry? linger 1 ms, then sleep           │
//!                                 └─────────────────────────────────────────────┘
//! ```
//!
//! Durability: after each group write the bytes are in the kernel's page cache, so they
//! survive the process crashing but not the machine losing power. [`EventLog::finish`]
//! `fsync`s. A production log would also `fsync` on a timer or per group, and say so in its
//! acknowledgement (a chapter on durability is planned).

use std::collections::VecDeque;
use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;

use crate::Stats;

/// The file name inside the data dir.
pub const LOG_FILE: &str = "events.ndjson";
/// Most batches waiting for the writer before [`EventLog::append`] blocks.
pub const MAX_QUEUED_BATCHES: usize = 1024;
/// Most bytes waiting for the writer before [`EventLog::append`] blocks.
pub const MAX_QUEUED_BYTES: usize = 16 * 1024 * 1024;
/// How long the writer waits for more batches before it goes to sleep (see `run_writer`).
/// Accepted events reach the kernel at most this much later; `202` never waits for it.
pub const LINGER: std::time::Duration = std::time::Duration::from_millis(1);

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
    /// Signalled when the writer empties a queue that an appender is waiting on.
    not_full: Condvar,
    /// Where the writer counts `events_stored`.
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
    /// The first write error. Once set, appends fail: an event the server cannot store must
    /// not be acknowledged.
    failed: Option<io::ErrorKind>,
}

impl EventLog {
    /// Creates `data_dir` if needed, opens `data_dir/events.ndjson` for appending (creating it,
    /// never truncating it: a restarted server appends), and starts the writer thread.
    pub fn open(data_dir: &Path, stats: Arc<Stats>) -> io::Result<EventLog> {
        std::fs::create_dir_all(data_dir)?;
        let path = data_dir.join(LOG_FILE);
        // `append` makes every write land at the current end of file, whatever else opens it.
        let file = OpenOptions::new().append(true).create(true).open(&path)?;
        let shared = Arc::new(Shared {
            queue: Mutex::new(Queue {
                batches: VecDeque::with_capacity(MAX_QUEUED_BATCHES),
                bytes: 0,
                writer_asleep: false,
                appenders_waiting: 0,
                closed: false,
                failed: None,
            }),
            not_empty: Condvar::new(),
            not_full: Condvar::new(),
            stats,
        });
        let writer_shared = Arc::clone(&shared);
        let writer_path = path.clone();
        let writer = std::thread::Builder::new()
            .name("event-log".into())
            .spawn(move || run_writer(&writer_shared, file, &writer_path))?;
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
    /// Fails (nothing is queued) after a write error or after [`EventLog::finish`].
    pub fn append(&self, lines: Vec<u8>, events: u64) -> io::Result<()> {
        let mut q = self.lock();
        // A batch larger than the byte bound still goes into an empty queue, or it never could.
        while !q.closed
            && q.failed.is_none()
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
        if let Some(kind) = q.failed {
            return Err(io::Error::new(
                kind,
                format!("the event log {} cannot be written", self.path.display()),
            ));
        }
        if q.closed {
            return Err(io::Error::other("the event log is closed"));
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

    /// Drains the queue, `fsync`s the file and stops the writer. Idempotent: later calls
    /// return `Ok`. Returns the first write error, if there was one: then some acknowledged
    /// events were lost, and the caller should exit non-zero.
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
        // A panic while holding this lock cannot leave the queue half-updated in a way that
        // matters (every update is a push or a swap), so a poisoned lock is still usable.
        self.shared.queue.lock().unwrap_or_else(|e| e.into_inner())
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

/// The writer thread's loop.
fn run_writer(shared: &Shared, mut file: File, path: &Path) -> io::Result<()> {
    // Two deques swap roles: the writer takes the full one and leaves its empty one (same
    // capacity) behind, so taking the queue never allocates.
    let mut taken: VecDeque<(Vec<u8>, u64)> = VecDeque::with_capacity(MAX_QUEUED_BATCHES);
    // Reused to join a group's batches into one buffer for one `write` call. (`writev` would
    // save this copy; std's `write_all_vectored` is not stable, and a memcpy is cheap next to
    // the system call it saves.)
    let mut group: Vec<u8> = Vec::new();
    let mut first_error: Option<io::Error> = None;
    loop {
        let closed = {
            let mut q = shared.queue.lock().unwrap_or_else(|e| e.into_inner());
            if q.batches.is_empty() && !q.closed {
                // Linger before sleeping. Under load the next batch is a few microseconds
                // away; if the writer slept now, the next append would pay a wake-up (a
                // futex call, and a context switch when server and writer share a core), and
                // the writer would write one request's batch per wake-up. Waiting a moment
                // *without* setting `writer_asleep` lets appends queue up for free, so one
                // wake-up and one `write` carry every request of that moment.
                q = shared
                    .not_empty
                    .wait_timeout(q, LINGER)
                    .unwrap_or_else(|e| e.into_inner())
                    .0;
            }
            while q.batches.is_empty() && !q.closed {
                // The queue ran dry. Nothing is buffered in this process (every group went
                // to the kernel with `write`), so this is where a buffered writer would flush.
                q.writer_asleep = true;
                q = shared.not_empty.wait(q).unwrap_or_else(|e| e.into_inner());
            }
            q.writer_asleep = false;
            std::mem::swap(&mut q.batches, &mut taken);
            q.bytes = 0;
            if let Some(e) = &first_error {
                q.failed = Some(e.kind());
            }
            if q.appenders_waiting > 0 {
                shared.not_full.notify_all();
            }
            q.closed
        };

        let events: u64 = taken.iter().map(|(_, n)| n).sum();
        if first_error.is_some() {
            // Already failed: these batches were acknowledged before appends started to fail.
            tracing::error!(events, "event log failed earlier: dropping queued events");
        } else {
            let result = if taken.len() == 1 {
                file.write_all(&taken[0].0)
            } else {
                group.clear();
                for (lines, _) in &taken {
                    group.extend_from_slice(lines);
                }
                file.write_all(&group)
            };
            match result {
                Ok(()) => {
                    shared.stats.events_stored.fetch_add(events, Relaxed);
                }
                Err(e) => {
                    // Keep the error: later appends fail (no more `202`s for events that
                    // cannot be stored), `finish` reports it and the process exits 1.
                    // Retrying could write a partial group twice; a real log would truncate
                    // back to the last whole line and retry, or fail over.
                    tracing::error!(path = %path.display(), error = %e, events, "cannot write the event log");
                    let mut q = shared.queue.lock().unwrap_or_else(|e| e.into_inner());
                    q.failed = Some(e.kind());
                    shared.not_full.notify_all();
                    first_error = Some(e);
                }
            }
        }
        taken.clear();
        // Don't let one 16 MiB burst pin 16 MiB for the life of the process.
        if group.capacity() > 1024 * 1024 {
            group = Vec::new();
        }

        if closed {
            // Appends fail once `closed` is set, so this last take left the queue empty.
            if let Some(e) = first_error {
                return Err(e);
            }
            file.flush()?;
            file.sync_all()?;
            return Ok(());
        }
    }
}
