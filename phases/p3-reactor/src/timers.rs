//! Deadlines: when the reactor must wake up even if no socket does.
//!
//! Every connection has at most one deadline at a time ([`ingest_http::Conn::deadline`]: the
//! header deadline while a request is being read, the idle deadline between requests, the
//! write-stall deadline while output is stuck). The reactor needs two things from them: the
//! earliest one, to bound how long `poll` may sleep, and the ones that have passed.
//!
//! # Why a binary heap, and why lazy
//!
//! A min-heap of `(instant, key, generation)` gives the earliest deadline in O(1) and
//! pops or pushes in O(log n). A *timer wheel* (an array of buckets, one per tick, as tokio
//! and the Linux kernel use) does both in O(1), but quantises time to its tick and earns its
//! keep with millions of short timers per second. We have one coarse deadline (seconds) per
//! connection, and, thanks to the trick below, push about one entry per connection per idle
//! timeout: a heap is simpler and plenty.
//!
//! The trick is *lazy deletion*. A heap cannot cheaply find and move an entry, and deadlines
//! move on every request: each response pushes the idle deadline later. So we never move an
//! entry. Each connection remembers, in its [`TimerHandle`], the one instant the heap holds
//! for it that still counts:
//!
//! - deadline moved *later* (the common case): push nothing. When the old entry pops, the
//!   reactor sees the connection's deadline has not come yet and pushes the real one.
//! - deadline moved *earlier* (a request began, its header deadline comes before the idle
//!   one): push the new instant; the old entry becomes stale.
//! - the entry that pops is stale (its slot now holds another connection, seen from the
//!   generation; or the handle remembers another instant): ignore it.
//!
//! Stale entries cost memory until they reach the top, so [`Timers::needs_compaction`] tells
//! the reactor when the heap holds many more entries than connections, and
//! [`Timers::rebuild`] throws the stale ones away.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::time::{Duration, Instant};

/// One heap entry: wake up at `at` for the connection in slab slot `key`, if that slot is
/// still at `generation`.
///
/// Keyed by the plain slab key, not by a poller's `Token`, so that a reactor on any poller
/// (this crate's, mio's) uses the heap without converting its own token type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Timer {
    /// When. First field, so the derived ordering sorts by it.
    pub at: Instant,
    /// Whose: the connection's slab key (see [`crate::slab`]).
    pub key: usize,
    /// Which connection in that slot: see [`crate::slab`].
    pub generation: u64,
}

/// The reactor's timers: a min-heap with lazy deletion.
#[derive(Default)]
pub struct Timers {
    /// `Reverse` turns std's max-heap into a min-heap: the earliest instant on top.
    heap: BinaryHeap<Reverse<Timer>>,
}

impl Timers {
    /// Adds an entry.
    pub fn push(&mut self, timer: Timer) {
        self.heap.push(Reverse(timer));
    }

    /// How long `poll` may sleep: until the earliest entry (zero if it has passed), or
    /// `None` (no limit) when there are no entries. The earliest may be stale; waking up for
    /// nothing once is cheaper than keeping the heap exact.
    pub fn next_timeout(&self, now: Instant) -> Option<Duration> {
        self.heap
            .peek()
            .map(|Reverse(timer)| timer.at.saturating_duration_since(now))
    }

    /// Removes and returns the earliest entry if it is due (`at <= now`).
    pub fn pop_expired(&mut self, now: Instant) -> Option<Timer> {
        match self.heap.peek() {
            Some(Reverse(timer)) if timer.at <= now => self.heap.pop().map(|Reverse(t)| t),
            _ => None,
        }
    }

    /// Entries held, stale ones included.
    pub fn len(&self) -> usize {
        self.heap.len()
    }

    /// No entries.
    pub fn is_empty(&self) -> bool {
        self.heap.is_empty()
    }

    /// The heap holds far more entries than there are live timers (`live`, one per
    /// connection at most): time to [`Timers::rebuild`]. The slack keeps it from running
    /// often; a rebuild costs O(n), amortised over the n stale pushes that made it necessary.
    pub fn needs_compaction(&self, live: usize) -> bool {
        self.heap.len() > 2 * live + 1024
    }

    /// Replaces the heap's contents with exactly the live entries.
    pub fn rebuild(&mut self, live: impl IntoIterator<Item = Timer>) {
        self.heap = live.into_iter().map(Reverse).collect();
    }
}

/// A connection's side of the lazy scheme: the one instant the heap holds for it that counts.
#[derive(Debug, Default, Clone, Copy)]
pub struct TimerHandle {
    armed: Option<Instant>,
}

