//! One connection, one task.
//!
//! Read this next to phase 3's `connection.rs`. There, a connection was a struct in a slab,
//! and the reactor called into it with "readable", "writable", "deadline passed"; the code
//! had to remember between calls where it was. Here the connection is an `async fn` with a
//! loop: write what we owe, then wait in one `select!` for whichever comes first of
//! shutdown, the deadline, the event log's answer, the socket becoming writable, the socket
//! becoming readable. The
//! compiler turns the function into the state machine phase 3 wrote by hand: its state is
//! `conn`, the timer and the few flags alive across the `.await`.
//!
//! ## Memory of a parked connection
//!
//! That state is the task's heap allocation, so what is alive across the `.await` is what
//! every idle connection costs. The obvious tokio code, `stream.read(&mut buf).await` with a
//! 16 KiB `buf` per connection, would keep that buffer for as long as the client is silent:
//! 5,000 idle clients, 80 MiB. So the task waits for readiness with `readable().await`, which
//! borrows nothing, and only then reads, with `try_read`, into a scratch buffer that belongs to
//! the worker *thread* (`SCRATCH`) and is used between two awaits, never across one. `Conn`
//! copies out only the bytes of an incomplete request. The cost of this: tokio's `AsyncRead`
//! clears readiness itself after a short read, while `try_read` learns that the socket is
//! drained only from a final `WouldBlock`: one more `read()` per wake-up. (Phases 3 and 4
//! skip that read after a short one, because their own flag says whether to read: `read_ready`
//! in `phases/p3-reactor/src/connection.rs`. Here tokio keeps the socket marked readable until
//! a read says `WouldBlock`, so the next `readable().await` would return at once and the read
//! would happen anyway.)
//!
//! ## Why no `spawn_blocking`
//!
//! A task must never block its worker thread, and handling a request looks like it might:
//! `POST /ingest` stores events. But the handler never touches the disk. It validates the
//! batch and hands it to the `EventLog` writer thread, which owns the file, does the
//! `write()`s and `fsync`s and groups batches (group commit). Moving each request to
//! `spawn_blocking` would add two thread hand-offs per request to protect against nothing.
//! What does wait is the *answer*: under `--ack written|synced` the `202` waits until the
//! writer has the batch in the file, and a batch the writer's full queue refused waits for
//! room. The handler never blocks for either; the connection awaits the writer's wake-up
//! (see [`crate::ack`]) and its worker serves other connections meanwhile.

use std::cell::RefCell;
use std::io::{self, ErrorKind};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ingest_http::{Conn, Handler};
use ingest_service::Service;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio_util::sync::CancellationToken;

use crate::ack::LogWaiter;

/// Bytes read per `try_read`. The buffer belongs to the worker thread, not the connection
/// ([`SCRATCH`]), so its size costs nothing per idle connection.
const READ_BUFFER: usize = 16 * 1024;

/// How long a connection we are closing may take to say goodbye (see [`close`]).
const LINGER: Duration = Duration::from_secs(1);

thread_local! {
    /// The read buffer of the worker thread running the task, one per thread rather than one
    /// per connection. A task may move between workers at every `.await`, so a borrow of this
    /// buffer must never live across one; `with_borrow_mut` closures cannot contain an
    /// `.await`, which makes that rule one the compiler checks.
    static SCRATCH: RefCell<Vec<u8>> = RefCell::new(vec![0; READ_BUFFER]);
}

// ANCHOR: serve_connection
/// Serves one connection until it closes, times out, or shutdown closes it.
pub async fn serve_connection(
    stream: TcpStream,
    service: &Service,
    waiter: &LogWaiter,
    cancel: &CancellationToken,
) -> io::Result<()> {
    // With the server's limits from the start, so that a client that connects and never
    // sends a byte is closed after the configured idle timeout.
    let mut conn = Conn::with_limits(Instant::now(), service.limits());
    let mut shutting_down = false;
    // One timer for the connection's whole life, moved to each new deadline: resetting a
    // `Sleep` re-files it in the runtime's timer wheel without allocating a new one.
    let timer = tokio::time::sleep_until(tokio::time::Instant::now());
    tokio::pin!(timer);
    let mut armed: Option<Instant> = None;

    loop {
        // 1. Write what we owe, for as long as the socket takes it without waiting.
        write_pending(&stream, &mut conn, service)?;
        if conn.is_done() {
            break;
        }

        // 2. Point the timer at the connection's next deadline (header, idle or write stall).
        let deadline = conn.deadline();
        if deadline != armed {
            if let Some(at) = deadline {
                timer.as_mut().reset(tokio::time::Instant::from_std(at));
            }
            armed = deadline;
        }

        // 3. Park until something can move the connection forward. Each branch only runs when
        //    its `if` holds: no reads while output is above the high-water mark
        //    (backpressure) or while a request waits for the event log's writer (so
        //    pipelined responses stay in order), no waiting for writability while nothing is
        //    pending.
        tokio::select! {
            // In this order: shutdown and deadlines overrule I/O that is ready at the same time.
            biased;
            () = cancel.cancelled(), if !shutting_down => {
                // Finish the request in progress (its response says `Connection: close`);
                // an idle connection is done at once.
                shutting_down = true;
                conn.begin_shutdown();
            }
            () = &mut timer, if armed.is_some() => {
                armed = None; // fired: re-arm next time round, even if the deadline stays
                conn.on_deadline(Instant::now());
            }
            // `--ack written|synced`: the answer to `POST /ingest` waits for the writer.
            // Once it is in, the loop goes round: write it, then read what the client sent
            // meanwhile (tokio still has the socket marked readable if anything came).
            () = waiter.answered(&mut conn, service), if conn.is_waiting() => {}
            ready = stream.writable(), if conn.wants_write() => ready?,
            ready = stream.readable(), if conn.wants_read() => {
                ready?;
                read_available(&stream, &mut conn, service)?;
            }
            // Nothing left that could wake us (no deadline, nothing to read or write, no
            // answer awaited): a connection in that state has nothing more to do.
            else => break,
        }
    }
    // Output still pending here means the client stopped reading (write stall): there is no
    // response left to protect, so close at once. Otherwise say goodbye properly.
    if conn.output().is_empty() {
        close(stream).await;
    }
    Ok(())
}
// ANCHOR_END: serve_connection

