//! The reactor: where an epoll event becomes a task's wake-up.
//!
//! Phase 4's reactor called the connection's code when its token came out of `poll`. This one
//! calls no connection code at all. It keeps, per registered socket, two things: the
//! *readiness* the kernel last reported (readable, writable, closed) and the *wakers* of the
//! tasks waiting for it. An event sets the readiness and wakes the waiters; the task, when
//! the executor polls it, does the reading itself. The timers work the same way: a deadline
//! and a waker.
//!
//! ```text
//!   epoll_wait ──► Token(7) readable ──► sources[7]: readiness |= READABLE
//!                                                    reader.take().wake() ──► ready queue
//! ```
//!
//! Each socket is registered once, for reading *and* writing, edge-triggered, and never
//! re-registered: readiness is remembered here until an I/O call says `WouldBlock` (see
//! [`crate::net`]), so an edge reported while nobody waited is not lost. This is tokio's
//! design (its `ScheduledIo`); phase 4 switched write interest on and off instead.
//!
//! One thing tasks wait for is not a socket: the event log's writer thread (`--ack
//! written`). The reactor keeps a list of those tasks' wakers beside the sockets' and wakes
//! them all when the log's [`LogWatch`] says the writer moved on; the writer makes `poll`
//! return through the same `mio::Waker` as shutdown ([`crate::ack`]).

use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, HashMap};
use std::io::{self, ErrorKind};
use std::sync::Arc;
use std::task::Waker;
use std::time::{Duration, Instant};

use ingest_service::event_log::LogWatch;
use ingest_service::Service;
use mio::event::Source;
use mio::{Events, Interest, Poll, Registry, Token};

/// The token of the `mio::Waker` that interrupts `poll` (shutdown, the event log's writer,
/// a wake from another thread). Sockets get tokens counting up from 0, which never get this large.
const UNPARK: Token = Token(usize::MAX);

/// Events taken from the kernel per `poll`, as in phase 4.
const EVENTS_PER_POLL: usize = 1024;

/// What the kernel has said about a socket since we last found it empty or full.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Readiness {
    /// The kernel said "readable" and no read has found the socket empty since.
    pub readable: bool,
    /// The kernel said "writable" and no write has found the socket full since.
    pub writable: bool,
    /// The peer sent FIN (or the socket failed). Never cleared: once a stream has ended, a
    /// read returns `0` (or the error) at once, however often it is asked.
    pub read_closed: bool,
}

/// Which side of a socket a task waits on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Waiting for bytes (or a connection, on a listener).
    Read,
    /// Waiting for room in the send buffer.
    Write,
}

// ANCHOR: io_state
/// One registered socket, as the reactor sees it.
#[derive(Default)]
struct IoState {
    readiness: Readiness,
    /// The task waiting to read (or accept), if one is.
    reader: Option<Waker>,
    /// The task waiting to write, if one is.
    writer: Option<Waker>,
}
// ANCHOR_END: io_state

// ANCHOR: log_waiters
/// The tasks waiting for the event log's writer, and how the reactor learns it moved.
#[derive(Default)]
struct LogWaiters {
    /// The reactor's registration with the log ([`Reactor::watch_log`]).
    watch: Option<LogWatch>,
    /// The waiting tasks' wakers, by a key that lets a dropped future take its own out,
    /// as a timer does.
    wakers: HashMap<u64, Waker>,
    next_key: u64,
}
// ANCHOR_END: log_waiters

/// The reactor: the poller, the sockets registered with it, the timers.
///
/// Shared as `Rc<Reactor>` by every socket and timer (one thread only), with `RefCell`s
/// inside because a future reaches it through `&self` from within `poll`.
pub struct Reactor {
    poll: RefCell<Poll>,
    registry: Registry,
    events: RefCell<Events>,
    sources: RefCell<HashMap<Token, IoState>>,
    /// Tokens are never reused, so an event still in the kernel's batch for a socket that
    /// was just closed finds no entry instead of someone else's.
    next_token: Cell<usize>,
    /// Pending timers in deadline order; the `u64` tells apart timers with equal deadlines.
    timers: RefCell<BTreeMap<(Instant, u64), Waker>>,
    next_timer: Cell<u64>,
    /// Tasks whose connection waits for the event log (`--ack written`).
    log: RefCell<LogWaiters>,
    unpark: Arc<mio::Waker>,
}

