//! `select`: wait for whichever of two futures finishes first, and drop the other.
//!
//! Dropping the loser is the only way Rust cancels a future. There is no `cancel()` call: a
//! future does work only when polled, so a future nobody polls again does nothing, and
//! dropping it runs its destructors (a [`crate::time::Sleep`] takes its timer out, a socket
//! closes). Whatever the loser held in its own state is gone with it, which is what "cancel
//! safe" is about: a future is cancel-safe when dropping it after a `Pending` loses nothing.
//! tokio's `select!` macro works the same way, with any number of branches.
//!
//! Both futures must be `Unpin`, so that no `unsafe` is needed to poll them through `&mut`:
//! pin an `async` block first with `std::pin::pin!`.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

/// Which future won, and with what.
#[derive(Debug, PartialEq, Eq)]
pub enum Either<A, B> {
    /// The first future finished first (or both were ready and the first is polled first).
    Left(A),
    /// The second future finished first.
    Right(B),
}

impl<T> Either<T, T> {
    /// The output, when both sides produce the same type.
    pub fn into_inner(self) -> T {
        match self {
            Either::Left(t) | Either::Right(t) => t,
        }
    }
}

// ANCHOR: select
/// The future [`select`] returns. It holds both futures until one completes.
pub struct Select<A, B> {
    both: Option<(A, B)>,
}

/// Polls `left`, then `right`, each time the task is woken; completes with the first output
/// and drops the other future. `left` is polled first, so it wins a tie (tokio's `biased;`).
pub fn select<A, B>(left: A, right: B) -> Select<A, B>
where
    A: Future + Unpin,
    B: Future + Unpin,
{
    Select {
        both: Some((left, right)),
    }
}

impl<A, B> Future for Select<A, B>
where
    A: Future + Unpin,
    B: Future + Unpin,
{
    type Output = Either<A::Output, B::Output>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let (left, right) = self.both.as_mut().expect("Select polled after completion");
        // Both are polled with the same waker: whichever becomes ready wakes this task, and
        // the next poll finds out which.
        let output = if let Poll::Ready(out) = Pin::new(left).poll(cx) {
            Either::Left(out)
        } else if let Poll::Ready(out) = Pin::new(right).poll(cx) {
            Either::Right(out)
        } else {
            return Poll::Pending;
        };
        // The cancellation: the loser is dropped here, mid-flight, after a `Pending`. (If it
        // was pinned with `pin!`, this drops only the `Pin<&mut _>`; the future itself goes
        // at the end of the block that pinned it, which is where `tokio::select!` drops too.)
        self.both = None;
        Poll::Ready(output)
    }
}
// ANCHOR_END: select

#[cfg(test)]
mod tests {
    use super::*;
    use std::future::{pending, ready};
    use std::rc::Rc;
    use std::sync::Arc;
    use std::task::{Wake, Waker};

    /// A waker that does nothing: these tests poll by hand.
    struct Noop;
    impl Wake for Noop {
        fn wake(self: Arc<Self>) {}
    }

    /// Polls `future` once.
    fn poll_once<F: Future + Unpin>(future: &mut F) -> Poll<F::Output> {
        let waker = Waker::from(Arc::new(Noop));
        Pin::new(future).poll(&mut Context::from_waker(&waker))
    }

    /// A future that never completes and holds an `Rc`, to see when it is dropped.
    struct Holds(#[allow(dead_code)] Rc<()>);
    impl Future for Holds {
        type Output = u8;
        fn poll(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<u8> {
            Poll::Pending
        }
    }

    /// The left future wins a tie, and the loser is dropped before `select` returns.
    #[test]
    fn left_wins_a_tie_and_the_loser_is_dropped() {
        let state = Rc::new(());
        let mut both = select(ready(0u8), Holds(Rc::clone(&state)));
        assert_eq!(poll_once(&mut both), Poll::Ready(Either::Left(0)));
        assert_eq!(
            Rc::strong_count(&state),
            1,
            "the loser still holds its state"
        );
    }

    /// A pending left future does not hide a ready right one, and it is dropped in turn.
    #[test]
    fn right_wins_when_left_is_pending() {
        let state = Rc::new(());
        let mut both = select(Holds(Rc::clone(&state)), ready(7u8));
        assert_eq!(poll_once(&mut both), Poll::Ready(Either::Right(7)));
        assert_eq!(Rc::strong_count(&state), 1);
        let mut neither = select(pending::<u8>(), Holds(state));
        assert_eq!(poll_once(&mut neither), Poll::Pending);
    }
}
