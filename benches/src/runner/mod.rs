//! `bench`: every phase under the same load, side by side.
//!
//! For each phase found in the workspace (see [`phases`]): build it in release
//! mode, start it on an ephemeral port with a fresh data dir ([`server`]), run
//! each scenario ([`scenarios`]) with the in-process load generator while
//! [`sampler`] watches the server's CPU and memory, stop it with SIGTERM and
//! check that its log holds exactly the events it accepted. Then print the
//! tables and save them ([`output`]), and with `--publish` draw the charts
//! ([`charts`]) into the book.
//!
//! The load generator runs in this process on its own threads, pinned (on Linux
//! with 2+ CPUs) to CPUs the server is not allowed on, so the two never compete
//! for a core and the table measures the server.
//!
//! # Layout
//! - [`cli`], [`scenarios`]: what to run; [`phases`]: which binaries, built how;
//! - [`server`]: start, stop and check one phase; [`measure`]: one scenario on it,
//!   with [`sampler`] (CPU, RSS, threads) and [`idle`] (the idle-memory test);
//! - [`output`], [`tables`], [`publish`], [`charts`]: what gets printed and saved;
//! - [`load`]: `bench load PHASE`, one phase under any loadgen flags, and `bench idle
//!   PHASE`, the idle-memory test alone;
//! - [`ack_modes`]: `bench ack-modes`, each phase under each `--ack` mode, with [`disk`]
//!   saying which filesystem the data dirs were on;
//! - [`crash`]: `bench crash`, each phase under each `--ack` mode killed with `SIGKILL`
//!   mid-load, what its file kept, and its recovery on restart.

pub mod ack_modes;
pub mod charts;
pub mod cli;
pub mod crash;
pub mod disk;
pub mod idle;
pub mod load;
pub mod measure;
pub mod nginx;
pub mod output;
pub mod phases;
pub mod publish;
pub mod sampler;
pub mod scenarios;
pub mod server;
pub mod tables;

use std::time::Instant;

use clap::Parser as _;
use indicatif::{ProgressBar, ProgressStyle};

use cli::{BenchArgs, BenchCommand};
use output::{Header, Results, Row};
use scenarios::Kind;
use scenarios::Scenario;
use server::{PhaseServer, UnderTest};

/// Repetitions of the full run unless `--reps` says otherwise: three give a median and
/// a spread, on a VM where back-to-back runs differ by 10–25 %.
pub const DEFAULT_REPS: u32 = 3;

/// The axum + tokio peer's package and binary (`benches/peers/axum-ingest`).
pub const AXUM_PEER: &str = "axum-ingest";

/// Which CPUs the server and the load generator get.
pub struct CpuPlan {
    /// CPUs the phase server is pinned to (None: anywhere).
    server: Option<Vec<usize>>,
    /// CPUs the loadgen threads are pinned to (None: anywhere).
    loadgen: Option<Vec<usize>>,
    /// The plan in words, for the header.
    description: String,
}

fn cpu_plan(no_pin: bool) -> CpuPlan {
    let n = crate::os::available_cpus();
    let unpinned = |why: &str| CpuPlan {
        server: None,
        loadgen: None,
        description: format!("none ({why})"),
    };
    if no_pin {
        return unpinned("--no-pin");
    }
    if !crate::os::PINNING_SUPPORTED {
        return unpinned("not supported on this OS");
    }
    if n < 2 {
        return unpinned("only one CPU");
    }
    let half = n / 2;
    CpuPlan {
        server: Some((0..half).collect()),
        loadgen: Some((half..n).collect()),
        description: format!(
            "server on CPUs {}, loadgen on CPUs {}",
            cpu_range(0, half),
            cpu_range(half, n)
        ),
    }
}

/// `0-3`, or `2` for a single CPU.
fn cpu_range(from: usize, to: usize) -> String {
    if to - from == 1 {
        from.to_string()
    } else {
        format!("{from}-{}", to - 1)
    }
}

/// Entry point of the `bench` binary; returns the process exit code.
pub fn main() -> i32 {
    let args = BenchArgs::parse();
    match run(args) {
        Ok(true) => 0,
        Ok(false) => 1,
        Err(e) => {
            eprintln!("bench: {e}");
            2
        }
    }
}

