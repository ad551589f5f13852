//! The OS layer: one file per kernel event queue, chosen at compile time.
//!
//! Each backend exports the same four things, so [`crate::poll`] never says which OS it runs
//! on: `Selector` (the queue: new, select, register, reregister, deregister), `Events` (the
//! buffer the kernel fills), and `decode` (one OS event into a portable [`crate::poll::Event`]).
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

#[cfg(any(target_os = "linux", target_os = "android"))]
mod epoll;
#[cfg(any(target_os = "linux", target_os = "android"))]
pub use epoll::{decode, Events, Selector};

#[cfg(any(
    target_os = "macos",
    target_os = "ios",
    target_os = "freebsd",
    target_os = "openbsd",
    target_os = "netbsd",
    target_os = "dragonfly"
))]
mod kqueue;
#[cfg(any(
    target_os = "macos",
    target_os = "ios",
    target_os = "freebsd",
    target_os = "openbsd",
    target_os = "netbsd",
    target_os = "dragonfly"
))]
pub use kqueue::{decode, Events, Selector};

#[cfg(not(any(
    target_os = "linux",
    target_os = "android",
    target_os = "macos",
    target_os = "ios",
    target_os = "freebsd",
    target_os = "openbsd",
    target_os = "netbsd",
    target_os = "dragonfly"
)))]
compile_error!(
    "p3-reactor speaks only epoll (Linux) and kqueue (macOS, BSD); \
     phase 4 (mio) also runs on Windows and others"
);

pub mod net;
