//! `loadgen`: a small, fast HTTP/1.1 load generator.
//!
//! A run is described by a [`LoadConfig`] and produces a [`Report`]. Three ways to
//! apply load, because they answer different questions:
//!
//! - closed loop ([`Mode::Closed`]): C keep-alive connections, each sending its next
//!   request (or `pipeline` of them) as soon as the last answer arrives: "how much
//!   can the server do with C clients?";
//! - [`Mode::NewConnection`]: a new TCP connection per request: the accept path and
//!   the listen backlog (`somaxconn`), which keep-alive hides;
//! - open loop ([`Mode::Rate`]): requests are *scheduled* at a fixed rate and each
//!   latency runs from its scheduled time, so a server that stalls cannot hide its
//!   stall by slowing the client down ("coordinated omission").
//!
//! # Layout
//! - [`request`]: the URL and the request, encoded once;
//! - [`response`]: framing responses on the byte stream without allocating;
//! - `worker`: one mio event loop per thread, owning its share of the connections;
//! - [`report`]: outcome counts, the latency histogram, the summary;
//! - [`cli`]: the command line of the `loadgen` binary (reused by `bench load`).

pub mod cli;
pub mod report;
pub mod request;
pub mod response;
mod worker;

use std::thread;
use std::time::{Duration, Instant};

pub use report::{Latency, Outcomes, Report};
pub use request::{RequestSpec, Target};

/// How requests are issued.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Mode {
    /// Keep-alive connections, each sending as soon as its previous answer arrived.
    Closed,
    /// One TCP connection per request (`Connection: close`).
    NewConnection,
    /// Open loop at this many requests per second in total, latency from the
    /// scheduled send time.
    Rate(f64),
}

/// Everything one load run needs.
#[derive(Debug, Clone)]
pub struct LoadConfig {
    /// Where to connect and what the request line says.
    pub target: Target,
    /// The request sent, again and again.
    pub request: RequestSpec,
    /// Concurrent connections (with `NewConnection`: concurrent connection slots).
    pub connections: usize,
    /// Event-loop threads; each owns `connections / threads` connections.
    pub threads: usize,
    /// How long to run when `requests_per_connection` is `None`.
    pub duration: Duration,
    /// When set, each connection slot sends exactly this many requests and the run
    /// ends when all are answered (exact totals, like the seed tables).
    pub requests_per_connection: Option<u64>,
    /// Requests written back to back before waiting for their answers (1 = none).
    pub pipeline: usize,
    /// Closed loop, new connection per request, or open loop.
    pub mode: Mode,
    /// A request (or a connect) not finished after this counts as a timeout.
    pub timeout: Duration,
    /// CPUs the event-loop threads are pinned to, if any (the bench keeps the
    /// generator and the server on disjoint CPUs).
    pub cpus: Option<Vec<usize>>,
}

impl LoadConfig {
    /// A closed-loop `GET url` config with one connection, for tests and callers to adjust.
    pub fn new(target: Target, request: RequestSpec) -> Self {
        LoadConfig {
            target,
            request,
            connections: 1,
            threads: 1,
            duration: Duration::from_secs(10),
            requests_per_connection: None,
            pipeline: 1,
            mode: Mode::Closed,
            timeout: Duration::from_secs(10),
            cpus: None,
        }
    }

    /// Rejects combinations that cannot mean anything, with a message saying why.
    pub fn validate(&self) -> Result<(), String> {
        self.request.validate()?;
        if self.connections == 0 {
            return Err("--connections must be at least 1".into());
        }
        if self.threads == 0 {
            return Err("--threads must be at least 1".into());
        }
        if self.pipeline == 0 {
            return Err("--pipeline must be at least 1".into());
        }
        if self.timeout.is_zero() {
            return Err("--timeout must be positive".into());
        }
        if self.mode == Mode::NewConnection && self.pipeline > 1 {
            return Err("--new-conn sends one request per connection: it cannot pipeline".into());
        }
        if let Mode::Rate(r) = self.mode {
            if !(r.is_finite() && r > 0.0) {
                return Err("--rate must be a positive number of requests per second".into());
            }
            if self.requests_per_connection.is_some() {
                return Err("--rate runs for a duration; it cannot be combined with -n".into());
            }
        }
        if self.requests_per_connection == Some(0) {
            return Err("-n must be at least 1".into());
        }
        if self.requests_per_connection.is_none() && self.duration.is_zero() {
            return Err("--duration must be positive".into());
        }
        Ok(())
    }
}

/// Runs the load described by `config` and returns what it measured.
///
/// Raises the open-file limit first (every connection is a descriptor). Errors are
/// configuration or setup errors; everything that goes wrong on the wire is counted
/// in the report instead.
pub fn run(config: &LoadConfig) -> Result<Report, String> {
    config.validate()?;
    let nofile = crate::os::raise_nofile_limit().map_err(|e| format!("getrlimit: {e}"))?;
    // Each connection needs a descriptor; leave a few for stdio, epoll and friends.
    if config.connections as u64 + 32 > nofile {
        return Err(format!(
            "{} connections need more file descriptors than the limit allows ({nofile}); raise `ulimit -n`",
            config.connections
        ));
    }
    let threads = config.threads.min(config.connections);
    let plan = worker::Plan::new(config, threads);
    let start = Instant::now();
    let tallies = thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let plan = &plan;
                let share =
                    config.connections / threads + usize::from(t < config.connections % threads);
                thread::Builder::new()
                    .name(format!("loadgen-{t}"))
                    .spawn_scoped(scope, move || worker::run_thread(plan, share, start))
                    .map_err(|e| format!("cannot spawn a loadgen thread: {e}"))
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h?.join()
                    .map_err(|_| "a loadgen thread panicked".to_string())?
            })
            .collect::<Result<Vec<_>, String>>()
    })?;
    Ok(Report::merge(tallies, start.elapsed(), config.connections))
}
