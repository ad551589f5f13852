//! One phase server under test: start it, talk to it, stop it, check its log.
//!
//! The bench treats each phase as a black box, exactly as SPEC.md describes it:
//! a binary that prints `listening on http://IP:PORT ...`, serves `/health` and
//! `/stats`, and on SIGTERM drains, flushes and exits 0 with `events.ndjson`
//! holding exactly `events_accepted` lines.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

/// How long a phase may take to print its `listening on` line and answer `/health`.
const START_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a graceful shutdown may take (SPEC: up to 5 s of draining, plus fsync).
const STOP_TIMEOUT: Duration = Duration::from_secs(15);

/// A running phase server and its scratch data directory.
pub struct PhaseServer {
    child: Child,
    /// The address it printed on its first stdout line.
    pub addr: SocketAddr,
    /// Data dir; removed when the server is dropped.
    data_dir: tempfile::TempDir,
}

/// How a graceful stop went.
#[derive(Debug, Clone, serde::Serialize)]
pub struct StopCheck {
    /// Exit code after SIGTERM (None: killed by a signal, or had to be killed).
    pub exit_code: Option<i32>,
    /// `events_accepted` from the server's final counters (its last log line), or from
    /// `/stats` just before SIGTERM when it logged none.
    pub accepted: Option<u64>,
    /// Lines in `events.ndjson` after the exit.
    pub stored_lines: Option<u64>,
    /// Whether the exit was clean and the log holds exactly the accepted events.
    pub ok: bool,
    /// What went wrong, in one sentence, when not ok.
    pub problem: Option<String>,
}

