//! On Linux, `--threads 2` makes two reactors with a `SO_REUSEPORT` listener each, and the
//! kernel spreads new connections across both. Checked from the outside: 100 connections,
//! then SIGTERM, then each reactor's `reactor stopped ... accepted=N` log line.
#![cfg(target_os = "linux")]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::time::Duration;

use conformance::{Options, ServerProcess};

/// Connections opened; with two listeners, the chance that a fair hash puts all of them on
/// one is 2 in 2^100.
const CONNECTIONS: usize = 100;

/// Both reactors accept connections, and together exactly the ones we opened.
#[test]
fn two_reactors_share_the_connections() {
    let options = Options {
        args: ["--threads", "2", "--log", "info"]
            .map(String::from)
            .to_vec(),
        // The test reads info lines: a stricter RUST_LOG filter would hide them.
        configure: Some(Box::new(|command| {
            command.env_remove("RUST_LOG");
        })),
        ..Options::default()
    };
    let mut server =
        ServerProcess::try_start_with(Path::new(env!("CARGO_BIN_EXE_p4-mio")), options)
            .expect("start p4-mio");
    let addr = server.addr();

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

    let status = server
        .terminate(Duration::from_secs(10))
        .expect("exits within 10 s of SIGTERM");
    assert!(status.success(), "exit status after SIGTERM: {status}");
    let log = std::fs::read_to_string(server.log_path()).expect("read stderr");
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