impl Reactor {
    /// A new poller (an epoll or kqueue descriptor) with its wake-up source.
    pub fn new() -> io::Result<Reactor> {
        let poll = Poll::new()?;
        let registry = poll.registry().try_clone()?;
        let unpark = Arc::new(mio::Waker::new(&registry, UNPARK)?);
        Ok(Reactor {
            poll: RefCell::new(poll),
            registry,
            events: RefCell::new(Events::with_capacity(EVENTS_PER_POLL)),
            sources: RefCell::new(HashMap::new()),
            next_token: Cell::new(0),
            timers: RefCell::new(BTreeMap::new()),
            next_timer: Cell::new(0),
            log: RefCell::new(LogWaiters::default()),
            unpark,
        })
    }

    /// The handle that interrupts [`Reactor::wait`] from any thread.
    // NB: mio allows one `Waker` per `Poll`; the executor uses it both for shutdown and for
    // wakes from other threads.
    pub fn unpark_handle(&self) -> Arc<mio::Waker> {
        Arc::clone(&self.unpark)
    }

    // ANCHOR: watch_log
    /// Registers with `service`'s event log: its writer will interrupt `poll` after a group
    /// whenever a task waits for it. Call once, before serving.
    pub fn watch_log(&self, service: &Service) {
        let unpark = Arc::clone(&self.unpark);
        // Runs on the writer thread, at most once per group: one `eventfd` write, which
        // never blocks. A failed wake would leave tasks waiting, but it cannot fail short
        // of the reactor being gone.
        let watch = service.watch(move || {
            if let Err(e) = unpark.wake() {
                tracing::warn!("cannot wake the reactor for the event log: {e}");
            }
        });
        self.log.borrow_mut().watch = Some(watch);
    }
    // ANCHOR_END: watch_log

    /// Files `waker` to be woken when the event log moves on; returns its key.
    pub fn add_log_waiter(&self, waker: Waker) -> u64 {
        let mut log = self.log.borrow_mut();
        debug_assert!(log.watch.is_some(), "no LogWatch: call Reactor::watch_log");
        let key = log.next_key;
        log.next_key += 1;
        log.wakers.insert(key, waker);
        key
    }

    /// Takes out a log waiter that is no longer wanted (its future was dropped or re-polled).
    pub fn cancel_log_waiter(&self, key: u64) {
        self.log.borrow_mut().wakers.remove(&key);
    }

    /// Tasks filed to be woken by the event log.
    pub fn pending_log_waiters(&self) -> usize {
        self.log.borrow().wakers.len()
    }

    /// Registers `source` for reading and writing, edge-triggered, once for its whole life.
    pub fn register(&self, source: &mut impl Source) -> io::Result<Token> {
        let token = Token(self.next_token.get());
        self.next_token.set(token.0 + 1);
        self.registry
            .register(source, token, Interest::READABLE | Interest::WRITABLE)?;
        self.sources.borrow_mut().insert(token, IoState::default());
        Ok(token)
    }

    /// Forgets `source`: its wakers are dropped, its late events ignored.
    pub fn deregister(&self, source: &mut impl Source, token: Token) {
        self.sources.borrow_mut().remove(&token);
        // Closing the descriptor would remove it from epoll anyway; this keeps kqueue exact.
        let _ = self.registry.deregister(source);
    }

    // ANCHOR: poll_ready
    /// Is `token` ready for `direction`? If not, remember `waker` to wake when it is.
    ///
    /// Only the *latest* waker is kept: a future polled again (by another `select`, say)
    /// may come with a different one, and the old one must not be the one woken.
    pub fn poll_ready(&self, token: Token, direction: Direction, waker: &Waker) -> bool {
        let mut sources = self.sources.borrow_mut();
        let Some(state) = sources.get_mut(&token) else {
            return true; // deregistered: let the I/O call report what is wrong
        };
        let (ready, slot) = match direction {
            Direction::Read => (
                state.readiness.readable || state.readiness.read_closed,
                &mut state.reader,
            ),
            Direction::Write => (state.readiness.writable, &mut state.writer),
        };
        if !ready {
            match slot {
                Some(old) if old.will_wake(waker) => {}
                _ => *slot = Some(waker.clone()),
            }
        }
        ready
    }
    // ANCHOR_END: poll_ready

    /// An I/O call on `token` said `WouldBlock` (or came back short): the kernel will report
    /// the next change with a new edge, so forget the readiness until then.
    ///
    /// No race with a newer event: events are only applied in [`Reactor::dispatch`], which
    /// never runs while a task is being polled (one thread). tokio, with several threads,
    /// tags readiness with a tick of the driver so that a clear cannot erase a newer event.
    pub fn clear_ready(&self, token: Token, direction: Direction) {
        if let Some(state) = self.sources.borrow_mut().get_mut(&token) {
            match direction {
                Direction::Read => state.readiness.readable = false,
                Direction::Write => state.readiness.writable = false,
            }
        }
    }

