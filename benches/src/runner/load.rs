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
pub(super) fn find<'a>(ws: &'a phases::Workspace, name: &str) -> Result<&'a phases::Phase, String> {
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

/// `bench idle PHASE N...`: what idle keep-alive connections cost the server, measured the
/// way the full bench's idle test measures them (the one meter for the bench, the book's
/// memory tables and the phase chapters). Prints a table: a row with no connections, then a
/// row per count, each round opening its connections afresh and closing them after.
pub fn idle_one(
    ws: &phases::Workspace,
    cpus: &CpuPlan,
    name: &str,
    counts: &[usize],
    server_args: &[String],
) -> Result<bool, String> {
    let phase = find(ws, name)?;
    if !sampler::supported() {
        return Err(format!(
            "bench idle reads the server's memory from /proc: {}",
            sampler::availability()
        ));
    }
    if let Some((_, why)) = phases::build(ws, std::slice::from_ref(phase)).first() {
        return Err(why.clone());
    }
    let mut args = Vec::new();
    for (flag, value) in [("--idle-timeout", "600s"), ("--max-conns", "100000")] {
        if !server_args.iter().any(|a| a == flag) {
            args.extend([flag.to_string(), value.to_string()]);
        }
    }
    args.extend(server_args.iter().cloned());
    let server = PhaseServer::start(&ws.binary(phase), cpus.server.clone(), &args)?;
    let pid = server.pid();
    let base = sampler::sample(pid).ok_or("cannot read the server's /proc entry")?;
    let mib = |bytes: u64| format!("{:.1} MiB", bytes as f64 / (1 << 20) as f64);
    println!(
        "{:>11} {:>8} {:>12} {:>13} {:>9} {:>9}  answers to the first request",
        "connections", "threads", "RSS (VmRSS)", "VSZ (VmSize)", "RSS/conn", "VSZ/conn"
    );
    println!(
        "{:>11} {:>8} {:>12} {:>13}",
        0,
        base.threads,
        mib(base.rss_bytes),
        mib(base.vsz_bytes)
    );
    let mut all_held = true;
    for &n in counts {
        let (idle, report) = super::idle::open(server.addr, pid, n);
        let now = sampler::sample(pid).ok_or("the server's /proc entry is gone")?;
        // Per connection the server still holds: p2 answers its excess with 503 and closes.
        let open = report.open().max(1) as f64;
        // Bytes while small (an event-driven phase's few hundred), kB once they are not.
        let per = |now: u64, base: u64| {
            let bytes = (now as f64 - base as f64) / open;
            if bytes.abs() < 10_240.0 {
                format!("{bytes:.0} B")
            } else {
                format!("{:.1} kB", bytes / 1024.0)
            }
        };
        println!(
            "{:>11} {:>8} {:>12} {:>13} {:>9} {:>9}  {}",
            thousands(n),
            thousands(now.threads as usize),
            mib(now.rss_bytes),
            mib(now.vsz_bytes),
            per(now.rss_bytes, base.rss_bytes),
            per(now.vsz_bytes, base.vsz_bytes),
            report.summary()
        );
        all_held &= report.held == n;
        drop(idle);
        // Let the server notice the closes (and p1's threads exit) before the next round.
        std::thread::sleep(std::time::Duration::from_secs(1));
    }
    let check = server.stop();
    if let Some(p) = &check.problem {
        println!("stop check FAILED: {p}");
    }
    if !all_held {
        eprintln!("note: not every connection was held open; the last column says where they went");
    }
    Ok(check.ok)
}

/// `5000` as `5,000`.
fn thousands(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
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
