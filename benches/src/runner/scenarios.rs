//! The load each phase gets: the default set, the `--quick` smoke, and the `--c10k`
//! additions.
//!
//! The time budget of one round: six timed scenarios of [`DEFAULT_DURATION`] each, plus
//! the three fixed-count tables (a few seconds on the slowest phase) and a start and a
//! graceful stop, make about 43 s a phase, 3.6 minutes for five phases. The full run
//! repeats the round (three times by default, see `--reps`): on a noisy machine three
//! shorter runs with a median and a spread say more than one long one.

use std::time::Duration;

use crate::loadgen::Mode;

/// Length of each timed scenario unless `--duration` says otherwise.
pub const DEFAULT_DURATION: Duration = Duration::from_secs(6);
/// Length of each timed scenario of `--quick`.
pub const QUICK_DURATION: Duration = Duration::from_secs(1);
/// What a phase costs besides its timed scenarios: the fixed-count tables, the
/// start and the stop (measured on a 2-core machine, slowest phase), and for the
/// idle-memory test opening 10,000 connections. Only for the estimate printed at start.
const OVERHEAD_PER_PHASE: Duration = Duration::from_secs(7);
const IDLE_OPENING: Duration = Duration::from_secs(6);

/// One ~100-byte event, the body of every `POST /ingest` scenario.
pub const EVENT: &str = r#"{"name":"cpu.load","value":0.93,"ts":1732370000123,"tags":{"host":"web-1","region":"eu-west-1"}}"#;

/// What a scenario does besides applying load.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum Kind {
    /// Plain load.
    Load,
    /// Hold this many idle keep-alive connections open, measure the RSS they cost,
    /// and keep loading with the scenario's active connections meanwhile.
    IdleMemory(usize),
}

/// One table of the report: the same load applied to every phase.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Scenario {
    /// Short id, used in file names and JSON.
    pub id: String,
    /// Table heading.
    pub title: String,
    /// `/ingest` or `/health`.
    pub path: &'static str,
    /// Active connections.
    pub connections: usize,
    /// Fixed requests per connection (the seed-style table), else timed.
    pub requests_per_connection: Option<u64>,
    /// Timed runs last this long.
    #[serde(skip)]
    pub duration: Duration,
    /// Keep-alive or a new connection per request.
    pub new_conn: bool,
    /// Plain load or the idle-memory test.
    pub kind: Kind,
    /// Open loop: the rate is a share of what the same phase reached under another scenario.
    pub open_loop: Option<OpenLoop>,
}

/// An open-loop scenario's rate: `fraction` of the goodput (ok/s) the same phase reached,
/// in the same round, under the closed-loop scenario `of`. Half of it is a load the phase
/// can carry, so the latencies show how evenly it serves, not how it queues when full.
#[derive(Debug, Clone, Copy, serde::Serialize)]
pub struct OpenLoop {
    /// Id of the closed-loop scenario whose goodput sets the rate.
    pub of: &'static str,
    /// Share of that goodput offered, 0 to 1.
    pub fraction: f64,
}

impl Scenario {
    fn timed(path: &'static str, connections: usize, duration: Duration) -> Self {
        let what = if path == "/ingest" {
            "POST /ingest"
        } else {
            "GET /health"
        };
        Scenario {
            id: format!("{}-{connections}", path.trim_start_matches('/')),
            title: format!("{what}, {connections} keep-alive connections"),
            path,
            connections,
            requests_per_connection: None,
            duration,
            new_conn: false,
            kind: Kind::Load,
            open_loop: None,
        }
    }

    fn fixed(clients: usize, requests: u64) -> Self {
        Scenario {
            id: format!("fixed-{clients}x{requests}"),
            title: format!("POST /ingest, {clients} clients x {requests} requests"),
            path: "/ingest",
            connections: clients,
            requests_per_connection: Some(requests),
            duration: Duration::ZERO,
            new_conn: false,
            kind: Kind::Load,
            open_loop: None,
        }
    }

