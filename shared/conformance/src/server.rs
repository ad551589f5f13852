//! Starting, stopping and restarting a phase binary under test.
//!
//! Every spawned server gets a fresh temporary data directory, binds `127.0.0.1:0`, and is
//! found through the first line it prints (`listening on http://IP:PORT (phase NAME, pid PID)`).
//! Dropping a [`ServerProcess`] kills it, so a failing check never leaves a server behind.

use std::io::{BufRead, BufReader, Read};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// How long a server may take to print its first line. Debug builds start in milliseconds;
/// the margin is for a loaded two-core machine.
const START_TIMEOUT: Duration = Duration::from_secs(10);

/// The flags (name, value pairs) every spawned server gets unless a check overrides them: timeouts short enough
/// that a hung check ends quickly, long enough that a slow machine does not trip them.
const DEFAULT_ARGS: &[&str] = &["--header-timeout", "5s", "--idle-timeout", "10s"];

/// A change to the server's `Command` before it is spawned (the bench pins it to CPUs).
pub type Configure = Box<dyn Fn(&mut Command) + Send + Sync>;

/// How to start a server, beyond the binary: [`ServerProcess::try_start`] covers the
/// common case; the bench uses [`ServerProcess::try_start_with`].
#[derive(Default)]
pub struct Options {
    /// Flags besides `--addr` and `--data-dir`.
    pub args: Vec<String>,
    /// Leave out the suite's short default timeouts (the bench measures the phase's own).
    pub no_default_args: bool,
    /// Applied to the `Command` before every spawn (restarts too).
    pub configure: Option<Configure>,
}

/// A phase binary running under the suite, killed when dropped.
pub struct ServerProcess {
    /// The binary, kept to restart it on the same data directory.
    bin: PathBuf,
    /// The flags it was started with (besides `--addr` and `--data-dir`), kept for restarts.
    args: Vec<String>,
    /// Applied to the `Command` before each spawn.
    configure: Option<Configure>,
    /// The running child; `None` once it has exited and been reaped.
    child: Option<Child>,
    /// The address parsed from the first stdout line.
    addr: SocketAddr,
    /// The phase name from the first stdout line (`phase NAME`).
    phase: String,
    /// The data directory; deleted when the process handle goes away.
    data_dir: tempfile::TempDir,
}

impl ServerProcess {
    /// Starts `bin` with a temporary data dir, `--addr 127.0.0.1:0` and `extra_args`, and waits
    /// for its `listening on` line. Panics with the reason: this is the test-harness entry.
    pub fn start(bin: impl AsRef<Path>, extra_args: &[&str]) -> ServerProcess {
        match ServerProcess::try_start(bin.as_ref(), extra_args) {
            Ok(server) => server,
            Err(e) => panic!("{e}"),
        }
    }

    /// Like [`ServerProcess::start`], but returns the reason it could not start.
    pub fn try_start(bin: &Path, extra_args: &[&str]) -> Result<ServerProcess, String> {
        ServerProcess::try_start_with(
            bin,
            Options {
                args: extra_args.iter().map(|s| s.to_string()).collect(),
                ..Options::default()
            },
        )
    }

    /// Starts `bin` as `options` say, with a temporary data dir and `--addr 127.0.0.1:0`,
    /// and waits for its `listening on` line.
    pub fn try_start_with(bin: &Path, options: Options) -> Result<ServerProcess, String> {
        let data_dir = tempfile::Builder::new()
            .prefix("conformance-")
            .tempdir()
            .map_err(|e| format!("cannot create a temporary data dir: {e}"))?;
        // A default flag the caller also gives is left out: clap rejects a flag given twice.
        let mut args: Vec<String> = Vec::new();
        if !options.no_default_args {
            for pair in DEFAULT_ARGS.chunks(2) {
                if !options.args.iter().any(|a| a == pair[0]) {
                    args.extend(pair.iter().map(|s| s.to_string()));
                }
            }
        }
        args.extend(options.args);
        let mut server = ServerProcess {
            bin: bin.to_path_buf(),
            args,
            configure: options.configure,
            child: None,
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            phase: String::new(),
            data_dir,
        };
        server.launch()?;
        Ok(server)
    }

