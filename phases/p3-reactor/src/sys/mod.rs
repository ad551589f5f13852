//! The OS layer: one file per kernel event queue, chosen at compile time.
//!
//! Each backend exports the same four things, so [`crate::poll`] never says which OS it runs
//! on: `Selector` (the queue: new, select, register, reregister, deregister), `Waker` (wakes
//! the queue from another thread: new, wake), `RawEvent` (the kernel's event format, kept in
//! the one [`Events`] buffer defined here), and `decode` (one OS event into a portable
//! [`crate::poll::Event`]).
//! [`net`] holds the one socket call whose flavour differs by OS: `accept`.

/// Calls a libc function that reports failure as `-1` with `errno`, and turns that into an
/// `io::Result`. The caller writes the `unsafe` block, so each call site carries its own
/// `// SAFETY:` comment about its own arguments:
///
/// ```ignore
/// // SAFETY: ...
/// let fd = syscall!(unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) })?;
/// ```
macro_rules! syscall {
    ($call:expr) => {{
        let result = $call;
        if result == -1 {
            Err(std::io::Error::last_os_error())
        } else {
            Ok(result)
        }
    }};
}

// The one list of supported systems. An OS in neither list compiles `backend.rs`, the
// default path, which holds only a `compile_error!`.
#[cfg_attr(any(target_os = "linux", target_os = "android"), path = "epoll.rs")]
#[cfg_attr(
    any(
        target_os = "macos",
        target_os = "ios",
        target_os = "freebsd",
        target_os = "openbsd",
        target_os = "netbsd",
        target_os = "dragonfly"
    ),
    path = "kqueue.rs"
)]
mod backend;

use backend::RawEvent;
pub use backend::{decode, Selector, Waker};

pub mod net;

/// The buffer the kernel fills on each wait, in the backend's own format (`epoll_event` or
/// `kevent`); [`decode`] turns one entry into a portable event. Defined here, once: only
/// the backends' `select` writes into it (fields of this module are visible to them).
pub struct Events {
    list: Vec<RawEvent>,
}

impl Events {
    /// A buffer for up to `capacity` events per wait.
    pub fn with_capacity(capacity: usize) -> Events {
        Events {
            list: Vec::with_capacity(capacity.max(1)),
        }
    }

    /// The raw events of the last wait.
    pub fn iter(&self) -> impl Iterator<Item = &RawEvent> + '_ {
        self.list.iter()
    }

    /// No events.
    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }
}
