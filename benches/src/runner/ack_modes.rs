//! `bench ack-modes`: what each `--ack` mode costs a phase (`just ack-modes`).
//!
//! For every phase and every mode (`queued`, `written`, `synced`), a fresh server
//! started as `--ack MODE`, pinned like every bench run, with its data dir on a disk;
//! `POST /ingest` on keep-alive connections for a while; the server's `/stats` read
//! before and after, so the table shows what the writer did meanwhile: events stored
//! and `fdatasync` calls a second, and how many events one `fdatasync` covered (group
//! commit at work). Rounds interleave phases and modes, so a slow minute of the
//! machine hits them all alike.
//!
//! The ratio column compares each mode with the same phase's `queued`; the goals the
//! issue set for these ratios are printed beside the table as goal / measured, not
//! asserted: a noisy VM may miss them on one run, and the book should show what it got.

use std::fmt::Write as _;
use std::time::{Duration, Instant};

use super::output::{Header, Row, StealMeter};
use super::scenarios::{self, Kind, Scenario};
use super::server::{http_get, PhaseServer};
use super::tables::{cell, median, ms_cell, notes, rate_cell, spread_cell};
use super::{disk, measure, phases, CpuPlan};
use crate::loadgen::Report;

/// The modes, in the order the table shows them: each promises more than the one before.
pub const MODES: [&str; 3] = ["queued", "written", "synced"];

/// The file `--publish` writes in `book/src/results/`.
pub const FILE: &str = "ack-modes.md";

/// Connections, length and rounds unless the flags say otherwise.
pub const DEFAULT_CONNECTIONS: usize = 1_000;
pub const DEFAULT_DURATION: Duration = Duration::from_secs(6);
pub const DEFAULT_REPS: u32 = 3;

/// `--quick`: a CI-size smoke, one short round at 100 connections.
pub const QUICK_CONNECTIONS: usize = 100;
pub const QUICK_DURATION: Duration = Duration::from_secs(1);

/// Issue 11's goals, set for p3-reactor at 1,000 connections.
const WRITTEN_GOAL: f64 = 0.8;
const SYNCED_GOAL: f64 = 0.5;
const EVENTS_PER_SYNC_GOAL: f64 = 20.0;

/// The table's column headings; the test of the quick form reads them back.
pub const COLUMNS: [&str; 9] = [
    "phase",
    "mode",
    "ok/s",
    "events stored/s",
    "fdatasync/s",
    "events per fdatasync",
    "p99 ms",
    "vs queued",
    "notes",
];

/// What `bench ack-modes` was asked to do.
pub struct Plan {
    /// Phases by package name, in the order given (or the default set).
    pub phases: Vec<String>,
    pub connections: usize,
    pub duration: Duration,
    pub reps: u32,
    /// Also write [`FILE`] into the book.
    pub publish: bool,
}

/// The phases measured when none are named: every phase but the blocking ones. At 1,000
/// connections p1 spends a thread on each and p2's bounded pool turns most away, so their
/// rows would measure that, not the ack mode; they run when named.
pub fn default_phases(ws: &phases::Workspace) -> Vec<String> {
    ws.phases
        .iter()
        .map(|p| p.name.clone())
        .filter(|n| !n.starts_with("p1-") && !n.starts_with("p2-"))
        .collect()
}

/// The writer's counters from `/stats`.
#[derive(Debug, Clone, Copy)]
struct Counters {
    events_stored: u64,
    fdatasyncs: u64,
    /// Read to check the server speaks the `--ack` `/stats` at all.
    events_accepted: u64,
}

fn counters(server: &PhaseServer) -> Result<Counters, String> {
    let (status, body) = http_get(server.addr, "/stats").map_err(|e| format!("/stats: {e}"))?;
    if status != 200 {
        return Err(format!("/stats answered {status}"));
    }
    let json: serde_json::Value =
        serde_json::from_slice(&body).map_err(|e| format!("/stats is not JSON: {e}"))?;
    let field = |name: &str| {
        json.get(name)
            .and_then(serde_json::Value::as_u64)
            .ok_or_else(|| {
                format!("/stats has no {name:?} (a server from before the --ack modes?)")
            })
    };
    Ok(Counters {
        events_stored: field("events_stored")?,
        fdatasyncs: field("fdatasyncs")?,
        events_accepted: field("events_accepted")?,
    })
}

