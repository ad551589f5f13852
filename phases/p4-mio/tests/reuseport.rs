//! On Linux, `--threads 2` makes two reactors with a `SO_REUSEPORT` listener each, and the
//! kernel spreads new connections across both. Checked from the outside: 100 connections,
//! then SIGTERM, then each reactor's `reactor stopped ... accepted=N` log line.
#![cfg(target_os = "linux")]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Connections opened; with two listeners, the chance that a fair hash puts all of them on
/// one is 2 in 2^100.
const CONNECTIONS: usize = 100;

/// Both reactors accept connections, and together exactly the ones we opened.
#[test]
fn two_reactors_share_the_connections() {
    let dir = tempfile::tempdir().expect("temporary dir");
    let stderr_path = dir.path().join("server.stderr");
    let child = Command::new(env!("CARGO_BIN_EXE_p4-mio"))
        .args(["--addr", "127.0.0.1:0", "--threads", "2", "--log", "info"])
        .arg("--data-dir")
        .arg(dir.path().join("data"))
        .env_remove("RUST_LOG") // the test reads info lines: a stricter filter would hide them
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(&stderr_path).expect("stderr file"))
        .spawn()
        .expect("start p4-mio");
    let mut server = Killed(child);
    let addr = read_banner(&mut server.0);

    for i in 0..CONNECTIONS {
        let mut stream = TcpStream::connect(addr).unwrap_or_else(|e| panic!("connect {i}: {e}"));
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        stream
            .write_all(b"GET /health HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n")
            .unwrap();
        let mut response = Vec::new();
        stream.read_to_end(&mut response).unwrap();
        assert!(
            response.starts_with(b"HTTP/1.1 200 OK\r\n"),
            "connection {i}: {}",
            String::from_utf8_lossy(&response)
        );
    }

    terminate(&mut server.0);
    let log = std::fs::read_to_string(&stderr_path).expect("read stderr");
    let mut accepted = stopped_reactors(&log);
    accepted.sort();
    assert_eq!(
        accepted.iter().map(|&(id, _)| id).collect::<Vec<_>>(),
        [0, 1],
        "one `reactor stopped` line per reactor expected; the log:\n{log}"
    );
    assert!(
        accepted.iter().all(|&(_, n)| n > 0),
        "a reactor accepted nothing: {accepted:?}; the log:\n{log}"
    );
    let total: u64 = accepted.iter().map(|&(_, n)| n).sum();
    assert_eq!(total, CONNECTIONS as u64, "{accepted:?}");
}

/// `(reactor, accepted)` from every `reactor stopped reactor=I accepted=N` line.
fn stopped_reactors(log: &str) -> Vec<(u64, u64)> {
    log.lines()
        .filter(|line| line.contains("reactor stopped"))
        .map(|line| (field(line, "reactor="), field(line, "accepted=")))
        .collect()
}

/// The number after `name` (a `name=value` field of a log line).
fn field(line: &str, name: &str) -> u64 {
    line.split_whitespace()
        .find_map(|word| word.strip_prefix(name))
        .and_then(|value| value.parse().ok())
        .unwrap_or_else(|| panic!("no {name}NUMBER in {line:?}"))
}

/// The address in the first stdout line, `listening on http://IP:PORT (phase NAME, pid PID)`.
fn read_banner(child: &mut Child) -> SocketAddr {
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("piped"))
        .read_line(&mut line)
        .expect("read the first line");
    line.split("http://")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|addr| addr.parse().ok())
        .unwrap_or_else(|| panic!("unexpected first line: {line:?}"))
}

/// Sends SIGTERM and waits (at most 10 s) for a clean exit.
fn terminate(child: &mut Child) {
    let pid = libc::pid_t::try_from(child.id()).expect("pid");
    // SAFETY: kill(2) has no memory-safety preconditions; `pid` is our unreaped child.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGTERM) }, 0, "kill");
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().expect("wait") {
            assert!(status.success(), "exit status after SIGTERM: {status}");
            return;
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "no exit within 10 s of SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Kills the server when the test ends, whichever way it ends.
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
