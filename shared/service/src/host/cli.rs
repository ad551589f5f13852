//! The command line every phase shares (SPEC.md, "Command line"), and its [`Config`].
//!
//! One definition keeps the phases' flags identical; only the help of `--threads` differs,
//! because it means workers in p2, reactors in p4, runtime threads in p5, and nothing in p1
//! and p3, whose `--help` must say that it is ignored.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use crate::event_log::Ack;
use clap::{CommandFactory, FromArgMatches, Parser};
use ingest_http::Limits;

/// What the shared `main` needs to know about the phase it runs.
#[derive(Debug, Clone, Copy)]
pub struct Phase {
    /// The binary's name (`p1-blocking`): in `--help`, the `listening on` line and `/stats`.
    pub name: &'static str,
    /// The help of `--threads` for this phase, e.g. "Worker threads (default: 4 x cores)" or
    /// "Ignored: this phase starts one thread per connection".
    pub threads_help: &'static str,
}

/// The parsed command line. Build it with [`Config::from_args`], or in tests from
/// [`Config::default`] (the CLI's defaults) with struct update syntax.
#[derive(Debug, Clone, Parser)]
#[command(about = "An HTTP event-ingestion server (one phase of the c10k-phases book)")]
pub struct Config {
    /// Address to listen on; port 0 picks a free port (printed on the first stdout line)
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub addr: SocketAddr,

    /// Directory of the event log (created if missing; events.ndjson is appended to)
    #[arg(long, default_value = "./data")]
    pub data_dir: PathBuf,

    /// Threads (the meaning depends on the phase)
    #[arg(long, value_parser = parse_positive)]
    pub threads: Option<usize>,

    /// Connections served at once; past it new connections get 503 and are closed
    #[arg(long, default_value = "20000", value_parser = parse_positive)]
    pub max_conns: usize,

    /// Largest request body: a number of bytes, or with a suffix k/KiB, m/MiB, g/GiB (x1024)
    #[arg(long, default_value = "1MiB", value_parser = parse_size)]
    pub max_body: usize,

    /// From a request's first byte to its end (408 after): e.g. 10s, 500ms, 2m
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    pub header_timeout: Duration,

    /// Close keep-alive connections idle this long: e.g. 30s, 500ms, 2m
    #[arg(long, default_value = "30s", value_parser = parse_duration)]
    pub idle_timeout: Duration,

    /// When 202 is sent: queued (handed to the writer), written (write(2) returned: survives a
    /// crash), synced (and fdatasync'ed, one sync per group: survives power loss)
    #[arg(long, value_enum, default_value_t = Ack::Written)]
    pub ack: Ack,

    /// Log filter (error, warn, info, debug, trace, or tracing directives); RUST_LOG overrides it
    #[arg(long, default_value = "info", value_parser = parse_log_filter)]
    pub log: String,
}

impl Default for Config {
    /// The CLI's defaults, so that tests state only what they change.
    fn default() -> Config {
        Config::parse_from(["server"])
    }
}

impl Config {
    /// `--threads`, or one per CPU this process may run on when it was not given: what the
    /// phases with a thread per core (p4's reactors, p5's and the axum peer's runtime
    /// workers) start. Zero is refused here too, for a `Config` built in code, which never
    /// went through the parser that refuses it on the command line.
    pub fn threads_or_one_per_cpu(&self) -> std::io::Result<usize> {
        match self.threads {
            Some(0) => Err(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "--threads must be at least 1",
            )),
            Some(n) => Ok(n),
            // `available_parallelism` respects the CPU affinity mask: pinned to one CPU, one.
            None => Ok(std::thread::available_parallelism().map_or(1, |n| n.get())),
        }
    }

    /// The clap command for `phase`: its name, and its own help for `--threads`.
    pub fn command(phase: &Phase) -> clap::Command {
        <Config as CommandFactory>::command()
            .name(phase.name)
            .bin_name(phase.name)
            .mut_arg("threads", |arg| arg.help(phase.threads_help))
    }

    /// Parses `args` (the program name first, as in `std::env::args_os()`). An error is
    /// clap's: `error.exit()` prints it and exits with code 2 (0 for `--help`).
    pub fn from_args<I, T>(phase: &Phase, args: I) -> Result<Config, clap::Error>
    where
        I: IntoIterator<Item = T>,
        T: Into<std::ffi::OsString> + Clone,
    {
        let mut command = Config::command(phase);
        let matches = command.try_get_matches_from_mut(args)?;
        Config::from_arg_matches(&matches).map_err(|e| e.format(&mut command))
    }

    /// The limits every connection enforces: the CLI's values plus SPEC.md's fixed ones.
    pub fn limits(&self) -> Limits {
        Limits {
            max_body: self.max_body,
            header_timeout: self.header_timeout,
            idle_timeout: self.idle_timeout,
            ..Limits::default()
        }
    }
}

fn parse_positive(s: &str) -> Result<usize, String> {
    match s.parse::<usize>() {
        Ok(0) => Err("must be at least 1".into()),
        Ok(n) => Ok(n),
        Err(_) => Err(format!("`{s}` is not a whole number")),
    }
}

/// Parses a byte size: `1024`, `64k`, `512KiB`, `1MiB`, `1g`. Suffixes are case-insensitive
/// and all binary (k = 1024): this is a memory limit, and mixing 1000s and 1024s in one flag
/// would surprise more people than it helps.
pub fn parse_size(s: &str) -> Result<usize, String> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (digits, unit) = s.split_at(split);
    let unit_bytes: usize = match unit.to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" | "kib" => 1 << 10,
        "m" | "mb" | "mib" => 1 << 20,
        "g" | "gb" | "gib" => 1 << 30,
        _ => {
            return Err(format!(
            "`{s}` is not a size; use a number of bytes, optionally with k, KiB, m, MiB, g or GiB"
        ))
        }
    };
    let n: usize = digits
        .parse()
        .map_err(|_| format!("`{s}` is not a size; it must start with a whole number"))?;
    match n.checked_mul(unit_bytes) {
        Some(0) => Err("must be at least 1 byte".into()),
        Some(bytes) => Ok(bytes),
        None => Err(format!("`{s}` is too large")),
    }
}

/// Parses a duration: `10s`, `500ms`, `2m`, `1h`; a bare number is seconds.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (digits, unit) = s.split_at(split);
    let n: u64 = digits
        .parse()
        .map_err(|_| format!("`{s}` is not a duration; write it like 10s, 500ms or 2m"))?;
    let duration = match unit {
        "ms" => Duration::from_millis(n),
        "" | "s" => Duration::from_secs(n),
        "m" => Duration::from_secs(n.saturating_mul(60)),
        "h" => Duration::from_secs(n.saturating_mul(3600)),
        _ => {
            return Err(format!(
                "`{s}` is not a duration; the units are ms, s, m and h (10s, 500ms, 2m)"
            ))
        }
    };
    if duration.is_zero() {
        return Err("must be longer than zero".into());
    }
    Ok(duration)
}

/// Checks a `--log` value now, so that a typo is a clap error (exit 2) rather than a
/// surprise once the server runs.
fn parse_log_filter(s: &str) -> Result<String, String> {
    tracing_subscriber::EnvFilter::try_new(s)
        .map(|_| s.to_owned())
        .map_err(|e| format!("`{s}` is not a log filter ({e}); try info or debug"))
}