/// One run: a phase in one mode, one round.
#[derive(Debug, Clone)]
struct Sample {
    phase: String,
    mode: &'static str,
    /// What loadgen saw (None: the run did not happen).
    report: Option<Report>,
    /// Events the writer stored a second, between the two `/stats` reads.
    stored_per_s: Option<f64>,
    /// `fdatasync` calls a second, between the same reads.
    syncs_per_s: Option<f64>,
    /// Events stored per `fdatasync` (None when there was no `fdatasync`).
    events_per_sync: Option<f64>,
    /// What went wrong, in the row's notes.
    problem: Option<String>,
}

/// Runs the plan, prints the table and the goals, publishes with `--publish`.
/// Ok(false) when a run failed (a server did not start, crashed, or lost events).
pub fn run(ws: &phases::Workspace, cpus: &CpuPlan, plan: &Plan) -> Result<bool, String> {
    // The axum peer is run like a phase when named: the same service on tokio and hyper.
    let peer = phases::Phase {
        name: super::AXUM_PEER.into(),
        bin: super::AXUM_PEER.into(),
    };
    let wanted: Vec<&phases::Phase> = plan
        .phases
        .iter()
        .map(|name| {
            if name == super::AXUM_PEER {
                Ok(&peer)
            } else {
                super::load::find(ws, name)
            }
        })
        .collect::<Result<_, _>>()?;
    if plan.connections == 0 {
        return Err("-c: at least one connection".into());
    }
    if wanted.is_empty() {
        return Err("no phases to measure: none found besides the blocking ones; name them".into());
    }
    let data_root = disk::put_data_dirs_on_disk(&ws.target_dir.join("ack-modes-data"))?;
    eprintln!("building {} phase(s) in release mode...", wanted.len());
    let failed_builds = phases::build(ws, &wanted.iter().map(|p| (*p).clone()).collect::<Vec<_>>());
    let scenario = Scenario {
        id: format!("ack-modes-{}", plan.connections),
        title: format!("POST /ingest, {} keep-alive connections", plan.connections),
        path: "/ingest",
        connections: plan.connections,
        requests_per_connection: None,
        duration: plan.duration,
        new_conn: false,
        kind: Kind::Load,
        open_loop: None,
    };
    let threads = cpus.loadgen.as_ref().map_or(1, Vec::len).max(1);
    let runs = wanted.len() * MODES.len() * plan.reps as usize;
    eprintln!(
        "{runs} runs of {:?} at {} connections, {} round(s), phases and modes interleaved",
        plan.duration, plan.connections, plan.reps
    );
    let mut header = Header::collect(cpus.description.clone());
    // The command as typed, so a published table says how to measure it again.
    let command: Vec<String> = std::env::args().skip(1).collect();
    header.run = format!(
        "`bench {}`: {threads} loadgen thread(s); POST /ingest ({}-byte event) at {} keep-alive connections for {:?} a run; {} round(s), phases and modes interleaved; a fresh server per run",
        command.join(" "),
        scenarios::EVENT.len(),
        plan.connections,
        plan.duration,
        plan.reps
    );
    header.peers = if plan.phases.iter().any(|p| p == super::AXUM_PEER) {
        format!(
            "{} (axum + tokio, the project's service), named on the command line",
            super::AXUM_PEER
        )
    } else {
        "none (each mode is compared with the same phase's queued)".into()
    };
    let steal = StealMeter::start();
    let load_before = load_average();
    let mut samples = Vec::new();
    // The root's, and each data dir's when one differs (a mount below the root).
    let mut filesystems: Vec<disk::Filesystem> =
        disk::filesystem(&data_root).ok().into_iter().collect();
    let mut all_ok = true;
    for rep in 0..plan.reps {
        for phase in &wanted {
            for mode in MODES {
                let label = format!("[{}/{}] {} --ack {mode}", rep + 1, plan.reps, phase.name);
                let sample =
                    if let Some((_, why)) = failed_builds.iter().find(|(n, _)| *n == phase.name) {
                        failed(&phase.name, mode, why.clone())
                    } else {
                        let started = Instant::now();
                        let (sample, fs) = one_run(ws, cpus, phase, mode, &scenario, threads);
                        if let Some(fs) = fs.filter(|f| !filesystems.contains(f)) {
                            filesystems.push(fs);
                        }
                        eprintln!("{label}: {:.1?}", started.elapsed());
                        sample
                    };
                if let Some(p) = &sample.problem {
                    eprintln!("{label}: {p}");
                    all_ok = false;
                }
                samples.push(sample);
            }
        }
    }
    header.steal_pct = steal.finish();
    let on_disk = filesystems_line(&data_root, &filesystems);
    let load = format!(
        "- load average (1, 5, 15 min): {} at the start, {} at the end\n",
        load_before
            .as_deref()
            .unwrap_or("not measured (no /proc/loadavg)"),
        load_average().as_deref().unwrap_or("not measured")
    );
    let names: Vec<&str> = wanted.iter().map(|p| p.name.as_str()).collect();
    let table = table(&names, &samples);
    let goals = goals(&names, &samples, plan.connections);
    println!("data dirs: {on_disk}\n{load}");
    println!("{table}\n{goals}");
    if plan.publish {
        let text = format!(
            "{}{load}- data dirs: {on_disk}\n\n{table}\n{goals}",
            header.markdown()
        );
        let path = ws.root.join("book/src/results").join(FILE);
        std::fs::write(&path, text).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
        eprintln!("published {}", path.display());
    }
    Ok(all_ok)
}

