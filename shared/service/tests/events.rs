//! Event validation and the canonical line format (SPEC.md, "An event"), through
//! `events::canonicalize` alone: no server, no file.

use ingest_service::events::{canonicalize, InvalidBatch, MAX_BATCH_EVENTS};

const NOW: u64 = 1_732_370_000_123;

fn ok(body: &str) -> String {
    let batch = canonicalize(body.as_bytes(), NOW).unwrap_or_else(|e| panic!("{body}: {e}"));
    let text = String::from_utf8(batch.lines).unwrap();
    assert_eq!(text.lines().count() as u64, batch.events);
    text
}

fn err(body: &str) -> String {
    match canonicalize(body.as_bytes(), NOW) {
        Ok(batch) => panic!(
            "{body} was accepted: {}",
            String::from_utf8_lossy(&batch.lines)
        ),
        Err(e) => e.to_string(),
    }
}

/// The SPEC's example event comes out with keys in canonical order and no whitespace.
#[test]
fn canonical_line_reorders_keys_and_drops_whitespace() {
    let body =
        r#" { "tags" : {"host":"web-1"}, "ts": 1732370000999, "value":0.93, "name":"cpu.load" } "#;
    assert_eq!(
        ok(body),
        "{\"name\":\"cpu.load\",\"value\":0.93,\"ts\":1732370000999,\"tags\":{\"host\":\"web-1\"}}\n"
    );
}

