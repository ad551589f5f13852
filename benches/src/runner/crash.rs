//! `bench crash`: the crash experiment of the conformance suite, run by a reader (`just crash`).
//!
//! For every phase and every `--ack` mode, a fresh release server started the way every
//! bench run starts one; [`conformance::crash::run`] loads it, sends `SIGKILL` mid-flight
//! and reads its `events.ndjson` back; [`conformance::crash::restart_and_check`] restarts
//! it on the same data dir and checks its start-up recovery. Everything is measured from
//! outside the server: the `202`s the clients saw, the lines the file holds.
//!
//! Under `written` and `synced` a `202` promises the event is in the file, so an
//! acknowledged event missing after the kill fails the run. `queued` promises less (the
//! event was queued for the writer), and is there as the contrast: what it loses is
//! reported, not failed.

use conformance::crash::{self, CrashOptions, CrashReport};

use super::server::PhaseServer;
use super::tables::cell;
use super::{disk, phases, CpuPlan};

/// The modes run when none are named: queued first, the one expected to lose events.
pub const MODES: [&str; 3] = ["queued", "written", "synced"];

/// The table's column headings; the test reads them back.
pub const COLUMNS: [&str; 7] = [
    "phase",
    "ack",
    "202s seen (events)",
    "lines stored",
    "acknowledged missing",
    "torn bytes",
    "recovered on restart",
];

/// What `bench crash` was asked to do.
pub struct Plan {
    /// Phases by package name, in the order given (or every phase).
    pub phases: Vec<String>,
    /// `--ack` modes, in the order given.
    pub modes: Vec<String>,
    pub reps: u32,
    /// How the load runs and when the kill comes.
    pub options: CrashOptions,
}

/// One crash: a phase in one mode.
struct Outcome {
    phase: String,
    mode: String,
    /// What the crash left (None: the experiment did not run).
    report: Option<CrashReport>,
    /// `Ok(text)` for the recovery column, or why recovery (or the run) failed.
    recovered: Result<String, String>,
}

impl Outcome {
    /// Why this run fails the command, if it does.
    fn failure(&self) -> Option<String> {
        let Some(report) = &self.report else {
            return Some(format!(
                "{} --ack {}: {}",
                self.phase,
                self.mode,
                self.recovered.as_ref().err()?
            ));
        };
        let promised = self.mode != "queued";
        if promised && report.missing > 0 {
            return Some(format!(
                "{} --ack {}: {} acknowledged event(s) missing after kill -9, e.g. {}",
                self.phase,
                self.mode,
                report.missing,
                report.acked_missing.join(", ")
            ));
        }
        if report.bad_lines > 0 || report.duplicate_lines > 0 {
            return Some(format!(
                "{} --ack {}: {} line(s) not canonical events, {} written twice",
                self.phase, self.mode, report.bad_lines, report.duplicate_lines
            ));
        }
        if let Err(why) = &self.recovered {
            return Some(format!(
                "{} --ack {}: restart: {why}",
                self.phase, self.mode
            ));
        }
        None
    }
}

/// Runs the plan and prints the table; Ok(false) when a run failed (an acknowledged event
/// lost under written or synced, a bad line, a failed recovery, a server that did not start).
pub fn run(ws: &phases::Workspace, cpus: &CpuPlan, plan: &Plan) -> Result<bool, String> {
    let wanted: Vec<&phases::Phase> = plan
        .phases
        .iter()
        .map(|name| super::load::find(ws, name))
        .collect::<Result<_, _>>()?;
    if wanted.is_empty() {
        return Err("no phases found in the workspace".into());
    }
    // A kill -9 leaves the page cache alone, so memory would do; the disk keeps `synced`
    // honest about what fdatasync costs, as in `bench ack-modes`.
    let data_root = disk::put_data_dirs_on_disk(&ws.target_dir.join("crash-data"))?;
    eprintln!("building {} phase(s) in release mode...", wanted.len());
    let failed_builds = phases::build(ws, &wanted.iter().map(|p| (*p).clone()).collect::<Vec<_>>());
    let o = &plan.options;
    eprintln!(
        "{} crash(es): {} connections (1 in {} pipelining), kill -9 after {} acknowledged events or {:?}; data dirs under {}",
        wanted.len() * plan.modes.len() * plan.reps as usize,
        o.connections,
        o.pipeline_every,
        o.kill_after_events,
        o.kill_after,
        data_root.display()
    );
    let mut outcomes = Vec::new();
    for rep in 0..plan.reps {
        for phase in &wanted {
            for mode in &plan.modes {
                let outcome = match failed_builds.iter().find(|(n, _)| *n == phase.name) {
                    Some((_, why)) => Outcome {
                        phase: phase.name.clone(),
                        mode: mode.clone(),
                        report: None,
                        recovered: Err(why.clone()),
                    },
                    None => one_crash(ws, cpus, phase, mode, o),
                };
                let figures = outcome
                    .report
                    .as_ref()
                    .map_or_else(|| "did not run".into(), CrashReport::figures);
                eprintln!(
                    "[{}/{}] {} --ack {mode}: {figures}",
                    rep + 1,
                    plan.reps,
                    phase.name
                );
                outcomes.push(outcome);
            }
        }
    }
    // Rows by phase, then mode as given, then round, whatever order they ran in.
    let mode_rank = |m: &str| plan.modes.iter().position(|x| x == m);
    let phase_rank = |p: &str| wanted.iter().position(|x| x.name == p);
    outcomes.sort_by_key(|o| (phase_rank(&o.phase), mode_rank(&o.mode)));
    println!("{}", table(&outcomes));
    let failures: Vec<String> = outcomes.iter().filter_map(Outcome::failure).collect();
    for failure in &failures {
        println!("FAILED: {failure}");
    }
    Ok(failures.is_empty())
}

