//! [`Wakeup`]: how another thread makes the ring's wait return.
//!
//! The loop sleeps in `io_uring_enter` until a *completion* arrives, so a thread that wants
//! to wake it must make one: it writes to an `eventfd`, on which the loop keeps a read in
//! flight. The read completes, the loop wakes, looks at what changed, and submits the read
//! again. Two threads use one each: the signal handler's shutdown callback, and the event
//! log's writer when a group of batches is written (`--ack written`).
//!
//! A read, re-submitted after each completion, rather than a multishot poll: the read also
//! empties the eventfd's counter, so no completion is left over to mean nothing, and it is
//! the operation the probe already requires.

use std::fs::File;
use std::io::{self, Write};
use std::os::fd::{AsRawFd, FromRawFd};
use std::sync::Arc;

use io_uring::{opcode, types};
use tracing::debug;

use crate::ring::Ring;
use crate::user_data::{Op, UserData};

// ANCHOR: wakeup
/// An eventfd and the 8 bytes its in-flight read fills.
pub struct Wakeup {
    /// Shared with the thread that writes to it ([`Wakeup::notifier`]).
    fd: Arc<File>,
    /// The read's buffer. Leaked on purpose (8 bytes per wake-up, for the life of the
    /// process): it stays put, and valid, however the reactor ends, read in flight or not.
    buf: &'static mut [u8; 8],
    /// What the read's completion says it was for.
    op: Op,
}

impl Wakeup {
    /// A new eventfd, nothing submitted yet. `op` names its read's completions.
    pub fn new(op: Op) -> io::Result<Wakeup> {
        // Close-on-exec, as every descriptor here; non-blocking, so that a writer never
        // waits (a write blocks only when the counter would overflow) and so that the
        // ring's read, finding the counter at 0, waits by polling instead of holding one
        // of the kernel's worker threads.
        // SAFETY: no pointers; returns a new descriptor or -1.
        let fd = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(Wakeup {
            // SAFETY: `fd` is a new descriptor that nobody else owns.
            fd: Arc::new(unsafe { File::from_raw_fd(fd) }),
            buf: Box::leak(Box::new([0; 8])),
            op,
        })
    }

    /// What another thread calls to wake the loop: adds 1 to the eventfd's counter, which
    /// completes the read. Never blocks; safe to call from any thread, any number of times
    /// (wake-ups that come before the loop reads are merged into one).
    pub fn notifier(&self) -> impl Fn() + Send + Sync + 'static {
        let fd = Arc::clone(&self.fd);
        move || {
            if let Err(e) = (&*fd).write(&1u64.to_ne_bytes()) {
                debug!("wake-up eventfd not written: {e}");
            }
        }
    }

    /// Submits the read of the eventfd: it completes at the next [`Wakeup::notifier`] call
    /// (or at once, if one came since the last read). Submit it again after each completion.
    pub fn submit_read(&mut self, ring: &mut Ring) {
        let entry = opcode::Read::new(types::Fd(self.fd.as_raw_fd()), self.buf.as_mut_ptr(), 8)
            .build()
            .user_data(UserData::reactor(self.op).encode());
        // SAFETY: `buf` is leaked: it never moves and is never freed.
        unsafe { ring.push(entry) };
    }
}
// ANCHOR_END: wakeup

#[cfg(test)]
mod tests {
    use std::io::{ErrorKind, Read};
    use std::sync::{Condvar, Mutex};
    use std::time::Duration;

    use ingest_service::event_log::LogSink;
    use ingest_service::{Config, EventLog, Service, Shutdown};

    use crate::reactor::Reactor;

    use super::*;

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
    /// the ring answers another connection's `/health`; once the write goes through, the
    /// writer's eventfd wakes the ring and the ingest gets its `202`.
    #[test]
    fn a_waiting_ingest_does_not_block_the_ring() {
        if !crate::ring_available_or_skip("a_waiting_ingest_does_not_block_the_ring") {
            return;
        }
        let data_dir = tempfile::tempdir().unwrap();
        let config = Config {
            data_dir: data_dir.path().to_path_buf(),
            ..Config::default()
        };
        let gate = Arc::new(Gate::default());
        let sink_gate = Arc::clone(&gate);
        let service = Arc::new(
            Service::open_with("p6-uring", &config, |dir, stats| {
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
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let ring = {
            let (service, shutdown) = (Arc::clone(&service), shutdown.clone());
            std::thread::spawn(move || Reactor::new(listener, service, shutdown)?.run())
        };

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
        gate.wait_until(|s| s.0); // the batch is queued; the writer is stuck
        let health = exchange(
            &mut connect(),
            "GET /health HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
        );
        ingest.set_nonblocking(true).unwrap();
        let early = ingest.read(&mut [0; 64]);
        ingest.set_nonblocking(false).unwrap();
        gate.update(|s| s.1 = true);
        let answer = exchange(&mut ingest, "");
        shutdown.trigger();
        ring.join().unwrap().unwrap();
        service.finish().unwrap();

        let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
        assert!(health.starts_with(b"HTTP/1.1 200"), "{}", text(&health));
        assert!(
            matches!(&early, Err(e) if e.kind() == ErrorKind::WouldBlock),
            "the ingest was answered before the write: {early:?}"
        );
        assert!(answer.starts_with(b"HTTP/1.1 202"), "{}", text(&answer));
    }
}
