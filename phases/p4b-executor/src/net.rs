//! Sockets that a task can `.await`: mio's non-blocking sockets, registered with the reactor.
//!
//! Every operation here is the same three steps, which is all "async I/O" means on a
//! readiness poller:
//!
//! 1. ask the reactor whether the socket was last reported ready; if not, leave the task's
//!    waker there and return `Pending`;
//! 2. make the non-blocking system call;
//! 3. if it says `WouldBlock`, the readiness was stale: clear it and go back to 1.
//!
//! The futures borrow the socket and own nothing else (no buffer), so dropping one between
//! two polls loses nothing: they are *cancel-safe*, which `connection.rs` relies on when a
//! deadline wins a `select` against them.

use std::future::Future;
use std::io::{self, ErrorKind, Read, Write};
use std::net::SocketAddr;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};

use mio::Token;

use crate::reactor::{Direction, Reactor};

/// A listening socket registered with the reactor.
pub struct TcpListener {
    inner: mio::net::TcpListener,
    token: Token,
    reactor: Rc<Reactor>,
}

impl TcpListener {
    /// Registers `listener` (made non-blocking here) with `reactor`.
    pub fn new(listener: std::net::TcpListener, reactor: &Rc<Reactor>) -> io::Result<Self> {
        // A blocking accept() would stall the whole thread whenever a client gave up between
        // the event and the call.
        listener.set_nonblocking(true)?;
        let mut inner = mio::net::TcpListener::from_std(listener);
        let token = reactor.register(&mut inner)?;
        Ok(TcpListener {
            inner,
            token,
            reactor: Rc::clone(reactor),
        })
    }

    /// Waits for a connection and accepts it.
    pub async fn accept(&self) -> io::Result<(TcpStream, SocketAddr)> {
        let (stream, peer) = std::future::poll_fn(|cx| {
            poll_io(&self.reactor, self.token, Direction::Read, cx, || {
                self.inner.accept()
            })
        })
        .await?;
        Ok((TcpStream::new(stream, &self.reactor)?, peer))
    }
}

impl Drop for TcpListener {
    fn drop(&mut self) {
        self.reactor.deregister(&mut self.inner, self.token);
    }
}

/// A connected socket registered with the reactor.
pub struct TcpStream {
    inner: mio::net::TcpStream,
    token: Token,
    reactor: Rc<Reactor>,
}

impl TcpStream {
    fn new(mut inner: mio::net::TcpStream, reactor: &Rc<Reactor>) -> io::Result<Self> {
        let token = reactor.register(&mut inner)?;
        Ok(TcpStream {
            inner,
            token,
            reactor: Rc::clone(reactor),
        })
    }

    /// The socket itself, for options (`TCP_NODELAY`) and `shutdown`.
    pub fn socket(&self) -> &mio::net::TcpStream {
        &self.inner
    }

    // ANCHOR: ready
    /// Waits until the socket is readable (when `read`) or writable (when `write`), and says
    /// which. Borrows nothing but the socket: dropping it loses nothing.
    pub fn ready(&self, read: bool, write: bool) -> Ready<'_> {
        Ready {
            stream: self,
            read,
            write,
        }
    }
    // ANCHOR_END: ready

    /// Reads once, without waiting: `WouldBlock` if the socket has nothing yet.
    ///
    /// A short read also clears the readiness, as tokio's `poll_read` does: the receive
    /// queue was emptied, so new bytes will raise a new edge, and asking again would only
    /// cost a `read` that says `WouldBlock`. (A FIN that came with the bytes is kept as
    /// `read_closed`, which is never cleared, so the end of stream is not missed.)
    pub fn try_read(&self, buf: &mut [u8]) -> io::Result<usize> {
        let result = (&self.inner).read(buf);
        match &result {
            Ok(n) if *n > 0 && *n < buf.len() => self.clear(Direction::Read),
            Err(e) if e.kind() == ErrorKind::WouldBlock => self.clear(Direction::Read),
            _ => {}
        }
        result
    }

    /// Writes once, without waiting: `WouldBlock` if the send buffer is full.
    pub fn try_write(&self, buf: &[u8]) -> io::Result<usize> {
        let result = (&self.inner).write(buf);
        match &result {
            // A short write filled the send buffer: the kernel reports room with a new edge.
            Ok(n) if *n < buf.len() => self.clear(Direction::Write),
            Err(e) if e.kind() == ErrorKind::WouldBlock => self.clear(Direction::Write),
            _ => {}
        }
        result
    }

    // ANCHOR: read
    /// Waits for bytes and reads them into `buf`: the future a blocking `read` becomes.
    pub async fn read(&self, buf: &mut [u8]) -> io::Result<usize> {
        std::future::poll_fn(|cx| {
            poll_io(&self.reactor, self.token, Direction::Read, cx, || {
                (&self.inner).read(buf)
            })
        })
        .await
    }
    // ANCHOR_END: read

    /// Waits for room and writes `buf` (or part of it).
    pub async fn write(&self, buf: &[u8]) -> io::Result<usize> {
        std::future::poll_fn(|cx| {
            poll_io(&self.reactor, self.token, Direction::Write, cx, || {
                (&self.inner).write(buf)
            })
        })
        .await
    }

    fn clear(&self, direction: Direction) {
        self.reactor.clear_ready(self.token, direction);
    }
}