/// Runs the bench (or `bench load`); Ok(false) when a phase failed.
fn run(args: BenchArgs) -> Result<bool, String> {
    // Raised here, before any server is spawned, so the servers inherit the high
    // limit too: a phase holding 10,000 connections needs 10,000 descriptors.
    match crate::os::raise_nofile_limit() {
        Ok(n) if n < 10_100 && args.c10k => eprintln!(
            "bench: warning: the open-file limit is {n}; 10,000 connections need more (raise the hard limit, `ulimit -Hn`)"
        ),
        Ok(_) => {}
        Err(e) => eprintln!("bench: warning: cannot read the open-file limit: {e}"),
    }
    if !sampler::supported() {
        eprintln!(
            "bench: note: server CPU, RSS and threads are {}",
            sampler::availability()
        );
    }
    let ws = phases::discover()?;
    let cpus = cpu_plan(args.no_pin);
    if let Some(BenchCommand::Load {
        phase,
        conns,
        connections,
        path,
        server_args,
        loadgen_args,
    }) = &args.command
    {
        let load = load::Load {
            phase,
            connections: conns.or(*connections).unwrap_or(100),
            path,
            server_args: server_args.split_whitespace().map(String::from).collect(),
            loadgen_args,
        };
        return load::load_one(&ws, &cpus, &load);
    }
    if let Some(BenchCommand::Idle {
        phase,
        counts,
        server_args,
    }) = &args.command
    {
        let server_args: Vec<String> = server_args.split_whitespace().map(String::from).collect();
        return load::idle_one(&ws, &cpus, phase, counts, &server_args);
    }
    if let Some(BenchCommand::AckModes {
        phases,
        connections,
        duration,
        reps,
        quick,
        publish,
    }) = &args.command
    {
        let plan = ack_modes::Plan {
            phases: if phases.is_empty() {
                ack_modes::default_phases(&ws)
            } else {
                phases.clone()
            },
            connections: connections.unwrap_or(if *quick {
                ack_modes::QUICK_CONNECTIONS
            } else {
                ack_modes::DEFAULT_CONNECTIONS
            }),
            duration: duration.unwrap_or(if *quick {
                ack_modes::QUICK_DURATION
            } else {
                ack_modes::DEFAULT_DURATION
            }),
            reps: reps.unwrap_or(if *quick { 1 } else { ack_modes::DEFAULT_REPS }),
            publish: *publish,
        };
        return ack_modes::run(&ws, &cpus, &plan);
    }
    if let Some(BenchCommand::Crash {
        phases,
        ack,
        reps,
        events,
    }) = &args.command
    {
        let mut options = conformance::crash::CrashOptions::default();
        if let Some(events) = events {
            options.kill_after_events = *events;
        }
        let plan = crash::Plan {
            phases: if phases.is_empty() {
                ws.phases.iter().map(|p| p.name.clone()).collect()
            } else {
                phases.clone()
            },
            modes: if ack.is_empty() {
                crash::MODES.iter().map(|m| m.to_string()).collect()
            } else {
                ack.clone()
            },
            reps: *reps,
            options,
        };
        return crash::run(&ws, &cpus, &plan);
    }
    if let Some(unknown) = args
        .phases
        .iter()
        .find(|n| !ws.phases.iter().any(|p| &p.name == *n))
    {
        return Err(format!(
            "unknown phase {unknown:?}; phases found: {:?}",
            ws.phases.iter().map(|p| &p.name).collect::<Vec<_>>()
        ));
    }
    let mut wanted: Vec<_> = ws
        .phases
        .iter()
        .filter(|p| args.phases.is_empty() || args.phases.contains(&p.name))
        .cloned()
        .collect();
    if wanted.is_empty() {
        return Err("no phases found: no workspace member lives under phases/".into());
    }
    let (nginx, peers) = if args.peers {
        // Built and run like a phase; it just does not live under phases/.
        wanted.push(phases::Phase {
            name: AXUM_PEER.into(),
            bin: AXUM_PEER.into(),
        });
        match nginx::find() {
            Some(binary) => {
                let version = std::process::Command::new(&binary)
                    .arg("-v")
                    .output()
                    .map(|o| String::from_utf8_lossy(&o.stderr).trim().to_string())
                    .unwrap_or_default();
                let text = format!(
                    "{AXUM_PEER} (axum + tokio, the project's service); {version} on the /health scenarios: 1 process, access_log off, keepalive_requests 1000000, return 200, pinned like the phases"
                );
                (Some(binary), text)
            }
            None => (
                None,
                format!("{AXUM_PEER}; nginx is not installed, so it has no rows (`apt-get install nginx` adds them)"),
            ),
        }
    } else {
        (None, "not run (`--peers` adds them)".to_string())
    };
    let started = Instant::now();
    eprintln!("building {} phase(s) in release mode...", wanted.len());
    let build_failures = phases::build(&ws, &wanted);
    eprintln!("built in {:.0?}", started.elapsed());
    let scenarios = scenarios::plan(args.quick, args.c10k, args.duration);
    let eta = scenarios::estimate(&scenarios, wanted.len())
        * args
            .reps
            .unwrap_or(if args.quick { 1 } else { DEFAULT_REPS });
    eprintln!(
        "{} scenarios x {} phases x {} rounds: about {}m{:02}s",
        scenarios.len(),
        wanted.len(),
        args.reps
            .unwrap_or(if args.quick { 1 } else { DEFAULT_REPS }),
        eta.as_secs() / 60,
        eta.as_secs() % 60
    );
    let threads = args
        .loadgen_threads
        .unwrap_or_else(|| cpus.loadgen.as_ref().map_or(1, Vec::len).max(1));
    let reps = args
        .reps
        .unwrap_or(if args.quick { 1 } else { DEFAULT_REPS }) as usize;
    let nginx_scenarios = if nginx.is_some() {
        scenarios.iter().filter(|s| s.path == "/health").count()
    } else {
        0
    };
    let bar = ProgressBar::new(((wanted.len() * scenarios.len() + nginx_scenarios) * reps) as u64);
    bar.set_style(
        ProgressStyle::with_template("{elapsed_precise} [{bar:30}] {pos}/{len} {msg}")
            .expect("static template")
            .progress_chars("=> "),
    );
    let mut results = Results {
        header: Header::collect(cpus.description.clone()),
        scenarios: scenarios.clone(),
        rows: Vec::new(),
        stops: Vec::new(),
    };
    results.header.run = format!(
        "{threads} loadgen thread(s); timed scenarios {:?} each; {reps} round(s), the phases interleaved",
        scenarios
            .iter()
            .find(|s| s.requests_per_connection.is_none())
            .map_or(std::time::Duration::ZERO, |s| s.duration)
    );
    results.header.peers = peers;
    let steal = output::StealMeter::start();
    let mut run = Run {
        results,
        bar,
        all_ok: true,
        threads,
        cpus: &cpus,
        quick: args.quick,
    };
    let measuring = Instant::now();
    for phase in &wanted {
        if let Some((_, why)) = build_failures.iter().find(|(n, _)| *n == phase.name) {
            run.all_ok = false;
            run.push_failed(&phase.name, why, 0);
        }
    }
    // The idle-memory test gets a server of its own, fresh: its "RSS with no connections"
    // baseline must not include what loads left behind (grown slabs, allocator caches, the
    // 10,000-connection run's buffers), and the loads must not run beside what it leaves
    // behind (phase 1's 10,000 threads idling out).
    let groups = [
        scenarios
            .iter()
            .filter(|s| s.kind != Kind::Load)
            .collect::<Vec<_>>(),
        scenarios
            .iter()
            .filter(|s| s.kind == Kind::Load)
            .collect::<Vec<_>>(),
    ];
    for rep in 0..reps {
        let round = if reps > 1 {
            format!("[{}/{reps}] ", rep + 1)
        } else {
            String::new()
        };
        for phase in &wanted {
            if build_failures.iter().any(|(n, _)| *n == phase.name) {
                continue;
            }
            let binary = ws.binary(phase);
            let server_cpus = cpus.server.clone();
            run.entrant(&phase.name, rep, &round, &groups, || {
                PhaseServer::start(&binary, server_cpus.clone(), &[])
                    .map(|s| Box::new(s) as Box<dyn UnderTest>)
            });
        }
        if let Some(binary) = &nginx {
            // nginx has no /ingest: only the /health scenarios.
            let health: Vec<Vec<&Scenario>> = groups
                .iter()
                .map(|g| g.iter().copied().filter(|s| s.path == "/health").collect())
                .collect();
            let server_cpus = cpus.server.clone();
            run.entrant(nginx::NAME, rep, &round, &health, || {
                nginx::Nginx::start(binary, server_cpus.clone())
                    .map(|s| Box::new(s) as Box<dyn UnderTest>)
            });
        }
    }
    let Run {
        mut results,
        bar,
        all_ok,
        ..
    } = run;
    bar.finish_and_clear();
    results.header.steal_pct = steal.finish();
    eprintln!("measured in {:.0?}", measuring.elapsed());
    println!("{}", results.markdown());
    let dir = ws.target_dir.join("bench").join(output::stamp());
    publish::save(&dir, &results)?;
    eprintln!("results saved in {}", dir.display());
    if args.publish {
        let book = ws.root.join("book/src/results");
        let written = publish::publish(&book, &results)?;
        eprintln!("published {} files in {}", written.len(), book.display());
    }
    Ok(all_ok)
}

