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
//!   PHASE`, the idle-memory test alone.

pub mod charts;
pub mod cli;
pub mod idle;
pub mod load;
pub mod measure;
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
use server::PhaseServer;

/// Repetitions of the full run unless `--reps` says otherwise: three give a median and
/// a spread, on a VM where back-to-back runs differ by 10–25 %.
pub const DEFAULT_REPS: u32 = 3;

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
    let wanted: Vec<_> = ws
        .phases
        .iter()
        .filter(|p| args.phases.is_empty() || args.phases.contains(&p.name))
        .cloned()
        .collect();
    if wanted.is_empty() {
        return Err("no phases found: no workspace member lives under phases/".into());
    }
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
    let bar = ProgressBar::new((wanted.len() * scenarios.len() * reps) as u64);
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
    let mut all_ok = true;
    let measuring = Instant::now();
    for phase in &wanted {
        if let Some((_, why)) = build_failures.iter().find(|(n, _)| *n == phase.name) {
            all_ok = false;
            push_failed(&mut results, &phase.name, why, &bar);
        }
    }
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
            let phase_started = Instant::now();
            // The idle-memory test gets a server of its own, fresh: its "RSS with no
            // connections" baseline must not include what loads left behind (grown slabs,
            // allocator caches, the 10,000-connection run's buffers), and the loads must not
            // run beside what it leaves behind (phase 1's 10,000 threads idling out).
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
            let mut phase_check: Option<server::StopCheck> = None;
            for group in groups.iter().filter(|g| !g.is_empty()) {
                let mut server =
                    match PhaseServer::start(&ws.binary(phase), cpus.server.clone(), &[]) {
                        Ok(s) => s,
                        Err(why) => {
                            all_ok = false;
                            push_failed(
                                &mut results,
                                &phase.name,
                                &format!("failed to start: {why}"),
                                &bar,
                            );
                            if let Some(last) =
                                results.rows.len().checked_sub(results.scenarios.len())
                            {
                                results.rows[last..].iter_mut().for_each(|r| r.rep = rep);
                            }
                            break;
                        }
                    };
                for s in group {
                    bar.set_message(format!("{} / {}", phase.name, s.id));
                    let scenario_started = Instant::now();
                    let mut row = measure::run(&mut server, &phase.name, s, threads, &cpus);
                    row.rep = rep;
                    let note = row
                        .error
                        .as_ref()
                        .map_or(String::new(), |e| format!(" ({e})"));
                    say(
                        &bar,
                        format!(
                            "{round}{} / {}: {:.1?}{note}",
                            phase.name,
                            s.id,
                            scenario_started.elapsed()
                        ),
                    );
                    if args.quick && row.report.as_ref().is_none_or(|r| r.outcomes.ok == 0) {
                        all_ok = false;
                    }
                    results.rows.push(row);
                    bar.inc(1);
                }
                let check = if server.exited() {
                    server::StopCheck {
                        exit_code: None,
                        accepted: None,
                        stored_lines: None,
                        ok: false,
                        problem: Some(format!("crashed: {}", server.stderr_tail())),
                    }
                } else {
                    server.stop()
                };
                all_ok &= check.ok;
                // The phase's verdict is its first failed check, else its last check.
                if phase_check.as_ref().is_none_or(|c| c.ok) {
                    phase_check = Some(check);
                }
            }
            let Some(check) = phase_check else {
                continue; // failed to start: already recorded
            };
            let total = phase_started.elapsed();
            say(&bar, format!("{round}{}: {total:.1?} in all", phase.name));
            results.stops.push((phase.name.clone(), check));
        }
    }
    bar.finish_and_clear();
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

/// A row per scenario for a phase that never ran (did not build or start).
fn push_failed(results: &mut Results, phase: &str, why: &str, bar: &ProgressBar) {
    for s in &results.scenarios.clone() {
        results.rows.push(Row {
            phase: phase.into(),
            scenario: s.id.clone(),
            report: None,
            usage: Default::default(),
            idle: None,
            error: Some(why.into()),
            server_log: None,
            rep: 0,
        });
        bar.inc(1);
    }
    results.stops.push((
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
