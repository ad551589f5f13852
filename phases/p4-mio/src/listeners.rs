//! One listening socket per reactor: how new connections get spread across the cores.
//!
//! # Linux: `SO_REUSEPORT`
//!
//! With `SO_REUSEPORT` set, several sockets may bind the same address and port. Each keeps
//! its own accept queue, and for every new connection the kernel picks one of them by a
//! hash of the connection's addresses and ports. So each reactor accepts from a queue of its
//! own: no lock between reactors, no reactor woken for a connection another one takes, and
//! a connection stays on the reactor that accepted it for its whole life. The kernel does
//! the load balancing (by hash, not by load: a reactor that drew the busy clients stays
//! busy).
//!
//! `main_with` binds the first socket *without* `SO_REUSEPORT`, on purpose: set before
//! `bind`, the option would let a second server started on the same port bind it too, and
//! silently take half of the connections, where the SPEC wants "port in use" and exit 1.
//! So we set it on the first socket after its `bind`, then bind the others. socket(7) asks
//! for the option before `bind`; Linux checks it when the *next* socket binds and when the
//! group forms at its `listen`, which is what we rely on (and `tests/reuseport.rs` checks
//! that connections do reach both reactors). Another process of the same user that sets
//! the option could still join the group once we have: the usual `SO_REUSEPORT` caveat.
//!
//! # Elsewhere: one listener, shared
//!
//! macOS and the BSDs accept `SO_REUSEPORT` but do not spread TCP connections across the
//! sockets (FreeBSD 12 added `SO_REUSEPORT_LB` for that). There, and on Linux if a bind
//! fails, the reactors share one listening socket: each registers its own duplicate
//! descriptor (`try_clone`) with its own poller. Every reactor is then woken for every new
//! connection, one wins the `accept`, the others get `WouldBlock` and go back to sleep (the
//! *thundering herd*; Linux's `EPOLLEXCLUSIVE` would wake only one, but mio does not expose
//! it). It serves correctly, with wasted wake-ups. And at shutdown the socket only closes
//! when the last reactor drops its descriptor, so connects during the drain wait in the
//! backlog instead of being refused.

use std::io;
use std::net::TcpListener;

use tracing::info;
#[cfg(target_os = "linux")]
use tracing::warn;

// ANCHOR: reuseport
/// Turns the listener `main_with` bound into `count` listeners, one per reactor, all on its
/// address: on Linux a `SO_REUSEPORT` group, elsewhere duplicates of the one socket (see the
/// module documentation).
pub fn per_reactor(first: TcpListener, count: usize) -> io::Result<Vec<TcpListener>> {
    if count <= 1 {
        return Ok(vec![first]);
    }
    #[cfg(target_os = "linux")]
    match reuseport_group(&first, count - 1) {
        Ok(others) => {
            info!(
                listeners = count,
                "SO_REUSEPORT: one listener per reactor, the kernel spreads connections"
            );
            return Ok(std::iter::once(first).chain(others).collect());
        }
        Err(e) => warn!("SO_REUSEPORT: {e}; the reactors share one listener instead"),
    }
    #[cfg(not(target_os = "linux"))]
    info!("no SO_REUSEPORT balancing on this OS: the {count} reactors share one listener");
    shared(first, count)
}

/// Sets `SO_REUSEPORT` on `first` (bound already) and binds `more` listeners next to it.
#[cfg(target_os = "linux")]
fn reuseport_group(first: &TcpListener, more: usize) -> io::Result<Vec<TcpListener>> {
    use socket2::SockRef;

    // The real address: with `--addr 127.0.0.1:0` the port is known only now.
    let addr = first.local_addr()?;
    SockRef::from(first).set_reuse_port(true)?;
    let others: io::Result<Vec<TcpListener>> = (0..more)
        .map(|_| ingest_service::bind(addr, true))
        .collect();
    if others.is_err() {
        // Back to an exclusive port: no other process may join it now.
        let _ = SockRef::from(first).set_reuse_port(false);
    }
    others
}
// ANCHOR_END: reuseport

/// `count` descriptors of one listening socket.
fn shared(first: TcpListener, count: usize) -> io::Result<Vec<TcpListener>> {
    let mut all = Vec::with_capacity(count);
    for _ in 1..count {
        all.push(first.try_clone()?);
    }
    all.insert(0, first);
    Ok(all)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bound() -> TcpListener {
        TcpListener::bind("127.0.0.1:0").unwrap()
    }

    /// Every listener is on the address of the first one.
    #[test]
    fn all_listeners_share_the_first_address() {
        let first = bound();
        let addr = first.local_addr().unwrap();
        let listeners = per_reactor(first, 3).unwrap();
        assert_eq!(listeners.len(), 3);
        for listener in &listeners {
            assert_eq!(listener.local_addr().unwrap(), addr);
        }
    }

    /// One reactor keeps the listener as it is.
    #[test]
    fn one_reactor_gets_the_listener_unchanged() {
        let listeners = per_reactor(bound(), 1).unwrap();
        assert_eq!(listeners.len(), 1);
    }

    /// On Linux the listeners are distinct sockets in one SO_REUSEPORT group, and a server
    /// started later on the same port without the option still finds the port taken.
    #[cfg(target_os = "linux")]
    #[test]
    fn linux_builds_a_reuseport_group_that_stays_exclusive() {
        let first = bound();
        let addr = first.local_addr().unwrap();
        let listeners = per_reactor(first, 2).unwrap();
        // Duplicates of one socket would share its options; the first had none before.
        for listener in &listeners {
            assert!(socket2::SockRef::from(listener).reuse_port().unwrap());
        }
        let err = ingest_service::bind(addr, false).expect_err("the port is taken");
        assert_eq!(err.kind(), io::ErrorKind::AddrInUse);
    }
}
