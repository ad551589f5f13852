//! macOS and the BSDs: `kqueue`.
//!
//! Two system calls make the whole API: `kqueue` makes a queue (a file descriptor), and
//! `kevent` does everything else: it takes a list of *changes* (add, delete a filter on a
//! descriptor) and a buffer for *events*, applies the changes, then sleeps until events
//! arrive. A filter watches one thing: `EVFILT_READ` and `EVFILT_WRITE` are separate
//! registrations of the same descriptor, so one socket can yield two events in one wait.
//! Each registration carries a pointer-sized `udata` of our own: the [`Token`].
//!
//! `EV_CLEAR` makes a filter edge-triggered, like `EPOLLET`: after it fires, its state resets
//! until something changes again. The rule is the same as with epoll: after an event, read
//! (or write) until `EAGAIN`.
//!
//! Because `kevent` takes changes and waits in one call, a kqueue server *can* batch: queue
//! the registrations made while handling one round of events and let them ride along with
//! the next wait, saving a system call each. This selector does not. A batched change that
//! fails comes back at the next wait as an event with `EV_ERROR` set, away from the code that
//! made it: the connection would sit in the slab, registered for nothing, until a deadline
//! closed it. So each change is applied at once, with `EV_RECEIPT` (as mio does): the call
//! that causes an error returns it, and the reactor closes the connection there and then. It
//! costs what `epoll_ctl` costs on Linux, one system call per change, and the reactor only
//! changes a registration when a connection's write interest flips.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::time::Duration;

use super::Events;
use crate::poll::{Event, Interest, Token};

/// The OS event as the kernel writes it (also the type of a change).
pub type RawEvent = libc::kevent;

/// A kqueue instance. Closing it (dropping the `OwnedFd`) removes every registration.
pub struct Selector {
    kq: OwnedFd,
}

/// Builds one `struct kevent`. A macro, not a function, because the field types differ
/// between the BSDs (`filter` is `i16` on macOS and FreeBSD, `u32` on NetBSD; `udata` is a
/// pointer on most, an integer on NetBSD), and `as _` lets each OS pick its own.
macro_rules! kevent {
    ($fd:expr, $filter:expr, $flags:expr, $token:expr) => {{
        // SAFETY: `struct kevent` is plain integers and a pointer; all zeroes is a valid
        // value (FreeBSD's extra `ext` fields must be zero for these filters anyway).
        let mut ev: libc::kevent = unsafe { std::mem::zeroed() };
        ev.ident = $fd as _; // the descriptor the filter watches (EVFILT_USER: any number)
        ev.filter = $filter as _; // EVFILT_READ, EVFILT_WRITE or EVFILT_USER
        ev.flags = $flags as _; // EV_ADD, EV_DELETE, EV_CLEAR, EV_RECEIPT, EV_ONESHOT
        ev.udata = $token as _; // ours, handed back with each event
        ev
    }};
}

impl Selector {
    /// Creates the kqueue.
    pub fn new() -> io::Result<Selector> {
        // SAFETY: no arguments; the kernel either returns a new descriptor or -1.
        let kq = syscall!(unsafe { libc::kqueue() })?;
        // SAFETY: `kq` is a descriptor we just received and nobody else owns.
        let kq = unsafe { OwnedFd::from_raw_fd(kq) };
        // kqueue() has no CLOEXEC flag (kqueues are not inherited by fork() anyway, but
        // exec after vfork/posix_spawn would keep the descriptor open without this).
        // SAFETY: F_SETFD with FD_CLOEXEC on a descriptor we own; no pointers.
        syscall!(unsafe { libc::fcntl(kq.as_raw_fd(), libc::F_SETFD, libc::FD_CLOEXEC) })?;
        Ok(Selector { kq })
    }

