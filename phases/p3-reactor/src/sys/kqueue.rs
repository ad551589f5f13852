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
//! Because `kevent` takes changes and waits in one call, a kqueue server can batch: the
//! registrations made while handling one round of events ride along with the next wait, at
//! no extra system call. This selector does that.
// NB: mio applies each change at once, with its own `kevent` call (flag `EV_RECEIPT`), so that
// an error is reported by the `register` call that caused it. Here a failed change comes back
// as an event with `EV_ERROR` set, for the token concerned.

use std::cell::RefCell;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::time::Duration;

use super::Events;
use crate::poll::{Event, Interest, Token};

/// The OS event as the kernel writes it (also the type of a change).
pub type RawEvent = libc::kevent;

/// A kqueue instance and the changes waiting for the next `kevent` call. Closing it
/// (dropping the `OwnedFd`) removes every registration.
pub struct Selector {
    kq: OwnedFd,
    /// Registrations made since the last wait, applied by the next one. A `RefCell` because
    /// `Registry` methods take `&self` (as in mio) and the reactor runs on one thread.
    // NB: this makes our `Registry` `!Sync`; mio's is `Sync`, shareable between threads.
    changes: RefCell<Vec<RawEvent>>,
}

/// Builds one `struct kevent`. A macro, not a function, because the field types differ
/// between the BSDs (`filter` is `i16` on macOS and FreeBSD, `u32` on NetBSD; `udata` is a
/// pointer on most, an integer on NetBSD), and `as _` lets each OS pick its own.
macro_rules! kevent {
    ($fd:expr, $filter:expr, $flags:expr, $token:expr) => {{
        // SAFETY: `struct kevent` is plain integers and a pointer; all zeroes is a valid
        // value (FreeBSD's extra `ext` fields must be zero for these filters anyway).
        let mut ev: libc::kevent = unsafe { std::mem::zeroed() };
        ev.ident = $fd as _; // the descriptor the filter watches
        ev.filter = $filter as _; // EVFILT_READ or EVFILT_WRITE
        ev.flags = $flags as _; // EV_ADD, EV_DELETE, EV_CLEAR, EV_RECEIPT
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
        Ok(Selector {
            kq,
            changes: RefCell::new(Vec::new()),
        })
    }

    /// Applies the pending changes and waits for events; see [`crate::poll::Poll::poll`].
    pub fn select(&self, events: &mut Events, timeout: Option<Duration>) -> io::Result<()> {
        let mut changes = self.changes.borrow_mut();
        let timespec = timeout.map(|d| libc::timespec {
            tv_sec: d.as_secs().min(libc::time_t::MAX as u64) as libc::time_t,
            tv_nsec: d.subsec_nanos() as _,
        });
        let timespec_ptr = timespec
            .as_ref()
            .map_or(std::ptr::null(), |t| t as *const libc::timespec);
        events.list.clear();
        let result = syscall!(
            // SAFETY: `changes` holds initialised kevents and stays borrowed for the call;
            // the kernel writes at most `capacity()` events into the spare capacity of
            // `events.list`; `timespec_ptr` is null or points to `timespec`, alive here.
            unsafe {
                libc::kevent(
                    self.kq.as_raw_fd(),
                    changes.as_ptr(), // changelist: applied first, in order
                    changes.len() as _,
                    events.list.as_mut_ptr(), // eventlist: filled with what fired
                    events.list.capacity() as _,
                    timespec_ptr, // null: wait without limit
                )
            }
        );
        // The kernel applies the changelist before it sleeps, so even EINTR (a signal
        // during the wait) means the changes are in. Either way they must not be sent twice.
        changes.clear();
        let n = result?;
        // SAFETY: `kevent` initialised exactly `n` (<= capacity) events.
        unsafe { events.list.set_len(n as usize) };
        // A change that failed comes back as an event with EV_ERROR and the errno in `data`.
        // ENOENT is expected: `reregister` deletes the write filter whether or not it was
        // there. Other errors stay, decoded as error events for their token.
        events.list.retain(|ev: &RawEvent| {
            !(ev.flags & libc::EV_ERROR != 0 && error_code(ev) == libc::ENOENT)
        });
        Ok(())
    }

    /// Adds the filters for `interest`, edge-triggered (`EV_CLEAR`), at the next wait.
    pub fn register(&self, fd: RawFd, token: Token, interest: Interest) -> io::Result<()> {
        let flags = libc::EV_ADD | libc::EV_CLEAR;
        let mut changes = self.changes.borrow_mut();
        if interest.is_readable() {
            changes.push(kevent!(fd, libc::EVFILT_READ, flags, token.0));
        }
        if interest.is_writable() {
            changes.push(kevent!(fd, libc::EVFILT_WRITE, flags, token.0));
        }
        Ok(())
    }

    /// Adds the filters `interest` wants and deletes the others, at the next wait. Re-adding
    /// a filter re-arms it: if the descriptor is ready right now, the next wait reports it.
    pub fn reregister(&self, fd: RawFd, token: Token, interest: Interest) -> io::Result<()> {
        let add = libc::EV_ADD | libc::EV_CLEAR;
        let read = if interest.is_readable() {
            add
        } else {
            libc::EV_DELETE
        };
        let write = if interest.is_writable() {
            add
        } else {
            libc::EV_DELETE
        };
        let mut changes = self.changes.borrow_mut();
        changes.push(kevent!(fd, libc::EVFILT_READ, read, token.0));
        changes.push(kevent!(fd, libc::EVFILT_WRITE, write, token.0));
        Ok(())
    }

    /// Deletes both filters *now*, not at the next wait: the caller usually closes the
    /// descriptor right after, and its number may be reused by the next `accept`.
    pub fn deregister(&self, fd: RawFd) -> io::Result<()> {
        // Changes still queued for this descriptor must not reach the kernel after it is
        // closed (or, worse, after its number is reused).
        self.changes
            .borrow_mut()
            .retain(|ev: &RawEvent| ev.ident != fd as usize);
        // EV_RECEIPT: report each change's outcome as an event (EV_ERROR, `data` = errno or
        // 0) instead of stopping at the first failure, and return without waiting.
        let flags = libc::EV_DELETE | libc::EV_RECEIPT;
        let changes = [
            kevent!(fd, libc::EVFILT_READ, flags, 0usize),
            kevent!(fd, libc::EVFILT_WRITE, flags, 0usize),
        ];
        // SAFETY: all zeroes is a valid `struct kevent` (plain integers and a pointer).
        let mut receipts: [RawEvent; 2] = unsafe { std::mem::zeroed() };
        let no_wait = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        let n = syscall!(
            // SAFETY: both arrays are valid for the lengths passed and live across the call.
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
        )?;
        for receipt in &receipts[..n as usize] {
            let errno = error_code(receipt);
            // 0: deleted. ENOENT: that filter was not registered (e.g. no write interest).
            if receipt.flags & libc::EV_ERROR != 0 && errno != 0 && errno != libc::ENOENT {
                return Err(io::Error::from_raw_os_error(errno));
            }
        }
        Ok(())
    }
}

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
        readable: raw.filter == libc::EVFILT_READ,
        writable: raw.filter == libc::EVFILT_WRITE,
        // EV_EOF on the read filter: the peer sent FIN; on the write filter: it is gone.
        read_closed: raw.filter == libc::EVFILT_READ && eof,
        write_closed: raw.filter == libc::EVFILT_WRITE && eof,
        // A failed change, or EV_EOF with the socket's error in `fflags`.
        error: raw.flags & libc::EV_ERROR != 0 || (eof && raw.fflags != 0),
    }
}
