//! Linux: `epoll`.
//!
//! Three system calls make the whole API: `epoll_create1` makes a queue (a file descriptor),
//! `epoll_ctl` adds, modifies or removes one watched descriptor, `epoll_wait` sleeps until
//! events arrive. Each watched descriptor carries 64 bits of our own data (`epoll_data`),
//! which we set to the [`Token`], so an event names its connection directly.
//!
//! Registrations are edge-triggered (`EPOLLET`): the kernel reports a descriptor when its
//! state *changes* (new bytes arrived, room appeared in the send buffer), once, rather than
//! every time we ask while it stays ready (level-triggered, epoll's default). Fewer wake-ups,
//! but the rule it imposes is strict: after an event, read (or write) until `EAGAIN`, or the
//! bytes left behind will never be reported again.

use std::fs::File;
use std::io::{self, ErrorKind, Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::time::Duration;

use super::Events;
use crate::poll::{Event, Interest, Token};

/// The OS event as the kernel writes it.
pub type RawEvent = libc::epoll_event;

/// An epoll instance. Closing it (dropping the `OwnedFd`) removes every registration.
pub struct Selector {
    ep: OwnedFd,
}

impl Selector {
    /// Creates the epoll instance.
    pub fn new() -> io::Result<Selector> {
        // EPOLL_CLOEXEC: close it in any child process we might spawn (the flag is the
        // only argument; the old `epoll_create(size)` ignored its size argument anyway).
        // SAFETY: no pointers; the kernel either returns a new descriptor or -1.
        let ep = syscall!(unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) })?;
        // SAFETY: `ep` is a descriptor we just received and nobody else owns.
        let ep = unsafe { OwnedFd::from_raw_fd(ep) };
        Ok(Selector { ep })
    }

    /// Waits for events; see [`crate::poll::Poll::poll`].
    pub fn select(&self, events: &mut Events, timeout: Option<Duration>) -> io::Result<()> {
        events.list.clear();
        let n = syscall!(
            // SAFETY: the kernel writes at most `capacity()` events into the vector's spare
            // capacity, which is allocated and ours for the duration of the call
            // (`Events::with_capacity` makes it at least 1: epoll_wait needs maxevents > 0).
            unsafe {
                libc::epoll_wait(
                    self.ep.as_raw_fd(),
                    events.list.as_mut_ptr(),
                    // maxevents: the room in our buffer; the rest wait for the next call.
                    events.list.capacity() as libc::c_int,
                    // timeout in milliseconds, -1 for "no limit".
                    timeout_ms(timeout),
                )
            }
        )?;
        // SAFETY: `epoll_wait` initialised exactly `n` (<= capacity) events.
        unsafe { events.list.set_len(n as usize) };
        Ok(())
    }

    /// `EPOLL_CTL_ADD`.
    pub fn register(&self, fd: RawFd, token: Token, interest: Interest) -> io::Result<()> {
        self.ctl(libc::EPOLL_CTL_ADD, fd, token, interest)
    }

    /// `EPOLL_CTL_MOD`. Note that it re-arms the edge: if the descriptor is ready right now,
    /// the next wait reports it again.
    pub fn reregister(&self, fd: RawFd, token: Token, interest: Interest) -> io::Result<()> {
        self.ctl(libc::EPOLL_CTL_MOD, fd, token, interest)
    }

    /// `EPOLL_CTL_DEL`.
    pub fn deregister(&self, fd: RawFd) -> io::Result<()> {
        syscall!(
            // SAFETY: the event argument may be null for EPOLL_CTL_DEL (since Linux 2.6.9);
            // a bad `fd` is reported as an error, not undefined behaviour.
            unsafe {
                libc::epoll_ctl(
                    self.ep.as_raw_fd(),
                    libc::EPOLL_CTL_DEL,
                    fd,
                    std::ptr::null_mut(),
                )
            }
        )?;
        Ok(())
    }

    fn ctl(&self, op: libc::c_int, fd: RawFd, token: Token, interest: Interest) -> io::Result<()> {
        let mut event = libc::epoll_event {
            events: epoll_flags(interest),
            // epoll_data is a union; its u64 member is our token, returned with each event.
            u64: token.0 as u64,
        };
        syscall!(
            // SAFETY: `event` is a valid epoll_event that outlives the call (the kernel copies
            // it); a bad `fd` or `op` is reported as an error.
            unsafe { libc::epoll_ctl(self.ep.as_raw_fd(), op, fd, &mut event) }
        )?;
        Ok(())
    }
}

