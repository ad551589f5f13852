//! SPEC "Storage": what a `202` promises under each `--ack` mode. A `kill -9` loses nothing
//! acknowledged under `written` and `synced`; `/stats` names the mode and counts the
//! `fdatasync`s; deferred responses keep a pipelined connection's order. These checks start
//! their own servers.

use std::time::Duration;

use crate::check::{Ctx, Failure, Outcome};
use crate::client::Client;
use crate::crash::{self, CrashOptions};
use crate::server::run_to_exit;
use crate::support::{counter, expect_accepted, expect_status, get, post_ingest, stats};

/// Loads a server started with `--ack mode`, kills it with `SIGKILL` mid-flight, and
/// requires every acknowledged event in the file as a whole canonical line; then restarts
/// it and requires SPEC's start-up recovery. Prints a `CRASH ...` line with the figures.
fn kill_9_keeps_acknowledged(ctx: &Ctx, mode: &str) -> Outcome {
    let mut server = ctx.spawn(&["--ack", mode])?;
    let opts = CrashOptions::default();
    let report = crash::run(&mut server, &opts)?;
    {
        use std::io::Write as _;
        // Past the test harness's capture, like `SKIP` lines: the figures of a passing run
        // are what the lead collects per phase.
        let _ = writeln!(
            std::io::stderr(),
            "CRASH phase={} ack={mode} {}",
            server.phase(),
            report.figures()
        );
    }
    if report.acked_events == 0 {
        return Err(format!(
            "no batch was acknowledged within {:?} of load, so the crash proves nothing: {}",
            opts.kill_after,
            report.figures()
        )
        .into());
    }
    if !report.kept_every_acknowledged_event() {
        return Err(format!(
            "under --ack {mode}, kill -9 must lose no acknowledged event and leave only whole \
             canonical lines: {}; missing (first {}): {:?}; bad lines: {:?}",
            report.figures(),
            crash::SHOWN,
            report.acked_missing,
            report.bad_lines_shown
        )
        .into());
    }
    crash::restart_and_check(&mut server, &report)
        .map_err(|e| format!("after kill -9 under --ack {mode}: {e}"))?;
    Ok(())
}

/// `--ack written`: `kill -9` under load loses no acknowledged event; restart recovers.
pub fn kill_9_keeps_acknowledged_written(ctx: &Ctx) -> Outcome {
    kill_9_keeps_acknowledged(ctx, "written")
}

/// `--ack synced`: `kill -9` under load loses no acknowledged event; restart recovers.
pub fn kill_9_keeps_acknowledged_synced(ctx: &Ctx) -> Outcome {
    kill_9_keeps_acknowledged(ctx, "synced")
}

