//! One connection, one task: phase 4's event handler, turned into an `async fn`.
//!
//! Phase 4's `Connection` was called by the reactor with "readable", "writable", "deadline"
//! and had to keep, in fields, where it was between calls (`read_ready`, the registered
//! interest, a timer handle). Here the connection is a loop that writes what it owes, then
//! waits in a `select` for whichever comes first: shutdown, the deadline, the socket, or
//! (while a request waits for the event log's writer) its answer. The compiler turns the
//! loop into a state machine; its fields are the variables alive across the `.await`:
//! `stream`, `conn`, `shutting_down`.
//!
//! Everything the task waits on is cancel-safe. When the deadline wins, the losing
//! [`crate::net::Ready`] is dropped and nothing is lost, because no byte was read into it:
//! the task reads only after the wait, into the server's scratch buffer, and `Conn` keeps
//! the bytes of an incomplete request. A future that read into a buffer of its own and was
//! dropped by the `select` would lose them (the book's chapter reproduces exactly that).

use std::cell::RefCell;
use std::future::Future;
use std::io::{self, ErrorKind};
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use ingest_http::{Conn, Handler};
use ingest_service::{Service, Shutdown};

use crate::ack::answered;
use crate::executor::shutdown_requested;
use crate::net::TcpStream;
use crate::reactor::Reactor;
use crate::select::{select, Either};
use crate::time::sleep_until;

/// The one read buffer of the thread, shared by every connection: a task uses it between
/// two `.await`s, never across one, so an idle connection holds no buffer at all.
pub type Scratch = Rc<RefCell<Box<[u8]>>>;

/// How long a connection we are closing may take to say goodbye (see [`close`]).
const LINGER: Duration = Duration::from_secs(1);

/// What ended a connection's wait.
enum Woken {
    Shutdown,
    Deadline,
    Socket,
    /// The request that waited for the event log has its answer.
    Answered,
}

// ANCHOR: serve_connection
/// Serves one connection until it closes, times out, or shutdown closes it.
pub async fn serve_connection(
    stream: TcpStream,
    service: &Service,
    shutdown: &Shutdown,
    reactor: &Rc<Reactor>,
    scratch: &Scratch,
) -> io::Result<()> {
    let mut conn = Conn::with_limits(Instant::now(), service.limits());
    let mut shutting_down = false;
    loop {
        // 1. Write what we owe, and read what the socket has, without waiting.
        write_pending(&stream, &mut conn, service)?;
        read_available(&stream, &mut conn, service, scratch)?;
        if conn.is_done() {
            break;
        }
        // 2. Wait for whichever comes first. The shutdown branch is left out once seen
        //    (`None`), and the socket branch asks only for what `Conn` wants: no reading
        //    above the high-water mark or while a request waits for the event log, no
        //    writability while nothing is pending.
        // Nothing left that could wake us (no deadline, nothing to read or write, no
        // answer to wait for): a connection in that state has nothing more to do. (`Conn`
        // never gets there; if it did, the task would otherwise sleep until the drain.)
        if conn.deadline().is_none()
            && !conn.wants_read()
            && !conn.wants_write()
            && !conn.is_waiting()
        {
            break;
        }
        let shutdown_branch = (!shutting_down).then(|| shutdown_requested(shutdown));
        let socket = stream.ready(conn.wants_read(), conn.wants_write());
        let deadline = conn.deadline().map(|at| sleep_until(reactor, at));
        // Last, as it borrows `conn` until the `select` is over.
        let answer = conn
            .is_waiting()
            .then(|| answered(&mut conn, service, reactor));
        let woken = select(
            select(optional(shutdown_branch), optional(deadline)),
            select(socket, optional(answer)),
        )
        .await;
        // The losers of every `select` are dropped by now: cancelled.
        match woken {
            Either::Left(Either::Left(())) => Woken::Shutdown,
            Either::Left(Either::Right(())) => Woken::Deadline,
            Either::Right(Either::Left(_)) => Woken::Socket,
            Either::Right(Either::Right(())) => Woken::Answered,
        }
        .apply(&mut conn, &mut shutting_down);
    }
    // Output still pending here means the client stopped reading (write stall): there is no
    // response left to protect, so close at once. Otherwise say goodbye properly.
    if conn.output().is_empty() {
        close(stream, reactor, scratch).await;
    }
    Ok(())
}
// ANCHOR_END: serve_connection

impl Woken {
    /// Tells `conn` what happened. A socket event or an answer needs no call: the loop's
    /// next round writes, and reads again (bytes that came while the request waited raised
    /// no new edge, and may hold the next pipelined requests).
    fn apply(self, conn: &mut Conn, shutting_down: &mut bool) {
        match self {
            Woken::Shutdown => {
                // Finish the request in progress (its response says `Connection: close`);
                // an idle connection is done at once.
                *shutting_down = true;
                conn.begin_shutdown();
            }
            Woken::Deadline => conn.on_deadline(Instant::now()),
            Woken::Socket | Woken::Answered => {}
        }
    }
}

/// `Some(future)` as itself, `None` as a future that never completes: a `select` branch
/// switched off, like a `, if false` branch of `tokio::select!`.
fn optional<F: Future<Output = ()> + Unpin>(future: Option<F>) -> Optional<F> {
    Optional(future)
}

/// The future of [`optional`].
struct Optional<F>(Option<F>);