    /// Waits for events; see [`crate::poll::Poll::poll`]. Carries no changes: every change
    /// was applied when it was made.
    pub fn select(&self, events: &mut Events, timeout: Option<Duration>) -> io::Result<()> {
        let timespec = timeout.map(|d| libc::timespec {
            tv_sec: d.as_secs().min(libc::time_t::MAX as u64) as libc::time_t,
            tv_nsec: d.subsec_nanos() as _,
        });
        let timespec_ptr = timespec
            .as_ref()
            .map_or(std::ptr::null(), |t| t as *const libc::timespec);
        events.list.clear();
        let n = syscall!(
            // SAFETY: an empty changelist (null, 0) is allowed; the kernel writes at most
            // `capacity()` events into the spare capacity of `events.list`; `timespec_ptr`
            // is null or points to `timespec`, alive here.
            unsafe {
                libc::kevent(
                    self.kq.as_raw_fd(),
                    std::ptr::null(), // changelist: none, see the module documentation
                    0,
                    events.list.as_mut_ptr(), // eventlist: filled with what fired
                    events.list.capacity() as _,
                    timespec_ptr, // null: wait without limit
                )
            }
        )?;
        // SAFETY: `kevent` initialised exactly `n` (<= capacity) events.
        unsafe { events.list.set_len(n as usize) };
        Ok(())
    }

    /// Adds the filters for `interest`, edge-triggered (`EV_CLEAR`), now.
    pub fn register(&self, fd: RawFd, token: Token, interest: Interest) -> io::Result<()> {
        let flags = libc::EV_ADD | libc::EV_CLEAR | libc::EV_RECEIPT;
        let read = kevent!(fd, libc::EVFILT_READ, flags, token.0);
        let write = kevent!(fd, libc::EVFILT_WRITE, flags, token.0);
        // EPIPE: macOS may refuse a write filter on a socket or pipe whose other end is
        // closed; the read filter still reports the hang-up (mio ignores EPIPE here too).
        match (interest.is_readable(), interest.is_writable()) {
            (true, true) => self.apply(&[read, write], &[libc::EPIPE]),
            (true, false) => self.apply(&[read], &[libc::EPIPE]),
            _ => self.apply(&[write], &[libc::EPIPE]),
        }
    }

    /// Adds the filters `interest` wants and deletes the others, now. Re-adding a filter
    /// re-arms it: if the descriptor is ready right now, the next wait reports it.
    pub fn reregister(&self, fd: RawFd, token: Token, interest: Interest) -> io::Result<()> {
        let add = libc::EV_ADD | libc::EV_CLEAR | libc::EV_RECEIPT;
        let delete = libc::EV_DELETE | libc::EV_RECEIPT;
        let read = if interest.is_readable() { add } else { delete };
        let write = if interest.is_writable() { add } else { delete };
        // ENOENT: deleting a filter that was not there (no write interest before).
        self.apply(
            &[
                kevent!(fd, libc::EVFILT_READ, read, token.0),
                kevent!(fd, libc::EVFILT_WRITE, write, token.0),
            ],
            &[libc::ENOENT, libc::EPIPE],
        )
    }

    /// Deletes both filters. The caller usually closes the descriptor right after, and its
    /// number may be reused by the next `accept`.
    pub fn deregister(&self, fd: RawFd) -> io::Result<()> {
        let flags = libc::EV_DELETE | libc::EV_RECEIPT;
        // ENOENT: that filter was not registered (e.g. no write interest).
        self.apply(
            &[
                kevent!(fd, libc::EVFILT_READ, flags, 0usize),
                kevent!(fd, libc::EVFILT_WRITE, flags, 0usize),
            ],
            &[libc::ENOENT],
        )
    }

    /// Applies `changes` (at most two, each flagged `EV_RECEIPT`) at once and returns the
    /// first error whose errno is not in `ignore`.
    ///
    /// `EV_RECEIPT` makes the kernel answer each change with a receipt in the eventlist
    /// (`EV_ERROR` set, `data` = errno, or 0 for success) instead of stopping at the first
    /// failure, and makes `kevent` return without collecting any event: none is lost here.
    fn apply(&self, changes: &[RawEvent], ignore: &[i32]) -> io::Result<()> {
        // SAFETY: all zeroes is a valid `struct kevent` (plain integers and a pointer).
        let mut receipts: [RawEvent; 2] = unsafe { std::mem::zeroed() };
        let receipts = &mut receipts[..changes.len()];
        let no_wait = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        let n = match syscall!(
            // SAFETY: both slices are valid for the lengths passed and live across the call.
            unsafe {
                libc::kevent(
                    self.kq.as_raw_fd(),
                    changes.as_ptr(),
                    changes.len() as _,
                    receipts.as_mut_ptr(),
                    receipts.len() as _,
                    &no_wait,
                )
            }
        ) {
            Ok(n) => n as usize,
            // The kernel applies the changelist before it could sleep, so a signal means the
            // changes are in; the receipts are lost, as they are for mio, which does the same.
            Err(e) if e.kind() == io::ErrorKind::Interrupted => 0,
            Err(e) => return Err(e),
        };
        for receipt in &receipts[..n] {
            let errno = error_code(receipt);
            if receipt.flags & libc::EV_ERROR != 0 && errno != 0 && !ignore.contains(&errno) {
                return Err(io::Error::from_raw_os_error(errno));
            }
        }
        Ok(())
    }
}

