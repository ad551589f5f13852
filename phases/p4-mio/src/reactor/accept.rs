//! The accept path: take every pending connection, admit it or turn it away, and survive
//! running out of file descriptors.
//!
//! Part of [`Reactor`], in a file of its own because it is the one place where the loop meets
//! the OS's resource limits: `--max-conns` (a `503`), EMFILE (the reserve descriptor), and the
//! errors `accept` passes on from connections that died in the backlog.

use std::fs::File;
use std::io::{self, ErrorKind, Read, Write};
use std::time::Instant;

use ingest_service::Service;
use mio::net::TcpStream;
use mio::{Interest, Token};
use tracing::{debug, warn};

use super::Reactor;
use crate::connection::Connection;

impl Reactor {
    // ANCHOR: accept
    /// The listener is readable: accept every pending connection (edge-triggered: the next
    /// event comes only with the next new connection, so leave none behind).
    pub(super) fn accept(&mut self, now: Instant) {
        loop {
            let Some(listener) = &self.listener else {
                return; // shutting down; a late event for the dropped listener
            };
            // mio's accept does what phase 3's `sys::net::accept` did by hand: `accept4` with
            // SOCK_NONBLOCK | SOCK_CLOEXEC where the OS has it (Linux, the BSDs), `accept`
            // then `fcntl`s elsewhere (macOS).
            match listener.accept() {
                Ok((stream, _peer)) => self.on_accepted(stream, now),
                // The backlog is empty.
                Err(e) if e.kind() == ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                // EMFILE (this process) / ENFILE (the whole system): out of descriptors.
                Err(e) if is_out_of_descriptors(&e) => {
                    self.shed_with_reserve(&e);
                    return;
                }
                // The connection died in the backlog (ECONNABORTED), or Linux passed on a
                // network error of the new socket (EPROTO, ENETUNREACH, ...; see accept(2)):
                // that connection is lost, the next one may be fine.
                Err(e) if is_connection_error(&e) => {
                    debug!("accept: a pending connection failed: {e}");
                    continue;
                }
                // ENOBUFS, ENOMEM: the kernel is short of memory. Stop for this round; the
                // connections left in the backlog are accepted with the next event.
                Err(e) => {
                    warn!("accept failed: {e}");
                    return;
                }
            }
        }
    }

    /// A new connection: admit it (or answer 503 past `--max-conns`), register it.
    fn on_accepted(&mut self, stream: TcpStream, now: Instant) {
        self.accepted += 1;
        let Some(guard) = self.service.try_connection() else {
            reject(stream, &self.service, &mut self.scratch);
            return;
        };
        // Small responses should leave at once, not wait for Nagle's algorithm to batch them.
        if let Err(e) = stream.set_nodelay(true) {
            debug!("TCP_NODELAY: {e}");
        }
        let key = self
            .connections
            .insert(Connection::new(stream, guard, &self.service, now));
        let token = Token(key);
        let connection = self.connections.get_mut(key).expect("just inserted");
        if let Err(e) =
            self.poll
                .registry()
                .register(connection.stream(), token, Interest::READABLE)
        {
            warn!("cannot register a connection: {e}");
            self.connections.remove(key);
            return;
        }
        // Arms the idle timer. No read yet: if the request is already in the socket, the
        // registration itself produces a readable event.
        self.settle(token, Ok(()));
    }
    // ANCHOR_END: accept

    /// Out of file descriptors, with connections waiting in the backlog.
    ///
    /// Doing nothing would be wrong twice: the clients would hang until we had descriptors
    /// again, and with a level-triggered poller the listener would stay readable and spin the
    /// loop at 100% CPU. This is libuv's answer (`uv__emfile_trick`): the reactor keeps one
    /// descriptor in reserve; here it closes it, which makes room to accept the pending
    /// connections one at a time, answer each `503` and close it, then takes the reserve
    /// back. The clients get a clear answer and the loop moves on. (nginx's answer is to stop
    /// accepting for a while, 500 ms, and try again.)
    // NB: mio has nothing for this (its `accept` returns EMFILE like any other error), nor
    // does tokio: every reactor keeps its own reserve.
    fn shed_with_reserve(&mut self, error: &io::Error) {
        let Some(reserve) = self.reserve_fd.take() else {
            // Lost the reserve earlier (could not reopen it). Leave the backlog; the next
            // connection's event retries, and closing connections free descriptors.
            warn!("accept: {error}; no reserve descriptor, pending connections wait");
            return;
        };
        drop(reserve);
        let mut shed = 0u64;
        if let Some(listener) = &self.listener {
            loop {
                match listener.accept() {
                    Ok((stream, _peer)) => {
                        self.accepted += 1;
                        // Counted like a `--max-conns` rejection: a connection, shed.
                        self.service.stats().connection_refused();
                        reject(stream, &self.service, &mut self.scratch);
                        shed += 1;
                    }
                    Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                    Err(e) if is_connection_error(&e) => continue,
                    Err(_) => break, // WouldBlock: backlog empty; anything else: stop here
                }
            }
        }
        self.reserve_fd = open_reserve_fd();
        warn!(
            shed,
            "accept: {error}; answered 503 to the pending connections"
        );
    }
}

/// Answers `503` on a connection the server will not serve and closes it, best effort and
/// without waiting: the socket is non-blocking and its send buffer empty, so the short answer
/// goes in one `write` unless the client is already gone.
///
/// Bytes the client already sent are read and discarded first: closing a socket with unread
/// input makes the kernel send a reset, which can destroy the `503` before the client reads it.
fn reject(mut stream: TcpStream, service: &Service, scratch: &mut [u8]) {
    let _ = stream.read(scratch);
    let _ = stream.write(&service.overloaded_response());
    let _ = stream.shutdown(std::net::Shutdown::Write);
}

/// The descriptor kept in reserve for [`Reactor::shed_with_reserve`].
pub(super) fn open_reserve_fd() -> Option<File> {
    match File::open("/dev/null") {
        Ok(file) => Some(file),
        Err(e) => {
            warn!("cannot open a reserve descriptor (/dev/null): {e}");
            None
        }
    }
}

/// EMFILE or ENFILE.
fn is_out_of_descriptors(e: &io::Error) -> bool {
    matches!(e.raw_os_error(), Some(libc::EMFILE) | Some(libc::ENFILE))
}

/// Errors of one pending connection, not of the listener: try the next one.
fn is_connection_error(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(
            libc::ECONNABORTED
                | libc::EPROTO
                | libc::ENOPROTOOPT
                | libc::EHOSTDOWN
                | libc::EHOSTUNREACH
                | libc::ENETDOWN
                | libc::ENETUNREACH
                | libc::EOPNOTSUPP
                | libc::EPERM // a firewall rule refused it (Linux)
        )
    )
}
