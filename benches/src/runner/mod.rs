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

pub mod charts;
pub mod cli;
pub mod output;
pub mod phases;
pub mod sampler;
pub mod scenarios;
pub mod server;

use std::io::Write as _;
use std::net::TcpStream;
use std::path::PathBuf;
use std::time::Duration;

use clap::Parser as _;
use indicatif::{ProgressBar, ProgressStyle};

use crate::loadgen::{self, cli::LoadgenArgs, LoadConfig, RequestSpec, Target};
use cli::{BenchArgs, BenchCommand};
use output::{Header, Results, Row};
use scenarios::{Kind, Scenario};
use server::PhaseServer;

/// Which CPUs the server and the load generator get.
struct CpuPlan {
    server: Option<Vec<usize>>,
    loadgen: Option<Vec<usize>>,
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
    let _ = crate::os::raise_nofile_limit();
    let ws = phases::discover()?;
    let cpus = cpu_plan(args.no_pin);
    if let Some(BenchCommand::Load {
        phase,
        connections,
        path,
        loadgen_args,
    }) = &args.command
    {
        return load_one(&ws, &cpus, phase, *connections, path, loadgen_args);
    }
    let wanted: Vec<_> = ws
        .phases
        .iter()
        .filter(|p| args.phases.is_empty() || args.phases.contains(&p.name))
        .cloned()
        .collect();
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
    if wanted.is_empty() {
        return Err("no phases found: no workspace member lives under phases/".into());
    }
    eprintln!("building {} phase(s) in release mode...", wanted.len());
    let build_failures = phases::build(&ws, &wanted);
    let scenarios = scenarios::plan(args.quick, args.c10k, args.duration);
    let header = Header::collect(cpus.description.clone());
    let threads = args
        .loadgen_threads
        .unwrap_or_else(|| cpus.loadgen.as_ref().map_or(1, Vec::len).max(1));
    let bar = ProgressBar::new((wanted.len() * scenarios.len()) as u64);
    bar.set_style(
        ProgressStyle::with_template("{elapsed_precise} [{bar:30}] {pos}/{len} {msg}")
            .expect("static template")
            .progress_chars("=> "),
    );
    let mut results = Results {
        header,
        scenarios: scenarios.clone(),
        rows: Vec::new(),
        stops: Vec::new(),
    };
    let mut all_ok = true;
    for phase in &wanted {
        if let Some((_, why)) = build_failures.iter().find(|(n, _)| *n == phase.name) {
            all_ok = false;
            push_failed(&mut results, &phase.name, why, &bar);
            continue;
        }
        let server = match PhaseServer::start(&ws.binary(phase), cpus.server.clone(), &[]) {
            Ok(s) => s,
            Err(why) => {
                all_ok = false;
                push_failed(
                    &mut results,
                    &phase.name,
                    &format!("failed to start: {why}"),
                    &bar,
                );
                continue;
            }
        };
        let mut server = server;
        for s in &scenarios {
            bar.set_message(format!("{} / {}", phase.name, s.id));
            let row = run_scenario(&mut server, &phase.name, s, threads, &cpus);
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
        results.stops.push((phase.name.clone(), check));
    }
    bar.finish_and_clear();
    let markdown = results.markdown();
    println!("{markdown}");
    let dir = ws.target_dir.join("bench").join(output::stamp());
    save(&dir, &results, &markdown)?;
    eprintln!("results saved in {}", dir.display());
    if args.publish {
        let book = ws.root.join("book/src/results");
        save(&book, &results, &markdown)?;
        charts::draw_all(&results, &book)?;
        eprintln!("published tables and charts in {}", book.display());
    }
    Ok(all_ok)
}

fn push_failed(results: &mut Results, phase: &str, why: &str, bar: &ProgressBar) {
    for s in &results.scenarios.clone() {
        results.rows.push(Row {
            phase: phase.into(),
            scenario: s.id.clone(),
            report: None,
            usage: Default::default(),
            bytes_per_idle_conn: None,
            error: Some(why.into()),
        });
        bar.inc(1);
    }
}

fn save(dir: &PathBuf, results: &Results, markdown: &str) -> Result<(), String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let json = serde_json::to_string_pretty(results).map_err(|e| e.to_string())?;
    std::fs::write(dir.join("results.json"), json)
        .map_err(|e| format!("cannot write results.json: {e}"))?;
    std::fs::write(dir.join("results.md"), markdown)
        .map_err(|e| format!("cannot write results.md: {e}"))
}

/// The loadgen config for `scenario` against `server`.
fn scenario_config(
    server: &PhaseServer,
    s: &Scenario,
    threads: usize,
    cpus: &CpuPlan,
) -> Result<LoadConfig, String> {
    let target = Target::parse(&format!("http://{}{}", server.addr, s.path))?;
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
    c.mode = s.mode();
    c.timeout = Duration::from_secs(5);
    c.cpus = cpus.loadgen.clone();
    Ok(c)
}