impl TimerHandle {
    /// Makes sure the heap will wake the reactor no later than `deadline` for this
    /// connection, pushing an entry only if none due by then is armed already.
    pub fn update(
        &mut self,
        deadline: Option<Instant>,
        key: usize,
        generation: u64,
        timers: &mut Timers,
    ) {
        let Some(at) = deadline else {
            // No deadline (the connection is done): an armed entry will pop, find nothing
            // due, and be dropped.
            return;
        };
        if self.armed.is_some_and(|armed| armed <= at) {
            // Moved later or not at all: the armed entry pops first, and the reactor
            // re-checks then. This is what saves a push per request.
            return;
        }
        timers.push(Timer {
            at,
            key,
            generation,
        });
        self.armed = Some(at);
    }

    /// `timer` popped for this connection's slot and generation. Returns `true` if it is the
    /// armed entry (which is then disarmed: the caller checks the deadline and calls
    /// [`TimerHandle::update`] again), `false` if it is a stale one superseded by an earlier
    /// push.
    pub fn fired(&mut self, timer: &Timer) -> bool {
        if self.armed == Some(timer.at) {
            self.armed = None;
            true
        } else {
            false
        }
    }

    /// The armed entry, for [`Timers::rebuild`].
    pub fn armed(&self, key: usize, generation: u64) -> Option<Timer> {
        self.armed.map(|at| Timer {
            at,
            key,
            generation,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(base: Instant, secs: u64) -> Instant {
        base + Duration::from_secs(secs)
    }

    /// Entries pop earliest first, and only once due.
    #[test]
    fn pops_in_deadline_order_when_due() {
        let t0 = Instant::now();
        let mut timers = Timers::default();
        for (secs, key) in [(30, 1), (10, 2), (20, 3)] {
            timers.push(Timer {
                at: at(t0, secs),
                key,
                generation: 0,
            });
        }
        assert_eq!(timers.next_timeout(t0), Some(Duration::from_secs(10)));
        assert_eq!(timers.pop_expired(at(t0, 5)), None, "nothing due yet");
        let popped: Vec<usize> = std::iter::from_fn(|| timers.pop_expired(at(t0, 25)))
            .map(|t| t.key)
            .collect();
        assert_eq!(popped, vec![2, 3]);
        assert_eq!(timers.next_timeout(at(t0, 40)), Some(Duration::ZERO));
        assert_eq!(timers.len(), 1);
    }

    /// No entries: poll may sleep without a limit.
    #[test]
    fn empty_heap_means_no_timeout() {
        let timers = Timers::default();
        assert_eq!(timers.next_timeout(Instant::now()), None);
        assert!(timers.is_empty());
    }

    /// A deadline that only moves later costs no push; one that moves earlier does, and the
    /// old entry is then recognised as stale.
    #[test]
    fn handle_pushes_only_when_the_deadline_moves_earlier() {
        let t0 = Instant::now();
        let mut timers = Timers::default();
        let mut handle = TimerHandle::default();
        let key = 7;

        handle.update(Some(at(t0, 30)), key, 0, &mut timers); // idle deadline
        for secs in 31..100 {
            handle.update(Some(at(t0, secs)), key, 0, &mut timers); // each request: later
        }
        assert_eq!(timers.len(), 1, "moving later pushes nothing");

        handle.update(Some(at(t0, 10)), key, 0, &mut timers); // header deadline: earlier
        assert_eq!(timers.len(), 2);

        let first = timers.pop_expired(at(t0, 10)).unwrap();
        assert!(handle.fired(&first), "the earlier entry is the armed one");
        let second = timers.pop_expired(at(t0, 30)).unwrap();
        assert!(!handle.fired(&second), "the superseded entry is stale");
    }

    /// After the armed entry fires, the next update pushes again even if it is later.
    #[test]
    fn firing_disarms_so_the_next_deadline_is_pushed() {
        let t0 = Instant::now();
        let mut timers = Timers::default();
        let mut handle = TimerHandle::default();
        handle.update(Some(at(t0, 30)), 1, 0, &mut timers);
        let timer = timers.pop_expired(at(t0, 30)).unwrap();
        assert!(handle.fired(&timer));
        assert!(handle.armed(1, 0).is_none());
        handle.update(Some(at(t0, 60)), 1, 0, &mut timers);
        assert_eq!(
            timers.pop_expired(at(t0, 60)).map(|t| t.at),
            Some(at(t0, 60))
        );
    }

    /// Rebuilding keeps exactly the live entries.
    #[test]
    fn rebuild_drops_stale_entries() {
        let t0 = Instant::now();
        let mut timers = Timers::default();
        let mut handle = TimerHandle::default();
        for secs in (1..=2000).rev() {
            // every update earlier than the last: 2000 pushes, one live
            handle.update(Some(at(t0, secs)), 3, 5, &mut timers);
        }
        assert!(timers.needs_compaction(1));
        timers.rebuild(handle.armed(3, 5));
        assert_eq!(timers.len(), 1);
        assert!(!timers.needs_compaction(1));
        let live = timers.pop_expired(at(t0, 1)).unwrap();
        assert_eq!((live.key, live.generation), (3, 5));
        assert!(handle.fired(&live));
    }
}
