//! What a run measured: outcome counts, the latency histogram, and the summary
//! printed for people (`Display`) and for programs (`serde` JSON).

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use hdrhistogram::Histogram;
use serde::Serialize;

/// Highest latency the histogram holds (60 s, in nanoseconds); slower saturates.
const MAX_LATENCY_NS: u64 = 60_000_000_000;

/// Every way one request can end. Each request the generator issued ends in
/// exactly one of these; a request still in flight when the run stops is in none
/// (it is reported as `unfinished`), because it was never seen answered.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct Outcomes {
    /// A complete response with a 2xx status.
    pub ok: u64,
    /// A complete response with any other status (details in `statuses`).
    pub other_status: u64,
    /// The connection was refused (nothing listening, or the backlog overflowed).
    pub connect_refused: u64,
    /// The TCP handshake did not finish within the request timeout.
    pub connect_timeout: u64,
    /// Any other connect failure (no ephemeral port, no file descriptor...).
    pub connect_other: u64,
    /// The connection was reset or closed before the response was complete.
    pub reset: u64,
    /// No complete response within the request timeout.
    pub timeout: u64,
    /// The response could not be framed (bad status line, no Content-Length...).
    pub bad_response: u64,
}

impl Outcomes {
    /// All requests that ended, successfully or not.
    pub fn total(&self) -> u64 {
        self.ok + self.errors() + self.other_status
    }

    /// Requests that got no usable response at all.
    pub fn errors(&self) -> u64 {
        self.connect_refused
            + self.connect_timeout
            + self.connect_other
            + self.reset
            + self.timeout
            + self.bad_response
    }

    fn add(&mut self, o: &Outcomes) {
        self.ok += o.ok;
        self.other_status += o.other_status;
        self.connect_refused += o.connect_refused;
        self.connect_timeout += o.connect_timeout;
        self.connect_other += o.connect_other;
        self.reset += o.reset;
        self.timeout += o.timeout;
        self.bad_response += o.bad_response;
    }
}

/// What one event-loop thread measured; merged into a [`Report`] at the end.
pub struct ThreadTally {
    /// Latency of every answered request, in nanoseconds.
    pub latency: Histogram<u64>,
    /// How each request ended.
    pub outcomes: Outcomes,
    /// Responses by status code (index = code), so "other statuses" can be named.
    pub statuses: Box<[u64; 1000]>,
    /// Requests sent but not answered when the run stopped.
    pub unfinished: u64,
    /// Connection slots (clients) that got at least one complete response, any status.
    pub served_connections: u64,
    /// Bytes received, to report throughput.
    pub bytes_read: u64,
    /// One example message per failure kind, for the summary.
    pub first_error: Option<String>,
}

impl ThreadTally {
    /// An empty tally with a histogram from 1 ns to 60 s at 3 significant digits.
    pub fn new() -> Self {
        ThreadTally {
            latency: Histogram::new_with_bounds(1, MAX_LATENCY_NS, 3)
                .expect("static histogram bounds are valid"),
            outcomes: Outcomes::default(),
            statuses: Box::new([0; 1000]),
            unfinished: 0,
            served_connections: 0,
            bytes_read: 0,
            first_error: None,
        }
    }

    /// Records one complete response `latency` after its (intended) start.
    pub fn record_response(&mut self, status: u16, latency: Duration) {
        self.latency
            .saturating_record(latency.as_nanos().min(u128::from(MAX_LATENCY_NS)) as u64);
        self.statuses[usize::from(status)] += 1;
        if (200..300).contains(&status) {
            self.outcomes.ok += 1;
        } else {
            self.outcomes.other_status += 1;
        }
    }

    /// Keeps the first error message seen, so the summary can show a real example.
    pub fn note_error(&mut self, message: impl FnOnce() -> String) {
        if self.first_error.is_none() {
            self.first_error = Some(message());
        }
    }
}

impl Default for ThreadTally {
    fn default() -> Self {
        Self::new()
    }
}

/// Latency percentiles in milliseconds.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Latency {
    /// Mean latency.
    pub mean_ms: f64,
    /// Median.
    pub p50_ms: f64,
    /// 90th percentile.
    pub p90_ms: f64,
    /// 99th percentile.
    pub p99_ms: f64,
    /// 99.9th percentile.
    pub p999_ms: f64,
    /// Slowest answered request.
    pub max_ms: f64,
}

