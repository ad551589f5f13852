//! Measures what an idle keep-alive connection costs the server, in resident memory.
//!
//! ```text
//! cargo build --release -p p3-reactor
//! cargo run --release -p p3-reactor --example idle_rss -- [SERVER_BINARY] [CONNECTIONS]
//! ```
//!
//! Starts the server binary (default `target/release/p3-reactor`; any phase works) on an
//! ephemeral port, reads its RSS from `/proc` (Linux only), opens CONNECTIONS connections
//! (default 5,000) that each send one `GET /health`, read the answer and then stay open and
//! silent, reads the RSS again, and prints the difference per connection. Kernel memory
//! (socket buffers, epoll entries) is not in the process's RSS and is not counted: this is
//! what the *server program* spends per connection.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Command, Stdio};
use std::thread;
use std::time::Duration;

fn main() {
    let mut args = std::env::args().skip(1);
    let binary = args
        .next()
        .unwrap_or_else(|| "target/release/p3-reactor".to_string());
    let connections: usize = match args.next().map(|n| n.parse()) {
        None => 5_000,
        Some(Ok(n)) => n,
        Some(Err(e)) => fail(&format!("CONNECTIONS must be a number: {e}")),
    };
    raise_fd_limit(connections as u64 + 100);

    let data_dir = std::env::temp_dir().join(format!("idle-rss-{}", std::process::id()));
    let mut server = Command::new(&binary)
        .args(["--addr", "127.0.0.1:0", "--log", "warn"])
        .args(["--idle-timeout", "600s", "--max-conns", "100000"])
        .arg("--data-dir")
        .arg(&data_dir)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| fail(&format!("cannot start {binary}: {e}")));
    let mut banner = String::new();
    BufReader::new(server.stdout.take().expect("piped"))
        .read_line(&mut banner)
        .unwrap_or_else(|e| fail(&format!("no banner: {e}")));
    let addr = parse_addr(&banner);
    let pid = server.id();

    // One request first, so that whatever the server allocates lazily on its first
    // connection is in the baseline, not in the per-connection figure.
    drop(open_idle(addr));
    thread::sleep(Duration::from_millis(300));
    let before = rss_kib(pid);

    let idle: Vec<TcpStream> = (0..connections).map(|_| open_idle(addr)).collect();
    thread::sleep(Duration::from_millis(500));
    let after = rss_kib(pid);

    let per_connection = (after.saturating_sub(before) * 1024) as f64 / connections as f64;
    println!("server: {binary} (pid {pid})");
    println!("RSS with no connections: {before} KiB");
    println!("RSS with {connections} idle connections: {after} KiB");
    println!("per idle connection: {per_connection:.0} bytes");

    drop(idle);
    // SAFETY: sending SIGTERM to the child we started; no memory is involved.
    unsafe { libc::kill(pid as libc::pid_t, libc::SIGTERM) };
    let _ = server.wait();
    let _ = std::fs::remove_dir_all(&data_dir);
}

/// A connection that has been answered once and now sits idle (keep-alive).
fn open_idle(addr: SocketAddr) -> TcpStream {
    let mut stream =
        TcpStream::connect(addr).unwrap_or_else(|e| fail(&format!("connect {addr}: {e}")));
    stream
        .write_all(b"GET /health HTTP/1.1\r\nHost: bench\r\n\r\n")
        .unwrap_or_else(|e| fail(&format!("write: {e}")));
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("set_read_timeout");
    let mut response = Vec::new();
    let mut buf = [0u8; 512];
    // The body of /health is "ok": read until the response ends with it.
    while !response.ends_with(b"\r\n\r\nok") {
        match stream.read(&mut buf) {
            Ok(0) => fail("the server closed a connection"),
            Ok(n) => response.extend_from_slice(&buf[..n]),
            Err(e) => fail(&format!("read: {e}")),
        }
    }
    stream
}

/// The address in `listening on http://IP:PORT (phase NAME, pid PID)`.
fn parse_addr(banner: &str) -> SocketAddr {
    banner
        .split("http://")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|addr| addr.parse().ok())
        .unwrap_or_else(|| fail(&format!("unexpected first line: {banner:?}")))
}

/// `VmRSS` of `pid`, in KiB.
fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_else(|e| fail(&format!("/proc/{pid}/status (Linux only): {e}")));
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or_else(|| fail("no VmRSS line"))
}

/// Both this process and the server (which inherits it) need a descriptor per connection.
fn raise_fd_limit(wanted: u64) {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `limit` is a valid rlimit for the kernel to fill.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
        return;
    }
    if limit.rlim_cur >= wanted as libc::rlim_t {
        return;
    }
    limit.rlim_cur = limit.rlim_max.min(wanted as libc::rlim_t);
    // SAFETY: `limit` is a valid rlimit; raising the soft limit up to the hard one is allowed.
    unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &limit) };
}

fn fail(message: &str) -> ! {
    eprintln!("idle_rss: {message}");
    std::process::exit(1);
}
