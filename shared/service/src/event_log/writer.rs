//! The writer thread: group commit, and what it does when a write fails (see the parent
//! module's "When the disk fails").

use std::collections::VecDeque;
use std::io;
use std::path::PathBuf;
use std::sync::atomic::Ordering::{Relaxed, SeqCst};
use std::sync::Arc;
use std::time::Instant;

use super::{Ack, LogSink, Shared, FINISH_RETRY_LIMIT, LINGER, MAX_QUEUED_BATCHES, RETRY_INTERVAL};

/// The most bytes of spaces a probe writes (see [`Writer::probe_until_writable`]).
const PROBE_MAX: usize = 64 * 1024;

/// The writer thread's state.
pub(super) struct Writer {
    pub(super) shared: Arc<Shared>,
    pub(super) sink: Box<dyn LogSink>,
    /// The file's length up to its last whole line: where a failed group is cut back to.
    pub(super) whole: u64,
    /// The log file's path, for messages.
    pub(super) path: PathBuf,
    /// When a batch is finished, and what a failed write means for it.
    pub(super) ack: Ack,
}

/// A group whose write failed, kept for the next retry.
struct Failed {
    bytes: Vec<u8>,
    events: u64,
    error: io::Error,
}

/// Marks storage as failed if the writer thread unwinds (a bug, or a sink that panics), so
/// that appends get `503` instead of queueing for a writer that is gone and then blocking on
/// a full queue forever; what was queued or being written is counted in `events_lost`.
struct PanicGuard {
    shared: Arc<Shared>,
    ack: Ack,
    /// Events of the group being written (taken from the queue, not yet stored).
    in_flight: u64,
}

impl Drop for PanicGuard {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            return;
        }
        let mut q = self.shared.lock();
        let queued: u64 = q.batches.drain(..).map(|(_, n)| n).sum();
        q.bytes = 0;
        let reason = "the event log writer thread stopped";
        q.failing = Some(reason.to_string());
        self.shared.stats.storage_ok.store(false, Relaxed);
        // Under `queued` these were acknowledged: lost. Otherwise their waiters get `503`.
        let lost = if self.ack == Ack::Queued {
            queued + self.in_flight
        } else {
            let first = self.shared.done.load(SeqCst) + 1;
            self.shared.refuse(&mut q, first, reason);
            0
        };
        self.shared.stats.events_lost.fetch_add(lost, Relaxed);
        self.shared.not_full.notify_all();
        drop(q);
        self.shared.progressed();
        tracing::error!(events_lost = lost, "the event log writer thread panicked");
    }
}

