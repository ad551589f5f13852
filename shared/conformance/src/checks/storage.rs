//! SPEC "Storage": start-up recovery of a torn last line, and a disk that fails and comes
//! back; and what `/stats` says about storage. The recovery and failure checks start, signal and
//! restart their own servers.

use std::time::Duration;

use crate::check::{Ctx, Outcome};
use crate::server::ServerProcess;
use crate::support::{check_canonical, data_lines, event, expect_accepted, post_ingest, request};

/// SPEC allows 5 s to finish requests in flight; the rest is margin for a loaded machine.
const SHUTDOWN_WITHIN: Duration = Duration::from_secs(10);

/// The writer retries about once a second; this leaves margin for a loaded machine.
#[cfg(target_os = "linux")]
const NOTICED_WITHIN: Duration = Duration::from_secs(3);

/// Posts events `from..from + n` as one array and expects `202 {"accepted":n}`.
fn post(server: &ServerProcess, from: usize, n: usize) -> Outcome {
    let events: Vec<String> = (from..from + n).map(event).collect();
    let response = request(
        server.addr(),
        &post_ingest(&format!("[{}]", events.join(","))),
    )?;
    expect_accepted(&response, n as u64, "POST /ingest")?;
    Ok(())
}

/// SIGTERM, and a clean exit.
fn stop(server: &mut ServerProcess) -> Outcome {
    let status = server.terminate(SHUTDOWN_WITHIN)?;
    if status.code() != Some(0) {
        return Err(format!(
            "after SIGTERM the server must exit 0, got {status}; its stderr: {}",
            server.stderr_tail()
        )
        .into());
    }
    Ok(())
}

