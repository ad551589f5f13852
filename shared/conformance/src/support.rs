//! Small helpers the checks share: requests, expectations, `/stats`, events.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use serde_json::{Map, Value};

use crate::client::{Client, Response};

/// How long a server has to close a connection it said it would close.
pub const CLOSE_WITHIN: Duration = Duration::from_secs(3);

/// A `GET path` request with a `Host` header, kept alive.
pub fn get(path: &str) -> Vec<u8> {
    format!("GET {path} HTTP/1.1\r\nHost: conformance\r\n\r\n").into_bytes()
}

/// A `POST /ingest` request with a `Content-Length` body.
pub fn post_ingest(body: &str) -> Vec<u8> {
    format!(
        "POST /ingest HTTP/1.1\r\nHost: conformance\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// A valid event, distinct per `i`, with every optional field present.
pub fn event(i: usize) -> String {
    format!(
        r#"{{"name":"conformance.check","value":{i}.5,"ts":{},"tags":{{"host":"web-{i}"}}}}"#,
        1_732_370_000_000u64 + i as u64
    )
}

/// Opens a connection, sends one request, reads one response.
pub fn request(addr: SocketAddr, bytes: &[u8]) -> Result<Response, String> {
    Client::connect(addr)?.request(bytes)
}

/// Fails unless `response` has `status`, saying what was sent (`what`).
pub fn expect_status(response: &Response, status: u16, what: &str) -> Result<(), String> {
    if response.status == status {
        Ok(())
    } else {
        Err(format!(
            "{what}: expected status {status}, got {}; response: {}",
            response.status,
            response.show()
        ))
    }
}

/// Fails unless `response` is an error with `status` and a JSON body `{"error":"..."}`.
pub fn expect_error(response: &Response, status: u16, what: &str) -> Result<(), String> {
    expect_status(response, status, what)?;
    let content_type = response.header("content-type").unwrap_or_default();
    if !content_type.starts_with("application/json") {
        return Err(format!(
            "{what}: error bodies are JSON, but Content-Type is {content_type:?}; response: {}",
            response.show()
        ));
    }
    match response.json()?.get("error") {
        Some(Value::String(s)) if !s.is_empty() => Ok(()),
        _ => Err(format!(
            "{what}: error body must be {{\"error\":\"<sentence>\"}}; response: {}",
            response.show()
        )),
    }
}

/// Sends `bytes` on a fresh connection and expects the error `status`, `Connection: close`,
/// and the connection then closed: SPEC's rule after a framing error.
pub fn expect_error_and_close(addr: SocketAddr, bytes: &[u8], status: u16) -> Result<(), String> {
    let what = format!("request {}", crate::client::show(bytes));
    let mut client = Client::connect(addr)?;
    client.send(bytes)?;
    let response = client.read_response()?;
    expect_error(&response, status, &what)?;
    expect_close(&mut client, &response, &what)
}

/// Fails unless `response` says `Connection: close` and the server then closes.
pub fn expect_close(client: &mut Client, response: &Response, what: &str) -> Result<(), String> {
    if !response.closes() {
        return Err(format!(
            "{what}: the response must carry `Connection: close`; response: {}",
            response.show()
        ));
    }
    client
        .expect_closed(CLOSE_WITHIN)
        .map(|_| ())
        .map_err(|e| format!("{what}: after `Connection: close`: {e}"))
}

/// `GET /stats` on a fresh connection, as a JSON object.
pub fn stats(addr: SocketAddr) -> Result<Map<String, Value>, String> {
    let response = request(addr, &get("/stats"))?;
    expect_status(&response, 200, "GET /stats")?;
    match response.json()? {
        Value::Object(map) => Ok(map),
        _ => Err(format!("/stats is not a JSON object: {}", response.show())),
    }
}

/// One counter from `/stats`, which must be a non-negative integer.
pub fn counter(stats: &Map<String, Value>, field: &str) -> Result<u64, String> {
    stats.get(field).and_then(Value::as_u64).ok_or_else(|| {
        format!(
            "/stats field {field:?} must be a non-negative integer, got {:?}",
            stats.get(field)
        )
    })
}

/// `events_accepted` from `/stats` right now.
pub fn events_accepted(addr: SocketAddr) -> Result<u64, String> {
    counter(&stats(addr)?, "events_accepted")
}

/// Polls `probe` every 20 ms until it yields `Some` or `within` passes.
pub fn wait_for<T>(
    within: Duration,
    mut probe: impl FnMut() -> Result<Option<T>, String>,
) -> Result<Option<T>, String> {
    let start = Instant::now();
    loop {
        if let Some(value) = probe()? {
            return Ok(Some(value));
        }
        if start.elapsed() > within {
            return Ok(None);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Fails unless a `202` says `{"accepted":n}`.
pub fn expect_accepted(response: &Response, n: u64, what: &str) -> Result<(), String> {
    expect_status(response, 202, what)?;
    let json = response.json()?;
    if json.get("accepted").and_then(Value::as_u64) != Some(n) {
        return Err(format!(
            "{what}: expected body {{\"accepted\":{n}}}; response: {}",
            response.show()
        ));
    }
    Ok(())
}

/// The lines of the event log (an absent file has none).
pub fn data_lines(path: &std::path::Path) -> Result<Vec<String>, String> {
    match std::fs::read_to_string(path) {
        Ok(text) => Ok(text.lines().map(str::to_string).collect()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(format!("cannot read {}: {e}", path.display())),
    }
}

/// Checks one log line is a canonical event: a JSON object with keys `name`, `value`, `ts`
/// and optionally `tags`, in that order, with no insignificant whitespace.
pub fn check_canonical(line: &str) -> Result<Value, String> {
    let bad = |why: &str| format!("log line is not a canonical event ({why}): {line:?}");
    let value: Value = serde_json::from_str(line).map_err(|e| bad(&e.to_string()))?;
    let object = value.as_object().ok_or_else(|| bad("not an object"))?;
    let mut keys: Vec<&str> = object.keys().map(String::as_str).collect();
    keys.sort_unstable();
    if keys != ["name", "ts", "value"] && keys != ["name", "tags", "ts", "value"] {
        return Err(bad("keys must be name, value, ts and optional tags"));
    }
    if !object["ts"].is_u64() {
        return Err(bad("ts must be a non-negative integer"));
    }
    // serde_json's map sorts keys, so the order is checked on the text. Names and tags
    // written by the suite hold no quotes, so these markers cannot occur inside strings.
    let value_at = line
        .find(",\"value\":")
        .ok_or_else(|| bad("no ,\"value\":"))?;
    let ts_at = line.find(",\"ts\":").ok_or_else(|| bad("no ,\"ts\":"))?;
    let in_order = line.starts_with("{\"name\":")
        && value_at < ts_at
        && line
            .find(",\"tags\":")
            .is_none_or(|tags_at| ts_at < tags_at);
    if !in_order {
        return Err(bad("keys must come in the order name, value, ts, tags"));
    }
    if has_whitespace_outside_strings(line) {
        return Err(bad("insignificant whitespace"));
    }
    Ok(value)
}

/// True when `json` has a space, tab, CR or LF outside a string literal.
fn has_whitespace_outside_strings(json: &str) -> bool {
    let (mut in_string, mut escaped) = (false, false);
    for b in json.bytes() {
        match (in_string, escaped, b) {
            (true, true, _) => escaped = false,
            (true, false, b'\\') => escaped = true,
            (true, false, b'"') => in_string = false,
            (false, _, b'"') => in_string = true,
            (false, _, b' ' | b'\t' | b'\r' | b'\n') => return true,
            _ => {}
        }
    }
    false
}
