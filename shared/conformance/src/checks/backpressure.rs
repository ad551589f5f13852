//! SPEC "Write stall": a client that pipelines a flood of requests and does not read.
//!
//! A server that answers every request it reads, without ever pausing its reads while the
//! answers pile up, either deadlocks (both sides blocked writing) or buffers without bound.
//! SPEC asks for neither: it stops reading past a high-water mark and resumes as the
//! client drains.

use std::io::{Read, Write};
use std::time::{Duration, Instant};

use crate::check::{note, Ctx, Failure, Outcome};
use crate::client::{find, is_timeout, show, Client};
use crate::support::get;

/// Requests the flooding client pipelines (about 1.7 MB of requests, 6 MB of answers).
const FLOOD: usize = 50_000;

/// How much the server's RSS may grow while the client reads nothing.
const MAX_RSS_GROWTH_KIB: u64 = 64 * 1024;

/// One thread writes 50,000 pipelined `GET /health` while nothing is read for 3 s; then all
/// 50,000 responses arrive (no deadlock), and meanwhile the server's RSS grew < 64 MiB.
pub fn no_read_client(ctx: &Ctx) -> Outcome {
    let addr = ctx.addr()?;
    let mut client = Client::connect(addr)?;
    let mut writer = client.stream.try_clone().map_err(|e| e.to_string())?;
    writer
        .set_write_timeout(Some(Duration::from_secs(60)))
        .map_err(|e| e.to_string())?;
    let rss = |pid: Option<u32>| pid.and_then(rss_kib);
    let rss_before = rss(ctx.pid);
    let flood = get("/health").repeat(FLOOD);
    let handle = std::thread::spawn(move || writer.write_all(&flood));
    let mut rss_peak = rss_before;
    for _ in 0..30 {
        std::thread::sleep(Duration::from_millis(100));
        rss_peak = rss_peak.max(rss(ctx.pid));
    }
    let answered = count_ok_responses(&mut client.stream, FLOOD)?;
    handle
        .join()
        .map_err(|_| "the writer thread panicked".to_string())?
        .map_err(|e| format!("writing the flood failed after the reads resumed: {e}"))?;
    if answered != FLOOD {
        return Err(format!("{answered} of {FLOOD} pipelined requests were answered").into());
    }
    match (rss_before, rss_peak) {
        (Some(before), Some(peak)) => {
            let growth = peak.saturating_sub(before);
            note(
                "no_read_client",
                &format!("server RSS {before} KiB -> peak {peak} KiB while not reading"),
            );
            if growth >= MAX_RSS_GROWTH_KIB {
                return Err(Failure::Fail(format!(
                    "server RSS grew by {growth} KiB (>= 64 MiB) while the client read nothing: \
                     it buffers output without bound"
                )));
            }
        }
        _ => note(
            "no_read_client",
            "RSS part skipped: needs a spawned server on Linux (/proc/PID/status)",
        ),
    }
    Ok(())
}

/// Reads until `expected` responses have come, failing on anything but `200` or a stall.
fn count_ok_responses(stream: &mut std::net::TcpStream, expected: usize) -> Result<usize, String> {
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut buf: Vec<u8> = Vec::with_capacity(256 * 1024);
    let mut chunk = vec![0u8; 64 * 1024];
    let mut count = 0;
    while count < expected {
        // Consume every complete response already buffered.
        let mut at = 0;
        while let Some(end) = find(&buf[at..], b"\r\n\r\n") {
            let head = &buf[at..at + end + 4];
            if !head.starts_with(b"HTTP/1.1 200 ") {
                return Err(format!(
                    "response #{count} to the flood is not 200: {}",
                    show(head)
                ));
            }
            let length = content_length(head).ok_or_else(|| {
                format!("response #{count} has no Content-Length: {}", show(head))
            })?;
            if buf.len() < at + end + 4 + length {
                break;
            }
            at += end + 4 + length;
            count += 1;
        }
        buf.drain(..at);
        if count == expected {
            break;
        }
        if Instant::now() > deadline {
            return Err(format!("only {count} of {expected} responses within 60 s"));
        }
        match stream.read(&mut chunk) {
            Ok(0) => {
                return Err(format!(
                    "the server closed after {count} of {expected} responses"
                ))
            }
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e) if is_timeout(&e) => {
                return Err(format!(
                    "stalled after {count} of {expected} responses (deadlock?)"
                ))
            }
            Err(e) => return Err(format!("read error after {count} responses: {e}")),
        }
    }
    Ok(count)
}

/// The `Content-Length` value in a raw response head.
fn content_length(head: &[u8]) -> Option<usize> {
    let text = std::str::from_utf8(head).ok()?;
    text.split("\r\n").find_map(|line| {
        let (name, value) = line.split_once(':')?;
        name.eq_ignore_ascii_case("content-length")
            .then(|| value.trim().parse().ok())?
    })
}

/// Resident set size of process `pid` in KiB, from `/proc/PID/status` (Linux only).
pub fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}
