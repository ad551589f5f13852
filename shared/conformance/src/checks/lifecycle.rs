//! SPEC "Command line" and "Storage": exit codes, graceful shutdown that keeps every
//! acknowledged event, restarts that append. These checks start and signal their own servers.

use std::path::Path;
use std::time::Duration;

use crate::check::{Ctx, Failure, Outcome};
use crate::client::Client;
use crate::server::{run_to_exit, ServerProcess};
use crate::support::{
    check_canonical, counter, data_lines, event, events_accepted, expect_accepted, post_ingest,
    stats, wait_for,
};

/// SPEC allows 5 s to finish requests in flight; the rest is margin for a loaded machine.
const SHUTDOWN_WITHIN: Duration = Duration::from_secs(10);

/// Concurrent clients in the shutdown check, and events each one sends.
const CLIENTS: usize = 32;
const EVENTS_PER_CLIENT: usize = 500;

/// Fails unless the server exited with status 0.
fn expect_clean_exit(server: &mut ServerProcess, signal: libc::c_int, name: &str) -> Outcome {
    let status = server.signal_and_wait(signal, SHUTDOWN_WITHIN)?;
    if status.code() != Some(0) {
        return Err(format!(
            "after {name} the server must exit 0, got {status}; its stderr: {}",
            server.stderr_tail()
        )
        .into());
    }
    Ok(())
}

/// 32 connections post 500 events each at once, then SIGTERM (with an idle keep-alive
/// connection open): exit 0, and the log holds exactly `events_accepted` canonical lines
/// (default `--ack written`).
pub fn sigterm_keeps_every_event(ctx: &Ctx) -> Outcome {
    sigterm_keeps_every(ctx, &[])
}

/// [`sigterm_keeps_every_event`] under `--ack synced`.
pub fn sigterm_keeps_every_event_synced(ctx: &Ctx) -> Outcome {
    sigterm_keeps_every(ctx, &["--ack", "synced"])
}

fn sigterm_keeps_every(ctx: &Ctx, args: &[&str]) -> Outcome {
    let mut server = ctx.spawn(args)?;
    let addr = server.addr();
    let workers: Vec<_> = (0..CLIENTS)
        .map(|c| {
            std::thread::spawn(move || -> Result<u64, String> {
                let mut client = Client::connect(addr)?;
                let mut accepted = 0;
                for r in 0..EVENTS_PER_CLIENT / 5 {
                    let events: Vec<String> =
                        (0..5).map(|i| event(c * 10_000 + r * 5 + i)).collect();
                    let body = if r % 2 == 0 {
                        format!("[{}]", events.join(","))
                    } else {
                        events.join("\n")
                    };
                    let response = client.request(&post_ingest(&body))?;
                    expect_accepted(&response, 5, &format!("client {c}, request {r}"))?;
                    accepted += 5;
                }
                Ok(accepted)
            })
        })
        .collect();
    let mut sent = 0;
    for worker in workers {
        sent += worker
            .join()
            .map_err(|_| "a client thread panicked".to_string())??;
    }
    let accepted = events_accepted(addr)?;
    if accepted != sent {
        return Err(
            format!("/stats events_accepted is {accepted}, but {sent} events got 202").into(),
        );
    }
    let mut idle = Client::connect(addr)?;
    idle.request(&crate::support::get("/health"))?;
    expect_clean_exit(&mut server, libc::SIGTERM, "SIGTERM")?;
    idle.expect_closed(Duration::from_secs(1))
        .map_err(|e| format!("an idle connection after the server exited: {e}"))?;
    let lines = data_lines(&server.data_file())?;
    if lines.len() as u64 != accepted {
        return Err(format!(
            "after SIGTERM the log holds {} lines, but events_accepted was {accepted}",
            lines.len()
        )
        .into());
    }
    for line in &lines {
        check_canonical(line)?;
    }
    Ok(())
}

/// A request whose body is still arriving when SIGTERM comes is finished (202) and stored.
///
/// No sleeps order the steps: the check waits until `/stats` shows the server has read the
/// first half (`bytes_read`), and, after SIGTERM, until an idle keep-alive connection is
/// closed, which the server does when its shutdown has begun.
pub fn sigterm_finishes_request_in_flight(ctx: &Ctx) -> Outcome {
    let mut server = ctx.spawn(&[])?;
    let addr = server.addr();
    let mut client = Client::connect(addr)?;
    let mut idle = Client::connect(addr)?;
    idle.request(&crate::support::get("/health"))?;
    let body = event(42);
    let req = post_ingest(&body);
    let (first, rest) = req.split_at(req.len() - body.len() / 2);

    // Every `/stats` request adds its own bytes to `bytes_read`; count them out.
    let stats_request = crate::support::get("/stats").len() as u64;
    let before = counter(&stats(addr)?, "bytes_read")?;
    client.send(first)?;
    let mut polls = 0;
    let read = wait_for(SHUTDOWN_WITHIN, || {
        polls += 1;
        let now = counter(&stats(addr)?, "bytes_read")?;
        let of_first = now.saturating_sub(before + polls * stats_request);
        Ok((of_first >= first.len() as u64).then_some(()))
    })?;
    if read.is_none() {
        return Err(format!(
            "the server did not read the first {} bytes of a request within {SHUTDOWN_WITHIN:?}",
            first.len()
        )
        .into());
    }

    server.signal(libc::SIGTERM)?;
    idle.expect_closed(SHUTDOWN_WITHIN)
        .map_err(|e| format!("an idle connection after SIGTERM: {e}"))?;
    client.send(rest)?;
    let response = client.read_response()?;
    expect_accepted(&response, 1, "a POST whose body was half sent at SIGTERM")?;
    let status = server.wait_exit(SHUTDOWN_WITHIN)?;
    if status.code() != Some(0) {
        return Err(format!("after SIGTERM the server must exit 0, got {status}").into());
    }
    let lines = data_lines(&server.data_file())?;
    if lines.len() != 1 {
        return Err(format!(
            "the log must hold the 1 accepted event, holds {}",
            lines.len()
        )
        .into());
    }
    Ok(())
}

