//! The `loadgen` command line, kept in the library so `bench load` can accept the
//! very same flags after `--`.

use std::time::Duration;

use clap::Parser;

use super::{LoadConfig, Mode, RequestSpec, Target};

/// Command-line flags of `loadgen`.
#[derive(Debug, Clone, Parser)]
#[command(
    name = "loadgen",
    about = "HTTP/1.1 load generator: closed loop, new connection per request, or open loop",
    after_help = "Examples:\n  loadgen -c 100 -d 10s http://127.0.0.1:8080/health\n  loadgen -c 1000 -n 100 -b '{\"name\":\"x\",\"value\":1}' http://127.0.0.1:8080/ingest\n  loadgen --rate 20000 -c 200 -d 30s http://127.0.0.1:8080/health"
)]
pub struct LoadgenArgs {
    /// Target URL, e.g. http://127.0.0.1:8080/ingest
    pub url: String,
    /// Concurrent connections (with --new-conn: concurrent connection attempts).
    #[arg(short = 'c', long, default_value_t = 10)]
    pub connections: usize,
    /// Event-loop threads; connections are split among them.
    #[arg(short = 't', long, default_value_t = 1)]
    pub threads: usize,
    /// How long to run (e.g. 10s, 500ms, 2m); ignored with -n.
    #[arg(short = 'd', long, default_value = "10s", value_parser = parse_duration)]
    pub duration: Duration,
    /// Send exactly this many requests per connection, then stop (exact totals).
    #[arg(short = 'n', long = "requests")]
    pub requests: Option<u64>,
    /// HTTP method; defaults to POST when a body is given, else GET.
    #[arg(short = 'X', long)]
    pub method: Option<String>,
    /// Extra header, "Name: value"; repeatable.
    #[arg(short = 'H', long = "header")]
    pub headers: Vec<String>,
    /// Request body, inline or @path to read it from a file.
    #[arg(short = 'b', long)]
    pub body: Option<String>,
    /// Requests written back to back on a connection before waiting for answers.
    #[arg(short = 'p', long, default_value_t = 1)]
    pub pipeline: usize,
    /// Open a new TCP connection for every request (measures accept and backlog).
    #[arg(long, conflicts_with_all = ["rate", "pipeline"])]
    pub new_conn: bool,
    /// Open loop: total requests per second, latency measured from the scheduled time.
    #[arg(short = 'R', long, conflicts_with = "requests")]
    pub rate: Option<f64>,
    /// A request or connect not finished after this counts as a timeout.
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    pub timeout: Duration,
    /// Print the report as JSON instead of the human summary.
    #[arg(long)]
    pub json: bool,
}

impl LoadgenArgs {
    /// Turns the flags into a run description, reading `@file` bodies.
    pub fn into_config(self) -> Result<LoadConfig, String> {
        let target = Target::parse(&self.url)?;
        let body = match self.body.as_deref() {
            None => Vec::new(),
            Some(b) => match b.strip_prefix('@') {
                Some(path) => std::fs::read(path)
                    .map_err(|e| format!("cannot read body file {path:?}: {e}"))?,
                None => b.as_bytes().to_vec(),
            },
        };
        let method = self
            .method
            .unwrap_or_else(|| if self.body.is_some() { "POST" } else { "GET" }.to_string());
        let config = LoadConfig {
            target,
            request: RequestSpec {
                method,
                headers: self.headers,
                body,
            },
            connections: self.connections,
            threads: self.threads,
            duration: self.duration,
            requests_per_connection: self.requests,
            pipeline: self.pipeline,
            mode: match (self.new_conn, self.rate) {
                (true, _) => Mode::NewConnection,
                (false, Some(r)) => Mode::Rate(r),
                (false, None) => Mode::Closed,
            },
            timeout: self.timeout,
            cpus: None,
        };
        config.validate()?;
        Ok(config)
    }
}

/// Parses `10s`, `500ms`, `2m`, `1.5s`, or a bare number of seconds.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let (number, scale) = if let Some(n) = s.strip_suffix("ms") {
        (n, 0.001)
    } else if let Some(n) = s.strip_suffix('s') {
        (n, 1.0)
    } else if let Some(n) = s.strip_suffix('m') {
        (n, 60.0)
    } else if let Some(n) = s.strip_suffix('h') {
        (n, 3600.0)
    } else {
        (s, 1.0)
    };
    let value: f64 = number
        .trim()
        .parse()
        .map_err(|_| format!("bad duration {s:?}: expected e.g. 10s, 500ms, 2m"))?;
    if !(value.is_finite() && value >= 0.0) || value * scale > 1e9 {
        return Err(format!(
            "bad duration {s:?}: must be a non-negative, reasonable time"
        ));
    }
    Ok(Duration::from_secs_f64(value * scale))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Durations accept the units people type and reject the rest.
    #[test]
    fn durations() {
        assert_eq!(parse_duration("10s").unwrap(), Duration::from_secs(10));
        assert_eq!(parse_duration("250ms").unwrap(), Duration::from_millis(250));
        assert_eq!(parse_duration("2m").unwrap(), Duration::from_secs(120));
        assert_eq!(parse_duration("3").unwrap(), Duration::from_secs(3));
        assert!(parse_duration("ten").is_err());
        assert!(parse_duration("-1s").is_err());
    }

    /// A body makes the default method POST; flags that contradict each other fail.
    #[test]
    fn flags_to_config() {
        let args = LoadgenArgs::parse_from(["loadgen", "-b", "{}", "http://127.0.0.1:1/ingest"]);
        assert_eq!(args.into_config().unwrap().request.method, "POST");
        assert!(
            LoadgenArgs::try_parse_from(["loadgen", "--new-conn", "-p", "4", "http://x:1/"])
                .is_err()
        );
        let zero = LoadgenArgs::parse_from(["loadgen", "-c", "0", "http://127.0.0.1:1/"]);
        assert!(zero.into_config().is_err());
    }
}
