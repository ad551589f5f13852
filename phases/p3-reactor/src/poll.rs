//! The portable face of the poller: `Poll`, `Registry`, `Token`, `Interest`, `Events`, `Waker`.
//!
//! These are mio's names, on purpose: phase 4 replaces this module with `mio` and the reactor
//! barely changes. What each OS does underneath lives in [`crate::sys`] (`epoll.rs` on Linux,
//! `kqueue.rs` on macOS and the BSDs); this file only gives both one shape.
//!
//! The model is *readiness*: you tell the kernel which sockets you care about (register),
//! then ask it to sleep until at least one of them can make progress (poll). It answers with
//! a list of events, each carrying the [`Token`] you chose at registration. Registration is
//! edge-triggered: an event means "something changed", not "it is ready now", so the caller
//! must read or write until the OS says `WouldBlock` before waiting again.

use std::io;
use std::ops::BitOr;
use std::os::fd::AsRawFd;
use std::time::Duration;

use crate::sys;

/// The caller's name for a registered source, handed back in every event for it.
///
/// The reactor uses slab indices as tokens, so an event leads straight to its connection
/// without a lookup; a few large values are reserved for the listener and the waker.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Token(pub usize);

/// What a registration waits for: readable, writable, or both.
///
/// There is no "nothing": a source registered for no events would never be reported, which
/// is what `deregister` is for. (mio makes the empty interest unrepresentable the same way.)
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Interest(u8);

impl Interest {
    /// Wake up when the source has bytes to read, or its peer closed it.
    pub const READABLE: Interest = Interest(0b01);
    /// Wake up when the source's send buffer has room again.
    pub const WRITABLE: Interest = Interest(0b10);

    /// Includes [`Interest::READABLE`].
    pub fn is_readable(self) -> bool {
        self.0 & Interest::READABLE.0 != 0
    }

    /// Includes [`Interest::WRITABLE`].
    pub fn is_writable(self) -> bool {
        self.0 & Interest::WRITABLE.0 != 0
    }
}

impl BitOr for Interest {
    type Output = Interest;

    fn bitor(self, other: Interest) -> Interest {
        Interest(self.0 | other.0)
    }
}

/// The kernel's event queue: one `epoll` or `kqueue` instance, and the list of events it
/// reported last.
pub struct Poll {
    registry: Registry,
}

/// Adds, changes and removes the sources a [`Poll`] watches.
///
/// A separate type (as in mio) so that code handling events can borrow the registry while
/// the `Poll` itself is borrowed for polling.
pub struct Registry {
    selector: sys::Selector,
}

impl Poll {
    /// Creates a new event queue (`epoll_create1` / `kqueue`).
    pub fn new() -> io::Result<Poll> {
        Ok(Poll {
            registry: Registry {
                selector: sys::Selector::new()?,
            },
        })
    }

    /// The registry, to register sources with this queue.
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// Sleeps until at least one registered source has an event, or `timeout` passes
    /// (`None`: no limit), and fills `events` with what the kernel reported (clearing what
    /// was there). Returns `ErrorKind::Interrupted` if a signal arrived first: the caller
    /// simply polls again.
    ///
    /// Zero events is a normal answer: the timeout passed. The caller should also expect
    /// *spurious* events, for a source that turns out not to be ready after all.
    pub fn poll(&mut self, events: &mut Events, timeout: Option<Duration>) -> io::Result<()> {
        self.registry.selector.select(&mut events.inner, timeout)
    }
}

impl Registry {
    /// Starts watching `source` for `interest`; its events will carry `token`.
    // NB: mio takes `&mut impl event::Source`, a trait its socket types implement, so only
    // sockets mio knows can be registered. Any file descriptor will do here.
    pub fn register(
        &self,
        source: &impl AsRawFd,
        token: Token,
        interest: Interest,
    ) -> io::Result<()> {
        self.selector.register(source.as_raw_fd(), token, interest)
    }

    /// Changes what a registered `source` is watched for (and its token).
    pub fn reregister(
        &self,
        source: &impl AsRawFd,
        token: Token,
        interest: Interest,
    ) -> io::Result<()> {
        self.selector
            .reregister(source.as_raw_fd(), token, interest)
    }

    /// Stops watching `source`. Call it before closing the descriptor: a closed descriptor
    /// disappears from the queue by itself, but its number may be reused at once.
    pub fn deregister(&self, source: &impl AsRawFd) -> io::Result<()> {
        self.selector.deregister(source.as_raw_fd())
    }
}

