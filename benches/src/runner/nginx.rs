//! nginx as a peer on `GET /health`: the yardstick for "how fast can a small HTTP answer
//! be on this machine", set up fairly and measured in the same run as the phases.
//!
//! Fair means: one process (`master_process off`, so the pid the sampler watches is the one
//! serving), no access log, keep-alive connections never retired for their request count,
//! `return 200` with no file system work, a backlog like the phases' (1,024), and pinned to
//! the server's CPUs like every phase. The bench writes the configuration into a temporary
//! directory, starts nginx there, and stops it itself. nginx has no `/ingest`: it gets only
//! the `/health` scenarios.

use std::io::Read as _;
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use super::server::{http_get, StopCheck, UnderTest};

/// The peer's name in tables.
pub const NAME: &str = "nginx";

/// How long nginx may take to stop after SIGQUIT.
const STOP_TIMEOUT: Duration = Duration::from_secs(10);
/// How long nginx may take to answer `/health` after it was started.
const START_TIMEOUT: Duration = Duration::from_secs(10);

/// The nginx binary on `PATH` (or in `/usr/sbin`, where Debian puts it), if any.
pub fn find() -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain([PathBuf::from("/usr/sbin"), PathBuf::from("/usr/local/sbin")])
        .map(|dir| dir.join("nginx"))
        .find(|p| p.is_file())
}

/// The whole configuration for a server on `127.0.0.1:port` keeping its files in `dir`.
pub fn config(dir: &Path, port: u16) -> String {
    let d = dir.display();
    format!(
        "daemon off;
master_process off;
worker_processes 1;
worker_rlimit_nofile 30000;
pid {d}/nginx.pid;
error_log {d}/error.log warn;
events {{ worker_connections 20000; }}
http {{
    access_log off;
    keepalive_requests 1000000;
    keepalive_timeout 75s;
    client_body_temp_path {d}/body;
    proxy_temp_path {d}/proxy;
    fastcgi_temp_path {d}/fastcgi;
    uwsgi_temp_path {d}/uwsgi;
    scgi_temp_path {d}/scgi;
    server {{
        listen 127.0.0.1:{port} backlog=1024;
        location = /health {{ default_type text/plain; return 200 \"ok\"; }}
        location / {{ return 404; }}
    }}
}}
"
    )
}

/// A running nginx, stopped (and its directory removed) when dropped.
pub struct Nginx {
    child: Child,
    dir: tempfile::TempDir,
    addr: SocketAddr,
}

impl Nginx {
    /// Writes the configuration on a free port, starts `binary` pinned to `cpus`, and waits
    /// until it answers `/health`.
    pub fn start(binary: &Path, cpus: Option<Vec<usize>>) -> Result<Nginx, String> {
        let dir = tempfile::tempdir().map_err(|e| format!("cannot create a temp dir: {e}"))?;
        // A port the kernel just handed out and nobody holds: nginx cannot bind port 0 and
        // tell us which port it got.
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map_err(|e| format!("cannot find a free port: {e}"))?
            .port();
        let conf = dir.path().join("nginx.conf");
        std::fs::write(&conf, config(dir.path(), port))
            .map_err(|e| format!("cannot write {}: {e}", conf.display()))?;
        let mut command = Command::new(binary);
        command
            .arg("-p")
            .arg(dir.path())
            .arg("-c")
            .arg(&conf)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        if let Some(pin) = super::server::pin_to(cpus) {
            pin(&mut command);
        }
        let child = command
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", binary.display()))?;
        let mut nginx = Nginx {
            child,
            dir,
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
        };
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if matches!(http_get(nginx.addr, "/health"), Ok((200, _))) {
                return Ok(nginx);
            }
            if nginx.exited() || Instant::now() > deadline {
                let mut stderr = String::new();
                if let Some(mut e) = nginx.child.stderr.take() {
                    let _ = e.read_to_string(&mut stderr);
                }
                return Err(format!(
                    "nginx did not answer GET /health with 200: {} {}",
                    stderr.trim(),
                    nginx.stderr_tail()
                ));
            }
            thread::sleep(Duration::from_millis(50));
        }
    }

    /// Asks nginx to stop (SIGQUIT: finish the requests in flight) and waits for it, killing
    /// it after `timeout`. Returns whether it exited on its own.
    pub fn stop(&mut self, timeout: Duration) -> bool {
        let pid = self.child.id() as libc::pid_t;
        // SAFETY: kill(2) with a pid of our own child, which has not been reaped (we own the
        // `Child` and have not waited on it), so the pid cannot belong to another process.
        unsafe { libc::kill(pid, libc::SIGQUIT) };
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                return true;
            }
            thread::sleep(Duration::from_millis(20));
        }
        false // Drop kills it.
    }

    fn error_log(&self) -> PathBuf {
        self.dir.path().join("error.log")
    }
}

impl UnderTest for Nginx {
    fn addr(&self) -> SocketAddr {
        self.addr
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    fn exited(&mut self) -> bool {
        !matches!(self.child.try_wait(), Ok(None))
    }

    fn stderr_tail(&self) -> String {
        let log = std::fs::read_to_string(self.error_log()).unwrap_or_default();
        let lines: Vec<&str> = log.lines().rev().take(3).collect();
        lines.into_iter().rev().collect::<Vec<_>>().join(" | ")
    }

    fn log_len(&self) -> u64 {
        std::fs::metadata(self.error_log()).map_or(0, |m| m.len())
    }

    fn warnings_since(&self, offset: u64) -> Option<String> {
        let log = std::fs::read(self.error_log()).ok()?;
        let text = String::from_utf8_lossy(log.get(offset as usize..)?);
        let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
        let last = lines.last()?;
        Some(format!(
            "nginx logged {} line(s), last: {last}",
            lines.len()
        ))
    }

    fn finish(mut self: Box<Self>) -> Option<StopCheck> {
        if self.exited() {
            return Some(StopCheck {
                exit_code: None,
                accepted: None,
                stored_lines: None,
                ok: false,
                problem: Some(format!("crashed: {}", self.stderr_tail())),
            });
        }
        // No event log to check: a clean stop is all there is to say.
        (!self.stop(STOP_TIMEOUT)).then(|| StopCheck {
            exit_code: None,
            accepted: None,
            stored_lines: None,
            ok: false,
            problem: Some(format!("did not exit within {STOP_TIMEOUT:?} of SIGQUIT")),
        })
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The configuration holds every setting the fairness argument rests on.
    #[test]
    fn config_is_fair() {
        let conf = config(Path::new("/tmp/x"), 4242);
        for needle in [
            "master_process off;",
            "worker_processes 1;",
            "access_log off;",
            "keepalive_requests 1000000;",
            "listen 127.0.0.1:4242 backlog=1024;",
            "location = /health { default_type text/plain; return 200 \"ok\"; }",
            "pid /tmp/x/nginx.pid;",
            "error_log /tmp/x/error.log warn;",
        ] {
            assert!(conf.contains(needle), "{needle} missing from\n{conf}");
        }
    }

    /// When nginx is installed, it starts on its own port, answers /health, and stops.
    #[test]
    fn starts_answers_and_stops() {
        let Some(binary) = find() else {
            eprintln!("nginx not installed: nothing to start");
            return;
        };
        let mut nginx = Nginx::start(&binary, None).expect("nginx starts");
        assert_eq!(http_get(nginx.addr(), "/health").unwrap().0, 200);
        assert_eq!(http_get(nginx.addr(), "/ingest").unwrap().0, 404);
        assert!(
            nginx.stop(Duration::from_secs(5)),
            "nginx did not stop on SIGQUIT"
        );
    }
}