/// The first three fields of `/proc/loadavg`: on a shared machine, how much else was running.
fn load_average() -> Option<String> {
    let text = std::fs::read_to_string("/proc/loadavg").ok()?;
    let fields: Vec<&str> = text.split_whitespace().take(3).collect();
    (fields.len() == 3).then(|| fields.join(", "))
}

/// Where the data dirs were, and whether that can measure `fdatasync`.
fn filesystems_line(root: &std::path::Path, seen: &[disk::Filesystem]) -> String {
    let names: Vec<&str> = seen.iter().map(|f| f.name.as_str()).collect();
    let mut line = format!(
        "under {} on {}",
        root.display(),
        if names.is_empty() {
            "an unknown filesystem".into()
        } else {
            names.join(", ")
        }
    );
    if seen.iter().any(|f| f.in_memory) {
        line.push_str(
            " (IN MEMORY: fdatasync there waits for no disk, so the synced rows flatter)",
        );
    }
    line
}

/// A sample for a run that never happened.
fn failed(phase: &str, mode: &'static str, why: String) -> Sample {
    Sample {
        phase: phase.into(),
        mode,
        report: None,
        stored_per_s: None,
        syncs_per_s: None,
        events_per_sync: None,
        problem: Some(why),
    }
}

/// One phase in one mode: start, read `/stats`, load, read `/stats`, stop and check.
fn one_run(
    ws: &phases::Workspace,
    cpus: &CpuPlan,
    phase: &phases::Phase,
    mode: &'static str,
    scenario: &Scenario,
    threads: usize,
) -> (Sample, Option<disk::Filesystem>) {
    let args = vec!["--ack".to_string(), mode.to_string()];
    let mut server = match PhaseServer::start(&ws.binary(phase), cpus.server.clone(), &args) {
        Ok(s) => s,
        Err(why) => {
            return (
                failed(&phase.name, mode, format!("did not start: {why}")),
                None,
            )
        }
    };
    let fs = disk::filesystem(&server.data_dir()).ok();
    let before = counters(&server);
    let started = Instant::now();
    let row: Row = measure::run(&mut server, &phase.name, scenario, None, threads, cpus);
    let after = counters(&server);
    let elapsed = started.elapsed().as_secs_f64().max(1e-9);
    let mut sample = Sample {
        report: row.report.clone(),
        ..failed(&phase.name, mode, String::new())
    };
    sample.problem = row.error.clone();
    match (before, after) {
        (Ok(b), Ok(a)) => {
            let stored = a.events_stored.saturating_sub(b.events_stored) as f64;
            let syncs = a.fdatasyncs.saturating_sub(b.fdatasyncs) as f64;
            sample.stored_per_s = Some(stored / elapsed);
            sample.syncs_per_s = Some(syncs / elapsed);
            sample.events_per_sync = (syncs > 0.0).then(|| stored / syncs);
            if a.events_accepted < b.events_accepted {
                sample.problem = Some("events_accepted went down during the run".into());
            }
        }
        (Err(e), _) | (_, Err(e)) => sample.problem = Some(e),
    }
    let check = server.stop();
    if let (None, Some(p)) = (&sample.problem, check.problem) {
        sample.problem = Some(format!("stop check: {p}"));
    }
    (sample, fs)
}

