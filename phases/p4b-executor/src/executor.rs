//! The executor: tasks, the queue of tasks ready to run, and the wakers that put them there.
//!
//! A *task* is a future the executor owns until it completes: here, one per connection, plus
//! the accept loop. The executor never calls a future unless something said it can make
//! progress. That "something" is a [`Waker`]: `poll` receives one in its [`Context`], a future
//! that cannot finish yet stores a clone where the event it waits for will be noticed (the
//! reactor's table of sockets, the timer list), and returns `Pending`. When the event comes,
//! whoever noticed it calls `wake()`, which puts the task's id back on the ready queue.
//!
//! ```text
//!   ready queue ──► poll(task) ──► Pending (waker stored in the reactor)
//!        ▲                                   │
//!        └──── wake(): push the task id ◄─── epoll event / timer due
//! ```
//!
//! Single-threaded, like phase 3: one thread runs every task and, when no task is ready,
//! sleeps in the reactor's `epoll_wait`. What a multi-threaded runtime adds (a queue per
//! worker, stealing, a shared I/O driver) is the subject of the chapter after this one.

use std::cell::{Cell, RefCell};
use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Wake, Waker};

use ingest_service::Shutdown;

use crate::reactor::Reactor;

/// A task's name: an index into the executor's table that is never reused, so a waker that
/// outlives its task (a timer still holding it, say) wakes nothing rather than a stranger.
type TaskId = u64;

/// The id `block_on`'s own future runs under. It is not in the task table.
const MAIN: TaskId = 0;

/// A spawned task: a future boxed (every task has a different type) and pinned (an `async fn`
/// may hold references into its own state across an `.await`, so it must never move again).
type Task = Pin<Box<dyn Future<Output = ()>>>;

// ANCHOR: waker
/// What a [`Waker`] of this executor is: a task id and the queue to put it on.
///
/// std builds the `Waker` (its vtable, clone and drop) from this through the [`Wake`] trait,
/// so no `unsafe` is needed. `Wake` requires `Send + Sync`, because a waker may be sent to
/// another thread: hence an `Arc`, a `Mutex` and an atomic, although in this server only
/// the executor's own thread ever wakes a task.
struct TaskWaker {
    id: TaskId,
    /// Set while the id is on the queue: waking a task twice before it runs queues it once.
    queued: AtomicBool,
    ready: Arc<ReadyQueue>,
}

impl Wake for TaskWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        if !self.queued.swap(true, Ordering::AcqRel) {
            self.ready.push(self.id);
        }
    }
}
// ANCHOR_END: waker

/// Task ids ready to be polled, in the order they were woken.
struct ReadyQueue {
    ids: Mutex<VecDeque<TaskId>>,
    /// Set while the executor sleeps in the reactor: a wake from another thread must then
    /// interrupt that sleep, or the task would wait for an unrelated event.
    sleeping: AtomicBool,
    /// The reactor's `mio::Waker`, which makes `epoll_wait` return.
    unpark: Arc<mio::Waker>,
}

impl ReadyQueue {
    fn push(&self, id: TaskId) {
        self.ids
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push_back(id);
        // Checked after the push, and the executor sets `sleeping` before its last look at
        // the queue: one of the two always sees the other (see `Executor::park`).
        if self.sleeping.load(Ordering::SeqCst) {
            let _ = self.unpark.wake();
        }
    }

    /// Everything queued now. Tasks woken while these run wait for the next batch, after the
    /// reactor has had a look: a task that keeps waking itself cannot starve the sockets.
    fn take_all(&self) -> VecDeque<TaskId> {
        std::mem::take(&mut *self.ids.lock().unwrap_or_else(|e| e.into_inner()))
    }

    fn is_empty(&self) -> bool {
        self.ids
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .is_empty()
    }
}

/// A spawned task and its waker, made once for the task's whole life.
struct Slot {
    task: Task,
    waker: Arc<TaskWaker>,
}

/// The executor. Shared as `Rc<Executor>` by the code that spawns (the accept loop); its
/// state sits in `RefCell`s because tasks spawn while the executor is running them.
pub struct Executor {
    reactor: Rc<Reactor>,
    ready: Arc<ReadyQueue>,
    /// Live tasks. A task being polled is taken out and put back, so that it may spawn.
    tasks: RefCell<HashMap<TaskId, Slot>>,
    next_id: Cell<TaskId>,
    /// The server's shutdown flag, and whether this executor has acted on it yet.
    shutdown: Shutdown,
    shutdown_seen: Cell<bool>,
    /// Whoever waits in [`Executor::all_tasks_done`].
    idle_waiter: RefCell<Option<Waker>>,
}

impl Executor {
    /// An executor over `reactor`. When `shutdown` triggers, its callback wakes the reactor,
    /// and the executor then wakes every task once (see [`shutdown_requested`]).
    pub fn new(reactor: Rc<Reactor>, shutdown: Shutdown) -> Executor {
        let unpark = reactor.unpark_handle();
        let on_trigger = Arc::clone(&unpark);
        shutdown.on_trigger(move || {
            if let Err(e) = on_trigger.wake() {
                tracing::warn!("cannot wake the reactor for shutdown: {e}");
            }
        });
        Executor {
            reactor,
            ready: Arc::new(ReadyQueue {
                ids: Mutex::new(VecDeque::new()),
                sleeping: AtomicBool::new(false),
                unpark,
            }),
            tasks: RefCell::new(HashMap::new()),
            next_id: Cell::new(MAIN + 1),
            shutdown,
            shutdown_seen: Cell::new(false),
            idle_waiter: RefCell::new(None),
        }
    }

