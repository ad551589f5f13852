//! SPEC "An event": the three body shapes, each validation rule, batch limits, atomicity.

use std::time::Duration;

use crate::check::{Ctx, Failure, Outcome};
use crate::client::Client;
use crate::support::{
    check_canonical, data_lines, event, events_accepted, expect_accepted, expect_error,
    post_ingest, request, wait_for,
};

/// One event, a JSON array, and NDJSON are each accepted with the right count.
pub fn ingest_single_array_ndjson(ctx: &Ctx) -> Outcome {
    let addr = ctx.addr()?;
    let before = events_accepted(addr)?;
    let mut client = Client::connect(addr)?;
    let single = event(1);
    let array = format!("[{},{},{}]", event(2), event(3), event(4));
    let ndjson = format!("{}\n{}\n{}\n{}\n", event(5), event(6), event(7), event(8));
    let cases = [
        ("one event", single, 1),
        ("array", array, 3),
        ("NDJSON", ndjson, 4),
    ];
    for (what, body, n) in &cases {
        let response = client.request(&post_ingest(body))?;
        expect_accepted(&response, *n, &format!("POST /ingest ({what})"))?;
    }
    let after = events_accepted(addr)?;
    if after != before + 8 {
        return Err(format!(
            "/stats events_accepted went from {before} to {after} after 8 accepted events"
        )
        .into());
    }
    Ok(())
}

