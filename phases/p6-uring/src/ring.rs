//! The ring: how submissions reach the kernel and how the loop waits for completions.
//!
//! An io_uring instance is two queues in memory shared with the kernel: the submission queue
//! (SQ), where we write operations, and the completion queue (CQ), where the kernel writes
//! results. Writing to the SQ costs no system call; `io_uring_enter` tells the kernel how many
//! new entries there are and, in the same call, waits until at least one completion is there
//! or a timeout passes. One call per loop turn does both, for every connection at once.

use std::io;
use std::time::Duration;

use io_uring::types::{SubmitArgs, Timespec};
use io_uring::{cqueue, opcode, squeue, IoUring};

// ANCHOR: sizes
/// Submission queue entries (64 bytes each). A loop turn handles a batch of completions and
/// each adds at most two submissions (a send and a receive, or two cancellations), so 2,048
/// entries hold what a turn of 1,000 busy connections produces. When a turn produces more
/// (a burst of timers, tens of thousands of connections), the entries that do not fit wait
/// in `overflow`, in order, and go in at the start of the next turn with one extra
/// `io_uring_enter` per full queue: nothing is dropped, nothing blocks.
const SQ_ENTRIES: u32 = 2048;

/// Completion queue entries (16 bytes each). Every pending receive can complete between two
/// turns, so the CQ can overflow when connections outnumber it; since Linux 5.5 the kernel
/// then keeps the extra completions in a list of its own (`IORING_FEAT_NODROP`) and hands
/// them over on later calls. Four times the SQ keeps that rare.
const CQ_ENTRIES: u32 = 4 * SQ_ENTRIES;
// ANCHOR_END: sizes

/// An io_uring instance and the submissions waiting for room in its SQ.
pub struct Ring {
    ring: IoUring,
    /// Submissions that did not fit in the SQ this turn, oldest first.
    overflow: Vec<squeue::Entry>,
}

impl Ring {
    /// Sets up a ring for the calling thread, which must be the only one to submit to it.
    pub fn new() -> io::Result<Ring> {
        let ring = IoUring::builder()
            .setup_cqsize(CQ_ENTRIES)
            // Only this thread submits, so the kernel may skip its locking (Linux 6.0)...
            .setup_single_issuer()
            // ...and may run the completion work for our sockets when we call
            // `io_uring_enter`, in one batch, instead of interrupting us as each packet
            // arrives (Linux 6.1).
            .setup_defer_taskrun()
            .build(SQ_ENTRIES)?;
        Ok(Ring {
            ring,
            overflow: Vec::new(),
        })
    }

    /// The io-uring crate's handle, for registrations.
    pub fn io_uring(&self) -> &IoUring {
        &self.ring
    }

    // ANCHOR: push
    /// Queues a submission; it reaches the kernel with the next [`Ring::submit_and_wait`].
    ///
    /// # Safety
    ///
    /// Every buffer the entry points to must stay valid, and unmoved, until its completion
    /// arrives: the kernel reads or writes it whenever the operation runs, which may be long
    /// after this call and after the next `submit_and_wait`.
    pub unsafe fn push(&mut self, entry: squeue::Entry) {
        if !self.overflow.is_empty() {
            // Keep the order: nothing may overtake what already waits.
            self.overflow.push(entry);
            return;
        }
        // SAFETY: the caller vouches for the entry's buffers.
        if unsafe { self.ring.submission().push(&entry) }.is_err() {
            // The SQ is full: see `SQ_ENTRIES`.
            self.overflow.push(entry);
        }
    }
    // ANCHOR_END: push