    /// Spawns the binary on this handle's data dir and reads its first stdout line.
    fn launch(&mut self) -> Result<(), String> {
        let stderr_path = self.data_dir.path().join("server.stderr");
        let stderr = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&stderr_path)
            .map_err(|e| format!("cannot create {}: {e}", stderr_path.display()))?;
        let mut command = Command::new(&self.bin);
        command
            .arg("--addr")
            .arg("127.0.0.1:0")
            .arg("--data-dir")
            .arg(self.data_dir.path())
            .args(&self.args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(stderr);
        if let Some(configure) = &self.configure {
            configure(&mut command);
        }
        let mut child = command
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", self.bin.display()))?;
        let stdout = child.stdout.take().expect("stdout is piped");
        let (tx, rx) = mpsc::channel();
        // The reader thread hands over the first line, then keeps draining stdout so the
        // server can never block on a full pipe.
        std::thread::spawn(move || {
            let mut reader = BufReader::new(stdout);
            let mut first = String::new();
            let _ = tx.send(reader.read_line(&mut first).map(|_| first));
            let _ = std::io::copy(&mut reader, &mut std::io::sink());
        });
        let line = match rx.recv_timeout(START_TIMEOUT) {
            Ok(Ok(line)) if !line.is_empty() => line,
            other => {
                let _ = child.kill();
                let _ = child.wait();
                let why = match other {
                    Ok(Ok(_)) => "it exited without printing a line".to_string(),
                    Ok(Err(e)) => format!("reading its stdout failed: {e}"),
                    Err(_) => format!("no first line within {START_TIMEOUT:?}"),
                };
                return Err(format!(
                    "{} did not start: {why}; its stderr: {}",
                    self.bin.display(),
                    self.stderr_tail()
                ));
            }
        };
        let pid = child.id();
        self.child = Some(child);
        let (addr, phase, printed_pid) = parse_banner(&line)?;
        if printed_pid != pid {
            return Err(format!(
                "first line says pid {printed_pid} but the process is pid {pid}: {line:?}"
            ));
        }
        self.addr = addr;
        self.phase = phase;
        Ok(())
    }

    /// The address the server listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The phase name from the server's first line.
    pub fn phase(&self) -> &str {
        &self.phase
    }

    /// The server's process id, while it runs (for `/proc/PID/status`).
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Where the server appends accepted events: `DATA_DIR/events.ndjson`.
    pub fn data_file(&self) -> PathBuf {
        self.data_dir.path().join("events.ndjson")
    }

    /// The file the server's stderr (its log) goes to.
    pub fn log_path(&self) -> PathBuf {
        self.data_dir.path().join("server.stderr")
    }

    /// Whether the server has exited (it is reaped if so); false while it runs.
    pub fn has_exited(&mut self) -> bool {
        match self.child.as_mut() {
            Some(child) => !matches!(child.try_wait(), Ok(None)),
            None => true,
        }
    }