/// Every line of the log is a whole canonical event and the file ends in a newline.
fn whole_canonical_lines(server: &ServerProcess) -> Result<Vec<String>, String> {
    let path = server.data_file();
    let bytes = std::fs::read(&path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    if bytes.last().is_some_and(|&b| b != b'\n') {
        let tail = &bytes[bytes.len().saturating_sub(80)..];
        return Err(format!(
            "the log ends in a torn line: ...{}",
            crate::client::show(tail)
        ));
    }
    let lines = data_lines(&path)?;
    for line in &lines {
        check_canonical(line)?;
    }
    Ok(lines)
}

/// `/stats` reports storage: `events_lost` (a counter), `ack` (the mode: `queued`, `written`
/// or `synced`) and `storage_ok` (a boolean, true on a healthy server).
pub fn stats_report_storage(ctx: &Ctx) -> Outcome {
    let stats = crate::support::stats(ctx.addr()?)?;
    crate::support::counter(&stats, "events_lost")?;
    match stats.get("ack").and_then(|a| a.as_str()) {
        Some("queued" | "written" | "synced") => {}
        other => {
            return Err(format!(
                "/stats ack must be \"queued\", \"written\" or \"synced\", got {other:?}"
            )
            .into())
        }
    }
    if stats.get("storage_ok") != Some(&serde_json::Value::Bool(true)) {
        return Err(format!(
            "/stats storage_ok must be the boolean true on a healthy server, got {:?}",
            stats.get("storage_ok")
        )
        .into());
    }
    Ok(())
}

/// A log whose last line a crash tore: at restart the torn bytes move to
/// `events.ndjson.torn`, the whole lines stay, and new events append as whole lines
/// (default `--ack written`).
pub fn torn_tail_recovered_at_start(ctx: &Ctx) -> Outcome {
    torn_tail_recovered(ctx, &[])
}

/// [`torn_tail_recovered_at_start`] under `--ack synced`.
pub fn torn_tail_recovered_at_start_synced(ctx: &Ctx) -> Outcome {
    torn_tail_recovered(ctx, &["--ack", "synced"])
}

fn torn_tail_recovered(ctx: &Ctx, args: &[&str]) -> Outcome {
    let mut server = ctx.spawn(args)?;
    post(&server, 0, 5)?;
    stop(&mut server)?;
    let before = data_lines(&server.data_file())?;
    let torn = r#"{"name":"torn.by.a.crash","val"#;
    let mut file = std::fs::OpenOptions::new()
        .append(true)
        .open(server.data_file())
        .map_err(|e| format!("cannot open the log to tear it: {e}"))?;
    std::io::Write::write_all(&mut file, torn.as_bytes()).map_err(|e| e.to_string())?;
    drop(file);

    server.restart()?;
    post(&server, 5, 3)?;
    stop(&mut server)?;

    let aside_path = server.data_file().with_file_name("events.ndjson.torn");
    let aside = std::fs::read(&aside_path).map_err(|e| {
        format!(
            "after a restart on a log ending in a torn line, {} must hold its bytes: {e}",
            aside_path.display()
        )
    })?;
    if aside != torn.as_bytes() {
        return Err(format!(
            "events.ndjson.torn must hold exactly the torn bytes {torn:?}, holds {:?}",
            String::from_utf8_lossy(&aside)
        )
        .into());
    }
    let after = whole_canonical_lines(&server)?;
    if after.len() != 8 || after[..5] != before[..] {
        return Err(format!(
            "the log must keep its 5 whole lines and append 3: it holds {} lines{}",
            after.len(),
            if after.len() >= 5 && after[..5] != before[..] {
                " and the first 5 changed"
            } else {
                ""
            }
        )
        .into());
    }
    Ok(())
}

/// The file-size limit lowered under a running server (Linux `prlimit`), default `--ack
/// written`: the batch whose write fails with `EFBIG` is answered `503` with `Retry-After`,
/// `/health` turns `503 storage unavailable`, new batches get `503`, `storage_ok` is false,
/// and the file holds no torn line; with the limit back, the server recovers within seconds,
/// and after SIGTERM the log holds exactly the acknowledged events.
pub fn storage_failure_503_and_recovery(ctx: &Ctx) -> Outcome {
    storage_failure(ctx, &[])
}

/// [`storage_failure_503_and_recovery`] under `--ack synced`.
pub fn storage_failure_503_and_recovery_synced(ctx: &Ctx) -> Outcome {
    storage_failure(ctx, &["--ack", "synced"])
}

fn storage_failure(ctx: &Ctx, args: &[&str]) -> Outcome {
    #[cfg(target_os = "linux")]
    {
        storage_failure_linux(ctx, args)
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = (ctx, args);
        Err(crate::check::Failure::Skip(
            "needs Linux prlimit(2) to lower another process's file-size limit".to_string(),
        ))
    }
}

/// Fails unless `response` is SPEC's storage refusal: `503`, `Retry-After`, and
/// `{"error":"storage unavailable: ..."}`.
#[cfg(target_os = "linux")]
fn expect_storage_503(response: &crate::client::Response, what: &str) -> Outcome {
    crate::support::expect_status(response, 503, what)?;
    let error = response.json()?;
    let sentence = error.get("error").and_then(|e| e.as_str()).unwrap_or("");
    if !sentence.starts_with("storage unavailable") || response.header("retry-after").is_none() {
        return Err(format!(
            "{what}: 503 needs Retry-After and {{\"error\":\"storage unavailable: ...\"}}: {}",
            response.show()
        )
        .into());
    }
    Ok(())
}

#[cfg(target_os = "linux")]
fn storage_failure_linux(ctx: &Ctx, args: &[&str]) -> Outcome {
    use crate::support::{counter, get, stats, wait_for};

    let mut server = ctx.spawn(args)?;
    let addr = server.addr();
    post(&server, 0, 5)?;
    let stored = wait_for(NOTICED_WITHIN, || {
        let s = stats(addr)?;
        Ok((counter(&s, "events_stored")? == 5).then_some(()))
    })?;
    if stored.is_none() {
        return Err("5 accepted events were not stored (events_stored) within 3 s".into());
    }
    let pid = server.pid().ok_or("the server is not running")?;
    let size = std::fs::metadata(server.data_file())
        .map_err(|e| format!("cannot stat the log: {e}"))?
        .len();
    // Room for a few bytes more: the next group's write goes in part, then fails with EFBIG,
    // so the server must cut a torn line back.
    let original = fsize_limit(pid, None)?;
    fsize_limit(
        pid,
        Some(libc::rlimit {
            rlim_cur: size + 10,
            rlim_max: original.rlim_max,
        }),
    )?;

    // The 202 waits for the write, so the batch whose write fails is answered 503 itself.
    let events: Vec<String> = (5..8).map(event).collect();
    let failed = request(addr, &post_ingest(&format!("[{}]", events.join(","))))?;
    expect_storage_503(&failed, "POST /ingest whose write fails (EFBIG)")?;
    let failing = wait_for(NOTICED_WITHIN, || {
        let health = request(addr, &get("/health"))?;
        Ok((health.status == 503).then_some(health))
    })?;
    let Some(health) = failing else {
        return Err(format!(
            "with RLIMIT_FSIZE at the log's size, /health must turn 503 after a failed write; \
             its stderr: {}",
            server.stderr_tail()
        )
        .into());
    };
    if health.body != b"storage unavailable" {
        return Err(format!(
            "/health while storage fails: the body must be `storage unavailable`: {}",
            health.show()
        )
        .into());
    }
    let refused = request(addr, &post_ingest(&event(100)))?;
    expect_storage_503(&refused, "POST /ingest while storage fails")?;
    if stats(addr)?.get("storage_ok") != Some(&serde_json::Value::Bool(false)) {
        return Err("/stats storage_ok must be false while storage fails".into());
    }
    whole_canonical_lines(&server).map_err(|e| format!("while storage fails: {e}"))?;

    fsize_limit(pid, Some(original))?;
    let recovered = wait_for(NOTICED_WITHIN, || {
        Ok((request(addr, &get("/health"))?.status == 200).then_some(()))
    })?;
    if recovered.is_none() {
        return Err(format!(
            "with the file-size limit raised again, /health must be 200 within {NOTICED_WITHIN:?}"
        )
        .into());
    }
    if stats(addr)?.get("storage_ok") != Some(&serde_json::Value::Bool(true)) {
        return Err("/stats storage_ok must be true again after recovery".into());
    }
    post(&server, 8, 2)?;
    stop(&mut server)?;
    // Exactly the acknowledged events: none missing, and none of the refused batches stored
    // later (`event(i)` is tagged `web-i`).
    let lines = whole_canonical_lines(&server)?;
    let mut hosts: Vec<String> = lines
        .iter()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .map(|e| e["tags"]["host"].as_str().unwrap_or_default().to_string())
        .collect();
    hosts.sort();
    let expected: Vec<String> = [0, 1, 2, 3, 4, 8, 9].map(|i| format!("web-{i}")).into();
    if hosts != expected {
        return Err(format!(
            "after the failure, recovery and SIGTERM the log must hold exactly the 7 \
             acknowledged events (hosts {expected:?}), holds {hosts:?}"
        )
        .into());
    }
    Ok(())
}

/// Reads the `RLIMIT_FSIZE` of process `pid`, and sets it to `new` when given; returns the
/// limit it had.
#[cfg(target_os = "linux")]
fn fsize_limit(pid: u32, new: Option<libc::rlimit>) -> Result<libc::rlimit, String> {
    let pid = libc::pid_t::try_from(pid).map_err(|e| e.to_string())?;
    let mut old = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    let new_ptr = new.as_ref().map_or(std::ptr::null(), |n| n as *const _);
    // SAFETY: `new_ptr` is null or points to a live `rlimit`, and `old` is a live, writable
    // `rlimit`; prlimit(2) reads and writes only those. `pid` is our own unreaped child.
    if unsafe { libc::prlimit(pid, libc::RLIMIT_FSIZE, new_ptr, &mut old) } != 0 {
        return Err(format!(
            "prlimit({pid}, RLIMIT_FSIZE): {}",
            std::io::Error::last_os_error()
        ));
    }
    Ok(old)
}
