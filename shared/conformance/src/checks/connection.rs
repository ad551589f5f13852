//! SPEC "HTTP/1.1 rules", the connection: keep-alive and close, pipelining, split writes,
//! `Expect: 100-continue`.

use std::time::{Duration, Instant};

use crate::check::{Ctx, Outcome};
use crate::client::Client;
use crate::support::{
    event, expect_accepted, expect_close, expect_error, expect_status, get, post_ingest,
};

/// How long a check waits to see that a connection stays open.
const STAYS_OPEN: Duration = Duration::from_millis(300);

/// HTTP/1.1 keeps the connection by default and closes it after `Connection: close`, whose
/// response says `Connection: close`.
pub fn http11_keep_alive_and_close(ctx: &Ctx) -> Outcome {
    let mut client = Client::connect(ctx.addr()?)?;
    for i in 0..3 {
        let response = client.request(&get("/health"))?;
        expect_status(&response, 200, &format!("keep-alive GET #{i}"))?;
        if response.closes() {
            return Err(format!("HTTP/1.1 must keep the connection: {}", response.show()).into());
        }
    }
    client.expect_open(STAYS_OPEN)?;
    let response =
        client.request(b"GET /health HTTP/1.1\r\nHost: c\r\nConnection: close\r\n\r\n")?;
    expect_status(&response, 200, "GET with Connection: close")?;
    expect_close(&mut client, &response, "HTTP/1.1 with Connection: close")?;
    Ok(())
}

/// HTTP/1.0 closes by default (saying `Connection: close`) and stays open with
/// `Connection: keep-alive`.
pub fn http10_close_and_keep_alive(ctx: &Ctx) -> Outcome {
    let addr = ctx.addr()?;
    let mut client = Client::connect(addr)?;
    let response = client.request(b"GET /health HTTP/1.0\r\n\r\n")?;
    expect_status(&response, 200, "HTTP/1.0 GET")?;
    expect_close(&mut client, &response, "HTTP/1.0 without keep-alive")?;
    let mut client = Client::connect(addr)?;
    for i in 0..2 {
        let response = client.request(b"GET /health HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")?;
        expect_status(&response, 200, &format!("HTTP/1.0 keep-alive GET #{i}"))?;
        if response.closes() {
            return Err(format!(
                "HTTP/1.0 with Connection: keep-alive must stay open: {}",
                response.show()
            )
            .into());
        }
    }
    client.expect_open(STAYS_OPEN)?;
    Ok(())
}

/// 16 requests in one write are all answered, in order: request `i` posts `i + 1` events
/// and must be answered `{"accepted":i+1}`; every fourth is a `GET` in between.
pub fn pipelined_16_in_order(ctx: &Ctx) -> Outcome {
    let mut client = Client::connect(ctx.addr()?)?;
    let mut all = Vec::new();
    for i in 0..16 {
        if i % 4 == 3 {
            all.extend_from_slice(&get("/nope"));
        } else {
            let batch: Vec<String> = (0..=i).map(event).collect();
            all.extend_from_slice(&post_ingest(&format!("[{}]", batch.join(","))));
        }
    }
    client.send(&all)?;
    for i in 0..16 {
        let response = client.read_response()?;
        let what = format!("pipelined request #{i} of 16");
        if i % 4 == 3 {
            expect_error(&response, 404, &what)?;
        } else {
            expect_accepted(&response, i as u64 + 1, &what)?;
        }
    }
    Ok(())
}

/// A request written one byte at a time (each its own segment) is parsed and answered.
pub fn one_byte_writes(ctx: &Ctx) -> Outcome {
    let mut client = Client::connect(ctx.addr()?)?;
    let req = post_ingest(&event(7));
    for byte in &req {
        client.send(std::slice::from_ref(byte))?;
        std::thread::sleep(Duration::from_micros(300));
    }
    let response = client.read_response()?;
    expect_accepted(&response, 1, "a POST written one byte at a time")?;
    Ok(())
}

/// `Expect: 100-continue` on a body the server will read: `HTTP/1.1 100 Continue` comes
/// before any body byte is sent (within 1 s, curl's fallback), then the final `202`.
pub fn expect_100_continue_sent(ctx: &Ctx) -> Outcome {
    let mut client = Client::connect(ctx.addr()?)?;
    let body = event(9);
    let head = format!(
        "POST /ingest HTTP/1.1\r\nHost: c\r\nExpect: 100-continue\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    client.send(head.as_bytes())?;
    client
        .stream
        .set_read_timeout(Some(Duration::from_secs(1)))
        .map_err(|e| e.to_string())?;
    let start = Instant::now();
    let interim = client
        .read_response()
        .map_err(|e| format!("no `100 Continue` within 1 s of the head: {e}"))?;
    client
        .stream
        .set_read_timeout(Some(crate::client::READ_TIMEOUT))
        .map_err(|e| e.to_string())?;
    if interim.status != 100 || !interim.raw.starts_with(b"HTTP/1.1 100 Continue\r\n") {
        return Err(format!(
            "expected `HTTP/1.1 100 Continue` before the body, got: {}",
            interim.show()
        )
        .into());
    }
    let waited = start.elapsed();
    client.send(body.as_bytes())?;
    let response = client.read_response()?;
    expect_accepted(
        &response,
        1,
        &format!("POST after 100 Continue (which took {waited:?})"),
    )?;
    Ok(())
}

/// `Expect: 100-continue` on a request the server will refuse (`413` for a body over the
/// limit, `404` for an unknown path): the final status comes at once, with no `100` first.
pub fn expect_100_not_sent_when_refused(ctx: &Ctx) -> Outcome {
    let addr = ctx.addr()?;
    let cases = [("/ingest", "10737418240", 413), ("/nope", "30", 404)];
    for (path, length, status) in cases {
        let mut client = Client::connect(addr)?;
        let head = format!(
            "POST {path} HTTP/1.1\r\nHost: c\r\nExpect: 100-continue\r\nContent-Length: {length}\r\n\r\n"
        );
        client.send(head.as_bytes())?;
        let response = client.read_response()?;
        let what = format!("POST {path} with Expect: 100-continue and Content-Length {length}");
        if response.status == 100 {
            return Err(format!(
                "{what}: must answer {status} at once, not 100 Continue: {}",
                response.show()
            )
            .into());
        }
        expect_error(&response, status, &what)?;
    }
    Ok(())
}
