//! One scenario against one running phase: the load, the server samples taken
//! meanwhile, and (for the idle-memory scenario) the idle connections held open
//! around it.

use std::time::Duration;

use super::idle;
use super::output::Row;
use super::sampler;
use super::scenarios::{self, Kind, Scenario};
use super::server::UnderTest;
use super::CpuPlan;
use crate::loadgen::{self, LoadConfig, Mode, RequestSpec, Target};

/// A request or connect not answered within this counts as a timeout. Short enough
/// that a starved connection shows up as a timeout inside an 8-second run.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);

/// The loadgen config for scenario `s` against `server`.
fn config(
    server: &dyn UnderTest,
    s: &Scenario,
    rate: Option<f64>,
    threads: usize,
    cpus: &CpuPlan,
) -> Result<LoadConfig, String> {
    let target = Target::parse(&format!("http://{}{}", server.addr(), s.path))?;
    let request = if s.path == "/ingest" {
        RequestSpec {
            method: "POST".into(),
            headers: vec!["Content-Type: application/json".into()],
            body: scenarios::EVENT.as_bytes().to_vec(),
        }
    } else {
        RequestSpec {
            method: "GET".into(),
            headers: vec![],
            body: vec![],
        }
    };
    let mut c = LoadConfig::new(target, request);
    c.connections = s.connections;
    c.threads = threads;
    c.duration = s.duration;
    c.requests_per_connection = s.requests_per_connection;
    c.mode = match rate {
        Some(r) => Mode::Rate(r),
        None => s.mode(),
    };
    c.timeout = REQUEST_TIMEOUT;
    c.cpus = cpus.loadgen.clone();
    Ok(c)
}

/// A row with no numbers: the scenario did not run, for the reason `why`.
pub fn not_run(phase: &str, s: &Scenario, why: String) -> Row {
    Row {
        phase: phase.into(),
        scenario: s.id.clone(),
        report: None,
        usage: Default::default(),
        idle: None,
        error: Some(why),
        server_log: None,
        rep: 0,
    }
}

/// Runs scenario `s` against `server` with `threads` loadgen threads, open loop at `rate`
/// requests per second when given; never fails: whatever goes wrong ends up in the row.
pub fn run(
    server: &mut dyn UnderTest,
    phase: &str,
    s: &Scenario,
    rate: Option<f64>,
    threads: usize,
    cpus: &CpuPlan,
) -> Row {
    let mut row = Row {
        error: None,
        ..not_run(phase, s, String::new())
    };
    if server.exited() {
        row.error = Some(format!("crashed earlier: {}", server.stderr_tail()));
        return row;
    }
    let config = match config(server, s, rate, threads, cpus) {
        Ok(c) => c,
        Err(e) => {
            row.error = Some(e);
            return row;
        }
    };
    let log_from = server.log_len();
    // The idle connections stay open (held by `_idle`) while the active load runs.
    let _idle = if let Kind::IdleMemory(n) = s.kind {
        let (conns, report) = idle::open(server.addr(), server.pid(), n);
        if !sampler::supported() {
            row.error = Some("idle memory not measured: this OS has no /proc".into());
        }
        row.idle = Some(report);
        Some(conns)
    } else {
        None
    };
    let sampling = sampler::Sampler::start(server.pid());
    let result = loadgen::run(&config);
    row.usage = sampling.finish();
    match result {
        Ok(r) => row.report = Some(r),
        Err(e) => row.error = Some(e),
    }
    row.server_log = server.warnings_since(log_from);
    if server.exited() {
        row.error = Some(format!("server crashed: {}", server.stderr_tail()));
    }
    row
}