// ANCHOR: waker
/// Wakes a [`Poll`] from another thread: its `poll` returns with an event carrying the
/// waker's token. For what is not a socket but must wake the loop: a shutdown signal, the
/// event log's writer finishing a batch a connection waits for.
///
/// Made like any source, registered under a token; then any thread calls [`Waker::wake`].
/// Wake-ups before the `poll` are not lost, and several before one `poll` come as one event.
/// Underneath, an `eventfd` on Linux and a user event (`EVFILT_USER`) on kqueue, as in mio.
// NB: mio allows one `Waker` per `Poll`; so does this reactor, which shares its one waker
// (in an `Arc`) between everything that wakes it.
pub struct Waker {
    inner: sys::Waker,
}

impl Waker {
    /// Registers a new waker with `registry`'s `Poll`; its events will carry `token`.
    pub fn new(registry: &Registry, token: Token) -> io::Result<Waker> {
        Ok(Waker {
            inner: sys::Waker::new(&registry.selector, token)?,
        })
    }

    /// Makes the `Poll` return (now, or at its next `poll`). Never blocks; callable from any
    /// thread.
    pub fn wake(&self) -> io::Result<()> {
        self.inner.wake()
    }
}
// ANCHOR_END: waker

/// The events one [`Poll::poll`] returned, in a buffer reused from one poll to the next.
pub struct Events {
    inner: sys::Events,
}

impl Events {
    /// Room for up to `capacity` events per poll. More ready sources than that are not lost:
    /// the kernel reports the rest on the next poll.
    pub fn with_capacity(capacity: usize) -> Events {
        Events {
            inner: sys::Events::with_capacity(capacity),
        }
    }

    /// The events of the last poll.
    // NB: mio's iterator yields `&Event` (its `Event` wraps the OS struct in place); ours
    // decodes each OS event into a small `Event` value, which needs no `unsafe` cast.
    pub fn iter(&self) -> impl Iterator<Item = Event> + '_ {
        self.inner.iter().map(sys::decode)
    }

    /// No events (the poll timed out, or was interrupted).
    pub fn is_empty(&self) -> bool {
        self.inner.is_empty()
    }
}

/// One readiness event, decoded from the OS's own struct.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Event {
    pub(crate) token: Token,
    pub(crate) readable: bool,
    pub(crate) writable: bool,
    pub(crate) read_closed: bool,
    pub(crate) write_closed: bool,
    pub(crate) error: bool,
}

impl Event {
    /// The token the source was registered with.
    pub fn token(&self) -> Token {
        self.token
    }

    /// Bytes may be waiting to be read (or the peer closed its side: reading says which).
    pub fn is_readable(&self) -> bool {
        self.readable
    }

    /// The send buffer has room.
    pub fn is_writable(&self) -> bool {
        self.writable
    }

    /// The peer will send nothing more (`EPOLLRDHUP` / `EV_EOF` on the read filter).
    pub fn is_read_closed(&self) -> bool {
        self.read_closed
    }

    /// Nothing more can be written (`EPOLLHUP` / `EV_EOF` on the write filter).
    pub fn is_write_closed(&self) -> bool {
        self.write_closed
    }

    /// The socket has a pending error; the next read or write returns it.
    pub fn is_error(&self) -> bool {
        self.error
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};
    use std::os::unix::net::UnixStream;

    const NOW: Option<Duration> = Some(Duration::ZERO);
    const SOON: Option<Duration> = Some(Duration::from_millis(500));

    fn poll_once(poll: &mut Poll, events: &mut Events, timeout: Option<Duration>) -> Vec<Event> {
        poll.poll(events, timeout).expect("poll");
        events.iter().collect()
    }

    fn pair() -> (UnixStream, UnixStream) {
        let (a, b) = UnixStream::pair().unwrap();
        a.set_nonblocking(true).unwrap();
        b.set_nonblocking(true).unwrap();
        (a, b)
    }