impl<F: Future<Output = ()> + Unpin> Future for Optional<F> {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        match &mut self.0 {
            Some(future) => Pin::new(future).poll(cx),
            None => Poll::Pending,
        }
    }
}

/// Writes [`Conn::output`] until it is empty or the socket's send buffer is full.
fn write_pending(stream: &TcpStream, conn: &mut Conn, service: &Service) -> io::Result<()> {
    while conn.wants_write() {
        match stream.try_write(conn.output()) {
            // A zero-length write of a non-empty buffer: the socket can take nothing, ever.
            Ok(0) => return Err(ErrorKind::WriteZero.into()),
            // May let `Conn` answer pipelined requests it held back, which adds output.
            Ok(n) => conn.on_written(n, Instant::now(), service),
            // Send buffer full: `try_write` cleared the readiness; wait for the next edge.
            Err(e) if e.kind() == ErrorKind::WouldBlock => break,
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            // Reset by the peer, broken pipe: there is nobody left to answer.
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

// ANCHOR: read_available
/// Reads while the socket has bytes and `Conn` wants them, writing the responses after each
/// read, as phase 4's `on_readable` did. Stops at `WouldBlock` or a short read (either one
/// clears the readiness in the reactor, so the next wait sleeps until new bytes come).
fn read_available(
    stream: &TcpStream,
    conn: &mut Conn,
    service: &Service,
    scratch: &Scratch,
) -> io::Result<()> {
    let mut buf = scratch.borrow_mut();
    while conn.wants_read() {
        match stream.try_read(&mut buf) {
            // End of stream: the client will send no more. Finish what we owe it.
            Ok(0) => conn.on_read_eof(Instant::now()),
            Ok(n) => {
                conn.on_read(&buf[..n], Instant::now(), service);
                write_pending(stream, conn, service)?;
                if n < buf.len() {
                    break; // the queue is empty; a FIN behind it is kept as `read_closed`
                }
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => break,
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            // Reset by the peer and the like: nobody left to answer.
            Err(e) => return Err(e),
        }
    }
    Ok(())
}
// ANCHOR_END: read_available

/// Closes a connection without destroying the last response.
///
/// Closing a socket whose receive buffer holds unread bytes (a body we refused with `413`,
/// a pipelined request after `Connection: close`, the request of a client refused with
/// `503`) makes the kernel send a reset instead of a FIN, and a reset makes the client's
/// kernel throw away the response it has not read yet. So, as web servers do ("lingering
/// close"): half-close, then read and discard until the client closes too, for at most
/// [`LINGER`]. A `select` against a `Sleep` is the timeout.
async fn close(stream: TcpStream, reactor: &Rc<Reactor>, scratch: &Scratch) {
    if stream.socket().shutdown(std::net::Shutdown::Write).is_err() {
        return; // already reset by the peer: nothing to protect
    }
    let discard_until_eof = std::pin::pin!(async {
        loop {
            stream.ready(true, false).await;
            // The scratch buffer is the whole thread's: borrowed between two awaits, never
            // across one (a `stream.read(&mut scratch.borrow_mut())` here would hold the
            // borrow while parked, and the next task to read would panic).
            let read = stream.try_read(&mut scratch.borrow_mut());
            match read {
                Ok(0) => return,
                Ok(_) => {}
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::Interrupted) => {}
                Err(_) => return,
            }
        }
    });
    select(
        discard_until_eof,
        sleep_until(reactor, Instant::now() + LINGER),
    )
    .await;
}

/// Answers `503` on a connection the server will not serve (`--max-conns`) and closes it.
pub async fn reject_overloaded(
    stream: TcpStream,
    service: &Service,
    reactor: &Rc<Reactor>,
    scratch: &Scratch,
) {
    // A fresh socket's send buffer is empty: the short answer goes in one write, and if it
    // does not, the client is gone or misbehaving and gets no second try.
    let _ = stream.try_write(&service.overloaded_response());
    close(stream, reactor, scratch).await;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::executor::Executor;
    use crate::net::TcpListener;
    use ingest_service::Config;

    /// A parked connection costs its future's state: `conn` and the small futures of one
    /// `select`. No read buffer may creep in (the point of [`Scratch`]), so the future must
    /// stay far below the 64 KiB one would add.
    #[test]
    fn a_connection_future_holds_no_read_buffer() {
        let data_dir = tempfile::tempdir().unwrap();
        let config = Config {
            data_dir: data_dir.path().to_path_buf(),
            ..Config::default()
        };
        let service = Service::open("p4b-executor", &config).unwrap();
        let shutdown = Shutdown::new();
        let reactor = Rc::new(Reactor::new().unwrap());
        let executor = Executor::new(Rc::clone(&reactor), shutdown.clone());
        let std_listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let _client = std::net::TcpStream::connect(std_listener.local_addr().unwrap()).unwrap();
        let listener = TcpListener::new(std_listener, &reactor).unwrap();
        let scratch: Scratch = Rc::new(RefCell::new(vec![0; 16].into_boxed_slice()));
        let size = executor
            .block_on(async {
                let (stream, _) = listener.accept().await.unwrap();
                let future = serve_connection(stream, &service, &shutdown, &reactor, &scratch);
                std::mem::size_of_val(&future)
            })
            .unwrap();
        println!("a connection future is {size} bytes");
        assert!(size < 2048, "the connection future is {size} bytes");
        service.finish().unwrap();
    }
}