    /// Files a timer: `waker` is woken once `deadline` has passed. Returns its key, for
    /// [`Reactor::cancel_timer`].
    pub fn add_timer(&self, deadline: Instant, waker: Waker) -> (Instant, u64) {
        let key = (deadline, self.next_timer.get());
        self.next_timer.set(key.1 + 1);
        self.timers.borrow_mut().insert(key, waker);
        key
    }

    /// Timers filed and not yet fired or cancelled.
    pub fn pending_timers(&self) -> usize {
        self.timers.borrow().len()
    }

    /// Removes a timer that is no longer wanted (its `Sleep` was dropped or re-polled).
    pub fn cancel_timer(&self, key: (Instant, u64)) {
        self.timers.borrow_mut().remove(&key);
    }

    // ANCHOR: turn
    /// Sleeps in `epoll_wait` until an event, the earliest timer, or `max_wait`. Wakes no
    /// one: [`Reactor::dispatch`] does, once the executor knows its thread is awake.
    pub fn wait(&self, max_wait: Option<Duration>) -> io::Result<()> {
        let mut timeout = self.next_timeout(Instant::now(), max_wait);
        if self.arm_log_watch() {
            timeout = Some(Duration::ZERO); // the log moved already: wake its tasks first
        }
        let mut events = self.events.borrow_mut();
        match self.poll.borrow_mut().poll(&mut events, timeout) {
            Ok(()) => Ok(()),
            // A signal interrupted the wait: no events; the timers still run in `dispatch`.
            Err(e) if e.kind() == ErrorKind::Interrupted => {
                events.clear();
                Ok(())
            }
            Err(e) => Err(e),
        }
    }

    /// Wakes the tasks whose sockets the last [`Reactor::wait`] reported, and those whose
    /// deadlines passed.
    pub fn dispatch(&self) {
        let events = self.events.borrow();
        let mut sources = self.sources.borrow_mut();
        for event in events.iter() {
            // UNPARK only had to end the wait: the executor (shutdown) and
            // `wake_log_waiters` (the event log) look at what it was for.
            let Some(state) = sources.get_mut(&event.token()) else {
                continue;
            };
            let failed = event.is_error();
            if event.is_readable() || event.is_read_closed() || failed {
                state.readiness.readable = true;
                state.readiness.read_closed |= event.is_read_closed() || failed;
                if let Some(waker) = state.reader.take() {
                    waker.wake();
                }
            }
            if event.is_writable() || event.is_write_closed() || failed {
                state.readiness.writable = true;
                if let Some(waker) = state.writer.take() {
                    waker.wake();
                }
            }
        }
        drop((events, sources));
        self.fire_timers(Instant::now());
        self.wake_log_waiters();
    }
    // ANCHOR_END: turn

    // ANCHOR: log_turn
    /// Before sleeping: if tasks wait for the event log, ask its writer for a wake-up, and
    /// say whether the log moved since [`Reactor::wake_log_waiters`] last looked (then do
    /// not sleep). The [`LogWatch`] protocol: arm, then look, so no wake-up is lost.
    fn arm_log_watch(&self) -> bool {
        let log = self.log.borrow();
        match &log.watch {
            Some(watch) if !log.wakers.is_empty() => watch.arm(),
            _ => false,
        }
    }

    /// After every wait, whatever ended it (the writer's wake-up shares its token with
    /// shutdown): if the log moved, wake every task that waits for it. Each one asks its
    /// own `Conn` whether its answer is in, and files itself again if not.
    fn wake_log_waiters(&self) {
        let mut log = self.log.borrow_mut();
        if !log.watch.as_mut().is_some_and(LogWatch::moved) {
            return;
        }
        let wakers = std::mem::take(&mut log.wakers);
        drop(log); // a woken task only queues itself, but keep the borrow short anyway
        for waker in wakers.into_values() {
            waker.wake();
        }
    }
    // ANCHOR_END: log_turn

    /// How long `poll` may sleep: until the earliest timer, and no longer than `max_wait`.
    fn next_timeout(&self, now: Instant, max_wait: Option<Duration>) -> Option<Duration> {
        let timer = self
            .timers
            .borrow()
            .keys()
            .next()
            // Rounded up: epoll counts in milliseconds, and waking a few microseconds early
            // would only find the timer not yet due and sleep again for 0 ms, in a loop.
            .map(|(at, _)| at.saturating_duration_since(now) + Duration::from_micros(999));
        match (timer, max_wait) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Wakes (and removes) every timer whose deadline has passed.
    fn fire_timers(&self, now: Instant) {
        let mut timers = self.timers.borrow_mut();
        // Everything up to `now`, inclusive: split at the first key after it.
        let later = timers.split_off(&(now, u64::MAX));
        let due = std::mem::replace(&mut *timers, later);
        drop(timers);
        for waker in due.into_values() {
            waker.wake();
        }
    }
}