/// A server restarted on the same data dir appends: 10 events, SIGTERM, restart, 5 events,
/// SIGINT (also graceful): 15 lines, the first 10 unchanged.
pub fn restart_appends(ctx: &Ctx) -> Outcome {
    let mut server = ctx.spawn(&[])?;
    let post = |server: &ServerProcess, from: usize, n: usize| -> Outcome {
        let events: Vec<String> = (from..from + n).map(event).collect();
        let response = crate::support::request(
            server.addr(),
            &post_ingest(&format!("[{}]", events.join(","))),
        )?;
        expect_accepted(&response, n as u64, "POST /ingest")?;
        Ok(())
    };
    post(&server, 0, 10)?;
    expect_clean_exit(&mut server, libc::SIGTERM, "SIGTERM")?;
    let first = data_lines(&server.data_file())?;
    if first.len() != 10 {
        return Err(format!(
            "after 10 events and SIGTERM the log holds {} lines",
            first.len()
        )
        .into());
    }
    server.restart()?;
    post(&server, 10, 5)?;
    expect_clean_exit(&mut server, libc::SIGINT, "SIGINT")?;
    let second = data_lines(&server.data_file())?;
    if second.len() != 15 || second[..10] != first[..] {
        return Err(format!(
            "after a restart and 5 more events the log must hold the first 10 lines unchanged \
             plus 5: it holds {} lines{}",
            second.len(),
            if second.len() >= 10 && second[..10] != first[..] {
                " and the first 10 changed"
            } else {
                ""
            }
        )
        .into());
    }
    Ok(())
}

/// The command line: the banner's phase name is `/stats` `phase`; a bad flag exits 2; a
/// port in use and an unusable data dir exit 1 with a message and no panic.
pub fn command_line_and_exit_codes(ctx: &Ctx) -> Outcome {
    let bin = ctx
        .bin
        .clone()
        .ok_or_else(|| Failure::Skip("needs --spawn".to_string()))?;
    let server = ctx.spawn(&[])?;
    let phase = stats(server.addr())?.get("phase").cloned();
    if phase.as_ref().and_then(|p| p.as_str()) != Some(server.phase()) {
        return Err(format!(
            "the banner says phase {:?} but /stats says {phase:?}",
            server.phase()
        )
        .into());
    }
    let tmp = tempfile::tempdir().map_err(|e| e.to_string())?;
    let data = tmp.path().join("data");
    let data = data.to_str().unwrap_or("data");
    let exited = run_to_exit(&bin, &["--no-such-flag"], Duration::from_secs(5))?;
    if exited.status.code() != Some(2) {
        return Err(format!(
            "an unknown flag must exit 2, got {}: {}",
            exited.status, exited.stderr
        )
        .into());
    }
    let taken = server.addr().to_string();
    let exited = run_to_exit(
        &bin,
        &["--addr", &taken, "--data-dir", data],
        Duration::from_secs(5),
    )?;
    expect_one_clear_line("a port in use", &exited)?;
    let file = tmp.path().join("a-file");
    std::fs::write(&file, b"not a directory").map_err(|e| e.to_string())?;
    let under_file = file.join("data");
    let exited = run_to_exit(
        &bin,
        &[
            "--addr",
            "127.0.0.1:0",
            "--data-dir",
            path_str(&under_file)?,
        ],
        Duration::from_secs(5),
    )?;
    expect_one_clear_line("a data dir that cannot be created", &exited)?;
    Ok(())
}

/// SPEC: exit code 1 and a clear line on stderr, no panic, no backtrace.
fn expect_one_clear_line(what: &str, exited: &crate::server::Exited) -> Outcome {
    let stderr = exited.stderr.trim();
    if exited.status.code() != Some(1)
        || stderr.is_empty()
        || stderr.contains("panicked")
        || stderr.contains("stack backtrace")
    {
        return Err(format!(
            "{what}: expected exit 1 with a clear message on stderr and no panic, got {} with stderr {stderr:?}",
            exited.status
        )
        .into());
    }
    Ok(())
}

fn path_str(path: &Path) -> Result<&str, String> {
    path.to_str()
        .ok_or_else(|| format!("non-UTF-8 temp path {}", path.display()))
}