/// A progress line above the bar, or on plain stderr when there is no terminal
/// (the bar is hidden then, and so would be its `println`).
fn say(bar: &ProgressBar, line: String) {
    if bar.is_hidden() {
        eprintln!("{line}");
    } else {
        bar.println(line);
    }
}

/// One bench run in progress: what it has measured so far and how to show progress.
struct Run<'a> {
    results: Results,
    bar: ProgressBar,
    /// False once anything failed (the exit code).
    all_ok: bool,
    threads: usize,
    cpus: &'a CpuPlan,
    quick: bool,
}

impl Run<'_> {
    /// Round `rep` of one phase or peer: for each group of scenarios a fresh server from
    /// `start`, the scenarios in order, then the stop and its check.
    fn entrant(
        &mut self,
        name: &str,
        rep: usize,
        round: &str,
        groups: &[Vec<&Scenario>],
        start: impl Fn() -> Result<Box<dyn UnderTest>, String>,
    ) {
        let started = Instant::now();
        let mut verdict: Option<server::StopCheck> = None;
        for group in groups.iter().filter(|g| !g.is_empty()) {
            let mut server = match start() {
                Ok(s) => s,
                Err(why) => {
                    self.all_ok = false;
                    self.push_failed(name, &format!("failed to start: {why}"), rep);
                    return;
                }
            };
            for s in group {
                self.bar.set_message(format!("{name} / {}", s.id));
                let scenario_started = Instant::now();
                let row = match self.open_loop_rate(name, rep, s) {
                    Ok(rate) => {
                        measure::run(server.as_mut(), name, s, rate, self.threads, self.cpus)
                    }
                    Err(why) => measure::not_run(name, s, why),
                };
                let row = Row { rep, ..row };
                let note = row
                    .error
                    .as_ref()
                    .map_or(String::new(), |e| format!(" ({e})"));
                say(
                    &self.bar,
                    format!(
                        "{round}{name} / {}: {:.1?}{note}",
                        s.id,
                        scenario_started.elapsed()
                    ),
                );
                if self.quick && row.report.as_ref().is_none_or(|r| r.outcomes.ok == 0) {
                    self.all_ok = false;
                }
                self.results.rows.push(row);
                self.bar.inc(1);
            }
            if let Some(check) = server.finish() {
                self.all_ok &= check.ok;
                // The verdict is the first failed check, else the last check.
                if verdict.as_ref().is_none_or(|c| c.ok) {
                    verdict = Some(check);
                }
            }
        }
        say(
            &self.bar,
            format!("{round}{name}: {:.1?} in all", started.elapsed()),
        );
        if let Some(check) = verdict {
            self.results.stops.push((name.to_string(), check));
        }
    }

    /// For an open-loop scenario, the rate to offer: its share of the goodput this phase
    /// reached in the same round under the closed-loop scenario it refers to.
    fn open_loop_rate(&self, name: &str, rep: usize, s: &Scenario) -> Result<Option<f64>, String> {
        let Some(open) = &s.open_loop else {
            return Ok(None);
        };
        let goodput = self
            .results
            .rows
            .iter()
            .find(|r| r.phase == name && r.rep == rep && r.scenario == open.of)
            .and_then(|r| r.report.as_ref())
            .map_or(0.0, |r| r.ok_per_s);
        if goodput > 0.0 {
            Ok(Some(goodput * open.fraction))
        } else {
            Err(format!(
                "not run: no goodput under {} to take a share of",
                open.of
            ))
        }
    }

    /// A row per scenario for a phase that never ran in round `rep` (did not build or start).
    fn push_failed(&mut self, phase: &str, why: &str, rep: usize) {
        for s in &self.results.scenarios {
            let mut row = measure::not_run(phase, s, why.into());
            row.rep = rep;
            self.results.rows.push(row);
            self.bar.inc(1);
        }
        self.results.stops.push((
            phase.into(),
            server::StopCheck {
                exit_code: None,
                accepted: None,
                stored_lines: None,
                ok: false,
                problem: Some("never ran".into()),
            },
        ));
    }
}