impl PhaseServer {
    /// Starts `binary` on 127.0.0.1:0 with a fresh data dir, pinned to `cpus` when
    /// given, and waits until it answers `/health`.
    pub fn start(
        binary: &Path,
        cpus: Option<Vec<usize>>,
        extra_args: &[String],
    ) -> Result<Self, String> {
        let data_dir = tempfile::Builder::new()
            .prefix("bench-data-")
            .tempdir()
            .map_err(|e| format!("cannot create a data dir: {e}"))?;
        let mut command = Command::new(binary);
        command
            .args(["--addr", "127.0.0.1:0", "--data-dir"])
            .arg(data_dir.path().join("data"))
            .args(extra_args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(
                std::fs::File::create(data_dir.path().join("stderr.log"))
                    .map_err(|e| format!("cannot create the server log: {e}"))?,
            ));
        #[cfg(target_os = "linux")]
        if let Some(cpus) = cpus {
            use std::os::unix::process::CommandExt;
            // SAFETY: the closure runs in the forked child before exec; it only calls
            // sched_setaffinity (async-signal-safe) on its own pid and allocates nothing
            // new (the CPU list was moved in before the fork).
            unsafe {
                command.pre_exec(move || crate::os::pin(0, &cpus));
            }
        }
        #[cfg(not(target_os = "linux"))]
        let _ = cpus;
        let mut child = command
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", binary.display()))?;
        let stdout = child.stdout.take().expect("stdout was piped");
        let (tx, rx) = mpsc::channel();
        thread::spawn(move || {
            let mut lines = BufReader::new(stdout).lines();
            let _ = tx.send(lines.next());
            // Keep draining so a chatty server never blocks on a full pipe.
            for _ in lines {}
        });
        let mut server = PhaseServer {
            child,
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            data_dir,
        };
        let first = match rx.recv_timeout(START_TIMEOUT) {
            Ok(Some(Ok(line))) => line,
            _ => return Err(server.fail("did not print its `listening on` line")),
        };
        server.addr = match parse_listening_line(&first) {
            Some(a) => a,
            None => {
                return Err(server.fail(&format!(
                    "printed {first:?} instead of `listening on http://IP:PORT`"
                )))
            }
        };
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if matches!(http_get(server.addr, "/health"), Ok((200, _))) {
                return Ok(server);
            }
            if Instant::now() > deadline || server.exited() {
                return Err(server.fail("did not answer GET /health with 200"));
            }
            thread::sleep(Duration::from_millis(50));
        }
    }

    /// The server's process id, for sampling /proc.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Whether the process has already exited (crashed, for a running bench).
    pub fn exited(&mut self) -> bool {
        !matches!(self.child.try_wait(), Ok(None))
    }

    /// The last lines of the server's stderr, to explain a failure.
    pub fn stderr_tail(&self) -> String {
        let log = std::fs::read_to_string(self.log_path()).unwrap_or_default();
        let lines: Vec<&str> = log.lines().rev().take(3).collect();
        lines.into_iter().rev().collect::<Vec<_>>().join(" | ")
    }

    /// How many bytes the server has logged so far; pass it to
    /// [`PhaseServer::warnings_since`] after a scenario.
    pub fn log_len(&self) -> u64 {
        std::fs::metadata(self.log_path()).map_or(0, |m| m.len())
    }

    /// The server's `WARN` and `ERROR` lines logged after byte `offset`: how many
    /// and the last one, e.g. `196 warnings, last: cannot start a thread...`. It
    /// says *why* a row has failures, in the server's own words.
    pub fn warnings_since(&self, offset: u64) -> Option<String> {
        use std::io::{Seek, SeekFrom};
        let mut file = std::fs::File::open(self.log_path()).ok()?;
        file.seek(SeekFrom::Start(offset)).ok()?;
        let mut text = String::new();
        // A log flooded with warnings is cut at 16 MiB; the count is then a floor.
        file.take(16 << 20).read_to_string(&mut text).ok()?;
        let warnings: Vec<&str> = text
            .lines()
            .filter(|l| l.contains(" WARN ") || l.contains(" ERROR "))
            .collect();
        let last = warnings.last()?;
        // Drop the timestamp and level: `2024-.. WARN p1_blocking: message`.
        let message = last
            .split_once(" WARN ")
            .or_else(|| last.split_once(" ERROR "))
            .map_or(*last, |(_, m)| m)
            .trim();
        Some(format!(
            "server logged {} warning(s), last: {message}",
            warnings.len()
        ))
    }

    fn log_path(&self) -> PathBuf {
        self.data_dir.path().join("stderr.log")
    }

    /// Kills the server and turns `what` into an error that includes its stderr.
    fn fail(&mut self, what: &str) -> String {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let tail = self.stderr_tail();
        if tail.is_empty() {
            what.to_string()
        } else {
            format!("{what} (stderr: {tail})")
        }
    }

    /// Fetches `/stats`, sends SIGTERM, waits for the exit, and checks that the
    /// log holds exactly the accepted events.
    pub fn stop(mut self) -> StopCheck {
        let accepted = http_get(self.addr, "/stats")
            .ok()
            .and_then(|(_, body)| serde_json::from_slice::<serde_json::Value>(&body).ok())
            .and_then(|v| v.get("events_accepted")?.as_u64());
        // SAFETY: kill(2) with a pid we spawned and still own (not yet reaped).
        unsafe { libc::kill(self.child.id() as libc::pid_t, libc::SIGTERM) };
        let deadline = Instant::now() + STOP_TIMEOUT;
        let status = loop {
            match self.child.try_wait() {
                Ok(Some(s)) => break Some(s),
                Ok(None) if Instant::now() < deadline => thread::sleep(Duration::from_millis(20)),
                _ => {
                    let _ = self.child.kill();
                    let _ = self.child.wait();
                    break None;
                }
            }
        };
        let stored_lines = count_lines(&self.data_dir.path().join("data/events.ndjson"));
        // SPEC's promise is about the *final* count: requests still in flight when `/stats`
        // was read (a timed-out client's request the server answers later, the drain of
        // graceful shutdown) are accepted after it. The server logs its final counters as it
        // exits; `/stats` is only the fallback for a server that did not.
        let accepted = std::fs::read_to_string(self.log_path())
            .ok()
            .and_then(|log| final_events_accepted(&log))
            .or(accepted);
        let exit_code = status.and_then(|s| s.code());
        let problem = if let (Some(status), false) = (status, exit_code == Some(0)) {
            Some(format!("exited with {status} after SIGTERM"))
        } else if status.is_none() {
            Some(format!("did not exit within {STOP_TIMEOUT:?} of SIGTERM"))
        } else if accepted.is_none() {
            Some("/stats had no events_accepted".into())
        } else if stored_lines != accepted {
            Some(format!(
                "events.ndjson holds {} lines, the server accepted {}",
                stored_lines.map_or("no".into(), |n| n.to_string()),
                accepted.map_or("?".into(), |n| n.to_string())
            ))
        } else {
            None
        };
        StopCheck {
            exit_code,
            accepted,
            stored_lines,
            ok: problem.is_none(),
            problem,
        }
    }
}

