//! SPEC "Endpoints": routes, methods, `/health`, `/stats`, and the target forms.

use serde_json::Value;

use crate::check::{Ctx, Outcome};
use crate::client::Client;
use crate::support::{counter, expect_error, expect_status, get, request, stats};

/// The fields `/stats` must have (SPEC "/stats").
pub const STATS_FIELDS: &[&str] = &[
    "phase",
    "uptime_ms",
    "connections_open",
    "connections_total",
    "requests_total",
    "responses_2xx",
    "responses_4xx",
    "responses_5xx",
    "events_accepted",
    "events_stored",
    "bytes_read",
    "bytes_written",
];

/// `GET /health` is `200`, `text/plain`, body `ok`.
pub fn health_get(ctx: &Ctx) -> Outcome {
    let response = request(ctx.addr()?, &get("/health"))?;
    expect_status(&response, 200, "GET /health")?;
    let content_type = response.header("content-type").unwrap_or_default();
    if !content_type.starts_with("text/plain") || response.body != b"ok" {
        return Err(format!(
            "GET /health must answer text/plain `ok`; response: {}",
            response.show()
        )
        .into());
    }
    Ok(())
}

/// `HEAD /health` and `HEAD /stats`: `200` with the `Content-Length` of the GET, no body.
/// A pipelined `GET /health` follows each, so a body sent by mistake shows up as garbage
/// before the next status line.
pub fn head_has_length_but_no_body(ctx: &Ctx) -> Outcome {
    let mut client = Client::connect(ctx.addr()?)?;
    for path in ["/health", "/stats"] {
        let head = format!("HEAD {path} HTTP/1.1\r\nHost: c\r\n\r\n");
        client.send(&[head.as_bytes(), &get("/health")].concat())?;
        let response = client.read_head_response()?;
        expect_status(&response, 200, &format!("HEAD {path}"))?;
        let length: u64 = response
            .header("content-length")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        if length == 0 {
            return Err(format!(
                "HEAD {path} must carry the Content-Length of the GET (non-zero); response: {}",
                response.show()
            )
            .into());
        }
        let next = client.read_response()?;
        if next.status != 200 || next.body != b"ok" {
            return Err(format!(
                "HEAD {path} was followed by bytes that are not the next response (a body?): {}",
                next.show()
            )
            .into());
        }
    }
    Ok(())
}

/// `GET /stats` is `200` `application/json` with every counter SPEC lists, the phase a string
/// and every counter a non-negative integer.
pub fn stats_has_every_field(ctx: &Ctx) -> Outcome {
    let addr = ctx.addr()?;
    let response = request(addr, &get("/stats"))?;
    expect_status(&response, 200, "GET /stats")?;
    let content_type = response.header("content-type").unwrap_or_default();
    if !content_type.starts_with("application/json") {
        return Err(format!("/stats must be application/json: {}", response.show()).into());
    }
    let stats = stats(addr)?;
    for field in STATS_FIELDS {
        match (*field, stats.get(*field)) {
            (_, None) => return Err(format!("/stats lacks {field:?}: {stats:?}").into()),
            ("phase", Some(Value::String(p))) if !p.is_empty() => {}
            ("phase", other) => {
                return Err(
                    format!("/stats phase must be a non-empty string, got {other:?}").into(),
                )
            }
            _ => {
                counter(&stats, field)?;
            }
        }
    }
    if counter(&stats, "connections_open")? < 1 || counter(&stats, "requests_total")? < 1 {
        return Err(format!(
            "/stats must count the connection and request asking for it: {stats:?}"
        )
        .into());
    }
    Ok(())
}

/// A path no route has is `404` with a JSON error, and the connection stays usable.
pub fn unknown_path_404(ctx: &Ctx) -> Outcome {
    let mut client = Client::connect(ctx.addr()?)?;
    for path in ["/nope", "/health/x", "/ingestx", "/"] {
        let response = client.request(&get(path))?;
        expect_error(&response, 404, &format!("GET {path}"))?;
    }
    let response = client.request(&get("/health"))?;
    expect_status(&response, 200, "GET /health after 404s on one connection")?;
    Ok(())
}

/// A known path with the wrong method is `405` with an `Allow` header naming the right ones.
pub fn wrong_method_405_with_allow(ctx: &Ctx) -> Outcome {
    let mut client = Client::connect(ctx.addr()?)?;
    let cases = [
        ("GET", "/ingest", "POST"),
        ("PUT", "/ingest", "POST"),
        ("POST", "/health", "GET"),
        ("DELETE", "/health", "GET"),
        ("POST", "/stats", "GET"),
    ];
    for (method, path, allowed) in cases {
        let req = format!("{method} {path} HTTP/1.1\r\nHost: c\r\nContent-Length: 0\r\n\r\n");
        let response = client.request(req.as_bytes())?;
        let what = format!("{method} {path}");
        expect_error(&response, 405, &what)?;
        let allow = response.header("allow").unwrap_or_default();
        if !allow.split(',').any(|m| m.trim() == allowed) {
            return Err(format!(
                "{what}: 405 needs an Allow header naming {allowed}; response: {}",
                response.show()
            )
            .into());
        }
    }
    Ok(())
}

/// The query string is ignored for routing: `/health?x=1&y` is `/health`.
pub fn query_string_ignored(ctx: &Ctx) -> Outcome {
    let response = request(ctx.addr()?, &get("/health?x=1&y"))?;
    expect_status(&response, 200, "GET /health?x=1&y")?;
    if response.body != b"ok" {
        return Err(format!("GET /health?x=1&y must be /health: {}", response.show()).into());
    }
    Ok(())
}

/// An absolute-form target (`GET http://host:port/health`) is accepted and routed by path.
pub fn absolute_form_target(ctx: &Ctx) -> Outcome {
    let addr = ctx.addr()?;
    let req = format!("GET http://{addr}/health HTTP/1.1\r\nHost: {addr}\r\n\r\n");
    let response = request(addr, req.as_bytes())?;
    expect_status(&response, 200, "GET http://.../health (absolute form)")?;
    if response.body != b"ok" {
        return Err(format!("absolute-form /health must answer ok: {}", response.show()).into());
    }
    Ok(())
}

/// Empty lines (CRLF) before a request line are skipped.
pub fn empty_lines_before_request_skipped(ctx: &Ctx) -> Outcome {
    let mut client = Client::connect(ctx.addr()?)?;
    let response = client.request(b"\r\n\r\nGET /health HTTP/1.1\r\nHost: c\r\n\r\n")?;
    expect_status(&response, 200, "CRLF CRLF before GET /health")?;
    // Also between two requests on one connection, where a client may leave a stray CRLF.
    let response = client.request(b"\r\nGET /health HTTP/1.1\r\nHost: c\r\n\r\n")?;
    expect_status(&response, 200, "CRLF between two requests")?;
    Ok(())
}