/// The samples of one phase in one mode, every round.
fn of<'a>(samples: &'a [Sample], phase: &str, mode: &str) -> Vec<&'a Sample> {
    samples
        .iter()
        .filter(|s| s.phase == phase && s.mode == mode)
        .collect()
}

/// Median goodput of one phase in one mode.
fn median_ok(samples: &[Sample], phase: &str, mode: &str) -> Option<f64> {
    let v: Vec<f64> = of(samples, phase, mode)
        .iter()
        .filter_map(|s| s.report.as_ref().map(|r| r.ok_per_s))
        .collect();
    median(&v)
}

/// `0.83x`, or `–` when either side is missing.
fn ratio(num: Option<f64>, den: Option<f64>) -> Option<f64> {
    match (num, den) {
        (Some(n), Some(d)) if d > 0.0 => Some(n / d),
        _ => None,
    }
}

fn x(v: Option<f64>) -> String {
    v.map_or("–".into(), |v| format!("{v:.2}x"))
}

/// The table: a row per phase and mode; numbers are the median over the rounds, with
/// the min–max when they differ.
fn table(phases: &[&str], samples: &[Sample]) -> String {
    let mut out = format!("| {} |\n|", COLUMNS.join(" | "));
    for (i, _) in COLUMNS.iter().enumerate() {
        out.push_str(if i < 2 || i == COLUMNS.len() - 1 {
            "---|"
        } else {
            "---:|"
        });
    }
    out.push('\n');
    for phase in phases {
        let queued = median_ok(samples, phase, "queued");
        for mode in MODES {
            let runs = of(samples, phase, mode);
            let reports: Vec<&Report> = runs.iter().filter_map(|s| s.report.as_ref()).collect();
            let each = |f: &dyn Fn(&Sample) -> Option<f64>| -> Vec<f64> {
                runs.iter().filter_map(|s| f(s)).collect()
            };
            let ok: Vec<f64> = reports.iter().map(|r| r.ok_per_s).collect();
            // A run with no answer has no latency to show, not a p99 of zero.
            let p99: Vec<f64> = reports
                .iter()
                .filter(|r| r.answered_per_s > 0.0)
                .map(|r| r.latency.p99_ms)
                .collect();
            let per_sync = each(&|s| s.events_per_sync);
            let mut note: Vec<String> = runs
                .iter()
                .filter_map(|s| s.problem.clone())
                .chain(reports.iter().map(|r| notes(r)))
                .filter(|n| !n.is_empty())
                .collect();
            note.dedup();
            let _ = writeln!(
                out,
                "| {phase} | {mode} | {} | {} | {} | {} | {} | {} | {} |",
                rate_cell(&ok),
                rate_cell(&each(&|s| s.stored_per_s)),
                rate_cell(&each(&|s| s.syncs_per_s)),
                spread_cell(&per_sync, |v| format!("{v:.1}"), |v| format!("{v:.0}")),
                ms_cell(&p99),
                x(ratio(median(&ok), queued)),
                cell(&note.join("; "))
            );
        }
    }
    out
}

