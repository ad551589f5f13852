//! The crash experiment: load a server, `kill -9` it mid-flight, and see what its file kept.
//!
//! SPEC's Storage section says what a `202` promises under each `--ack` mode; a crash is
//! where the promise is tested. [`run`] drives batches on many keep-alive connections (some
//! pipelining several requests per write, so deferred responses must still come back in
//! order), remembers every event a `202` acknowledged, sends `SIGKILL` while requests are in
//! flight, and reads `events.ndjson` back: whole lines, a torn tail, and which acknowledged
//! events are not there. [`restart_and_check`] then restarts the server on the same data dir
//! and checks its start-up recovery. The `kill_9_keeps_acknowledged_*` checks and the bench
//! both call these two.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use crate::client::Client;
use crate::server::ServerProcess;
use crate::support::{check_canonical, get, post_ingest};

/// How many missing event names (and bad lines) a report keeps to show; the counts are exact.
pub const SHOWN: usize = 10;

/// How long the killed server may take to be reaped; `SIGKILL` cannot be caught, so this is
/// only the kernel tearing the process down on a loaded machine.
const REAP_WITHIN: Duration = Duration::from_secs(5);

/// How long the figures read just before the kill may take.
const STATS_WITHIN: Duration = Duration::from_millis(500);

/// How an experiment loads the server before killing it.
#[derive(Debug, Clone)]
pub struct CrashOptions {
    /// Keep-alive connections sending batches at once, one thread each.
    pub connections: usize,
    /// Every how-many-th connection pipelines 2 to 4 requests per write (the others send one
    /// request and wait for its response); 0 means none pipelines.
    pub pipeline_every: usize,
    /// Kill once this many events have been acknowledged...
    pub kill_after_events: u64,
    /// ...or once this much time has passed since the load started, whichever comes first.
    pub kill_after: Duration,
}

impl Default for CrashOptions {
    /// 8 connections, half of them pipelining; kill after 300 acknowledged events or 2 s.
    fn default() -> CrashOptions {
        CrashOptions {
            connections: 8,
            pipeline_every: 2,
            kill_after_events: 300,
            kill_after: Duration::from_secs(2),
        }
    }
}

/// What a crash left: what the clients were told, and what the file holds.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CrashReport {
    /// Events in batches answered `202` before the kill.
    pub acked_events: u64,
    /// Batches answered `202` before the kill.
    pub acked_batches: u64,
    /// Batches answered `503` (storage unavailable) before the kill.
    pub answered_503: u64,
    /// Requests written whose response had not fully arrived when the server died: the
    /// kill hit these in flight.
    pub in_flight: u64,
    /// `events_stored` and `fdatasyncs` from `/stats` just before the kill (group commit:
    /// under `synced` the syncs should be far fewer than the batches); `None` when the
    /// server did not answer a new connection at once.
    pub stats_before_kill: Option<(u64, u64)>,
    /// Complete lines (ending in `\n`) in the file after the kill.
    pub lines_stored: u64,
    /// Bytes after the last `\n`: a line the crash tore (0 if the file ends whole).
    pub torn_tail_bytes: u64,
    /// How many acknowledged events are not in the file.
    pub missing: u64,
    /// The first [`SHOWN`] acknowledged events not in the file, by name.
    pub acked_missing: Vec<String>,
    /// How many complete lines are not a canonical event.
    pub bad_lines: u64,
    /// The first [`SHOWN`] of them.
    pub bad_lines_shown: Vec<String>,
    /// Lines whose event name an earlier line already had: a batch written twice.
    pub duplicate_lines: u64,
}

impl CrashReport {
    /// True when the crash lost no acknowledged event and left only whole canonical lines
    /// (a torn tail is allowed: start-up recovery moves it aside).
    pub fn kept_every_acknowledged_event(&self) -> bool {
        self.missing == 0 && self.bad_lines == 0 && self.duplicate_lines == 0
    }