    /// Starts `future` as a task. It first runs on the executor's next batch, not now.
    pub fn spawn(&self, future: impl Future<Output = ()> + 'static) {
        let id = self.next_id.get();
        self.next_id.set(id + 1);
        let waker = Arc::new(TaskWaker {
            id,
            queued: AtomicBool::new(false),
            ready: Arc::clone(&self.ready),
        });
        waker.wake_by_ref();
        let slot = Slot {
            task: Box::pin(future),
            waker,
        };
        self.tasks.borrow_mut().insert(id, slot);
    }

    /// Tasks spawned and not yet finished.
    pub fn live_tasks(&self) -> usize {
        self.tasks.borrow().len()
    }

    /// Resolves once every spawned task has finished (the drain at shutdown).
    pub async fn all_tasks_done(&self) {
        std::future::poll_fn(|cx| {
            if self.live_tasks() == 0 {
                return Poll::Ready(());
            }
            *self.idle_waiter.borrow_mut() = Some(cx.waker().clone());
            Poll::Pending
        })
        .await;
    }

    // ANCHOR: block_on
    /// Runs `main` to completion on this thread, with every task it spawns; when `main`
    /// returns, the tasks still alive are dropped, which cancels them (their sockets close).
    pub fn block_on<F: Future>(&self, main: F) -> io::Result<F::Output> {
        let mut main = std::pin::pin!(main);
        let main_waker = Arc::new(TaskWaker {
            id: MAIN,
            queued: AtomicBool::new(false),
            ready: Arc::clone(&self.ready),
        });
        main_waker.wake_by_ref();
        let output = loop {
            // 1. Run every task that was woken, once each.
            let mut finished = None;
            for id in self.ready.take_all() {
                if id != MAIN {
                    self.run_task(id);
                    continue;
                }
                main_waker.queued.store(false, Ordering::Release);
                let waker = Waker::from(Arc::clone(&main_waker));
                if let Poll::Ready(output) = main.as_mut().poll(&mut Context::from_waker(&waker)) {
                    finished = Some(output);
                    break;
                }
            }
            if let Some(output) = finished {
                break output;
            }
            // 2. Nothing left to run: sleep in epoll until a socket or a timer wakes a task.
            self.park()?;
        };
        self.drop_all_tasks();
        Ok(output)
    }
    // ANCHOR_END: block_on

    // ANCHOR: run_task
    /// Polls one task, if it is still alive (a waker may outlive its task).
    fn run_task(&self, id: TaskId) {
        // Out of the table while it runs: the task may spawn, which borrows the table.
        let Some(mut slot) = self.tasks.borrow_mut().remove(&id) else {
            return;
        };
        // Cleared before the poll, so that a wake during the poll queues it again.
        slot.waker.queued.store(false, Ordering::Release);
        let waker = Waker::from(Arc::clone(&slot.waker));
        let mut cx = Context::from_waker(&waker);
        match slot.task.as_mut().poll(&mut cx) {
            Poll::Pending => {
                self.tasks.borrow_mut().insert(id, slot);
            }
            Poll::Ready(()) => {
                // `slot` drops here: the task's state (its socket, its `Conn`) is freed.
                if self.live_tasks() == 0 {
                    if let Some(waiter) = self.idle_waiter.borrow_mut().take() {
                        waiter.wake();
                    }
                }
            }
        }
    }
    // ANCHOR_END: run_task

    /// Sleeps in the reactor until an event or a timer wakes a task (or not at all, if one is
    /// already queued), then wakes every task once if shutdown began meanwhile.
    fn park(&self) -> io::Result<()> {
        // `sleeping` is up only while the thread may really sleep, and before the last look
        // at the queue; `push` looks at it after pushing. So a wake from another thread
        // either lands before this look or sees the flag and interrupts the sleep, and the
        // wakes of `dispatch`, on this thread and awake, cost no `mio::Waker` write.
        self.ready.sleeping.store(true, Ordering::SeqCst);
        let max_wait = if self.ready.is_empty() {
            None
        } else {
            Some(std::time::Duration::ZERO)
        };
        let waited = self.reactor.wait(max_wait);
        self.ready.sleeping.store(false, Ordering::SeqCst);
        waited?;
        self.reactor.dispatch();
        if self.shutdown.is_triggered() && !self.shutdown_seen.replace(true) {
            self.wake_everyone();
        }
        Ok(())
    }

    /// Puts every task (and `block_on`'s future) on the queue once. Phase 4's reactor walked
    /// its slab calling `begin_shutdown` on every connection; this is the same walk, and
    /// each task finds out what happened by looking (see [`shutdown_requested`]).
    fn wake_everyone(&self) {
        for slot in self.tasks.borrow().values() {
            slot.waker.wake_by_ref();
        }
        self.ready.push(MAIN);
    }

    /// Drops every task left, until none is (dropping a task may spawn another, in theory).
    fn drop_all_tasks(&self) {
        loop {
            let tasks = std::mem::take(&mut *self.tasks.borrow_mut());
            if tasks.is_empty() {
                return;
            }
            drop(tasks);
        }
    }
}

// ANCHOR: shutdown_requested
/// Resolves once the server's shutdown has begun.
///
/// It stores no waker, which looks like a bug (a future that returns `Pending` must arrange
/// to be woken) and is a contract with this executor instead: when shutdown begins, the
/// executor wakes every task once, so every `shutdown_requested` in a `select` gets polled
/// again and sees the flag. Cheaper than a waker list for 10,000 connections, and it only
/// works because the executor and this future were written together; tokio's
/// `CancellationToken` keeps a list of wakers, since its runtime makes no such promise.
pub fn shutdown_requested(shutdown: &Shutdown) -> impl Future<Output = ()> + '_ {
    std::future::poll_fn(move |_cx| {
        if shutdown.is_triggered() {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    })
}
// ANCHOR_END: shutdown_requested