/// Issue 11's goals beside what this run measured, one line each, for every phase.
fn goals(phases: &[&str], samples: &[Sample], connections: usize) -> String {
    let mut out = format!(
        "Goals (issue 11, set for p3-reactor at 1,000 connections; this run: {connections}), goal / measured:\n\n"
    );
    for phase in phases {
        let queued = median_ok(samples, phase, "queued");
        let written = ratio(median_ok(samples, phase, "written"), queued);
        let synced = ratio(median_ok(samples, phase, "synced"), queued);
        let per_sync: Vec<f64> = of(samples, phase, "synced")
            .iter()
            .filter_map(|s| s.events_per_sync)
            .collect();
        let per_sync = median(&per_sync).map_or("–".into(), |v| format!("{v:.1}"));
        let _ = writeln!(
            out,
            "- {phase}: written ≥ {WRITTEN_GOAL:.2}x queued / {}; synced ≥ {SYNCED_GOAL:.2}x queued / {}, with ≥ {EVENTS_PER_SYNC_GOAL:.0} events per fdatasync / {per_sync}",
            x(written),
            x(synced)
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runner::tables::tests::report;

    fn sample(phase: &str, mode: &'static str, ok: u64, syncs: Option<f64>) -> Sample {
        let mut r = report(ok, 0, 100);
        r.ok_per_s = ok as f64;
        Sample {
            phase: phase.into(),
            mode,
            report: Some(r),
            stored_per_s: Some(ok as f64),
            syncs_per_s: Some(syncs.unwrap_or(0.0)),
            events_per_sync: syncs.map(|s| ok as f64 / s),
            problem: None,
        }
    }

    /// Ratios are to the same phase's queued median; a mode without fdatasync shows `–`
    /// events per fdatasync, and the goals read the same numbers.
    #[test]
    fn table_and_goals_read_the_samples() {
        let samples = vec![
            sample("p3-reactor", "queued", 1000, None),
            sample("p3-reactor", "written", 900, None),
            sample("p3-reactor", "synced", 600, Some(20.0)),
        ];
        let t = table(&["p3-reactor"], &samples);
        let rows: Vec<&str> = t.lines().skip(2).collect();
        assert_eq!(rows.len(), 3, "{t}");
        assert!(
            rows[0].starts_with("| p3-reactor | queued | 1,000 | 1,000 | 0 | – |"),
            "{t}"
        );
        assert!(rows[1].contains("| 0.90x |"), "{t}");
        assert!(
            rows[2].contains("| 20 | 30.0 |") && rows[2].contains("| 0.60x |"),
            "{t}"
        );
        let g = goals(&["p3-reactor"], &samples, 1000);
        assert!(g.contains("written ≥ 0.80x queued / 0.90x"), "{g}");
        assert!(
            g.contains("synced ≥ 0.50x queued / 0.60x, with ≥ 20 events per fdatasync / 30.0"),
            "{g}"
        );
    }

    /// A run that got no answer shows no p99 rather than a p99 of zero.
    #[test]
    fn no_answers_no_latency() {
        let samples = vec![sample("p3-reactor", "synced", 0, None)];
        let t = table(&["p3-reactor"], &samples);
        let synced = t.lines().find(|l| l.contains("| synced |")).unwrap();
        assert!(synced.contains("| 0 | 0 | 0 | – | – | – |"), "{t}");
    }

    /// A run that never happened still has its row, saying why.
    #[test]
    fn failed_runs_keep_their_row() {
        let samples = vec![failed(
            "p6-uring",
            "queued",
            "did not start: no io_uring".into(),
        )];
        let t = table(&["p6-uring"], &samples);
        assert!(t.contains("| p6-uring | queued | – |"), "{t}");
        assert!(t.contains("did not start: no io_uring"), "{t}");
        assert_eq!(t.lines().count(), 2 + MODES.len(), "{t}");
    }
}