    /// The figures on one line, `key=value` separated by spaces, for logs and the bench.
    pub fn figures(&self) -> String {
        let (stored, syncs) = match self.stats_before_kill {
            Some((stored, syncs)) => (stored.to_string(), syncs.to_string()),
            None => ("?".to_string(), "?".to_string()),
        };
        format!(
            "acked_events={} lines={} missing={} torn={} acked_batches={} in_flight={} \
             answered_503={} bad_lines={} duplicates={} stored_before_kill={stored} \
             fdatasyncs_before_kill={syncs}",
            self.acked_events,
            self.lines_stored,
            self.missing,
            self.torn_tail_bytes,
            self.acked_batches,
            self.in_flight,
            self.answered_503,
            self.bad_lines,
            self.duplicate_lines,
        )
    }
}

/// What one load connection saw before the server died.
#[derive(Default)]
struct ConnOutcome {
    /// Names of the events its `202`s acknowledged.
    acked: Vec<String>,
    acked_batches: u64,
    answered_503: u64,
    in_flight: u64,
    /// A rule the server broke while alive (a wrong count, an unexpected status, a stall).
    error: Option<String>,
}

/// Loads `server` as `opts` say, kills it with `SIGKILL` while requests are in flight, and
/// reports what its event log kept. The server is left stopped (reaped); call
/// [`restart_and_check`] to see it recover. `Err` means the experiment could not run, or the
/// server broke a rule while it was alive (wrong `accepted` count, unexpected status).
pub fn run(server: &mut ServerProcess, opts: &CrashOptions) -> Result<CrashReport, String> {
    if opts.connections == 0 {
        return Err("a crash experiment needs at least one connection".to_string());
    }
    let addr = server.addr();
    let acked_events = Arc::new(AtomicU64::new(0));
    let killing = Arc::new(AtomicBool::new(false));
    // Past this a connection stops by itself even if the kill never came (a harness bug):
    // nothing here may run forever.
    let give_up = Instant::now() + opts.kill_after + Duration::from_secs(30);
    // Every connection is open before the clock starts, so none misses the load (on two
    // busy cores a late thread could otherwise connect only after the kill).
    let connected = Arc::new(Barrier::new(opts.connections + 1));
    let mut workers = Vec::new();
    for conn in 0..opts.connections {
        let pipelines =
            opts.pipeline_every > 0 && conn % opts.pipeline_every == opts.pipeline_every - 1;
        let (acked_events, killing) = (Arc::clone(&acked_events), Arc::clone(&killing));
        let connected = Arc::clone(&connected);
        workers.push(std::thread::spawn(move || {
            let client = Client::connect(addr);
            connected.wait();
            match client {
                Ok(client) => {
                    load_connection(client, conn, pipelines, &acked_events, &killing, give_up)
                }
                Err(e) => ConnOutcome {
                    error: Some(e),
                    ..ConnOutcome::default()
                },
            }
        }));
    }
    connected.wait();

    let start = Instant::now();
    while acked_events.load(Ordering::Relaxed) < opts.kill_after_events
        && start.elapsed() < opts.kill_after
        && !workers.iter().all(|w| w.is_finished())
    {
        std::thread::sleep(Duration::from_millis(5));
    }
    let stats_before_kill = stats_quickly(addr);
    killing.store(true, Ordering::SeqCst);
    let killed = server
        .signal_and_wait(libc::SIGKILL, REAP_WITHIN)
        .map(|_| ());

    let mut report = CrashReport {
        stats_before_kill,
        ..CrashReport::default()
    };
    let mut acked = Vec::new();
    let mut errors = Vec::new();
    for (conn, worker) in workers.into_iter().enumerate() {
        let outcome = worker
            .join()
            .map_err(|_| format!("load connection {conn} panicked"))?;
        report.acked_batches += outcome.acked_batches;
        report.answered_503 += outcome.answered_503;
        report.in_flight += outcome.in_flight;
        acked.extend(outcome.acked);
        errors.extend(outcome.error.map(|e| format!("connection {conn}: {e}")));
    }
    killed?;
    if let Some(first) = errors.first() {
        return Err(format!(
            "{} load connection(s) failed before the kill; the first: {first}",
            errors.len()
        ));
    }
    report.acked_events = acked.len() as u64;

    let path = server.data_file();
    let bytes = match std::fs::read(&path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(e) => return Err(format!("cannot read {}: {e}", path.display())),
    };
    let scan = scan_log(&bytes);
    account(&mut report, &scan, &acked);
    Ok(report)
}