/// Starts `phase` as `--ack MODE`, crashes it, restarts it and checks the recovery.
fn one_crash(
    ws: &phases::Workspace,
    cpus: &CpuPlan,
    phase: &phases::Phase,
    mode: &str,
    options: &CrashOptions,
) -> Outcome {
    let mut outcome = Outcome {
        phase: phase.name.clone(),
        mode: mode.to_string(),
        report: None,
        recovered: Err(String::new()),
    };
    let args = vec!["--ack".to_string(), mode.to_string()];
    let mut server = match PhaseServer::start(&ws.binary(phase), cpus.server.clone(), &args) {
        Ok(s) => s,
        Err(why) => {
            outcome.recovered = Err(format!("did not start: {why}"));
            return outcome;
        }
    };
    let process = server.process_mut();
    let report = match crash::run(process, options) {
        Ok(report) => report,
        Err(why) => {
            outcome.recovered = Err(format!("crash experiment: {why}"));
            return outcome;
        }
    };
    outcome.recovered = crash::restart_and_check(process, &report).map(|r| {
        format!(
            "yes: {} lines kept, {} torn bytes moved aside",
            r.lines, r.torn_moved
        )
    });
    outcome.report = Some(report);
    // The restarted server is stopped (and its data dir removed) when `server` drops.
    outcome
}

/// The Markdown table, one row per crash.
fn table(outcomes: &[Outcome]) -> String {
    let mut text = format!("| {} |\n", COLUMNS.join(" | "));
    text.push_str(&format!("|{}\n", "---|".repeat(COLUMNS.len())));
    for o in outcomes {
        let recovered = match &o.recovered {
            Ok(text) => cell(text),
            Err(why) => cell(&format!("no: {why}")),
        };
        let figures = match &o.report {
            Some(r) => [
                r.acked_events.to_string(),
                r.lines_stored.to_string(),
                missing_cell(r, &o.mode),
                r.torn_tail_bytes.to_string(),
            ],
            None => ["–".into(), "–".into(), "–".into(), "–".into()],
        };
        text.push_str(&format!(
            "| {} | {} | {} | {recovered} |\n",
            o.phase,
            o.mode,
            figures.join(" | ")
        ));
    }
    text
}

/// The count, flagged when the mode promised none would go missing.
fn missing_cell(report: &CrashReport, mode: &str) -> String {
    if report.missing > 0 && mode != "queued" {
        format!("{} FAILED", report.missing)
    } else {
        report.missing.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outcome(mode: &str, missing: u64) -> Outcome {
        Outcome {
            phase: "p3-reactor".into(),
            mode: mode.into(),
            report: Some(CrashReport {
                acked_events: 1200,
                lines_stored: 1210,
                missing,
                acked_missing: (0..missing).map(|i| format!("e{i}")).collect(),
                ..CrashReport::default()
            }),
            recovered: Ok("yes".into()),
        }
    }

    /// Missing acknowledged events fail written and synced, never queued.
    #[test]
    fn only_promising_modes_fail_on_missing_events() {
        assert!(outcome("queued", 5).failure().is_none());
        assert!(outcome("written", 0).failure().is_none());
        let failure = outcome("synced", 2).failure().unwrap();
        assert!(
            failure.contains("2 acknowledged event(s) missing"),
            "{failure}"
        );
    }

    /// A row has a cell per column, and a failed recovery says why.
    #[test]
    fn rows_fill_every_column() {
        let mut bad = outcome("written", 3);
        bad.recovered = Err("torn tail left".into());
        let text = table(&[outcome("queued", 4), bad]);
        let rows: Vec<&str> = text.lines().skip(2).collect();
        assert_eq!(
            rows[0],
            "| p3-reactor | queued | 1200 | 1210 | 4 | 0 | yes |"
        );
        assert_eq!(
            rows[1],
            "| p3-reactor | written | 1200 | 1210 | 3 FAILED | 0 | no: torn tail left |"
        );
    }
}