impl Writer {
    /// The writer thread's loop.
    pub(super) fn run(mut self) -> io::Result<()> {
        let mut guard = PanicGuard {
            shared: Arc::clone(&self.shared),
            ack: self.ack,
            in_flight: 0,
        };
        // Two deques swap roles: the writer takes the full one and leaves its empty one (same
        // capacity) behind, so taking the queue never allocates.
        let mut taken: VecDeque<(Vec<u8>, u64)> = VecDeque::with_capacity(MAX_QUEUED_BATCHES);
        // Reused to join a group's batches into one buffer for one `write` call. (`writev`
        // would save this copy; std's `write_all_vectored` is not stable, and a memcpy is
        // cheap next to the system call it saves.)
        let mut group: Vec<u8> = Vec::new();
        loop {
            let (closed, last, room_made) = {
                let mut q = self.shared.lock();
                if q.batches.is_empty() && !q.closed && self.ack == Ack::Queued {
                    // Linger before sleeping. Under load the next batch is a few microseconds
                    // away; if the writer slept now, the next append would pay a wake-up (a
                    // futex call, and a context switch when server and writer share a core),
                    // and the writer would write one request's batch per wake-up. Waiting a
                    // moment *without* setting `writer_asleep` lets appends queue up for
                    // free, so one wake-up and one `write` carry every request of that moment.
                    // Only under `queued`: under `written` and `synced` every `202` waits for
                    // the write, so a linger would add up to 1 ms to each of them. There the
                    // batches pile up while the writer writes (and syncs) the previous group,
                    // which is group commit without waiting on purpose.
                    q = self
                        .shared
                        .not_empty
                        .wait_timeout(q, LINGER)
                        .unwrap_or_else(|e| e.into_inner())
                        .0;
                }
                let mut slept = false;
                while q.batches.is_empty() && !q.closed {
                    // The queue ran dry. Nothing is buffered in this process (every group
                    // went to the kernel with `write`), so this is where a buffered writer
                    // would flush.
                    q.writer_asleep = true;
                    slept = true;
                    q = self
                        .shared
                        .not_empty
                        .wait(q)
                        .unwrap_or_else(|e| e.into_inner());
                }
                q.writer_asleep = false;
                if slept && self.ack != Ack::Queued && !q.closed {
                    // Woken by the first batch of a burst. On a server pinned to one core the
                    // scheduler likes to run a thread that just woke at once, before the
                    // event loop that woke it has queued the rest of its turn's batches: the
                    // writer would then write one batch a group, and every batch would cost
                    // a wake-up and two context switches. Yielding the core once lets the loop
                    // finish its turn first (the writer is marked awake, so those appends
                    // cost nothing), and the next group carries them all. With a free core
                    // the yield returns at once. (Under `queued` the linger does this job.)
                    drop(q);
                    std::thread::yield_now();
                    q = self.shared.lock();
                }
                std::mem::swap(&mut q.batches, &mut taken);
                q.bytes = 0;
                if q.appenders_waiting > 0 {
                    self.shared.not_full.notify_all();
                }
                let room_made = std::mem::take(&mut q.refused_full);
                (q.closed, q.next_ticket - 1, room_made)
            };
            if room_made {
                // Loops that found the queue full may hand their batches over now.
                self.shared.progressed();
            }
            // The tickets of this group: the queue's last `taken.len()`.
            let first = last + 1 - taken.len() as u64;

            let events: u64 = taken.iter().map(|(_, n)| n).sum();
            guard.in_flight = events;
            let result = if taken.is_empty() {
                Ok(())
            } else if taken.len() == 1 {
                self.commit(&taken[0].0)
            } else {
                group.clear();
                for (lines, _) in &taken {
                    group.extend_from_slice(lines);
                }
                self.commit(&group)
            };
            match result {
                Ok(()) => {
                    self.shared.stats.events_stored.fetch_add(events, Relaxed);
                    if self.ack != Ack::Queued {
                        // Written (and synced): their `202`s are due now, whether or not the
                        // clients are still there to read them.
                        self.shared.stats.events_accepted.fetch_add(events, Relaxed);
                    }
                    self.finished(last);
                }
                Err(error) if self.ack == Ack::Queued => {
                    let bytes = if taken.len() == 1 {
                        std::mem::take(&mut taken[0].0)
                    } else {
                        std::mem::take(&mut group)
                    };
                    taken.clear();
                    self.retry_until_written(
                        Failed {
                            bytes,
                            events,
                            error,
                        },
                        closed,
                    )?;
                    self.finished(last);
                }
                Err(error) => {
                    let probe = if taken.len() == 1 {
                        taken[0].0.len()
                    } else {
                        group.len()
                    };
                    taken.clear();
                    self.refuse_group(first, error);
                    self.probe_until_writable(probe)?;
                }
            }
            guard.in_flight = 0;
            taken.clear();
            // Don't let one 16 MiB burst pin 16 MiB for the life of the process.
            if group.capacity() > 1024 * 1024 {
                group = Vec::new();
            }

            if closed && self.shared.lock().batches.is_empty() {
                // Appends fail once `closed` is set. Batches queued before a failed write
                // that was then retried may still wait; the next turn of the loop takes them.
                self.sink.sync()?;
                return Ok(());
            }
        }
    }