    /// The loadgen mode this scenario needs.
    pub fn mode(&self) -> Mode {
        if self.new_conn {
            Mode::NewConnection
        } else {
            Mode::Closed
        }
    }
}

/// The scenario list for the given flags.
pub fn plan(quick: bool, c10k: bool, duration: Option<Duration>) -> Vec<Scenario> {
    if quick {
        let d = duration.unwrap_or(QUICK_DURATION);
        return vec![Scenario::timed("/ingest", 10, d), Scenario::fixed(20, 50)];
    }
    let d = duration.unwrap_or(DEFAULT_DURATION);
    let mut list = vec![
        Scenario::timed("/ingest", 10, d),
        Scenario::timed("/ingest", 100, d),
        Scenario::timed("/ingest", 1000, d),
        Scenario {
            id: "open-ingest-100".into(),
            title:
                "POST /ingest, open loop at 50 % of the phase's ingest-100 goodput, 100 connections"
                    .into(),
            open_loop: Some(OpenLoop {
                of: "ingest-100",
                fraction: 0.5,
            }),
            ..Scenario::timed("/ingest", 100, d)
        },
        Scenario::timed("/health", 100, d),
        Scenario {
            id: "new-conn-100".into(),
            title: "GET /health, a new connection per request, 100 at a time".into(),
            path: "/health",
            new_conn: true,
            ..Scenario::timed("/health", 100, d)
        },
        Scenario::fixed(20, 50),
        Scenario::fixed(100, 100),
        Scenario::fixed(1000, 100),
    ];
    if c10k {
        // The cheapest request at 1,000 connections: where nginx, a peer on /health only,
        // shows its tail beside the event-driven phases'.
        list.push(Scenario::timed("/health", 1000, d));
        list.push(Scenario::timed("/ingest", 10_000, d));
        list.push(Scenario {
            id: "idle-10000".into(),
            title: "10,000 idle keep-alive connections + GET /health on 100 active".into(),
            kind: Kind::IdleMemory(10_000),
            ..Scenario::timed("/health", 100, d)
        });
    }
    list
}

/// Roughly how long `scenarios` take on `phases` phases, for the line printed at
/// start: people should know whether to wait or to get a coffee.
pub fn estimate(scenarios: &[Scenario], phases: usize) -> Duration {
    let per_phase: Duration = scenarios
        .iter()
        .map(|s| match (s.requests_per_connection, s.kind) {
            (Some(_), _) => Duration::ZERO, // in OVERHEAD_PER_PHASE
            (None, Kind::Load) => s.duration,
            (None, Kind::IdleMemory(_)) => s.duration + IDLE_OPENING,
        })
        .sum();
    (per_phase + OVERHEAD_PER_PHASE) * phases as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The scripts send the very event the bench sends: one payload, so figures compare.
    #[test]
    fn scripts_use_the_same_event() {
        let lib = include_str!("../../../scripts/lib.sh");
        assert!(lib.contains(&format!("EVENT='{EVENT}'")), "scripts/lib.sh");
        let lua = include_str!("../../../scripts/ingest.lua");
        assert!(
            lua.contains(&format!("wrk.body = '{EVENT}'")),
            "scripts/ingest.lua"
        );
    }

    /// One round of the default run fits four minutes for five phases, and --quick
    /// stays under the 90 s CI budget with seven phases.
    #[test]
    fn default_run_fits_the_budget() {
        let default = estimate(&plan(false, false, None), 5);
        assert!(default <= Duration::from_secs(240), "{default:?}");
        assert!(default >= Duration::from_secs(150), "{default:?}");
        assert!(estimate(&plan(true, false, None), 7) < Duration::from_secs(90));
    }

    /// Scenario ids are unique: they name the published files.
    #[test]
    fn ids_are_unique() {
        let list = plan(false, true, None);
        let mut ids: Vec<_> = list.iter().map(|s| s.id.as_str()).collect();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), list.len());
    }
}
