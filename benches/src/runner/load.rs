//! One phase at a time: `bench load PHASE`, one loadgen run with any loadgen flags, a
//! summary with the server's CPU and memory, and the stored == accepted check; and
//! `bench idle PHASE`, the idle-memory test of the full bench on its own.

use clap::Parser as _;

use super::server::PhaseServer;
use super::{phases, sampler, scenarios, CpuPlan};
use crate::loadgen::{self, cli::LoadgenArgs};

/// What `bench load` was asked to do.
pub struct Load<'a> {
    /// Phase package name.
    pub phase: &'a str,
    /// Keep-alive connections.
    pub connections: usize,
    /// `/ingest` (a POST of the standard event) or a GET path such as `/health`.
    pub path: &'a str,
    /// Flags for the phase server.
    pub server_args: Vec<String>,
    /// Flags for loadgen.
    pub loadgen_args: &'a [String],
}

/// The phase called `name`, or an error that lists the phases there are.
fn find<'a>(ws: &'a phases::Workspace, name: &str) -> Result<&'a phases::Phase, String> {
    ws.phases.iter().find(|p| p.name == name).ok_or_else(|| {
        format!(
            "unknown phase {name:?}; phases: {}",
            ws.phases
                .iter()
                .map(|p| p.name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        )
    })
}

/// `bench idle PHASE N`: the memory one idle keep-alive connection costs the server, as
/// the full bench's idle test measures it (the one meter for the bench, the book and the
/// phases' chapters).
pub fn idle_one(
    ws: &phases::Workspace,
    cpus: &CpuPlan,
    name: &str,
    connections: usize,
    server_args: &[String],
) -> Result<bool, String> {
    let phase = find(ws, name)?;
    if !sampler::supported() {
        return Err(format!(
            "bench idle reads the server's RSS from /proc: {}",
            sampler::availability()
        ));
    }
    if let Some((_, why)) = phases::build(ws, std::slice::from_ref(phase)).first() {
        return Err(why.clone());
    }
    let mut args: Vec<String> = ["--idle-timeout", "600s", "--max-conns", "100000"]
        .map(String::from)
        .to_vec();
    args.extend(server_args.iter().cloned());
    let server = PhaseServer::start(&ws.binary(phase), cpus.server.clone(), &args)?;
    eprintln!(
        "{name} on {}; opening {connections} idle connections...",
        server.addr
    );
    let (idle, report) = super::idle::open(server.addr, server.pid(), connections);
    let kib = |b: Option<u64>| b.map_or("?".into(), |b| format!("{} KiB", b / 1024));
    println!("server: {name} (pid {})", server.pid());
    println!("connections: {}", report.summary());
    println!("RSS with no idle connections: {}", kib(report.rss_before));
    println!("RSS with {} open: {}", report.open(), kib(report.rss_after));
    match report.bytes_per_conn {
        Some(b) => println!("per idle connection: {b:.0} bytes"),
        None => println!("per idle connection: not measured (no connection stayed open)"),
    }
    drop(idle);
    let check = server.stop();
    if let Some(p) = &check.problem {
        println!("stop check FAILED: {p}");
    }
    Ok(check.ok && report.bytes_per_conn.is_some())
}

/// `bench load PHASE`: one phase, one loadgen run, a summary, a clean stop.
pub fn load_one(ws: &phases::Workspace, cpus: &CpuPlan, load: &Load) -> Result<bool, String> {
    let name = load.phase;
    let phase = find(ws, name)?;
    if !load.path.starts_with('/') {
        return Err(format!("--path {:?} must start with /", load.path));
    }
    if let Some((_, why)) = phases::build(ws, std::slice::from_ref(phase)).first() {
        return Err(why.clone());
    }
    let server = PhaseServer::start(&ws.binary(phase), cpus.server.clone(), &load.server_args)?;
    let (path, extra) = (load.path, load.loadgen_args);
    let url = format!("http://{}{path}", server.addr);
    let mut argv = vec![
        "loadgen".to_string(),
        "-c".into(),
        load.connections.to_string(),
    ];
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