    // ANCHOR: commit
    /// Writes one group (whole lines) and, under [`Ack::Synced`], `fdatasync`s it: one sync
    /// for every batch in the group. On an error the file is cut back to where the group
    /// started, so a failed group leaves nothing behind.
    fn commit(&mut self, buf: &[u8]) -> io::Result<()> {
        let start = self.whole;
        self.write_group(buf)?;
        if self.ack == Ack::Synced {
            self.shared.stats.fdatasyncs.fetch_add(1, Relaxed);
            if let Err(e) = self.sink.sync_data() {
                // After a failed sync the kernel may have dropped the dirty pages: nothing
                // in the group can be promised, so it goes, like a failed write.
                self.whole = start;
                return self.cut_back(e);
            }
        }
        Ok(())
    }
    // ANCHOR_END: commit

    /// Tickets up to `last` are written (and synced): their `202`s may go.
    fn finished(&self, last: u64) {
        self.shared.done.fetch_max(last, SeqCst);
        self.shared.progressed();
    }

    /// Under `written` and `synced`: the group from ticket `first` failed and was cut back.
    /// It and everything queued behind it are refused (`503`, never stored later), and new
    /// batches are refused until a probe succeeds.
    fn refuse_group(&mut self, first: u64, error: io::Error) {
        let reason = error.to_string();
        {
            let mut q = self.shared.lock();
            q.batches.clear();
            q.bytes = 0;
            q.failing = Some(reason.clone());
            self.shared.refuse(&mut q, first, &reason);
            self.shared.stats.storage_ok.store(false, Relaxed);
            self.shared.not_full.notify_all();
        }
        self.shared.progressed();
        // Logged after the state is set: stderr may be a file on the same failing disk.
        tracing::error!(path = %self.path.display(), error = %reason,
            "cannot write the event log; answering 503 and probing every second");
    }

    /// Under `written` and `synced`, after [`Writer::refuse_group`]: every [`RETRY_INTERVAL`]
    /// writes `len` bytes (at most [`PROBE_MAX`]) of spaces where the next group would go and
    /// cuts them back. When that works the disk has room again and batches are let in. The
    /// probe holds no newline: if the process dies between the write and the cut, start-up
    /// recovery moves it to `events.ndjson.torn` like any torn tail. Returns when writable,
    /// or at once when the log is closed (nothing acknowledged is waiting: it was refused).
    fn probe_until_writable(&mut self, len: usize) -> io::Result<()> {
        let probe = vec![b' '; len.clamp(1, PROBE_MAX)];
        let mut probes = 0u64;
        loop {
            if self.wait_retry_interval() {
                return Ok(());
            }
            probes += 1;
            let start = self.whole;
            let wrote = self
                .sink
                .truncate(start)
                .and_then(|()| self.write_group(&probe));
            let result = wrote.and_then(|()| {
                self.whole = start;
                self.sink.truncate(start)
            });
            self.whole = start;
            match result {
                Ok(()) => {
                    self.shared.lock().failing = None;
                    self.shared.stats.storage_ok.store(true, Relaxed);
                    self.shared.progressed();
                    tracing::warn!(path = %self.path.display(), probes,
                        "the event log is writable again; accepting events");
                    return Ok(());
                }
                Err(e) => {
                    tracing::debug!(error = %e, probes, "event log probe failed");
                    self.shared.lock().failing = Some(e.to_string());
                }
            }
        }
    }

    /// Waits out one [`RETRY_INTERVAL`] between tries at a failing disk, or less if the log
    /// is closed meanwhile (`finish` notifies `not_empty`, so a shutdown does not wait out
    /// the interval). Returns whether the log is closed.
    fn wait_retry_interval(&self) -> bool {
        let q = self.shared.lock();
        if q.closed {
            return true;
        }
        self.shared
            .not_empty
            .wait_timeout(q, RETRY_INTERVAL)
            .unwrap_or_else(|e| e.into_inner())
            .0
            .closed
    }

