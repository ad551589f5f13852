//! Waiting for the event log: how a runtime waits for something that is not a socket.
//!
//! Under `--ack written` (the default) and `--ack synced`, `POST /ingest` is answered only
//! once the event log's writer thread has written (or synced) the batch: `Conn` then *waits*
//! ([`Conn::is_waiting`]), and only [`Conn::poll_pending`] can tell when its answer is in.
//! Every other wait in this runtime is on a socket or a timer, which the reactor sees in
//! `epoll_wait`. The writer is a thread. So the pieces are the ones a socket has, made by
//! hand:
//!
//! - *readiness*: the log's [`LogWatch`] counts the writer's progress; `moved()` says it
//!   changed since the reactor last looked;
//! - *an edge in `epoll_wait`*: the writer's wake-up is a write to the reactor's
//!   `mio::Waker` (an `eventfd`), asked for by `arm()` only while some task waits;
//! - *a waiter list*: the reactor files the waiting tasks' wakers, and wakes them all when
//!   the log moved ([`Reactor::watch_log`] and the reactor's turn);
//! - *a future*: [`answered`], which asks `Conn`, and if the answer is not in, files its
//!   task's waker and returns `Pending`.
//!
//! On tokio the same shape is a `tokio::sync::Notify` in place of the list. A runtime could
//! also park a thread on the log (`spawn_blocking`), one per waiting request, which is what
//! this avoids.

use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};
use std::time::Instant;

use ingest_http::Conn;
#[cfg(doc)]
use ingest_service::event_log::LogWatch;
use ingest_service::Service;

use crate::reactor::Reactor;

// ANCHOR: answered
/// A future that completes once `conn`'s waiting request has its answer (encoded in its
/// output, ready to write).
pub fn answered<'a>(
    conn: &'a mut Conn,
    service: &'a Service,
    reactor: &Rc<Reactor>,
) -> Answered<'a> {
    Answered {
        conn,
        service,
        reactor: Rc::clone(reactor),
        filed: None,
    }
}

/// The future of [`answered`].
pub struct Answered<'a> {
    conn: &'a mut Conn,
    service: &'a Service,
    reactor: Rc<Reactor>,
    /// The reactor's key for this task's waker, while one is filed.
    filed: Option<u64>,
}

impl Future for Answered<'_> {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        // Polled again: the old entry may hold a stale waker (or be gone, if it was woken).
        if let Some(key) = self.filed.take() {
            self.reactor.cancel_log_waiter(key);
        }
        let this = &mut *self;
        // Asked before filing: an answer that came in meanwhile is not slept through. One
        // that comes after is, until the reactor's next turn sees the log moved, and that
        // turn cannot sleep through it (it arms the watch, then looks).
        if !this.conn.is_waiting() || this.conn.poll_pending(Instant::now(), this.service) {
            return Poll::Ready(());
        }
        this.filed = Some(this.reactor.add_log_waiter(cx.waker().clone()));
        Poll::Pending
    }
}

/// Cancellation, as for a timer: a `select` that drops the wait takes its waker out, so the
/// reactor's list holds only tasks that still wait.
impl Drop for Answered<'_> {
    fn drop(&mut self) {
        if let Some(key) = self.filed.take() {
            self.reactor.cancel_log_waiter(key);
        }
    }
}
// ANCHOR_END: answered

#[cfg(test)]
mod tests {
    use std::cell::RefCell;
    use std::fs::File;
    use std::io::{self, ErrorKind, Read, Write};
    use std::sync::{Arc, Condvar, Mutex};
    use std::time::Duration;

    use ingest_service::event_log::LogSink;
    use ingest_service::{Config, EventLog, Shutdown};

    use super::*;
    use crate::connection::{serve_connection, Scratch};
    use crate::executor::Executor;
    use crate::net::TcpListener;
    use crate::select::select;
    use crate::time::sleep_until;

    /// A disk that stalls: the writer's first `append` blocks until the test opens the gate.
    #[derive(Default)]
    struct Gate {
        /// (the writer is inside `append`, the gate is open)
        state: Mutex<(bool, bool)>,
        changed: Condvar,
    }

    impl Gate {
        fn update(&self, f: impl FnOnce(&mut (bool, bool))) {
            f(&mut self.state.lock().unwrap());
            self.changed.notify_all();
        }

        fn wait_until(&self, f: impl Fn(&(bool, bool)) -> bool) {
            let state = self.state.lock().unwrap();
            let (_state, timeout) = self
                .changed
                .wait_timeout_while(state, Duration::from_secs(10), |s| !f(s))
                .unwrap();
            assert!(!timeout.timed_out(), "the gate's condition never came");
        }
    }