// ANCHOR: waker
/// Wakes the epoll instance from another thread: an `eventfd`, registered readable.
///
/// An eventfd is a 64-bit counter behind a descriptor: a write of 8 bytes adds to it, a read
/// returns it and resets it to zero, and it is readable while the counter is not zero.
// NB: mio's Linux `Waker` is the same eventfd, made and used the same way.
pub struct Waker {
    fd: File,
}

impl Waker {
    /// Makes the eventfd and registers it with `selector`, readable, under `token`.
    pub fn new(selector: &Selector, token: Token) -> io::Result<Waker> {
        // initval 0: not readable until the first wake-up. EFD_NONBLOCK: a write that would
        // overflow the counter says `EAGAIN` instead of blocking the waking thread.
        // SAFETY: no pointers; the kernel either returns a new descriptor or -1.
        let fd = syscall!(unsafe { libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK) })?;
        // SAFETY: `fd` is a descriptor we just received and nobody else owns.
        let fd = unsafe { File::from_raw_fd(fd) };
        selector.register(fd.as_raw_fd(), token, Interest::READABLE)?;
        Ok(Waker { fd })
    }

    /// Adds 1 to the counter, which makes the descriptor readable and wakes `epoll_wait`.
    ///
    /// The reactor never reads the counter back (mio does not either): every write to an
    /// eventfd is a new edge for `EPOLLET`, readable or not before it. Left unread, the
    /// counter would overflow only after 2^64 - 2 wake-ups; then the write says `EAGAIN`,
    /// and we reset it and write again.
    pub fn wake(&self) -> io::Result<()> {
        match (&self.fd).write(&1u64.to_ne_bytes()) {
            Ok(_) => Ok(()),
            Err(e) if e.kind() == ErrorKind::WouldBlock => {
                // Reading returns the count and sets it to zero; `WouldBlock` would mean
                // another thread reset it first, which is as good.
                match (&self.fd).read(&mut [0; 8]) {
                    Ok(_) => {}
                    Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                    Err(e) => return Err(e),
                }
                self.wake()
            }
            Err(e) => Err(e),
        }
    }
}
// ANCHOR_END: waker

/// The `events` mask for an interest. Always edge-triggered.
fn epoll_flags(interest: Interest) -> u32 {
    // EPOLLERR and EPOLLHUP are always reported; they need no flag.
    let mut flags = libc::EPOLLET;
    if interest.is_readable() {
        // EPOLLRDHUP: tell us when the peer shut down its sending side, so a half-closed
        // connection is noticed without waiting for a read to return 0.
        flags |= libc::EPOLLIN | libc::EPOLLRDHUP;
    }
    if interest.is_writable() {
        flags |= libc::EPOLLOUT;
    }
    flags as u32
}

/// `epoll_wait` counts in milliseconds. Round *up*: rounding a 0.4 ms wait down to 0 would
/// return at once, before the deadline, and the loop would spin until it passed.
// NB: mio rounds up the same way (and uses `epoll_pwait2` with nanoseconds where it can).
fn timeout_ms(timeout: Option<Duration>) -> libc::c_int {
    match timeout {
        None => -1,
        Some(d) => {
            let ms = d.as_nanos().div_ceil(1_000_000);
            ms.min(libc::c_int::MAX as u128) as libc::c_int
        }
    }
}

/// Decodes one epoll event. The flag logic follows mio's `sys/unix/selector/epoll.rs`.
pub fn decode(raw: &RawEvent) -> Event {
    // Copy out of the (packed on x86-64) struct before use.
    let flags = raw.events as libc::c_int;
    let data = raw.u64;
    let has = |flag: libc::c_int| flags & flag != 0;
    Event {
        token: Token(data as usize),
        readable: has(libc::EPOLLIN) || has(libc::EPOLLPRI),
        writable: has(libc::EPOLLOUT),
        // EPOLLHUP: both directions are closed. EPOLLRDHUP: the peer sent FIN.
        read_closed: has(libc::EPOLLHUP) || (has(libc::EPOLLIN) && has(libc::EPOLLRDHUP)),
        write_closed: has(libc::EPOLLHUP) || (has(libc::EPOLLOUT) && has(libc::EPOLLERR)),
        error: has(libc::EPOLLERR),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A sub-millisecond timeout must not become a zero (busy) wait.
    #[test]
    fn timeouts_round_up_to_the_next_millisecond() {
        assert_eq!(timeout_ms(None), -1);
        assert_eq!(timeout_ms(Some(Duration::ZERO)), 0);
        assert_eq!(timeout_ms(Some(Duration::from_micros(400))), 1);
        assert_eq!(timeout_ms(Some(Duration::from_millis(1500))), 1500);
        assert_eq!(timeout_ms(Some(Duration::MAX)), libc::c_int::MAX);
    }
}
