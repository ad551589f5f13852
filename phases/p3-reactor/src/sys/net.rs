//! `accept`, the one socket call whose best form differs by OS.
//!
//! An accepted socket must be non-blocking (a blocking `read` would stall the whole reactor)
//! and close-on-exec (not leak into child processes). Linux and FreeBSD have `accept4`,
//! which sets both flags in the same system call that creates the socket. Elsewhere (macOS)
//! it takes `accept` and then `fcntl` calls; between them another thread could `fork` and
//! `exec` with the descriptor still inheritable, which is why `accept4` exists.
// NB: mio also uses accept4 on the other BSDs, Android, illumos and others; we keep to the two
// we name in the book.

use std::io;
use std::net::{TcpListener, TcpStream};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

/// Accepts one pending connection as a non-blocking, close-on-exec socket. `WouldBlock`
/// means none is pending (the listener must be non-blocking too).
#[cfg(any(target_os = "linux", target_os = "android", target_os = "freebsd"))]
pub fn accept(listener: &TcpListener) -> io::Result<TcpStream> {
    let fd = syscall!(
        // SAFETY: null address pointers are allowed (we do not want the peer's address);
        // the listener's descriptor is valid for as long as `listener` is borrowed.
        unsafe {
            libc::accept4(
                listener.as_raw_fd(),
                std::ptr::null_mut(), // addr: not needed
                std::ptr::null_mut(), // addrlen: not needed
                libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
            )
        }
    )?;
    // SAFETY: `fd` is a new descriptor that nobody else owns.
    Ok(TcpStream::from(unsafe { OwnedFd::from_raw_fd(fd) }))
}

/// Accepts one pending connection as a non-blocking, close-on-exec socket. `WouldBlock`
/// means none is pending (the listener must be non-blocking too).
#[cfg(not(any(target_os = "linux", target_os = "android", target_os = "freebsd")))]
pub fn accept(listener: &TcpListener) -> io::Result<TcpStream> {
    let fd = syscall!(
        // SAFETY: null address pointers are allowed (we do not want the peer's address);
        // the listener's descriptor is valid for as long as `listener` is borrowed.
        unsafe {
            libc::accept(
                listener.as_raw_fd(),
                std::ptr::null_mut(),
                std::ptr::null_mut(),
            )
        }
    )?;
    // Own it at once, so an error below closes it.
    // SAFETY: `fd` is a new descriptor that nobody else owns.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    // SAFETY: F_SETFD with FD_CLOEXEC on a descriptor we own; no pointers.
    syscall!(unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_SETFD, libc::FD_CLOEXEC) })?;
    let stream = TcpStream::from(fd);
    // The BSDs (macOS included) copy O_NONBLOCK from the listener to the accepted socket,
    // Linux does not; set it either way rather than depend on it. (std does the fcntl.)
    stream.set_nonblocking(true)?;
    Ok(stream)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::RawFd;

    /// `fcntl(fd, cmd)` for a flag-reading `cmd`.
    fn flags(fd: RawFd, cmd: libc::c_int) -> libc::c_int {
        // SAFETY: F_GETFL / F_GETFD read the flags of a descriptor the caller keeps open;
        // no pointers.
        let flags = unsafe { libc::fcntl(fd, cmd) };
        assert_ne!(flags, -1, "fcntl: {}", io::Error::last_os_error());
        flags
    }

    /// An accepted socket is non-blocking and close-on-exec from its first moment, whichever
    /// way this OS makes it (`accept4`, or `accept` then `fcntl`), even from a blocking
    /// listener (the flags mio's tests check too).
    #[test]
    fn accepted_sockets_are_non_blocking_and_close_on_exec() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        assert_eq!(
            flags(listener.as_raw_fd(), libc::F_GETFL) & libc::O_NONBLOCK,
            0
        );
        let _client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let accepted = accept(&listener).unwrap();
        let fd = accepted.as_raw_fd();
        assert_ne!(flags(fd, libc::F_GETFL) & libc::O_NONBLOCK, 0, "O_NONBLOCK");
        assert_ne!(flags(fd, libc::F_GETFD) & libc::FD_CLOEXEC, 0, "FD_CLOEXEC");
    }

    /// With nothing pending, a non-blocking listener's `accept` says `WouldBlock`.
    #[test]
    fn empty_backlog_would_block() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let err = accept(&listener).expect_err("nothing is pending");
        assert_eq!(err.kind(), io::ErrorKind::WouldBlock);
    }
}
