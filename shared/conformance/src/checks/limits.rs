//! SPEC "Limits and timeouts": header timeout, idle timeout, `--max-conns`, write stall.
//! Each check starts its own server with short limits, so a run takes seconds, not minutes.

use std::io::Write;
use std::time::{Duration, Instant};

use crate::check::{Ctx, Outcome};
use crate::client::Client;
use crate::support::{counter, expect_close, expect_error, expect_status, get, stats, wait_for};

/// With `--header-timeout 1s`: a head left unfinished gets `408` with `Connection: close`,
/// then the close, between ~1 s and ~2.5 s after its first byte. Another client meanwhile is
/// served.
pub fn header_timeout_408(ctx: &Ctx) -> Outcome {
    let server = ctx.spawn(&["--header-timeout", "1s"])?;
    let mut slow = Client::connect(server.addr())?;
    let start = Instant::now();
    slow.send(b"GET /health HTTP/1.1\r\nHo")?;
    std::thread::sleep(Duration::from_millis(300));
    let response = crate::support::request(server.addr(), &get("/health"))?;
    expect_status(
        &response,
        200,
        "another client while one head is unfinished",
    )?;
    let response = slow.read_response()?;
    let elapsed = start.elapsed();
    expect_error(
        &response,
        408,
        "an unfinished head past --header-timeout 1s",
    )?;
    if elapsed < Duration::from_millis(800) || elapsed > Duration::from_millis(2500) {
        return Err(format!(
            "408 came {elapsed:?} after the first byte; --header-timeout 1s wants ~1 s"
        )
        .into());
    }
    expect_close(&mut slow, &response, "after 408")?;
    Ok(())
}

/// With `--idle-timeout 1s`: a keep-alive connection with no request open is closed without
/// a single byte, about 1 s after its last response (and a silent new connection too).
pub fn idle_timeout_closes_silently(ctx: &Ctx) -> Outcome {
    let server = ctx.spawn(&["--idle-timeout", "1s"])?;
    let mut client = Client::connect(server.addr())?;
    let response = client.request(&get("/health"))?;
    expect_status(&response, 200, "GET /health")?;
    let waited = client
        .expect_closed(Duration::from_millis(2500))
        .map_err(|e| format!("idle keep-alive connection with --idle-timeout 1s: {e}"))?;
    if waited < Duration::from_millis(800) {
        return Err(format!("the idle connection was closed after only {waited:?}").into());
    }
    let mut silent = Client::connect(server.addr())?;
    silent
        .expect_closed(Duration::from_millis(2500))
        .map_err(|e| format!("a connection that never sent a byte, --idle-timeout 1s: {e}"))?;
    Ok(())
}

/// With `--max-conns 4`: four connections are served; a fifth gets `503` and is closed while
/// the four are still served; once one of the four closes, new connections are served again.
pub fn max_conns_503(ctx: &Ctx) -> Outcome {
    let server = ctx.spawn(&["--max-conns", "4"])?;
    let addr = server.addr();
    let mut four = Vec::new();
    for i in 0..4 {
        let mut client = Client::connect(addr)?;
        let response = client.request(&get("/health"))?;
        expect_status(
            &response,
            200,
            &format!("connection {} of --max-conns 4", i + 1),
        )?;
        four.push(client);
    }
    // The fifth sends nothing: the server must answer it on accept. (Writing first could turn
    // its close into a reset that discards the 503 before we read it.)
    let mut fifth = Client::connect(addr)?;
    let response = fifth
        .read_response()
        .map_err(|e| format!("the 5th connection: {e}"))?;
    expect_error(&response, 503, "the 5th connection with --max-conns 4")?;
    expect_close(&mut fifth, &response, "the 5th connection")?;
    for (i, client) in four.iter_mut().enumerate() {
        let response = client.request(&get("/health"))?;
        expect_status(
            &response,
            200,
            &format!("connection {} after the 503", i + 1),
        )?;
    }
    drop(four.pop());
    // The server notices the close asynchronously: poll until a new connection is served.
    let served = wait_for(Duration::from_secs(3), || {
        let mut client = Client::connect(addr)?;
        client.send(&get("/health"))?;
        Ok(client.read_response().ok().filter(|r| r.status == 200))
    })?;
    if served.is_none() {
        return Err(
            "after one of 4 connections closed, new ones still got no 200 within 3 s".into(),
        );
    }
    Ok(())
}

/// With `--idle-timeout 1s`: a client that writes requests and never reads is closed by the
/// server (write stall) instead of holding it; `/stats` shows the connection gone.
pub fn write_stall_closed(ctx: &Ctx) -> Outcome {
    let server = ctx.spawn(&["--idle-timeout", "1s"])?;
    let addr = server.addr();
    let mut staller = Client::connect(addr)?;
    // One answered request first, so the server surely counts this connection as open.
    let response = staller.request(&get("/health"))?;
    expect_status(&response, 200, "GET /health before stalling")?;
    staller
        .stream
        .set_write_timeout(Some(Duration::from_secs(8)))
        .map_err(|e| e.to_string())?;
    let mut writer = staller.stream.try_clone().map_err(|e| e.to_string())?;
    let requests = get("/health").repeat(20_000);
    // The writes block once both socket buffers are full; the server closing ends them.
    let handle = std::thread::spawn(move || {
        let _ = writer.write_all(&requests);
    });
    let gone = wait_for(Duration::from_secs(8), || {
        let open = counter(&stats(addr)?, "connections_open")?;
        Ok((open <= 1).then_some(()))
    })?;
    drop(staller);
    let _ = handle.join();
    if gone.is_none() {
        return Err(
            "a client that never reads was still connected 8 s later (--idle-timeout 1s)".into(),
        );
    }
    Ok(())
}
