//! One phase server under test: start it, talk to it, stop it, check its log.
//!
//! The bench treats each phase as a black box, exactly as SPEC.md describes it:
//! a binary that prints `listening on http://IP:PORT ...`, serves `/health` and
//! `/stats`, and on SIGTERM drains, flushes and exits 0 with `events.ndjson`
//! holding exactly `events_accepted` lines.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::thread;
use std::time::{Duration, Instant};

use conformance::{Options, ServerProcess};

/// How long a phase may take to answer `/health` once it printed its `listening on` line.
const START_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a graceful shutdown may take (SPEC: up to 5 s of draining, plus fsync).
const STOP_TIMEOUT: Duration = Duration::from_secs(15);

/// What the bench needs of a server under load: a phase, or a peer beside them.
pub trait UnderTest {
    /// Where it listens.
    fn addr(&self) -> SocketAddr;
    /// Its process id, for sampling /proc.
    fn pid(&self) -> u32;
    /// Whether the process has already exited (crashed, for a running bench).
    fn exited(&mut self) -> bool;
    /// The last lines of its error output, to explain a failure.
    fn stderr_tail(&self) -> String;
    /// How many bytes it has logged so far; pass it to [`UnderTest::warnings_since`].
    fn log_len(&self) -> u64;
    /// Its warnings logged after byte `offset`: how many and the last one.
    fn warnings_since(&self, offset: u64) -> Option<String>;
    /// Stops it; for a server that keeps the event log, checks the log against what it
    /// accepted (None: nothing to check).
    fn finish(self: Box<Self>) -> Option<StopCheck>;
}

impl UnderTest for PhaseServer {
    fn addr(&self) -> SocketAddr {
        self.addr
    }

    fn pid(&self) -> u32 {
        PhaseServer::pid(self)
    }

    fn exited(&mut self) -> bool {
        PhaseServer::exited(self)
    }

    fn stderr_tail(&self) -> String {
        PhaseServer::stderr_tail(self)
    }

    fn log_len(&self) -> u64 {
        PhaseServer::log_len(self)
    }

    fn warnings_since(&self, offset: u64) -> Option<String> {
        PhaseServer::warnings_since(self, offset)
    }

    fn finish(mut self: Box<Self>) -> Option<StopCheck> {
        Some(if self.exited() {
            StopCheck {
                exit_code: None,
                accepted: None,
                stored_lines: None,
                ok: false,
                problem: Some(format!("crashed: {}", self.stderr_tail())),
            }
        } else {
            self.stop()
        })
    }
}

/// A running phase server: the conformance suite's [`ServerProcess`] (one harness starts
/// every phase, reads its banner and owns its scratch data dir), plus what the bench needs
/// around it: pinning, the stop check and the server's warnings.
pub struct PhaseServer {
    process: ServerProcess,
    /// The address it printed on its first stdout line.
    pub addr: SocketAddr,
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
    /// Starts `binary` on 127.0.0.1:0 with a fresh data dir and its own default limits,
    /// pinned to `cpus` when given, and waits until it answers `/health`.
    pub fn start(
        binary: &Path,
        cpus: Option<Vec<usize>>,
        extra_args: &[String],
    ) -> Result<Self, String> {
        let options = Options {
            args: extra_args.to_vec(),
            no_default_args: true,
            configure: pin_to(cpus),
        };
        let mut process = ServerProcess::try_start_with(binary, options)?;
        let addr = process.addr();
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if matches!(http_get(addr, "/health"), Ok((200, _))) {
                return Ok(PhaseServer { process, addr });
            }
            if Instant::now() > deadline || process.has_exited() {
                let tail = process.stderr_tail();
                return Err(format!(
                    "did not answer GET /health with 200 (stderr: {})",
                    tail.lines().rev().take(3).collect::<Vec<_>>().join(" | ")
                ));
            }
            thread::sleep(Duration::from_millis(50));
        }
    }

    /// The server's process id, for sampling /proc.
    pub fn pid(&self) -> u32 {
        self.process.pid().unwrap_or(0)
    }

    /// Whether the process has already exited (crashed, for a running bench).
    pub fn exited(&mut self) -> bool {
        self.process.has_exited()
    }

    /// The last lines of the server's stderr, to explain a failure.
    pub fn stderr_tail(&self) -> String {
        let tail = self.process.stderr_tail();
        let lines: Vec<&str> = tail.lines().rev().take(3).collect();
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

    /// The server's data directory, to ask which filesystem it is on.
    pub fn data_dir(&self) -> std::path::PathBuf {
        let file = self.process.data_file();
        file.parent().map_or(file.clone(), Path::to_path_buf)
    }

    fn log_path(&self) -> std::path::PathBuf {
        self.process.log_path()
    }

    /// The harness's process, for experiments that drive it themselves (the crash
    /// experiment kills and restarts it; [`PhaseServer::addr`] is then stale).
    pub fn process_mut(&mut self) -> &mut ServerProcess {
        &mut self.process
    }

    /// Fetches `/stats`, sends SIGTERM, waits for the exit, and checks that the
    /// log holds exactly the accepted events.
    pub fn stop(mut self) -> StopCheck {
        let accepted = http_get(self.addr, "/stats")
            .ok()
            .and_then(|(_, body)| serde_json::from_slice::<serde_json::Value>(&body).ok())
            .and_then(|v| v.get("events_accepted")?.as_u64());
        // A server that did not exit within the timeout is killed by `terminate`.
        let status = self.process.terminate(STOP_TIMEOUT).ok();
        let stored_lines = count_lines(&self.process.data_file());
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

/// Pins the server to `cpus` (Linux) before it execs, so it never shares a core with loadgen.
#[cfg(target_os = "linux")]
pub fn pin_to(cpus: Option<Vec<usize>>) -> Option<conformance::server::Configure> {
    let cpus = cpus?;
    Some(Box::new(move |command: &mut std::process::Command| {
        use std::os::unix::process::CommandExt;
        let cpus = cpus.clone();
        // SAFETY: the closure runs in the forked child before exec; it only makes the
        // sched_setaffinity system call on its own pid and allocates nothing (the CPU list
        // was cloned in before the fork).
        unsafe {
            command.pre_exec(move || crate::os::pin(0, &cpus));
        }
    }))
}

/// Pinning is Linux-only here; elsewhere the server runs where the OS puts it.
#[cfg(not(target_os = "linux"))]
pub fn pin_to(_cpus: Option<Vec<usize>>) -> Option<conformance::server::Configure> {
    None
}

fn count_lines(path: &Path) -> Option<u64> {
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
