//! The set of live connections, kept only so that shutdown can reach them.
//!
//! A thread blocked in `read()` cannot be woken by another thread, short of closing the
//! socket under it. So every connection registers its socket here (a second `Arc` of it,
//! not a `dup` of the descriptor: that would halve how many connections the open-file limit
//! allows), with a flag
//! saying whether it is idle (waiting for the next request). On shutdown the accept loop
//! shuts down the sockets of the idle connections: their blocked `read()` returns 0 and the
//! thread ends. A connection in the middle of a request is left alone to finish it.
//!
//! The race this leaves, and every server of this kind has it: a client may send a request
//! on an idle connection in the very instant the server closes it. HTTP clients know it
//! (RFC 9112 section 9.3.1) and retry idempotent requests on a fresh connection.
//!
//! A production server of this model would rather not block in `read()` at all when shutdown
//! matters; that is one reason phase 3 exists.

use std::collections::HashMap;
use std::net::{Shutdown, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// The live connections of a blocking server.
#[derive(Default)]
pub struct Live {
    inner: Mutex<Registry>,
    /// Signalled when the last connection leaves, for [`Live::wait_until_empty`].
    emptied: Condvar,
}

#[derive(Default)]
struct Registry {
    next_id: u64,
    conns: HashMap<u64, Entry>,
}

struct Entry {
    /// The connection's socket, shared with the thread that serves it.
    socket: Arc<TcpStream>,
    /// Set by the connection's thread while it waits for a request.
    idle: Arc<AtomicBool>,
}

/// A connection's membership in [`Live`]; leaving the set when dropped.
pub struct Membership {
    live: Arc<Live>,
    id: u64,
    idle: Arc<AtomicBool>,
}

impl Live {
    /// Adds a connection.
    pub fn join(self: &Arc<Self>, socket: &Arc<TcpStream>) -> Membership {
        let socket = Arc::clone(socket);
        let idle = Arc::new(AtomicBool::new(true));
        let mut registry = self.lock();
        let id = registry.next_id;
        registry.next_id += 1;
        registry.conns.insert(
            id,
            Entry {
                socket,
                idle: Arc::clone(&idle),
            },
        );
        Membership {
            live: Arc::clone(self),
            id,
            idle,
        }
    }

    /// How many connections are live.
    pub fn len(&self) -> usize {
        self.lock().conns.len()
    }

    /// `true` when no connection is live.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Closes every idle connection: its thread's blocked `read()` returns 0 (end of stream).
    pub fn close_idle(&self) {
        for entry in self.lock().conns.values() {
            // SeqCst pairs with `Membership::set_idle` (see there).
            if entry.idle.load(Ordering::SeqCst) {
                let _ = entry.socket.shutdown(Shutdown::Both);
            }
        }
    }

    /// Closes every connection, idle or not: the drain timeout has passed.
    pub fn close_all(&self) {
        for entry in self.lock().conns.values() {
            let _ = entry.socket.shutdown(Shutdown::Both);
        }
    }

    /// Waits until every connection has left, at most `timeout`. `true` if they all did.
    pub fn wait_until_empty(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        let mut registry = self.lock();
        while !registry.conns.is_empty() {
            let now = Instant::now();
            if now >= deadline {
                return false;
            }
            registry = self
                .emptied
                .wait_timeout(registry, deadline - now)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
        true
    }

    fn lock(&self) -> MutexGuard<'_, Registry> {
        // A panic while holding this lock cannot leave the map half-updated (every update is
        // one insert or remove), so a poisoned lock is still safe to use.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Membership {
    /// Marks the connection idle (about to wait for a request) or busy.
    ///
    /// The thread sets `idle` and *then* checks the shutdown flag; shutdown sets its flag and
    /// *then* reads `idle`. With sequentially consistent operations at least one side sees
    /// the other's write, so an idle connection is never forgotten by shutdown.
    pub fn set_idle(&self, idle: bool) {
        self.idle.store(idle, Ordering::SeqCst);
    }
}

impl Drop for Membership {
    fn drop(&mut self) {
        let mut registry = self.live.lock();
        registry.conns.remove(&self.id);
        if registry.conns.is_empty() {
            self.live.emptied.notify_all();
        }
    }
}