/// `events_stored` and `fdatasyncs` from `/stats` on a fresh connection (the load's own are
/// not disturbed), or `None` if the server does not answer within [`STATS_WITHIN`]: a thread
/// pool whose workers all serve the load queues a new connection, and the kill must not wait
/// for it while the load runs on.
fn stats_quickly(addr: std::net::SocketAddr) -> Option<(u64, u64)> {
    let mut client = Client::connect(addr).ok()?;
    client.stream.set_read_timeout(Some(STATS_WITHIN)).ok()?;
    let response = client.request(&get("/stats")).ok()?;
    let json: serde_json::Value = response.json().ok()?;
    let field = |name: &str| json.get(name).and_then(serde_json::Value::as_u64);
    Some((field("events_stored")?, field("fdatasyncs")?))
}

/// One load connection: batches of 1 to 3 uniquely named events, one request per write or
/// (when `pipelines`) 2 to 4, until the server dies.
fn load_connection(
    mut client: Client,
    conn: usize,
    pipelines: bool,
    acked_events: &AtomicU64,
    killing: &AtomicBool,
    give_up: Instant,
) -> ConnOutcome {
    let mut outcome = ConnOutcome::default();
    let mut seq = 0usize;
    let mut round = 0usize;
    while Instant::now() < give_up {
        let depth = if pipelines { 2 + round % 3 } else { 1 };
        round += 1;
        let mut wire = Vec::new();
        let mut batches = Vec::new();
        for _ in 0..depth {
            // Consecutive batches differ in size, so a response out of order shows up as a
            // wrong `accepted` count.
            let names: Vec<String> = (0..1 + (conn + seq) % 3)
                .map(|k| format!("crash-{conn}-{seq}-{k}"))
                .collect();
            seq += 1;
            wire.extend(post_ingest(&batch_body(&names)));
            batches.push(names);
        }
        outcome.in_flight += depth as u64;
        if let Err(e) = client.send(&wire) {
            if !killing.load(Ordering::SeqCst) {
                outcome.error = Some(e);
            }
            return outcome;
        }
        for names in batches {
            let response = match client.read_response() {
                Ok(response) => response,
                Err(e) => {
                    if !killing.load(Ordering::SeqCst) {
                        outcome.error = Some(e);
                    }
                    return outcome;
                }
            };
            outcome.in_flight -= 1;
            match response.status {
                202 => {
                    let accepted = response
                        .json()
                        .ok()
                        .and_then(|j| j.get("accepted").and_then(serde_json::Value::as_u64));
                    if accepted != Some(names.len() as u64) {
                        outcome.error = Some(format!(
                            "a batch of {} events got {}",
                            names.len(),
                            response.show()
                        ));
                        return outcome;
                    }
                    outcome.acked_batches += 1;
                    acked_events.fetch_add(names.len() as u64, Ordering::Relaxed);
                    outcome.acked.extend(names);
                }
                503 => outcome.answered_503 += 1,
                _ => {
                    outcome.error = Some(format!(
                        "a valid batch must get 202 (or 503 while storage fails), got {}",
                        response.show()
                    ));
                    return outcome;
                }
            }
        }
    }
    outcome
}