    struct GatedSink {
        file: File,
        gate: Arc<Gate>,
    }

    impl LogSink for GatedSink {
        fn append(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.gate.update(|s| s.0 = true);
            self.gate.wait_until(|s| s.1);
            self.file.write(buf)
        }
        fn truncate(&mut self, len: u64) -> io::Result<()> {
            self.file.set_len(len)
        }
        fn sync(&mut self) -> io::Result<()> {
            self.file.sync_all()
        }
    }

    /// Writes `request` and reads until the server closes the connection.
    fn exchange(stream: &mut std::net::TcpStream, request: &str) -> Vec<u8> {
        stream.write_all(request.as_bytes()).unwrap();
        let mut response = Vec::new();
        stream.read_to_end(&mut response).unwrap();
        response
    }

    /// While one connection's `POST /ingest` waits for a stalled writer (`--ack written`),
    /// another connection's `/health` is answered: the wait parks one task, not the thread,
    /// and the ingest gets its `202` once the write goes through.
    #[test]
    fn a_waiting_ingest_does_not_block_other_connections() {
        let data_dir = tempfile::tempdir().unwrap();
        let config = Config {
            data_dir: data_dir.path().to_path_buf(),
            ..Config::default()
        };
        let gate = Arc::new(Gate::default());
        let sink_gate = Arc::clone(&gate);
        let service = Arc::new(
            Service::open_with("p4b-executor", &config, |dir, stats| {
                EventLog::open_with_sink(dir, stats, |file| {
                    Box::new(GatedSink {
                        file,
                        gate: sink_gate,
                    })
                })
            })
            .unwrap(),
        );
        let shutdown = Shutdown::new();
        let reactor = Rc::new(Reactor::new().unwrap());
        reactor.watch_log(&service);
        let executor = Executor::new(Rc::clone(&reactor), shutdown.clone());
        let std_listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = std_listener.local_addr().unwrap();
        let listener = TcpListener::new(std_listener, &reactor).unwrap();
        let scratch: Scratch = Rc::new(RefCell::new(vec![0; 4096].into_boxed_slice()));

        let client_gate = Arc::clone(&gate);
        let client = std::thread::spawn(move || {
            let connect = || {
                let stream = std::net::TcpStream::connect(addr).unwrap();
                stream
                    .set_read_timeout(Some(Duration::from_secs(10)))
                    .unwrap();
                stream
            };
            let body = r#"{"name":"cpu.load","value":1}"#;
            let mut ingest = connect();
            let post = format!(
                "POST /ingest HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\
                 Content-Length: {}\r\n\r\n{body}",
                body.len()
            );
            ingest.write_all(post.as_bytes()).unwrap();
            client_gate.wait_until(|s| s.0); // the batch is queued; the writer is stuck
            let health = exchange(
                &mut connect(),
                "GET /health HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
            );
            ingest.set_nonblocking(true).unwrap();
            let early = ingest.read(&mut [0; 64]);
            let answered_early = !matches!(&early, Err(e) if e.kind() == ErrorKind::WouldBlock);
            ingest.set_nonblocking(false).unwrap();
            client_gate.update(|s| s.1 = true);
            (health, answered_early, exchange(&mut ingest, ""))
        });

        let serve_two = async {
            for _ in 0..2 {
                let (stream, _) = listener.accept().await.unwrap();
                let (service, shutdown) = (Arc::clone(&service), shutdown.clone());
                let (reactor, scratch) = (Rc::clone(&reactor), Rc::clone(&scratch));
                executor.spawn(async move {
                    let _ = serve_connection(stream, &service, &shutdown, &reactor, &scratch).await;
                });
            }
            executor.all_tasks_done().await;
        };
        let give_up = sleep_until(&reactor, Instant::now() + Duration::from_secs(20));
        executor
            .block_on(select(std::pin::pin!(serve_two), give_up))
            .unwrap();
        gate.update(|s| s.1 = true); // whatever happened, let the writer finish
        let (health, answered_early, ingest) = client.join().unwrap();
        let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
        assert!(health.starts_with(b"HTTP/1.1 200"), "{}", text(&health));
        assert!(!answered_early, "the ingest was answered before the write");
        assert!(ingest.starts_with(b"HTTP/1.1 202"), "{}", text(&ingest));
        assert_eq!(reactor.pending_log_waiters(), 0);
        service.finish().unwrap();
    }
}