/// `/stats` `ack` is the mode given (`written` without the flag) and `fdatasyncs` a counter;
/// right after each `202`, `events_stored` already counts the batch under `written` and
/// `synced`, and under `synced` `fdatasyncs` is above 0. `--ack maybe` exits 2 with a line
/// naming the flag.
pub fn ack_mode_in_stats(ctx: &Ctx) -> Outcome {
    let bin = ctx
        .bin
        .clone()
        .ok_or_else(|| Failure::Skip("needs --spawn".to_string()))?;
    for mode in [None, Some("queued"), Some("written"), Some("synced")] {
        let args: Vec<&str> = mode.map_or(Vec::new(), |m| vec!["--ack", m]);
        let expected = mode.unwrap_or("written");
        let given = mode.map_or("without --ack".to_string(), |m| format!("--ack {m}"));
        let server = ctx.spawn(&args)?;
        let addr = server.addr();
        let first = stats(addr)?;
        let ack = first.get("ack").and_then(|a| a.as_str());
        if ack != Some(expected) {
            return Err(format!(
                "started {given}, /stats ack must be \"{expected}\", got {:?}",
                first.get("ack")
            )
            .into());
        }
        counter(&first, "fdatasyncs").map_err(|e| format!("started {given}: {e}"))?;
        let mut client = Client::connect(addr)?;
        let mut acked = 0;
        for i in 0..3 {
            let body = format!(
                r#"[{{"name":"ack.mode","value":{i}}},{{"name":"ack.mode","value":{i}.5}}]"#
            );
            let response = client.request(&post_ingest(&body))?;
            expect_accepted(&response, 2, &format!("POST /ingest ({given})"))?;
            acked += 2;
            if expected == "queued" {
                continue;
            }
            let now = stats(addr)?;
            let stored = counter(&now, "events_stored")?;
            let syncs = counter(&now, "fdatasyncs")?;
            if stored < acked {
                return Err(format!(
                    "{given}: right after {acked} events were acknowledged, /stats \
                     events_stored is {stored}: a 202 must mean the batch was written"
                )
                .into());
            }
            if expected == "synced" && syncs == 0 {
                return Err(format!(
                    "--ack synced: right after {acked} events were acknowledged, /stats \
                     fdatasyncs is 0: a 202 must mean the batch was fdatasync'ed"
                )
                .into());
            }
        }
    }
    let tmp = tempfile::tempdir().map_err(|e| e.to_string())?;
    let data = tmp.path().to_str().ok_or("non-UTF-8 temp path")?;
    let exited = run_to_exit(
        &bin,
        &[
            "--ack",
            "maybe",
            "--addr",
            "127.0.0.1:0",
            "--data-dir",
            data,
        ],
        Duration::from_secs(5),
    )?;
    let stderr = exited.stderr.trim();
    let first_line = stderr.lines().next().unwrap_or_default();
    if exited.status.code() != Some(2)
        || !first_line.contains("--ack")
        || stderr.contains("panicked")
    {
        return Err(format!(
            "--ack maybe must exit 2 with a first stderr line naming --ack and no panic, got {} \
             with stderr {stderr:?}",
            exited.status
        )
        .into());
    }
    Ok(())
}

/// Under the default `--ack written`, one write carrying `POST` (1 event), `GET /health`,
/// `POST` (2 events), `GET /stats` is answered in that order, and the stats already count
/// the 3 events as stored (each `202` waited for its write).
pub fn deferred_pipelined_in_order(ctx: &Ctx) -> Outcome {
    let server = ctx.spawn(&[])?;
    let mut client = Client::connect(server.addr())?;
    let mut wire = post_ingest(r#"{"name":"deferred.one","value":1}"#);
    wire.extend(get("/health"));
    wire.extend(post_ingest(
        r#"[{"name":"deferred.two","value":2},{"name":"deferred.three","value":3}]"#,
    ));
    wire.extend(get("/stats"));
    client.send(&wire)?;
    let what = |n: &str| format!("pipelined POST, GET /health, POST, GET /stats: the {n} response");
    let response = client.read_response()?;
    expect_accepted(&response, 1, &what("1st (POST of 1 event)"))?;
    let response = client.read_response()?;
    expect_status(&response, 200, &what("2nd (GET /health)"))?;
    if response.body != b"ok" {
        return Err(format!(
            "{}: the body must be `ok`: {}",
            what("2nd (GET /health)"),
            response.show()
        )
        .into());
    }
    let response = client.read_response()?;
    expect_accepted(&response, 2, &what("3rd (POST of 2 events)"))?;
    let response = client.read_response()?;
    expect_status(&response, 200, &what("4th (GET /stats)"))?;
    let json = response.json()?;
    let map = json
        .as_object()
        .ok_or_else(|| format!("/stats is not a JSON object: {}", response.show()))?;
    let (accepted, stored) = (
        counter(map, "events_accepted")?,
        counter(map, "events_stored")?,
    );
    if accepted != 3 || stored != 3 {
        return Err(format!(
            "after two acknowledged batches of 1 and 2 events, the pipelined GET /stats must \
             show events_accepted 3 and events_stored 3 (--ack written), got {accepted} and \
             {stored}"
        )
        .into());
    }
    Ok(())
}