    /// Writes `buf` (whole lines) at the end of the file. On an error, cuts the file back to
    /// its last whole line first, so a partial write never leaves a torn line behind.
    fn write_group(&mut self, buf: &[u8]) -> io::Result<()> {
        let mut written = 0;
        while written < buf.len() {
            match self.sink.append(&buf[written..]) {
                Ok(0) => {
                    return self.cut_back(io::Error::new(
                        io::ErrorKind::WriteZero,
                        "the log file accepted no bytes",
                    ))
                }
                Ok(n) => written += n,
                // A signal arrived before anything was written: just try again.
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return self.cut_back(e),
            }
        }
        self.whole += buf.len() as u64;
        Ok(())
    }

    /// Truncates the file to its last whole line after a failed write, and returns `error`.
    fn cut_back(&mut self, error: io::Error) -> io::Result<()> {
        // Shrinking a file needs no free space and is allowed past RLIMIT_FSIZE, so this
        // usually works even when the write did not. If it fails too, the retry tries again
        // before writing, and start-up recovery handles what a crash leaves.
        if let Err(e) = self.sink.truncate(self.whole) {
            tracing::error!(path = %self.path.display(), error = %e, "cannot cut the event log back to its last whole line");
        }
        Err(error)
    }

    /// Keeps `failed` and retries it every [`RETRY_INTERVAL`] until it is written; appends are
    /// refused meanwhile. Once the log is closed, gives up after [`FINISH_RETRY_LIMIT`]: the
    /// group and whatever is still queued count as lost, and the error is returned.
    fn retry_until_written(&mut self, failed: Failed, mut closed: bool) -> io::Result<()> {
        let Failed {
            bytes,
            events,
            mut error,
        } = failed;
        let reason = error.to_string();
        {
            let mut q = self.shared.lock();
            q.failing = Some(reason.clone());
            self.shared.stats.storage_ok.store(false, Relaxed);
            // Appenders waiting for room would wait for a retry; let them answer 503 now.
            self.shared.not_full.notify_all();
        }
        // Logged after the state is set: stderr may be a file on the same failing disk.
        tracing::error!(path = %self.path.display(), error = %reason, events,
            "cannot write the event log; refusing new events with 503 and retrying every second");
        let mut give_up_at = closed.then(|| Instant::now() + FINISH_RETRY_LIMIT);
        let mut retries = 0u64;
        loop {
            closed |= self.wait_retry_interval();
            if closed && give_up_at.is_none() {
                give_up_at = Some(Instant::now() + FINISH_RETRY_LIMIT);
            }
            if give_up_at.is_some_and(|at| Instant::now() >= at) {
                return Err(self.give_up(events, error));
            }
            if closed {
                // Closing: no appends wake this thread any more, so pace the retries here.
                std::thread::sleep(RETRY_INTERVAL.min(FINISH_RETRY_LIMIT / 5));
            }
            retries += 1;
            // A cut-back that failed last time must succeed before anything is appended.
            let result = self
                .sink
                .truncate(self.whole)
                .and_then(|()| self.write_group(&bytes));
            match result {
                Ok(()) => {
                    self.shared.stats.events_stored.fetch_add(events, Relaxed);
                    self.shared.lock().failing = None;
                    self.shared.stats.storage_ok.store(true, Relaxed);
                    tracing::warn!(path = %self.path.display(), retries, events,
                        "the event log is writable again; nothing was lost");
                    return Ok(());
                }
                Err(e) => {
                    tracing::debug!(error = %e, retries, "event log retry failed");
                    self.shared.lock().failing = Some(e.to_string());
                    error = e;
                }
            }
        }
    }

    /// Counts the failed group and everything still queued as lost, and logs it.
    fn give_up(&mut self, events: u64, error: io::Error) -> io::Error {
        let queued: u64 = {
            let mut q = self.shared.lock();
            let queued = q.batches.iter().map(|(_, n)| n).sum();
            q.batches.clear();
            q.bytes = 0;
            queued
        };
        let lost = events + queued;
        self.shared.stats.events_lost.fetch_add(lost, Relaxed);
        tracing::error!(path = %self.path.display(), error = %error, events_lost = lost,
            "giving up on the event log at shutdown: acknowledged events were not written");
        error
    }
}
