//! A cancellation bug, on purpose: a line server that loses the start of slow lines.
//!
//! Each connection waits for one line in a `select` against a heartbeat tick, echoes the
//! line back and closes. The line is read by a future that keeps what it has read so far in
//! its own state; when the tick wins the `select`, that future is dropped, and the bytes
//! with it. The next round starts a fresh read, and the client gets back only the end of
//! its line. The book's chapter "Async in depth" walks through it; its exercise fixes it.
//!
//! ```text
//! cargo run -p p4b-executor --example lossy_lines            # listens on 127.0.0.1:9000
//! (printf 'hel'; sleep 1; printf 'lo\n') | nc 127.0.0.1 9000  # prints "lo", not "hello"
//! ```

use std::io;
use std::net::SocketAddr;
use std::pin::pin;
use std::rc::Rc;
use std::time::{Duration, Instant};

use ingest_service::Shutdown;
use p4b_executor::executor::{shutdown_requested, Executor};
use p4b_executor::net::{TcpListener, TcpStream};
use p4b_executor::reactor::Reactor;
use p4b_executor::select::{select, Either};
use p4b_executor::time::sleep_until;

/// How often the server notes, per connection, that it is still waiting.
const TICK: Duration = Duration::from_millis(300);

// ANCHOR: read_line
/// Reads until a newline (or the end of the stream) and returns the line.
async fn read_line(stream: &TcpStream) -> io::Result<Vec<u8>> {
    // Owned by this future: if the future is dropped, so is everything read so far.
    let mut line = Vec::new();
    let mut buf = [0u8; 64];
    loop {
        let n = stream.read(&mut buf).await?;
        line.extend_from_slice(&buf[..n]);
        if n == 0 || line.ends_with(b"\n") {
            return Ok(line);
        }
    }
}
// ANCHOR_END: read_line

// ANCHOR: serve_line
/// Waits for one line, noting each tick, then echoes the line and closes.
async fn serve_line(stream: TcpStream, reactor: Rc<Reactor>) -> io::Result<()> {
    loop {
        let tick = sleep_until(&reactor, Instant::now() + TICK);
        let woken = select(pin!(read_line(&stream)), tick).await;
        match woken {
            Either::Left(line) => {
                stream.write(&line?).await?;
                return Ok(());
            }
            // The tick won: `read_line` was dropped, with the bytes it held.
            Either::Right(()) => eprintln!("tick: still waiting for a line"),
        }
    }
}
// ANCHOR_END: serve_line

/// Serves on `listener` until `shutdown` triggers.
fn run(listener: std::net::TcpListener, shutdown: Shutdown) -> io::Result<()> {
    let reactor = Rc::new(Reactor::new()?);
    let executor = Rc::new(Executor::new(Rc::clone(&reactor), shutdown.clone()));
    let listener = TcpListener::new(listener, &reactor)?;
    executor.block_on(async {
        loop {
            let accept = pin!(listener.accept());
            let stream = match select(shutdown_requested(&shutdown), accept).await {
                Either::Left(()) => return,
                Either::Right(Ok((stream, _peer))) => stream,
                Either::Right(Err(e)) => return eprintln!("accept: {e}"),
            };
            let reactor = Rc::clone(&reactor);
            executor.spawn(async move {
                if let Err(e) = serve_line(stream, reactor).await {
                    eprintln!("connection: {e}");
                }
            });
        }
    })
}

fn main() -> io::Result<()> {
    let addr: SocketAddr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:9000".into())
        .parse()
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, format!("address: {e}")))?;
    let listener = std::net::TcpListener::bind(addr)?;
    println!("listening on {}", listener.local_addr()?);
    // No signal handling: Ctrl-C ends the process, which is all an example needs.
    run(listener, Shutdown::new())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};

    /// Sends "hel", waits past a tick, sends "lo\n", and returns what the server echoed.
    fn echo_of_a_slow_line() -> String {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let shutdown = Shutdown::new();
        let server = {
            let shutdown = shutdown.clone();
            std::thread::spawn(move || run(listener, shutdown))
        };
        let mut client = std::net::TcpStream::connect(addr).unwrap();
        client.write_all(b"hel").unwrap();
        std::thread::sleep(TICK * 2);
        client.write_all(b"lo\n").unwrap();
        let mut echoed = String::new();
        client
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        client.read_to_string(&mut echoed).unwrap();
        shutdown.trigger();
        server.join().unwrap().unwrap();
        echoed
    }

    /// The bug the book reproduces: the bytes read before a tick are lost with the dropped
    /// future. (The exercise's solution makes this "hello\n".)
    #[test]
    fn a_slow_line_loses_its_start() {
        assert_eq!(echo_of_a_slow_line(), "lo\n");
    }
}