    // ANCHOR: submit_and_wait
    /// Hands every queued submission to the kernel and waits until at least one completion
    /// is there, or `timeout` passes (`None`: no limit). One system call in the common case.
    ///
    /// The timeout goes into the same call (`IORING_ENTER_EXT_ARG`, Linux 5.11) rather than
    /// being submitted as an `IORING_OP_TIMEOUT`: the deadline moves on almost every turn,
    /// and a timeout operation would have to be removed and submitted again each time, each
    /// with a completion of its own to handle.
    pub fn submit_and_wait(&mut self, timeout: Option<Duration>) -> io::Result<()> {
        self.flush_overflow()?;
        let result = match timeout {
            Some(timeout) => {
                let timespec = Timespec::from(timeout);
                let args = SubmitArgs::new().timespec(&timespec);
                self.ring.submitter().submit_with_args(1, &args)
            }
            None => self.ring.submit_and_wait(1),
        };
        match result {
            Ok(_) => Ok(()),
            Err(e) => match e.raw_os_error() {
                // ETIME: the timeout passed with no completion (the submissions went in).
                // EINTR: a signal interrupted the wait; the eventfd tells us if it matters.
                // EBUSY: completions the CQ could not hold are waiting in the kernel; take
                // the ones we have, which makes room.
                Some(libc::ETIME | libc::EINTR | libc::EBUSY) => Ok(()),
                _ => Err(e),
            },
        }
    }
    // ANCHOR_END: submit_and_wait

    /// Moves what waits in `overflow` into the SQ, submitting each time it fills.
    fn flush_overflow(&mut self) -> io::Result<()> {
        let mut waiting = std::mem::take(&mut self.overflow).into_iter().peekable();
        while let Some(entry) = waiting.peek() {
            // SAFETY: these entries were queued through `push`, whose callers vouched for
            // their buffers.
            if unsafe { self.ring.submission().push(entry) }.is_ok() {
                waiting.next();
            } else {
                match self.ring.submit() {
                    Ok(_) => {}
                    Err(e) if e.raw_os_error() == Some(libc::EINTR) => {}
                    Err(e) => {
                        self.overflow.extend(waiting);
                        return Err(e);
                    }
                }
            }
        }
        Ok(())
    }

    /// Moves every completion available now into `batch` (which the caller empties).
    pub fn take_completions(&mut self, batch: &mut Vec<cqueue::Entry>) {
        batch.extend(self.ring.completion());
    }
}

/// Can this kernel run this phase? Sets up a ring with the same flags, asks which opcodes it
/// knows, and registers a provided-buffer ring (the newest feature used, Linux 5.19).
pub fn probe() -> Result<(), String> {
    let ring = Ring::new().map_err(|e| format!("cannot set up a ring: {}", describe(&e)))?;
    let mut probe = io_uring::Probe::new();
    ring.ring
        .submitter()
        .register_probe(&mut probe)
        .map_err(|e| format!("cannot probe the ring: {}", describe(&e)))?;
    for (code, name) in [
        (opcode::AcceptMulti::CODE, "accept"),
        (opcode::Recv::CODE, "recv"),
        (opcode::Send::CODE, "send"),
        (opcode::Read::CODE, "read"),
        (opcode::AsyncCancel::CODE, "async cancel"),
    ] {
        if !probe.is_supported(code) {
            return Err(format!("the kernel does not support the {name} operation"));
        }
    }
    let pool = crate::buf_ring::BufRing::new(&ring.ring)
        .map_err(|e| format!("cannot register provided buffers: {}", describe(&e)))?;
    pool.release(&ring.ring);
    Ok(())
}

/// An error with its errno name, so the one line on stderr says which case it is.
fn describe(e: &io::Error) -> String {
    let name = match e.raw_os_error() {
        Some(libc::ENOSYS) => " (ENOSYS: this kernel has no io_uring)",
        Some(libc::EPERM) => {
            " (EPERM: io_uring is disabled by /proc/sys/kernel/io_uring_disabled or a seccomp filter)"
        }
        Some(libc::EINVAL) => " (EINVAL: the kernel is too old for a flag or an operation)",
        _ => "",
    };
    format!("{}{name}", ingest_service::host::run::describe(e))
}