impl Drop for TcpStream {
    fn drop(&mut self) {
        self.reactor.deregister(&mut self.inner, self.token);
    }
}

// ANCHOR: poll_io
/// The three steps of the module documentation: wait for readiness, try the call, and on
/// `WouldBlock` forget the readiness and wait again.
fn poll_io<T>(
    reactor: &Reactor,
    token: Token,
    direction: Direction,
    cx: &mut Context<'_>,
    mut call: impl FnMut() -> io::Result<T>,
) -> Poll<io::Result<T>> {
    loop {
        if !reactor.poll_ready(token, direction, cx.waker()) {
            return Poll::Pending; // the reactor holds our waker now
        }
        match call() {
            Err(e) if e.kind() == ErrorKind::WouldBlock => reactor.clear_ready(token, direction),
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            result => return Poll::Ready(result),
        }
    }
}
// ANCHOR_END: poll_io

/// The future of [`TcpStream::ready`].
pub struct Ready<'a> {
    stream: &'a TcpStream,
    read: bool,
    write: bool,
}

/// What [`Ready`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Readiness {
    /// The socket may have bytes to read (or its peer closed it).
    pub readable: bool,
    /// The socket may take bytes to write.
    pub writable: bool,
}

impl Future for Ready<'_> {
    type Output = Readiness;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Readiness> {
        let reactor = &self.stream.reactor;
        let token = self.stream.token;
        // Both directions are asked (each leaves the waker if not ready), so that whichever
        // comes first wakes the task.
        let readable = self.read && reactor.poll_ready(token, Direction::Read, cx.waker());
        let writable = self.write && reactor.poll_ready(token, Direction::Write, cx.waker());
        if readable || writable {
            Poll::Ready(Readiness { readable, writable })
        } else {
            Poll::Pending
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::executor::Executor;
    use crate::select::{select, Either};
    use crate::time::sleep_until;
    use ingest_service::Shutdown;
    use std::time::{Duration, Instant};

    /// A short read clears the readiness, but a FIN that came with the bytes is kept: the
    /// next wait returns at once and the next read sees the end of the stream. (Forgetting
    /// it would leave the connection parked until its idle timeout.)
    #[test]
    fn end_of_stream_survives_a_short_read() {
        let reactor = Rc::new(Reactor::new().unwrap());
        let executor = Executor::new(Rc::clone(&reactor), Shutdown::new());
        let std_listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let mut client = std::net::TcpStream::connect(std_listener.local_addr().unwrap()).unwrap();
        let listener = TcpListener::new(std_listener, &reactor).unwrap();
        client.write_all(b"abc").unwrap();
        client.shutdown(std::net::Shutdown::Write).unwrap();
        let read_to_eof = std::pin::pin!(async {
            let (stream, _) = listener.accept().await.unwrap();
            let mut reads = Vec::new();
            let mut buf = [0u8; 64];
            loop {
                stream.ready(true, false).await;
                match stream.try_read(&mut buf) {
                    Ok(n) => reads.push(n),
                    Err(e) if e.kind() == ErrorKind::WouldBlock => continue,
                    Err(e) => panic!("read failed: {e}"),
                }
                if reads.last() == Some(&0) {
                    return reads;
                }
            }
        });
        // A lost FIN would park the task for good: give up after a while, and fail.
        let give_up = sleep_until(&reactor, Instant::now() + Duration::from_secs(5));
        match executor.block_on(select(read_to_eof, give_up)).unwrap() {
            Either::Left(reads) => assert_eq!(reads, [3, 0]),
            Either::Right(()) => panic!("the end of the stream was never seen"),
        }
    }
}