/// A missing `ts` is stamped with the receive time; absent and empty tags are omitted.
#[test]
fn ts_is_stamped_and_empty_tags_omitted() {
    assert_eq!(
        ok(r#"{"name":"a","value":1}"#),
        format!("{{\"name\":\"a\",\"value\":1.0,\"ts\":{NOW}}}\n")
    );
    assert_eq!(
        ok(r#"{"name":"a","value":1,"tags":{}}"#),
        format!("{{\"name\":\"a\",\"value\":1.0,\"ts\":{NOW}}}\n")
    );
}

/// Numbers are printed as f64 by serde_json: 1, 1.0 and 1e0 are one canonical form.
#[test]
fn values_have_one_canonical_form() {
    for (input, canonical) in [
        ("1", "1.0"),
        ("1.0", "1.0"),
        ("1e0", "1.0"),
        ("-2.5", "-2.5"),
        ("0.1", "0.1"),
        ("1e300", "1e+300"),
        ("1.5e-7", "1.5e-7"),
        ("-0", "-0.0"),
        ("9007199254740993", "9007199254740992.0"),
    ] {
        let line = ok(&format!(r#"{{"name":"n","value":{input},"ts":0}}"#));
        assert_eq!(
            line,
            format!("{{\"name\":\"n\",\"value\":{canonical},\"ts\":0}}\n"),
            "{input}"
        );
    }
}

/// Escaped input is re-escaped the way serde_json writes strings; a name may be escaped.
#[test]
fn strings_are_reescaped() {
    let line = ok(r#"{"name":"cpu\u002eload","value":1,"ts":5,"tags":{"k\"":"\u00e9\n\/"}}"#);
    assert_eq!(
        line,
        "{\"name\":\"cpu.load\",\"value\":1.0,\"ts\":5,\"tags\":{\"k\\\"\":\"é\\n/\"}}\n"
    );
}

/// One object, a pretty-printed object, an array and NDJSON are all accepted.
#[test]
fn single_array_and_ndjson_bodies() {
    let line = "{\"name\":\"a\",\"value\":1.0,\"ts\":7}\n";
    assert_eq!(ok(r#"{"name":"a","value":1,"ts":7}"#), line);
    assert_eq!(
        ok("{\n  \"name\": \"a\",\n  \"value\": 1,\n  \"ts\": 7\n}\n"),
        line
    );
    assert_eq!(ok(r#" [ {"name":"a","value":1,"ts":7} ] "#), line);
    let two = ok("[{\"name\":\"a\",\"value\":1,\"ts\":7},\n{\"name\":\"b\",\"value\":2,\"ts\":8}]");
    assert_eq!(
        two,
        format!("{line}{{\"name\":\"b\",\"value\":2.0,\"ts\":8}}\n")
    );
    let nd = ok("{\"name\":\"a\",\"value\":1,\"ts\":7}\n{\"name\":\"b\",\"value\":2,\"ts\":8}\n\n");
    assert_eq!(nd, two);
    // CRLF line ends are whitespace too.
    assert_eq!(ok("{\"name\":\"a\",\"value\":1,\"ts\":7}\r\n"), line);
}

/// Batches of 1 and 10,000 events pass; 0 and 10,001 fail, as arrays and as NDJSON.
#[test]
fn batch_size_limits() {
    let event = r#"{"name":"a","value":1,"ts":1}"#;
    for n in [1, 2, MAX_BATCH_EVENTS] {
        let array = format!("[{}]", vec![event; n].join(","));
        assert_eq!(
            canonicalize(array.as_bytes(), NOW).unwrap().events,
            n as u64
        );
        let nd = vec![event; n].join("\n");
        assert_eq!(canonicalize(nd.as_bytes(), NOW).unwrap().events, n as u64);
    }
    let n = MAX_BATCH_EVENTS + 1;
    let too_many = "a batch holds at most 10000 events; split it into several requests";
    assert_eq!(err(&format!("[{}]", vec![event; n].join(","))), too_many);
    assert_eq!(err(&vec![event; n].join("\n")), too_many);
    for empty in ["", "  \n", "[]", " [ ] "] {
        assert!(err(empty).starts_with("the batch is empty"), "{empty:?}");
    }
}

/// Each field rule, with the sentence the client gets and the event's 0-based index.
#[test]
fn every_field_rule() {
    let long = "x".repeat(129);
    let cases: Vec<(String, &str)> = vec![
        (r#"{"value":1}"#.into(), "event 0: name is required"),
        (r#"{"name":"a"}"#.into(), "event 0: value is required"),
        (
            r#"{"name":"","value":1}"#.into(),
            "event 0: name must be 1 to 128 bytes long, not 0",
        ),
        (
            format!(r#"{{"name":"{long}","value":1}}"#),
            "event 0: name must be 1 to 128 bytes long, not 129",
        ),
        (
            r#"{"name":"a b","value":1}"#.into(),
            "event 0: name may contain only letters A-Z a-z, digits, '_', '.', ':' and '-'",
        ),
        (
            r#"{"name":"é","value":1}"#.into(),
            "event 0: name may contain only letters A-Z a-z, digits, '_', '.', ':' and '-'",
        ),
        (
            r#"{"name":7,"value":1}"#.into(),
            "event 0: name must be a string",
        ),
        (
            r#"{"name":"a","value":"1"}"#.into(),
            "event 0: value must be a finite number",
        ),
        (
            r#"{"name":"a","value":null}"#.into(),
            "event 0: value must be a finite number",
        ),
        (
            r#"{"name":"a","value":true}"#.into(),
            "event 0: value must be a finite number",
        ),
        (
            r#"{"name":"a","value":[1]}"#.into(),
            "event 0: value must be a finite number",
        ),
        (
            r#"{"name":"a","value":1,"ts":-1}"#.into(),
            "event 0: ts must be a whole number of milliseconds since the Unix epoch, >= 0",
        ),
        (
            r#"{"name":"a","value":1,"ts":1.5}"#.into(),
            "event 0: ts must be a whole number of milliseconds since the Unix epoch, >= 0",
        ),
        (
            r#"{"name":"a","value":1,"ts":"1"}"#.into(),
            "event 0: ts must be a whole number of milliseconds since the Unix epoch, >= 0",
        ),
        (
            r#"{"name":"a","value":1,"ts":null}"#.into(),
            "event 0: ts must be a whole number of milliseconds since the Unix epoch, >= 0",
        ),
        (
            r#"{"name":"a","value":1,"tags":[]}"#.into(),
            "event 0: tags must be an object of string keys to string values",
        ),
        (
            r#"{"name":"a","value":1,"tags":null}"#.into(),
            "event 0: tags must be an object of string keys to string values",
        ),
        (
            r#"{"name":"a","value":1,"tags":{"k":1}}"#.into(),
            "event 0: tag values must be strings",
        ),
        (
            r#"{"name":"a","value":1,"tags":{"":"v"}}"#.into(),
            "event 0: tag keys must be 1 to 64 bytes long, not 0",
        ),
        (
            format!(
                r#"{{"name":"a","value":1,"tags":{{"{}":"v"}}}}"#,
                "k".repeat(65)
            ),
            "event 0: tag keys must be 1 to 64 bytes long, not 65",
        ),
        (
            format!(
                r#"{{"name":"a","value":1,"tags":{{"k":"{}"}}}}"#,
                "v".repeat(257)
            ),
            "event 0: tag values must be at most 256 bytes long, not 257",
        ),
        (
            r#"{"name":"a","value":1,"extra":1}"#.into(),
            "event 0: unknown field `extra`; an event has only name, value, ts and tags",
        ),
        (r#"[1]"#.into(), "event 0: an event must be a JSON object"),
        (
            r#""text""#.into(),
            "event 0: an event must be a JSON object",
        ),
    ];
    for (body, want) in cases {
        assert_eq!(err(&body), want, "{body}");
    }
}

/// Boundary values that must pass: 128-byte names, 32 tags, 64-byte keys, 256-byte values.
#[test]
fn limits_inclusive() {
    let name = "a".repeat(128);
    let tags: Vec<String> = (0..32).map(|i| format!("\"k{i}\":\"v\"")).collect();
    ok(&format!(
        r#"{{"name":"{name}","value":1,"tags":{{{}}}}}"#,
        tags.join(",")
    ));
    ok(&format!(
        r#"{{"name":"Az09_.:-","value":1,"tags":{{"{}":"{}","e":""}}}}"#,
        "k".repeat(64),
        "v".repeat(256)
    ));
    ok(r#"{"name":"a","value":1,"ts":0}"#);
    ok(r#"{"name":"a","value":1,"ts":18446744073709551615}"#);
    let tags: Vec<String> = (0..33).map(|i| format!("\"k{i}\":\"v\"")).collect();
    assert_eq!(
        err(&format!(
            r#"{{"name":"a","value":1,"tags":{{{}}}}}"#,
            tags.join(",")
        )),
        "event 0: tags may hold at most 32 entries"
    );
}

/// Duplicate keys are invalid, at the top level and in tags, even when spelled differently.
#[test]
fn duplicate_keys() {
    assert_eq!(
        err(r#"{"name":"a","name":"b","value":1}"#),
        "event 0: duplicate field `name`"
    );
    assert_eq!(
        err(r#"{"name":"a","value":1,"value":2}"#),
        "event 0: duplicate field `value`"
    );
    assert_eq!(
        err(r#"{"name":"a","value":1,"ts":1,"ts":2}"#),
        "event 0: duplicate field `ts`"
    );
    assert_eq!(
        err(r#"{"name":"a","value":1,"tags":{},"tags":{}}"#),
        "event 0: duplicate field `tags`"
    );
    assert_eq!(
        err(r#"{"name":"a","n\u0061me":"b","value":1}"#),
        "event 0: duplicate field `name`"
    );
    assert_eq!(
        err(r#"{"name":"a","value":1,"tags":{"h":"1","x":"2","h":"3"}}"#),
        "event 0: duplicate tag \"h\""
    );
    assert_eq!(
        err(r#"{"name":"a","value":1,"tags":{"h":"1","\u0068":"3"}}"#),
        "event 0: duplicate tag \"h\""
    );
}

/// The index names the failing event, 0-based, in arrays and NDJSON alike.
#[test]
fn error_names_the_event_index() {
    let good = r#"{"name":"a","value":1}"#;
    let bad = r#"{"name":"a","value":"x"}"#;
    let array = format!("[{good},{good},{good},{bad},{good}]");
    assert_eq!(err(&array), "event 3: value must be a finite number");
    let nd = format!("{good}\n{good}\n{good}\n{bad}\n{good}\n");
    assert_eq!(err(&nd), "event 3: value must be a finite number");
    let e = canonicalize(nd.as_bytes(), NOW).unwrap_err();
    assert_eq!(
        e,
        InvalidBatch {
            event: Some(3),
            reason: "value must be a finite number".into()
        }
    );
}

/// Malformed JSON, truncation and trailing garbage are rejected with a position.
#[test]
fn malformed_json() {
    let e = err(r#"{"name":"a","value":1"#);
    assert!(
        e.starts_with("event 0: invalid JSON: EOF while parsing an object"),
        "{e}"
    );
    let e = err("{\"name\":\"a\",\"value\":1}\n{\"name\":");
    assert!(e.starts_with("event 1: invalid JSON: EOF"), "{e}");
    let e = err(r#"{"name":"a","value":1} x"#);
    assert!(
        e.starts_with("event 1: invalid JSON: expected value at line 1"),
        "{e}"
    );
    let e = err("{\"name\":\"a\",\"value\":1}\n{\"name\":\"a\",\"value\":1} x\n");
    assert_eq!(
        e,
        "event 1: invalid JSON: trailing characters at column 24 of its line"
    );
    let e = err("{\"name\":\"a\",\"value\":1}\n{\"name\":\"a\",\n\"value\":1}\n");
    assert!(
        e.starts_with("event 1: invalid JSON: EOF while parsing a value at column 12 of its line"),
        "{e}"
    );
    let e = err(r#"[{"name":"a","value":1}] x"#);
    assert!(e.starts_with("unexpected data after the array"), "{e}");
    let e = err(r#"[{"name":"a","value":1},]"#);
    assert!(e.starts_with("event 1: invalid JSON"), "{e}");
    let e = err(r#"{"name":"a","value":1e400}"#);
    assert!(
        e.starts_with("event 0: invalid JSON: number out of range"),
        "{e}"
    );
    let e = err(r#"{"name":"a","value":NaN}"#);
    assert!(e.starts_with("event 0: invalid JSON"), "{e}");
    let e = canonicalize(b"{\"name\":\"\xff\",\"value\":1}", NOW).unwrap_err();
    assert_eq!(
        e.to_string(),
        "the body is not valid UTF-8 (bad byte at offset 9)"
    );
}

/// One bad event anywhere rejects the batch: nothing of it is returned to be stored.
#[test]
fn batches_are_atomic() {
    let good = r#"{"name":"a","value":1}"#;
    for bad_at in [0, 1, 9_999] {
        let mut events = vec![good; 10_000];
        events[bad_at] = r#"{"name":"a","value":1,"x":0}"#;
        let e = canonicalize(format!("[{}]", events.join(",")).as_bytes(), NOW).unwrap_err();
        assert_eq!(e.event, Some(bad_at));
    }
}