/// One event as a JSON object, several as an array: both shapes SPEC accepts.
fn batch_body(names: &[String]) -> String {
    let events: Vec<String> = names
        .iter()
        .enumerate()
        .map(|(k, name)| format!(r#"{{"name":"{name}","value":{k}.5}}"#))
        .collect();
    match events.as_slice() {
        [one] => one.clone(),
        _ => format!("[{}]", events.join(",")),
    }
}

/// What an event log holds, read without trusting it.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct LogScan {
    /// Event names of the complete canonical lines, each once.
    pub names: HashSet<String>,
    /// Complete lines (ending in `\n`).
    pub lines: u64,
    /// Bytes after the last `\n`.
    pub torn_tail_bytes: u64,
    /// Complete lines that are not a canonical event, with the first [`SHOWN`] of them.
    pub bad_lines: u64,
    pub bad_lines_shown: Vec<String>,
    /// Complete lines whose name an earlier line already had.
    pub duplicate_lines: u64,
}

/// Reads an event log's bytes: whole lines, their names, bad lines, and a torn tail.
pub fn scan_log(bytes: &[u8]) -> LogScan {
    let mut scan = LogScan::default();
    let whole = match bytes.iter().rposition(|&b| b == b'\n') {
        Some(last) => {
            scan.torn_tail_bytes = (bytes.len() - last - 1) as u64;
            &bytes[..=last]
        }
        None => {
            scan.torn_tail_bytes = bytes.len() as u64;
            &[][..]
        }
    };
    // An empty line is a line too, and not an event.
    for line in whole.split_inclusive(|&b| b == b'\n') {
        scan.lines += 1;
        let name = std::str::from_utf8(&line[..line.len() - 1])
            .map_err(|e| format!("log line is not UTF-8 ({e})"))
            .and_then(check_canonical)
            .map(|event| event["name"].as_str().unwrap_or_default().to_string());
        match name {
            Ok(name) => {
                if !scan.names.insert(name) {
                    scan.duplicate_lines += 1;
                }
            }
            Err(why) => {
                scan.bad_lines += 1;
                if scan.bad_lines_shown.len() < SHOWN {
                    scan.bad_lines_shown.push(why);
                }
            }
        }
    }
    scan
}

/// Fills the file's side of `report` from `scan`, given the acknowledged names.
fn account(report: &mut CrashReport, scan: &LogScan, acked: &[String]) {
    report.lines_stored = scan.lines;
    report.torn_tail_bytes = scan.torn_tail_bytes;
    report.bad_lines = scan.bad_lines;
    report.bad_lines_shown = scan.bad_lines_shown.clone();
    report.duplicate_lines = scan.duplicate_lines;
    for name in acked.iter().filter(|n| !scan.names.contains(*n)) {
        report.missing += 1;
        if report.acked_missing.len() < SHOWN {
            report.acked_missing.push(name.clone());
        }
    }
}

/// What the restarted server's start-up recovery did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recovery {
    /// Whole lines in the file after the restart (before anything new was posted).
    pub lines: u64,
    /// Bytes the restart moved to `events.ndjson.torn`.
    pub torn_moved: u64,
}