/// Events at the edges of every rule are valid: 128-byte name, no `ts`, `ts` 0, 32 tags,
/// 64-byte tag keys, 256-byte tag values, an integer value, empty tags.
pub fn event_limits_accepted(ctx: &Ctx) -> Outcome {
    let mut client = Client::connect(ctx.addr()?)?;
    let name128 = "a".repeat(128);
    let tags32: Vec<String> = (0..32).map(|i| format!(r#""k{i}":"v""#)).collect();
    let cases = [
        format!(r#"{{"name":"{name128}","value":1}}"#),
        r#"{"name":"Az09_.:-","value":-1.5e3}"#.to_string(),
        r#"{"name":"n","value":0,"ts":0}"#.to_string(),
        r#"{"name":"n","value":1,"tags":{}}"#.to_string(),
        format!(
            r#"{{"name":"n","value":1,"tags":{{{}}}}}"#,
            tags32.join(",")
        ),
        format!(
            r#"{{"name":"n","value":1,"tags":{{"{}":"v"}}}}"#,
            "k".repeat(64)
        ),
        format!(
            r#"{{"name":"n","value":1,"tags":{{"k":"{}"}}}}"#,
            "v".repeat(256)
        ),
        r#"{"tags":{"a":""},"ts":5,"value":2,"name":"reordered"}"#.to_string(),
    ];
    for body in &cases {
        let response = client.request(&post_ingest(body))?;
        expect_accepted(&response, 1, &format!("valid event {body}"))?;
    }
    Ok(())
}

/// Every validation rule: each invalid event is `400` with a JSON error, and nothing of it
/// is counted in `events_accepted`.
pub fn event_rules_rejected(ctx: &Ctx) -> Outcome {
    let addr = ctx.addr()?;
    let before = events_accepted(addr)?;
    let mut client = Client::connect(addr)?;
    let tags33: Vec<String> = (0..33).map(|i| format!(r#""k{i}":"v""#)).collect();
    let cases = [
        ("empty name", r#"{"name":"","value":1}"#.to_string()),
        (
            "129-byte name",
            format!(r#"{{"name":"{}","value":1}}"#, "a".repeat(129)),
        ),
        (
            "space in name",
            r#"{"name":"cpu load","value":1}"#.to_string(),
        ),
        (
            "slash in name",
            r#"{"name":"cpu/load","value":1}"#.to_string(),
        ),
        (
            "non-ASCII name",
            r#"{"name":"caf\u00e9","value":1}"#.to_string(),
        ),
        ("name not a string", r#"{"name":5,"value":1}"#.to_string()),
        ("name missing", r#"{"value":1}"#.to_string()),
        ("value missing", r#"{"name":"n"}"#.to_string()),
        ("value a string", r#"{"name":"n","value":"1"}"#.to_string()),
        ("value null", r#"{"name":"n","value":null}"#.to_string()),
        (
            "value overflows to infinity",
            r#"{"name":"n","value":1e999}"#.to_string(),
        ),
        (
            "negative ts",
            r#"{"name":"n","value":1,"ts":-1}"#.to_string(),
        ),
        (
            "fractional ts",
            r#"{"name":"n","value":1,"ts":1.5}"#.to_string(),
        ),
        (
            "ts a string",
            r#"{"name":"n","value":1,"ts":"1"}"#.to_string(),
        ),
        (
            "tags an array",
            r#"{"name":"n","value":1,"tags":["a"]}"#.to_string(),
        ),
        (
            "tag value a number",
            r#"{"name":"n","value":1,"tags":{"a":1}}"#.to_string(),
        ),
        (
            "33 tags",
            format!(
                r#"{{"name":"n","value":1,"tags":{{{}}}}}"#,
                tags33.join(",")
            ),
        ),
        (
            "empty tag key",
            r#"{"name":"n","value":1,"tags":{"":"v"}}"#.to_string(),
        ),
        (
            "65-byte tag key",
            format!(
                r#"{{"name":"n","value":1,"tags":{{"{}":"v"}}}}"#,
                "k".repeat(65)
            ),
        ),
        (
            "257-byte tag value",
            format!(
                r#"{{"name":"n","value":1,"tags":{{"k":"{}"}}}}"#,
                "v".repeat(257)
            ),
        ),
        (
            "unknown field",
            r#"{"name":"n","value":1,"unit":"s"}"#.to_string(),
        ),
        (
            "duplicate key",
            r#"{"name":"n","value":1,"value":2}"#.to_string(),
        ),
        (
            "duplicate tag key",
            r#"{"name":"n","value":1,"tags":{"a":"1","a":"2"}}"#.to_string(),
        ),
        ("not an object", "42".to_string()),
        ("not JSON", "{name: n}".to_string()),
        ("empty body", String::new()),
        ("empty array", "[]".to_string()),
        (
            "trailing garbage",
            r#"{"name":"n","value":1} x"#.to_string(),
        ),
    ];
    for (what, body) in &cases {
        let response = client.request(&post_ingest(body))?;
        expect_error(&response, 400, &format!("invalid event ({what}): {body}"))?;
        if response.closes() {
            // An invalid event is not a framing error; reconnect rather than fail, but only
            // after checking the server really closed.
            client.expect_closed(Duration::from_secs(3))?;
            client = Client::connect(addr)?;
        }
    }
    let after = events_accepted(addr)?;
    if after != before {
        return Err(
            format!("events_accepted moved from {before} to {after} on invalid events").into(),
        );
    }
    Ok(())
}

/// A batch is atomic: one bad event at index 3 rejects the array (and the NDJSON) with `400`
/// naming `event 3`, and `events_accepted` does not move.
pub fn batch_is_atomic(ctx: &Ctx) -> Outcome {
    let addr = ctx.addr()?;
    let before = events_accepted(addr)?;
    let bad = r#"{"name":"n","value":"NaN"}"#;
    let mut events: Vec<String> = (0..6)
        .map(|i| event(i).replace("conformance.check", "atomic.check"))
        .collect();
    events[3] = bad.to_string();
    let array = format!("[{}]", events.join(","));
    let ndjson = events.join("\n") + "\n";
    let mut client = Client::connect(addr)?;
    for (what, body) in [("array", &array), ("NDJSON", &ndjson)] {
        let response = client.request(&post_ingest(body))?;
        let what = format!("{what} batch with a bad event at index 3 (0-based)");
        expect_error(&response, 400, &what)?;
        let message = response.json()?["error"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        if !message.contains("event 3") {
            return Err(
                format!("{what}: the error must name `event 3`: {}", response.show()).into(),
            );
        }
        if response.closes() {
            client = Client::connect(addr)?;
        }
    }
    let after = events_accepted(addr)?;
    if after != before {
        return Err(format!(
            "a rejected batch must store nothing, but events_accepted went {before} -> {after}"
        )
        .into());
    }
    if let Some(path) = &ctx.data_file {
        std::thread::sleep(Duration::from_millis(200));
        if let Some(line) = data_lines(path)?
            .iter()
            .find(|l| l.contains("atomic.check"))
        {
            return Err(format!("an event of a rejected batch reached the log: {line}").into());
        }
    }
    Ok(())
}

/// A batch holds 1 to 10,000 events: 10,000 are accepted, 10,001 are `400`.
pub fn batch_size_limit(ctx: &Ctx) -> Outcome {
    let mut client = Client::connect(ctx.addr()?)?;
    let one = r#"{"name":"b","value":1}"#;
    let batch = |n: usize| format!("[{}]", vec![one; n].join(","));
    let response = client.request(&post_ingest(&batch(10_000)))?;
    expect_accepted(&response, 10_000, "array of 10,000 events")?;
    let response = client.request(&post_ingest(&batch(10_001)))?;
    expect_error(&response, 400, "array of 10,001 events")?;
    Ok(())
}

/// The log holds accepted events in canonical form, with `ts` stamped when absent.
pub fn stored_in_canonical_form(ctx: &Ctx) -> Outcome {
    let addr = ctx.addr()?;
    let path = ctx
        .data_file
        .clone()
        .ok_or_else(|| Failure::Skip("needs --data-file or --spawn".to_string()))?;
    let start_ms = now_ms();
    let body =
        r#"{ "tags" : {"zone":"b", "host":"canon-1"}, "value" : 2.5, "name" : "canonical.check" }"#;
    let response = request(addr, &post_ingest(body))?;
    expect_accepted(&response, 1, "event with spaces, shuffled keys and no ts")?;
    let line = wait_for(Duration::from_secs(5), || {
        Ok(data_lines(&path)?
            .into_iter()
            .find(|l| l.contains("canon-1")))
    })?
    .ok_or_else(|| {
        format!(
            "the accepted event did not reach {} within 5 s",
            path.display()
        )
    })?;
    let value = check_canonical(&line)?;
    let ts = value["ts"].as_u64().unwrap_or(0);
    if ts < start_ms.saturating_sub(1000) || ts > now_ms() + 1000 {
        return Err(format!(
            "a missing ts must be stamped with the receive time, got {ts}: {line}"
        )
        .into());
    }
    if value["name"] != "canonical.check"
        || value["value"] != 2.5
        || value["tags"]["host"] != "canon-1"
    {
        return Err(format!("the stored event does not match what was sent: {line}").into());
    }
    Ok(())
}

/// Milliseconds since the Unix epoch.
fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}
