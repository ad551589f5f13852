//! Timers: a future that completes at a deadline.
//!
//! [`Sleep`] files its deadline and its task's waker with the reactor, which wakes it when
//! the deadline passes; dropping it takes the entry out again. That `Drop` is the whole of
//! cancellation for a timer: a `select` that drops a losing `Sleep` leaves nothing behind.
//!
//! The reactor keeps timers in a `BTreeMap` ordered by deadline, phase 3's choice; tokio uses
//! a hierarchical timer wheel, which files and cancels in constant time (the chapter on
//! phase 5 says more).

use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};
use std::time::Instant;

use crate::reactor::Reactor;

// ANCHOR: sleep
/// Completes once `deadline` has passed.
pub struct Sleep {
    reactor: Rc<Reactor>,
    deadline: Instant,
    /// The reactor's entry for this timer, while one is filed.
    filed: Option<(Instant, u64)>,
}

/// A future that completes at `deadline`.
pub fn sleep_until(reactor: &Rc<Reactor>, deadline: Instant) -> Sleep {
    Sleep {
        reactor: Rc::clone(reactor),
        deadline,
        filed: None,
    }
}

impl Future for Sleep {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        // Polled again: the old entry may hold another task's waker (or a stale one).
        if let Some(key) = self.filed.take() {
            self.reactor.cancel_timer(key);
        }
        if Instant::now() >= self.deadline {
            return Poll::Ready(());
        }
        let key = self.reactor.add_timer(self.deadline, cx.waker().clone());
        self.filed = Some(key);
        Poll::Pending
    }
}

impl Drop for Sleep {
    fn drop(&mut self) {
        if let Some(key) = self.filed.take() {
            self.reactor.cancel_timer(key);
        }
    }
}
// ANCHOR_END: sleep

#[cfg(test)]
mod tests {
    use super::*;
    use crate::select::{select, Either};
    use std::time::Duration;

    /// The earlier of two timers wins a `select`, and dropping the later one takes its entry
    /// out of the reactor: cancellation leaves nothing behind.
    #[test]
    fn a_dropped_sleep_leaves_no_timer() {
        let reactor = Rc::new(Reactor::new().unwrap());
        let executor = crate::executor::Executor::new(Rc::clone(&reactor), Default::default());
        let now = Instant::now();
        let early = sleep_until(&reactor, now + Duration::from_millis(20));
        let late = sleep_until(&reactor, now + Duration::from_secs(60));
        let winner = executor.block_on(select(early, late)).unwrap();
        assert_eq!(winner, Either::Left(()));
        assert!(Instant::now() >= now + Duration::from_millis(20));
        assert_eq!(reactor.pending_timers(), 0);
    }
}