fn run_scenario(
    server: &mut PhaseServer,
    phase: &str,
    s: &Scenario,
    threads: usize,
    cpus: &CpuPlan,
) -> Row {
    let mut row = Row {
        phase: phase.into(),
        scenario: s.id.clone(),
        report: None,
        usage: Default::default(),
        bytes_per_idle_conn: None,
        error: None,
    };
    if server.exited() {
        row.error = Some(format!("crashed earlier: {}", server.stderr_tail()));
        return row;
    }
    let config = match scenario_config(server, s, threads, cpus) {
        Ok(c) => c,
        Err(e) => {
            row.error = Some(e);
            return row;
        }
    };
    let pid = server.pid();
    let mut idle = Vec::new();
    if let Kind::IdleMemory(n) = s.kind {
        let before = sampler::sample(pid);
        idle = open_idle(server, n);
        std::thread::sleep(Duration::from_millis(500));
        let after = sampler::sample(pid);
        if let (Some(b), Some(a)) = (before, after) {
            row.bytes_per_idle_conn =
                Some((a.rss_bytes as f64 - b.rss_bytes as f64) / idle.len().max(1) as f64);
        }
        if idle.len() < n {
            row.error = Some(format!(
                "only {} of {n} idle connections opened",
                idle.len()
            ));
        }
    }
    let sampling = sampler::Sampler::start(pid);
    let result = loadgen::run(&config);
    row.usage = sampling.finish();
    drop(idle);
    match result {
        Ok(r) => row.report = Some(r),
        Err(e) => row.error = Some(e),
    }
    if server.exited() {
        row.error = Some(format!("server crashed: {}", server.stderr_tail()));
    }
    row
}

/// Opens `n` keep-alive connections and sends each one `GET /health`, so the
/// server has really taken each on (accepted it, allocated its state); the
/// answers are left unread: the connections then sit idle.
fn open_idle(server: &PhaseServer, n: usize) -> Vec<TcpStream> {
    let request = format!("GET /health HTTP/1.1\r\nHost: {}\r\n\r\n", server.addr);
    let mut conns = Vec::with_capacity(n);
    for _ in 0..n {
        let Ok(mut c) = TcpStream::connect_timeout(&server.addr, Duration::from_secs(1)) else {
            break;
        };
        if c.write_all(request.as_bytes()).is_err() {
            break;
        }
        conns.push(c);
    }
    conns
}

/// `bench load PHASE`: one phase, one loadgen run, a summary, a clean stop.
fn load_one(
    ws: &phases::Workspace,
    cpus: &CpuPlan,
    name: &str,
    connections: usize,
    path: &str,
    extra: &[String],
) -> Result<bool, String> {
    let phase = ws
        .phases
        .iter()
        .find(|p| p.name == name)
        .ok_or_else(|| format!("unknown phase {name:?}"))?;
    if let Some((_, why)) = phases::build(ws, std::slice::from_ref(phase)).first() {
        return Err(why.clone());
    }
    let server = PhaseServer::start(&ws.binary(phase), cpus.server.clone(), &[])?;
    let url = format!("http://{}{path}", server.addr);
    let mut argv = vec!["loadgen".to_string(), "-c".into(), connections.to_string()];
    if path == "/ingest" && !extra.iter().any(|a| a == "-b" || a.starts_with("--body")) {
        argv.extend([
            "-b".into(),
            scenarios::EVENT.into(),
            "-H".into(),
            "Content-Type: application/json".into(),
        ]);
    }
    argv.extend(extra.iter().cloned());
    argv.push(url);
    let args = LoadgenArgs::try_parse_from(&argv).map_err(|e| e.to_string())?;
    let json = args.json;
    let mut config = args.into_config()?;
    config.cpus = cpus.loadgen.clone();
    eprintln!(
        "{name} on {} ({}); loading...",
        server.addr, cpus.description
    );
    let sampling = sampler::Sampler::start(server.pid());
    let report = loadgen::run(&config)?;
    let usage = sampling.finish();
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&report).map_err(|e| e.to_string())?
        );
    } else {
        print!("{report}");
        println!(
            "  server: CPU {}%, peak RSS {} MiB, threads {}",
            usage.cpu_pct.map_or("?".into(), |v| format!("{v:.0}")),
            usage.peak_rss_mib.map_or("?".into(), |v| format!("{v:.1}")),
            usage.peak_threads.map_or("?".into(), |v| v.to_string())
        );
    }
    let check = server.stop();
    match &check.problem {
        None => println!(
            "  stopped cleanly; events.ndjson holds exactly the {} accepted events",
            check.accepted.unwrap_or(0)
        ),
        Some(p) => println!("  stop check FAILED: {p}"),
    }
    Ok(check.ok)
}