/// The result of one load run, merged over all threads.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// Wall-clock length of the run, seconds.
    pub elapsed_s: f64,
    /// Connections (or concurrent slots with `--new-conn`).
    pub connections: usize,
    /// Event-loop threads used.
    pub threads: usize,
    /// Goodput: 2xx responses per second. The headline figure: a server answering
    /// 503 at once is fast, not good.
    pub ok_per_s: f64,
    /// Complete responses per second, any status (2xx, 4xx, 503...).
    pub answered_per_s: f64,
    /// Share of ended requests that got a 2xx, in percent.
    pub success_pct: f64,
    /// Clients (connection slots; with `--new-conn`, concurrent slots) that got at least
    /// one complete response during the run.
    pub served_connections: u64,
    /// `served_connections` as a share of `connections`, in percent: a client that waited
    /// the whole run for its first answer counts against it, even when every answered
    /// request succeeded.
    pub served_pct: f64,
    /// How requests ended.
    pub outcomes: Outcomes,
    /// Responses by status code.
    pub statuses: BTreeMap<u16, u64>,
    /// Requests still in flight when the run stopped (counted nowhere else).
    pub unfinished: u64,
    /// Bytes received per second.
    pub read_bytes_per_s: f64,
    /// Latency distribution of answered requests.
    pub latency: Latency,
    /// An example error message, when there were errors.
    pub first_error: Option<String>,
}

impl Report {
    /// Merges the per-thread tallies of a run that took `elapsed`.
    pub fn merge(tallies: Vec<ThreadTally>, elapsed: Duration, connections: usize) -> Report {
        let threads = tallies.len();
        let mut all = ThreadTally::new();
        for t in tallies {
            all.latency.add(&t.latency).expect("same histogram bounds");
            all.outcomes.add(&t.outcomes);
            for (sum, n) in all.statuses.iter_mut().zip(t.statuses.iter()) {
                *sum += n;
            }
            all.unfinished += t.unfinished;
            all.served_connections += t.served_connections;
            all.bytes_read += t.bytes_read;
            if all.first_error.is_none() {
                all.first_error = t.first_error;
            }
        }
        let secs = elapsed.as_secs_f64().max(1e-9);
        let answered = all.outcomes.ok + all.outcomes.other_status;
        let total = all.outcomes.total();
        let ms = |ns: u64| ns as f64 / 1e6;
        let h = &all.latency;
        let latency = if h.is_empty() {
            Latency::default()
        } else {
            Latency {
                mean_ms: h.mean() / 1e6,
                p50_ms: ms(h.value_at_quantile(0.50)),
                p90_ms: ms(h.value_at_quantile(0.90)),
                p99_ms: ms(h.value_at_quantile(0.99)),
                p999_ms: ms(h.value_at_quantile(0.999)),
                max_ms: ms(h.max()),
            }
        };
        Report {
            elapsed_s: secs,
            connections,
            threads,
            ok_per_s: all.outcomes.ok as f64 / secs,
            answered_per_s: answered as f64 / secs,
            success_pct: if total == 0 {
                0.0
            } else {
                100.0 * all.outcomes.ok as f64 / total as f64
            },
            statuses: (0u16..)
                .zip(all.statuses.iter())
                .filter(|(_, &n)| n > 0)
                .map(|(code, &n)| (code, n))
                .collect(),
            served_connections: all.served_connections,
            served_pct: if connections == 0 {
                0.0
            } else {
                100.0 * all.served_connections as f64 / connections as f64
            },
            outcomes: all.outcomes,
            unfinished: all.unfinished,
            read_bytes_per_s: all.bytes_read as f64 / secs,
            latency,
            first_error: all.first_error,
        }
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let o = &self.outcomes;
        let l = &self.latency;
        writeln!(
            f,
            "{} requests in {:.2}s on {} connections, {} threads ({} unfinished at stop)",
            o.total(),
            self.elapsed_s,
            self.connections,
            self.threads,
            self.unfinished
        )?;
        writeln!(
            f,
            "  ok/s {:.0}   answered/s {:.0}   success {:.2}%   served {} of {} connections ({:.1}%)   read {:.1} MiB/s",
            self.ok_per_s,
            self.answered_per_s,
            self.success_pct,
            self.served_connections,
            self.connections,
            self.served_pct,
            self.read_bytes_per_s / (1024.0 * 1024.0)
        )?;
        writeln!(
            f,
            "  latency ms: mean {:.3}  p50 {:.3}  p90 {:.3}  p99 {:.3}  p99.9 {:.3}  max {:.3}",
            l.mean_ms, l.p50_ms, l.p90_ms, l.p99_ms, l.p999_ms, l.max_ms
        )?;
        let statuses: Vec<String> = self
            .statuses
            .iter()
            .map(|(code, n)| format!("{code}: {n}"))
            .collect();
        writeln!(f, "  statuses: {}", statuses.join(", "))?;
        if o.errors() > 0 {
            writeln!(
                f,
                "  errors: refused {}, connect timeout {}, connect other {}, reset {}, timeout {}, bad response {}",
                o.connect_refused, o.connect_timeout, o.connect_other, o.reset, o.timeout, o.bad_response
            )?;
        }
        if let Some(e) = &self.first_error {
            writeln!(f, "  first error: {e}")?;
        }
        Ok(())
    }
}
