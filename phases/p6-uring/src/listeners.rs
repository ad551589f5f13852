//! One listening socket per ring: phase 4's `SO_REUSEPORT` group, copied in its Linux form
//! (this phase runs only on Linux). Phase 4's `listeners.rs` explains the choices; in short:
//! each ring accepts from a queue of its own, the kernel hashes each new connection to one
//! of them, and the option is set on the first socket only *after* its `bind`, so that a
//! second server on the same port still gets "address in use".

use std::io;
use std::net::TcpListener;

use socket2::SockRef;
use tracing::{info, warn};

/// Turns the listener `main_with` bound into `count` listeners on its address: a
/// `SO_REUSEPORT` group, or (if that fails) duplicates of the one socket, each ring then
/// competing for every connection.
pub fn per_ring(first: TcpListener, count: usize) -> io::Result<Vec<TcpListener>> {
    if count <= 1 {
        return Ok(vec![first]);
    }
    match reuseport_group(&first, count - 1) {
        Ok(others) => {
            info!(
                listeners = count,
                "SO_REUSEPORT: one listener per ring, the kernel spreads connections"
            );
            Ok(std::iter::once(first).chain(others).collect())
        }
        Err(e) => {
            warn!("SO_REUSEPORT: {e}; the rings share one listener instead");
            let mut all = vec![first];
            for _ in 1..count {
                all.push(all[0].try_clone()?);
            }
            Ok(all)
        }
    }
}

/// Sets `SO_REUSEPORT` on `first` (bound already) and binds `more` listeners next to it.
fn reuseport_group(first: &TcpListener, more: usize) -> io::Result<Vec<TcpListener>> {
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The rings' listeners are distinct sockets on one address, in one SO_REUSEPORT group.
    #[test]
    fn rings_get_a_reuseport_group() {
        let first = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = first.local_addr().unwrap();
        let listeners = per_ring(first, 3).unwrap();
        assert_eq!(listeners.len(), 3);
        for listener in &listeners {
            assert_eq!(listener.local_addr().unwrap(), addr);
            assert!(SockRef::from(listener).reuse_port().unwrap());
        }
    }
}