/// Restarts the killed server on the same data dir and checks SPEC's start-up recovery:
/// every whole line kept, the torn tail (if any) moved to `events.ndjson.torn`, the file
/// left ending in a whole line, and the server serving again (`/health` 200, a batch 202).
pub fn restart_and_check(
    server: &mut ServerProcess,
    report: &CrashReport,
) -> Result<Recovery, String> {
    server.restart()?;
    let path = server.data_file();
    let bytes = std::fs::read(&path).unwrap_or_default();
    let scan = scan_log(&bytes);
    if scan.torn_tail_bytes != 0 {
        return Err(format!(
            "after a restart the log must end in a whole line; {} bytes follow the last newline",
            scan.torn_tail_bytes
        ));
    }
    if scan.lines != report.lines_stored {
        return Err(format!(
            "a restart must keep every whole line: {} before, {} after",
            report.lines_stored, scan.lines
        ));
    }
    if let Some(first) = scan.bad_lines_shown.first() {
        return Err(format!(
            "after a restart {} line(s) are not canonical events; the first: {first}",
            scan.bad_lines
        ));
    }
    let torn_path = path.with_file_name("events.ndjson.torn");
    let torn_moved = std::fs::metadata(&torn_path).map_or(0, |m| m.len());
    if torn_moved != report.torn_tail_bytes {
        return Err(format!(
            "the crash left a torn tail of {} bytes; after the restart {} holds {torn_moved}",
            report.torn_tail_bytes,
            torn_path.display()
        ));
    }
    let mut client = Client::connect(server.addr())?;
    let health = client.request(&get("/health"))?;
    crate::support::expect_status(&health, 200, "GET /health after a restart")?;
    let response = client.request(&post_ingest(r#"{"name":"crash-after-restart","value":1}"#))?;
    crate::support::expect_accepted(&response, 1, "POST /ingest after a restart")?;
    Ok(Recovery {
        lines: scan.lines,
        torn_moved,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(name: &str) -> String {
        format!("{{\"name\":\"{name}\",\"value\":1.5,\"ts\":7}}\n")
    }

    /// A clean log: every line counted and named, nothing torn or bad.
    #[test]
    fn scan_counts_whole_lines() {
        let text = format!("{}{}{}", line("a"), line("b"), line("c"));
        let scan = scan_log(text.as_bytes());
        assert_eq!(
            (scan.lines, scan.torn_tail_bytes, scan.bad_lines),
            (3, 0, 0)
        );
        assert!(["a", "b", "c"].iter().all(|n| scan.names.contains(*n)));
    }

    /// Bytes after the last newline are a torn tail, not a line; no newline at all is all tail.
    #[test]
    fn scan_measures_a_torn_tail() {
        let text = format!("{}{{\"name\":\"b\",\"va", line("a"));
        let scan = scan_log(text.as_bytes());
        assert_eq!((scan.lines, scan.torn_tail_bytes), (1, 15));
        assert!(!scan.names.contains("b"));
        let scan = scan_log(b"{\"name\"");
        assert_eq!((scan.lines, scan.torn_tail_bytes), (0, 7));
        assert_eq!(scan_log(b""), LogScan::default());
    }

    /// Non-canonical, non-UTF-8 and empty lines are counted bad; a repeated name is a duplicate.
    #[test]
    fn scan_flags_bad_and_duplicate_lines() {
        let mut bytes = format!(
            "{}{{\"value\":1,\"name\":\"x\",\"ts\":1}}\n\n{}",
            line("a"),
            line("a")
        )
        .into_bytes();
        bytes.extend_from_slice(b"\xff\xfe\n");
        let scan = scan_log(&bytes);
        assert_eq!(scan.lines, 5);
        assert_eq!(scan.bad_lines, 3);
        assert_eq!(scan.duplicate_lines, 1);
        assert_eq!(scan.bad_lines_shown.len(), 3);
    }

    /// The report counts every missing acknowledged event but shows only the first few.
    #[test]
    fn account_caps_the_missing_list() {
        let text = format!("{}{}", line("kept-0"), line("unacked"));
        let scan = scan_log(text.as_bytes());
        let acked: Vec<String> = std::iter::once("kept-0".to_string())
            .chain((0..25).map(|i| format!("lost-{i}")))
            .collect();
        let mut report = CrashReport::default();
        account(&mut report, &scan, &acked);
        assert_eq!(report.missing, 25);
        assert_eq!(report.acked_missing.len(), SHOWN);
        assert_eq!(report.acked_missing[0], "lost-0");
        assert_eq!(report.lines_stored, 2);
        assert!(!report.kept_every_acknowledged_event());
        let mut clean = CrashReport::default();
        account(&mut clean, &scan, &acked[..1]);
        assert!(clean.kept_every_acknowledged_event());
    }

    /// The figures line starts with the keys collected per phase from test output, in order.
    #[test]
    fn figures_lead_with_the_collected_keys() {
        let report = CrashReport {
            acked_events: 300,
            lines_stored: 302,
            torn_tail_bytes: 7,
            ..CrashReport::default()
        };
        assert!(report
            .figures()
            .starts_with("acked_events=300 lines=302 missing=0 torn=7 "));
        assert!(report.figures().ends_with("fdatasyncs_before_kill=?"));
    }

    /// One event is sent as an object, several as an array, each named as given.
    #[test]
    fn batch_bodies_are_valid_events() {
        let one = batch_body(&["crash-0-0-0".to_string()]);
        assert!(check_canonical(&one).is_err(), "no ts: not stored form");
        let value: serde_json::Value = serde_json::from_str(&one).unwrap();
        assert_eq!(value["name"], "crash-0-0-0");
        let two = batch_body(&["a".to_string(), "b".to_string()]);
        let value: serde_json::Value = serde_json::from_str(&two).unwrap();
        assert_eq!(value.as_array().map(Vec::len), Some(2));
    }
}