// ANCHOR: waker
/// Wakes the kqueue from another thread: a user event (`EVFILT_USER`), which no descriptor
/// raises, only a `kevent` call with `NOTE_TRIGGER`. No extra descriptor is needed, unlike
/// epoll's eventfd: the waker holds a duplicate of the kqueue's own.
// NB: the flags are mio's (`sys/unix/selector/kqueue.rs`, `setup_waker` and `wake`). mio adds
// the event at start-up only on the BSDs; on macOS its first `wake` adds it. We add it
// everywhere, which keeps one path and reports a kernel without EVFILT_USER at start-up.
pub struct Waker {
    /// A duplicate of the selector's descriptor, so a wake-up after the reactor dropped its
    /// `Poll` goes to a kqueue nobody waits on, not to whatever reused the number.
    kq: OwnedFd,
    token: Token,
}

impl Waker {
    /// Adds the user event to `selector`'s kqueue, edge-triggered (`EV_CLEAR`), under `token`.
    pub fn new(selector: &Selector, token: Token) -> io::Result<Waker> {
        // `F_DUPFD_CLOEXEC`: the duplicate is close-on-exec too.
        let kq = selector.kq.try_clone()?;
        // ident 0: a user event is named by (ident, filter), not by a descriptor, and this is
        // the only one on this kqueue.
        let flags = libc::EV_ADD | libc::EV_CLEAR | libc::EV_RECEIPT;
        selector.apply(&[kevent!(0, libc::EVFILT_USER, flags, token.0)], &[])?;
        Ok(Waker { kq, token })
    }

    /// Triggers the user event, which wakes `kevent` with an event carrying the token.
    pub fn wake(&self) -> io::Result<()> {
        // EV_ADD | EV_ONESHOT: (re-)adds the event if a delivery removed it, and removes it
        // again once delivered; NOTE_TRIGGER in `fflags` fires it.
        let mut ev = kevent!(
            0,
            libc::EVFILT_USER,
            libc::EV_ADD | libc::EV_ONESHOT,
            self.token.0
        );
        ev.fflags = libc::NOTE_TRIGGER;
        syscall!(
            // SAFETY: one change from a valid `kevent` alive across the call; no eventlist
            // (null, 0), so the kernel applies the change and returns without waiting, and
            // reports a failed change as -1 with errno.
            unsafe {
                libc::kevent(
                    self.kq.as_raw_fd(),
                    &ev,
                    1,
                    std::ptr::null_mut(),
                    0,
                    std::ptr::null(),
                )
            }
        )?;
        Ok(())
    }
}
// ANCHOR_END: waker

/// The errno a failed change carries in `data` (0 in a successful `EV_RECEIPT` receipt).
/// `data` is an `intptr_t` on macOS and an `int64_t` on the BSDs; errno values fit either.
fn error_code(ev: &RawEvent) -> i32 {
    ev.data as i32
}

/// Decodes one kevent. The flag logic follows mio's `sys/unix/selector/kqueue.rs`. Unlike
/// epoll, one event is about one filter: a socket both readable and writable comes back as
/// two events with the same token.
pub fn decode(raw: &RawEvent) -> Event {
    let eof = raw.flags & libc::EV_EOF != 0;
    Event {
        token: Token(raw.udata as usize),
        // The waker's user event counts as readable, as in mio.
        readable: raw.filter == libc::EVFILT_READ || raw.filter == libc::EVFILT_USER,
        writable: raw.filter == libc::EVFILT_WRITE,
        // EV_EOF on the read filter: the peer sent FIN; on the write filter: it is gone.
        read_closed: raw.filter == libc::EVFILT_READ && eof,
        write_closed: raw.filter == libc::EVFILT_WRITE && eof,
        // EV_EOF with the socket's error in `fflags` (or EV_ERROR, which a wait without
        // changes does not report, but a reader of this function should not have to know).
        error: raw.flags & libc::EV_ERROR != 0 || (eof && raw.fflags != 0),
    }
}
