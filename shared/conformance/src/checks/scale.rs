//! Scale checks for the event-driven phases (p3, p4, p5): thousands of idle connections and
//! slowloris clients must not stop a server from answering everyone else. The blocking
//! phases are not expected to pass these; that is the point of the later phases.

use std::io::Write;
use std::net::TcpStream;
use std::time::{Duration, Instant};

use crate::check::{note, Ctx, Failure, Outcome};
use crate::client::Client;
use crate::support::{counter, expect_status, get, stats, wait_for};

/// Idle keep-alive connections held open at once.
const IDLE_CONNS: usize = 5_000;

/// Slowloris clients dripping one header byte per second.
const SLOWLORIS: usize = 200;

/// Raises this process's open-file soft limit as far as the OS allows (spawned servers
/// inherit it) and returns it.
fn raise_nofile_limit() -> Result<u64, String> {
    crate::rlimit::raise_nofile_limit().map_err(|e| format!("getrlimit: {e}"))
}

/// 5,000 idle keep-alive connections are held open while another client keeps being
/// answered; `/stats` shows `connections_open` reach 5,000, then fall back once they close.
pub fn five_thousand_idle_connections(ctx: &Ctx) -> Outcome {
    let limit = raise_nofile_limit()?;
    // Both ends of every connection live on this machine, but only ours count here.
    if limit < (IDLE_CONNS + 500) as u64 {
        return Err(Failure::Skip(format!(
            "the open-file hard limit is {limit}; this check needs {} (raise `ulimit -Hn`)",
            IDLE_CONNS + 500
        )));
    }
    let server = ctx.spawn(&["--max-conns", "20000", "--idle-timeout", "60s"])?;
    let addr = server.addr();
    let mut idle = Vec::with_capacity(IDLE_CONNS);
    let mut busy = Client::connect(addr)?;
    for i in 0..IDLE_CONNS {
        let stream = TcpStream::connect(addr).map_err(|e| format!("connection #{i}: {e}"))?;
        idle.push(stream);
        if i % 500 == 499 {
            // Every 500 connections, the busy client must still be answered promptly.
            let start = Instant::now();
            let response = busy.request(&get("/health"))?;
            expect_status(&response, 200, &format!("busy client with {} idle", i + 1))?;
            if start.elapsed() > Duration::from_millis(500) {
                return Err(format!(
                    "with {} idle connections a request took {:?}",
                    i + 1,
                    start.elapsed()
                )
                .into());
            }
        }
    }
    let reached = wait_for(Duration::from_secs(10), || {
        let open = counter(&stats(addr)?, "connections_open")?;
        Ok((open > IDLE_CONNS as u64).then_some(open))
    })?;
    let Some(open) = reached else {
        let open = counter(&stats(addr)?, "connections_open")?;
        return Err(format!(
            "/stats connections_open reached only {open} with {IDLE_CONNS} idle + 1"
        )
        .into());
    };
    note(
        "five_thousand_idle_connections",
        &format!("connections_open reached {open}"),
    );
    drop(idle);
    drop(busy);
    let back = wait_for(Duration::from_secs(10), || {
        let open = counter(&stats(addr)?, "connections_open")?;
        Ok((open <= 1).then_some(()))
    })?;
    if back.is_none() {
        let open = counter(&stats(addr)?, "connections_open")?;
        return Err(format!(
            "10 s after closing {IDLE_CONNS} connections, connections_open is still {open} \
             (expected only the one asking)"
        )
        .into());
    }
    Ok(())
}

/// 200 slowloris clients send one header byte per second each; meanwhile a normal client's
/// requests are each answered within 200 ms.
pub fn slowloris_does_not_delay_others(ctx: &Ctx) -> Outcome {
    raise_nofile_limit()?;
    let server = ctx.spawn(&["--max-conns", "20000", "--header-timeout", "30s"])?;
    let addr = server.addr();
    let mut drippers = Vec::with_capacity(SLOWLORIS);
    for i in 0..SLOWLORIS {
        let stream = TcpStream::connect(addr).map_err(|e| format!("slowloris #{i}: {e}"))?;
        stream.set_nodelay(true).map_err(|e| e.to_string())?;
        drippers.push(stream);
    }
    let head = b"GET /health HTTP/1.1\r\nHost: slow\r\nX-Slow: ";
    let mut client = Client::connect(addr)?;
    let mut worst = Duration::ZERO;
    let start = Instant::now();
    let mut step = 0;
    while start.elapsed() < Duration::from_secs(4) {
        // One byte for every dripper per second, spread across the second.
        let byte = head.get(step).copied().unwrap_or(b'x');
        for stream in &mut drippers {
            stream
                .write_all(&[byte])
                .map_err(|e| format!("a slowloris client was cut off early: {e}"))?;
        }
        step += 1;
        for _ in 0..5 {
            let sent = Instant::now();
            let response = client.request(&get("/health"))?;
            expect_status(&response, 200, "a normal client among slowloris clients")?;
            worst = worst.max(sent.elapsed());
            std::thread::sleep(Duration::from_millis(200));
        }
    }
    note(
        "slowloris_does_not_delay_others",
        &format!("worst latency {worst:?}"),
    );
    if worst > Duration::from_millis(200) {
        return Err(format!(
            "with {SLOWLORIS} slowloris clients a normal request took {worst:?} (limit 200 ms)"
        )
        .into());
    }
    Ok(())
}