/// `events_accepted` from the `final counters` line every phase logs as it exits
/// (`... final counters phase="p3-reactor" ... events_accepted=123 ...`).
fn final_events_accepted(log: &str) -> Option<u64> {
    let line = log.lines().rev().find(|l| l.contains("final counters"))?;
    let (_, rest) = line.split_once("events_accepted=")?;
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

impl Drop for PhaseServer {
    fn drop(&mut self) {
        // Never leave a server behind, whatever path we left by.
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Reads `IP:PORT` out of `listening on http://IP:PORT (phase NAME, pid PID)`.
pub fn parse_listening_line(line: &str) -> Option<SocketAddr> {
    let rest = line.trim().strip_prefix("listening on http://")?;
    rest.split_whitespace().next()?.parse().ok()
}

fn count_lines(path: &PathBuf) -> Option<u64> {
    let mut file = std::fs::File::open(path).ok()?;
    let mut buf = vec![0u8; 1 << 16];
    let mut lines = 0;
    loop {
        match file.read(&mut buf) {
            Ok(0) => return Some(lines),
            Ok(n) => lines += buf[..n].iter().filter(|&&b| b == b'\n').count() as u64,
            Err(_) => return None,
        }
    }
}

/// A one-shot blocking `GET` with `Connection: close`, for `/health` and `/stats`.
/// Returns the status and body.
pub fn http_get(addr: SocketAddr, path: &str) -> Result<(u16, Vec<u8>), String> {
    let timeout = Duration::from_secs(2);
    let mut stream = TcpStream::connect_timeout(&addr, timeout).map_err(|e| e.to_string())?;
    stream
        .set_read_timeout(Some(timeout))
        .map_err(|e| e.to_string())?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .map_err(|e| e.to_string())?;
    let mut response = Vec::new();
    stream
        .read_to_end(&mut response)
        .map_err(|e| e.to_string())?;
    let head_end = response
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or("response without a complete head")?;
    let status = std::str::from_utf8(&response[..head_end])
        .ok()
        .and_then(|h| h.split(' ').nth(1)?.parse().ok())
        .ok_or("malformed status line")?;
    Ok((status, response[head_end + 4..].to_vec()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The port comes from the first stdout line exactly as SPEC.md words it.
    #[test]
    fn parses_listening_line() {
        let a =
            parse_listening_line("listening on http://127.0.0.1:4321 (phase p1-blocking, pid 7)");
        assert_eq!(a, Some("127.0.0.1:4321".parse().unwrap()));
        assert_eq!(parse_listening_line("listening on 127.0.0.1:1"), None);
    }

    /// The final count comes from the last `final counters` line, not from other fields.
    #[test]
    fn reads_final_events_accepted() {
        let log = "2026-11-23T15:00:00Z  INFO ingest_service::service: final counters \
                   phase=\"p3-reactor\" requests_total=9 events_accepted=1234 events_stored=1234\n\
                   2026-11-23T15:00:00Z  INFO p3_reactor: bye\n";
        assert_eq!(final_events_accepted(log), Some(1234));
        assert_eq!(final_events_accepted("no such line\n"), None);
    }
}