    /// The last lines the server logged, for failure messages.
    pub fn stderr_tail(&self) -> String {
        let text = std::fs::read_to_string(self.log_path()).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(15)..].join("\n")
    }

    /// Sends SIGTERM and waits up to `timeout` for the exit; the process is reaped either way.
    pub fn terminate(&mut self, timeout: Duration) -> Result<ExitStatus, String> {
        self.signal_and_wait(libc::SIGTERM, timeout)
    }

    /// Sends `signal` (SIGTERM, SIGINT) and waits up to `timeout` for the process to exit.
    /// A process still running after `timeout` is killed and reported as a failure.
    pub fn signal_and_wait(
        &mut self,
        signal: libc::c_int,
        timeout: Duration,
    ) -> Result<ExitStatus, String> {
        self.signal(signal)?;
        self.wait_exit(timeout)
    }

    /// Sends `signal` to the running server and returns at once.
    pub fn signal(&self, signal: libc::c_int) -> Result<(), String> {
        let child = self
            .child
            .as_ref()
            .ok_or("the server is not running (already stopped)")?;
        let pid = libc::pid_t::try_from(child.id()).map_err(|e| e.to_string())?;
        // SAFETY: kill(2) has no memory-safety preconditions; `pid` is our own child, which
        // has not been reaped yet (we hold its `Child`), so the pid cannot have been reused.
        if unsafe { libc::kill(pid, signal) } != 0 {
            return Err(format!(
                "kill({pid}, {signal}): {}",
                std::io::Error::last_os_error()
            ));
        }
        Ok(())
    }

    /// Waits up to `timeout` for the server to exit and reaps it. A server still running
    /// then is killed and reported as a failure.
    pub fn wait_exit(&mut self, timeout: Duration) -> Result<ExitStatus, String> {
        let mut child = self
            .child
            .take()
            .ok_or("the server is not running (already stopped)")?;
        let start = Instant::now();
        loop {
            match child.try_wait() {
                Ok(Some(status)) => return Ok(status),
                Ok(None) if start.elapsed() < timeout => {
                    std::thread::sleep(Duration::from_millis(20))
                }
                Ok(None) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    return Err(format!(
                        "the server did not exit within {timeout:?}; its stderr: {}",
                        self.stderr_tail()
                    ));
                }
                Err(e) => return Err(format!("waiting for the server: {e}")),
            }
        }
    }

    /// Starts the same binary with the same flags on the same data dir (after a stop).
    pub fn restart(&mut self) -> Result<(), String> {
        if self.child.is_some() {
            return Err("restart() needs the server stopped first".to_string());
        }
        self.launch()
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// `listening on http://127.0.0.1:41234 (phase p1-blocking, pid 4242)` -> its three parts.
pub fn parse_banner(line: &str) -> Result<(SocketAddr, String, u32), String> {
    let bad = || {
        format!(
            "first stdout line is not `listening on http://IP:PORT (phase NAME, pid PID)`: {line:?}"
        )
    };
    let rest = line
        .trim_end()
        .strip_prefix("listening on http://")
        .ok_or_else(bad)?;
    let (addr, rest) = rest.split_once(" (phase ").ok_or_else(bad)?;
    let (phase, rest) = rest.split_once(", pid ").ok_or_else(bad)?;
    let pid = rest.strip_suffix(')').ok_or_else(bad)?;
    Ok((
        addr.parse().map_err(|_| bad())?,
        phase.to_string(),
        pid.parse().map_err(|_| bad())?,
    ))
}

/// What a process that was expected to exit on its own (bad flags, port in use) did.
pub struct Exited {
    /// Its exit status.
    pub status: ExitStatus,
    /// Everything it wrote to stdout.
    pub stdout: String,
    /// Everything it wrote to stderr.
    pub stderr: String,
}

/// Runs `bin args...` expecting it to exit by itself within `timeout` (it is killed if not).
pub fn run_to_exit(bin: &Path, args: &[&str], timeout: Duration) -> Result<Exited, String> {
    let mut child = Command::new(bin)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", bin.display()))?;
    let drain = |pipe: Option<Box<dyn Read + Send>>| {
        std::thread::spawn(move || {
            let mut text = String::new();
            if let Some(mut pipe) = pipe {
                let _ = pipe.read_to_string(&mut text);
            }
            text
        })
    };
    let out = drain(child.stdout.take().map(|p| Box::new(p) as _));
    let err = drain(child.stderr.take().map(|p| Box::new(p) as _));
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().map_err(|e| e.to_string())? {
            break status;
        }
        if start.elapsed() > timeout {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!(
                "`{} {}` was still running after {timeout:?} (expected it to exit)",
                bin.display(),
                args.join(" ")
            ));
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    Ok(Exited {
        status,
        stdout: out.join().unwrap_or_default(),
        stderr: err.join().unwrap_or_default(),
    })
}