/// Writes [`Conn::output`] until it is empty or the socket's send buffer is full.
fn write_pending(stream: &TcpStream, conn: &mut Conn, service: &Service) -> io::Result<()> {
    while conn.wants_write() {
        match stream.try_write(conn.output()) {
            // Writing may let `Conn` answer pipelined requests it held back, so the loop
            // goes round until `output` is empty or the kernel pushes back.
            Ok(n) => conn.on_written(n, Instant::now(), service),
            // The send buffer is full (or tokio has not seen the socket writable yet): tokio
            // has cleared its readiness, and `writable()` waits for the next edge.
            Err(e) if e.kind() == ErrorKind::WouldBlock => break,
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            // Reset by the peer, broken pipe: there is nobody left to answer.
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Reads once into the worker's [`SCRATCH`] buffer and hands the bytes to `conn`.
///
/// One read per wake-up: the task goes back round its loop (writing the responses at once)
/// and `readable()` is still ready if more is waiting, so a client sending a lot is read
/// until `WouldBlock` all the same.
///
/// Tokio's cooperative budget does not cut that short: in tokio 1.54, `readable()` and
/// `writable()` await `Registration::readiness` and `try_read`/`try_write` go through
/// `Registration::try_io`, and neither calls `coop::poll_proceed` (only the `poll_read`/
/// `poll_write` path, through `Registration::poll_ready`, spends budget). The task gives up
/// its worker only when no branch of its `select!` is ready: the read said `WouldBlock`, the
/// output is above the high-water mark and the send buffer is full, or a request waits for
/// the event log's writer. Until then the other tasks queued on that worker wait, unless an
/// idle worker steals them.
fn read_available(stream: &TcpStream, conn: &mut Conn, service: &Service) -> io::Result<()> {
    SCRATCH.with_borrow_mut(|buf| {
        match stream.try_read(buf) {
            Ok(0) => conn.on_read_eof(Instant::now()),
            Ok(n) => conn.on_read(&buf[..n], Instant::now(), service),
            // The readiness was stale (a spurious wake-up, or the last read drained the
            // socket): tokio clears it, and the next `readable()` waits for new bytes.
            Err(e) if e.kind() == ErrorKind::WouldBlock => {}
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
        Ok(())
    })
}

/// Closes a connection without destroying the last response.
///
/// Closing a socket whose receive buffer holds unread bytes (a body we refused with `413`, a
/// pipelined request after `Connection: close`, the request of a client refused with `503`)
/// makes the kernel send a reset (RST) instead of a FIN, and a reset makes the client's kernel
/// throw away the response it has not read yet. So, as web servers do ("lingering close"):
/// half-close (our FIN follows the response), then read and discard until the client closes
/// too, for at most [`LINGER`].
async fn close(mut stream: TcpStream) {
    if stream.shutdown().await.is_err() {
        return; // already reset by the peer: nothing to protect
    }
    let discard_until_eof = async {
        loop {
            if stream.readable().await.is_err() {
                return;
            }
            let finished = SCRATCH.with_borrow_mut(|buf| match stream.try_read(buf) {
                Ok(0) => true,
                Ok(_) => false,
                Err(e) => !matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::Interrupted),
            });
            if finished {
                return;
            }
        }
    };
    let _ = tokio::time::timeout(LINGER, discard_until_eof).await;
}

/// Answers `503` on a connection the server will not serve (`--max-conns`) and closes it.
pub async fn reject_overloaded(mut stream: TcpStream, service: Arc<Service>) {
    let response = service.overloaded_response();
    // A fresh socket's send buffer is empty, so this completes at once; the timeout only
    // guarantees that a rejected client can never hold a task for long.
    let _ = tokio::time::timeout(LINGER, stream.write_all(&response)).await;
    close(stream).await;
}

#[cfg(test)]
mod tests {
    use super::*;
    use ingest_service::Config;

    /// What a parked connection costs is its task's state: `conn`, the timer, and the futures
    /// of one `select!`. No read buffer may creep in (the point of [`SCRATCH`]), so the
    /// connection future must stay well under the 16 KiB one buffer would add.
    #[test]
    fn a_connection_task_holds_no_read_buffer() {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let data_dir = tempfile::tempdir().unwrap();
        let config = Config {
            data_dir: data_dir.path().to_path_buf(),
            ..Config::default()
        };
        let service = Service::open("p5-tokio", &config).unwrap();
        let waiter = LogWaiter::new(&service);
        let cancel = CancellationToken::new();
        runtime.block_on(async {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let client = TcpStream::connect(listener.local_addr().unwrap());
            let (accepted, _client) = tokio::join!(listener.accept(), client);
            let (stream, _) = accepted.unwrap();
            let task = serve_connection(stream, &service, &waiter, &cancel);
            let size = std::mem::size_of_val(&task);
            assert!(size < 2048, "the connection future is {size} bytes");
        });
        drop(waiter);
        service.finish().unwrap();
    }
}
