//! What a check is, what it gets to work with, and how one is run.

use std::net::SocketAddr;
use std::path::PathBuf;

use crate::server::ServerProcess;

/// Why a check did not pass.
#[derive(Debug)]
pub enum Failure {
    /// The server broke a rule of SPEC.md; the message says which, with the raw bytes.
    Fail(String),
    /// The check could not run here (no `curl`, no spawned server, a low fd limit...).
    Skip(String),
}

impl From<String> for Failure {
    fn from(message: String) -> Failure {
        Failure::Fail(message)
    }
}

impl From<&str> for Failure {
    fn from(message: &str) -> Failure {
        Failure::Fail(message.to_string())
    }
}

/// What a check returns: `Ok(())` when the server conforms.
pub type Outcome = Result<(), Failure>;

/// Which server a check runs against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Needs {
    /// Any running server with the default limits: an `--addr` given by the user works.
    Server,
    /// The check starts its own server(s) with special flags, or signals the process, so it
    /// needs the binary (`--spawn BIN`, or a phase's test).
    Spawn,
}

/// One named rule of SPEC.md, checked over raw TCP.
pub struct Check {
    /// The name a failure is reported under; also the `#[test]` function's name.
    pub name: &'static str,
    /// One line saying what is checked, shown by `conformance --list`.
    pub doc: &'static str,
    /// Whether the check can run against a server it did not start.
    pub needs: Needs,
    /// The check itself.
    pub run: fn(&Ctx) -> Outcome,
}

/// What a check works with: a server to talk to, and the means to start its own.
pub struct Ctx {
    /// The server under test with default limits (`None` for [`Needs::Spawn`] checks in tests,
    /// which start their own).
    pub addr: Option<SocketAddr>,
    /// The server's event log, when known (spawned, or `--data-file` given).
    pub data_file: Option<PathBuf>,
    /// The server's pid, when the suite started it (for its RSS in `/proc`).
    pub pid: Option<u32>,
    /// The phase binary, when the suite may start servers itself.
    pub bin: Option<PathBuf>,
}

impl Ctx {
    /// The shared server's address; a check that needs one and has none is skipped.
    pub fn addr(&self) -> Result<SocketAddr, Failure> {
        self.addr
            .ok_or_else(|| Failure::Skip("needs a running server (--addr)".to_string()))
    }

    /// Starts a fresh server of the binary under test with `args` on top of the defaults.
    pub fn spawn(&self, args: &[&str]) -> Result<ServerProcess, Failure> {
        let bin = self
            .bin
            .as_ref()
            .ok_or_else(|| Failure::Skip("needs --spawn".to_string()))?;
        Ok(ServerProcess::try_start(bin, args)?)
    }

    /// A context for a server the suite started: address, data file and pid all known.
    pub fn for_server(server: &ServerProcess, bin: Option<PathBuf>) -> Ctx {
        Ctx {
            addr: Some(server.addr()),
            data_file: Some(server.data_file()),
            pid: server.pid(),
            bin,
        }
    }
}

/// The environment variable that turns every skip into a failure. `.ci/run` sets it: on
/// CI a check that could not run (no `curl`, a low descriptor limit) must fail, not pass.
pub const STRICT_ENV: &str = "CONFORMANCE_STRICT";

/// Whether skips fail ([`STRICT_ENV`] set to anything but `0` or empty).
pub fn strict() -> bool {
    std::env::var(STRICT_ENV).is_ok_and(|v| !v.is_empty() && v != "0")
}

/// Prints a note a reader of a passing run should see (a part skipped, a measured figure).
/// In `cargo test` it shows with `--nocapture` or when the test fails.
pub fn note(name: &str, message: &str) {
    eprintln!("note [{name}]: {message}");
}

/// Looks a check up by name in the ordinary list and the scale list.
pub fn find_check(name: &str) -> Option<&'static Check> {
    crate::checks::ALL
        .iter()
        .chain(crate::checks::SCALE.iter())
        .find(|c| c.name == name)
}

/// The body of every generated `#[test]`: runs the check named `name` against `bin`,
/// starting a default server first when the check shares one. Panics with the check's
/// message (and the server's last log lines) when it fails. A skipped check panics too
/// under [`STRICT_ENV`]; otherwise it says `SKIP` and why on the terminal, past `cargo
/// test`'s output capture, so a skip is never a silent pass.
pub fn run_phase_check(bin: &str, name: &str) {
    let check = find_check(name)
        .unwrap_or_else(|| panic!("conformance has no check named {name}: update the crate"));
    let bin = PathBuf::from(bin);
    let server = match check.needs {
        Needs::Server => Some(ServerProcess::start(&bin, &[])),
        Needs::Spawn => None,
    };
    let ctx = match &server {
        Some(server) => Ctx::for_server(server, Some(bin.clone())),
        None => Ctx {
            addr: None,
            data_file: None,
            pid: None,
            bin: Some(bin.clone()),
        },
    };
    match (check.run)(&ctx) {
        Ok(()) => {}
        Err(Failure::Skip(why)) if strict() => {
            panic!("SKIP {name}: {why} ({STRICT_ENV} is set, so a skipped check fails)")
        }
        Err(Failure::Skip(why)) => {
            use std::io::Write as _;
            // Written to the stderr handle itself, not through `eprintln!`: the test
            // harness captures the macros' output of a passing test, and hides it.
            let _ = writeln!(
                std::io::stderr(),
                "SKIP {name}: {why} (the test passes; set {STRICT_ENV}=1 to make it fail)"
            );
        }
        Err(Failure::Fail(why)) => {
            let log = server.as_ref().map(|s| s.stderr_tail()).unwrap_or_default();
            panic!("FAIL {name}: {why}\n--- server stderr (last lines) ---\n{log}");
        }
    }
}