    /// Bytes written to one end of a socket pair make the other end readable, reported once
    /// (edge-triggered) with its token, until new bytes arrive.
    #[test]
    fn reports_readability_once_per_edge() {
        let mut poll = Poll::new().unwrap();
        let mut events = Events::with_capacity(8);
        let (mut a, mut b) = pair();
        poll.registry()
            .register(&b, Token(42), Interest::READABLE)
            .unwrap();
        assert!(
            poll_once(&mut poll, &mut events, NOW).is_empty(),
            "nothing to read yet"
        );

        a.write_all(b"ping").unwrap();
        let got = poll_once(&mut poll, &mut events, SOON);
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].token(), Token(42));
        assert!(got[0].is_readable() && !got[0].is_writable());

        // Not read yet, but no new edge: edge-triggered polling stays silent.
        assert!(poll_once(&mut poll, &mut events, NOW).is_empty());

        let mut buf = [0u8; 16];
        assert_eq!(b.read(&mut buf).unwrap(), 4);
        a.write_all(b"again").unwrap();
        let got = poll_once(&mut poll, &mut events, SOON);
        assert_eq!(
            got.iter().map(Event::token).collect::<Vec<_>>(),
            [Token(42)]
        );
    }

    /// A socket with room in its send buffer is reported writable once registered for it,
    /// and not once write interest is removed again.
    #[test]
    fn reports_writability_only_while_asked() {
        let mut poll = Poll::new().unwrap();
        let mut events = Events::with_capacity(8);
        let (a, _b) = pair();
        poll.registry()
            .register(&a, Token(1), Interest::READABLE)
            .unwrap();
        assert!(poll_once(&mut poll, &mut events, NOW).is_empty());

        poll.registry()
            .reregister(&a, Token(1), Interest::READABLE | Interest::WRITABLE)
            .unwrap();
        let got = poll_once(&mut poll, &mut events, SOON);
        assert_eq!(got.len(), 1);
        assert!(got[0].is_writable() && !got[0].is_readable());

        poll.registry()
            .reregister(&a, Token(1), Interest::READABLE)
            .unwrap();
        assert!(poll_once(&mut poll, &mut events, NOW).is_empty());
    }

    /// A peer that closes its end is reported as read-closed; a deregistered socket is not
    /// reported at all.
    #[test]
    fn reports_hang_up_and_respects_deregister() {
        let mut poll = Poll::new().unwrap();
        let mut events = Events::with_capacity(8);
        let (a, b) = pair();
        let (c, d) = pair();
        poll.registry()
            .register(&b, Token(2), Interest::READABLE)
            .unwrap();
        poll.registry()
            .register(&d, Token(3), Interest::READABLE)
            .unwrap();
        poll.registry().deregister(&d).unwrap();
        drop(a);
        drop(c);
        let got = poll_once(&mut poll, &mut events, SOON);
        assert_eq!(got.len(), 1, "only the registered socket: {got:?}");
        assert_eq!(got[0].token(), Token(2));
        assert!(got[0].is_read_closed());
    }

    /// A registration the kernel refuses fails at the `register` call itself, on every
    /// backend (kqueue applies changes at once, as `epoll_ctl` does), so the reactor can close
    /// the connection instead of leaving it registered for nothing.
    #[test]
    fn refused_registration_fails_at_once() {
        /// A descriptor number no process ever has.
        struct NotADescriptor;
        impl AsRawFd for NotADescriptor {
            fn as_raw_fd(&self) -> std::os::fd::RawFd {
                -1
            }
        }
        let mut poll = Poll::new().unwrap();
        let mut events = Events::with_capacity(8);
        let err = poll
            .registry()
            .register(&NotADescriptor, Token(5), Interest::READABLE)
            .expect_err("a bad descriptor cannot be registered");
        assert_eq!(err.raw_os_error(), Some(libc::EBADF));
        assert!(
            poll_once(&mut poll, &mut events, NOW).is_empty(),
            "and no error event is left for a later poll"
        );
    }

    /// A wake-up from another thread makes `poll` return with the waker's token; wake-ups
    /// before a `poll` come as one event, and each later wake-up as a new one, though nothing
    /// ever reads the eventfd (each write is an edge).
    #[test]
    fn waker_wakes_poll_once_per_batch_of_wake_ups() {
        let mut poll = Poll::new().unwrap();
        let mut events = Events::with_capacity(8);
        let waker = std::sync::Arc::new(Waker::new(poll.registry(), Token(7)).unwrap());
        assert!(poll_once(&mut poll, &mut events, NOW).is_empty());

        waker.wake().unwrap();
        waker.wake().unwrap();
        let got = poll_once(&mut poll, &mut events, SOON);
        assert_eq!(got.len(), 1, "two wake-ups, one event: {got:?}");
        assert_eq!(got[0].token(), Token(7));
        assert!(got[0].is_readable());
        assert!(poll_once(&mut poll, &mut events, NOW).is_empty());

        for round in 0..3 {
            let other = std::sync::Arc::clone(&waker);
            let thread = std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(20));
                other.wake().unwrap();
            });
            let got = poll_once(&mut poll, &mut events, Some(Duration::from_secs(5)));
            thread.join().unwrap();
            assert_eq!(
                got.iter().map(Event::token).collect::<Vec<_>>(),
                [Token(7)],
                "round {round}"
            );
        }
    }

    /// Interests combine and report what they contain.
    #[test]
    fn interest_combines() {
        let both = Interest::READABLE | Interest::WRITABLE;
        assert!(both.is_readable() && both.is_writable());
        assert!(!Interest::READABLE.is_writable());
        assert!(!Interest::WRITABLE.is_readable());
    }
}
