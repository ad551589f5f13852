//! Routing, statuses and counting, by calling the `Handler` directly with hand-built heads.

use std::sync::atomic::Ordering::Relaxed;

use ingest_http::{Framing, Handler, RequestHead, Response, Version};
use ingest_service::event_log::LOG_FILE;
use ingest_service::{Config, Service};

mod common;
use common::settle;

fn head<'a>(method: &'a str, path: &'a str, framing: Framing) -> RequestHead<'a> {
    RequestHead {
        method,
        target: path,
        path,
        version: Version::Http11,
        headers: &[],
        framing,
        keep_alive: true,
        expect_continue: false,
    }
}

fn open(dir: &tempfile::TempDir, max_conns: usize) -> Service {
    let config = Config {
        data_dir: dir.path().join("data"),
        max_conns,
        ..Config::default()
    };
    Service::open("test-phase", &config).unwrap()
}

/// Runs a request the way `Conn` would: `on_head`, then `on_request` if it said nothing.
fn request(service: &Service, method: &str, path: &str, body: &[u8]) -> Response {
    let framing = if body.is_empty() && method != "POST" {
        Framing::None
    } else {
        Framing::Length(body.len() as u64)
    };
    let h = head(method, path, framing);
    let response = service
        .on_head(&h)
        .unwrap_or_else(|| settle(service, service.on_request(&h, body)));
    service.on_response(response.status);
    response
}

fn body(response: &Response) -> &str {
    std::str::from_utf8(response.body.as_bytes()).unwrap()
}

/// POST /ingest answers 202 {"accepted":N} and the events reach the file.
#[test]
fn ingest_accepts_and_stores() {
    let dir = tempfile::tempdir().unwrap();
    let service = open(&dir, 10);
    let r = request(
        &service,
        "POST",
        "/ingest",
        br#"[{"name":"a","value":1,"ts":1},{"name":"b","value":2,"ts":2}]"#,
    );
    assert_eq!(
        (r.status, body(&r), r.content_type),
        (202, r#"{"accepted":2}"#, "application/json")
    );
    let r = request(
        &service,
        "POST",
        "/ingest",
        br#"{"name":"c","value":3,"ts":3}"#,
    );
    assert_eq!((r.status, body(&r)), (202, r#"{"accepted":1}"#));
    service.finish().unwrap();
    let text = std::fs::read_to_string(dir.path().join("data").join(LOG_FILE)).unwrap();
    assert_eq!(
        text,
        "{\"name\":\"a\",\"value\":1.0,\"ts\":1}\n{\"name\":\"b\",\"value\":2.0,\"ts\":2}\n{\"name\":\"c\",\"value\":3.0,\"ts\":3}\n"
    );
    assert_eq!(service.stats().events_accepted.load(Relaxed), 3);
    assert_eq!(service.stats().events_stored.load(Relaxed), 3);
}

/// An invalid batch is a 400 naming the event, and nothing of it is stored.
#[test]
fn invalid_batch_is_400_and_nothing_is_stored() {
    let dir = tempfile::tempdir().unwrap();
    let service = open(&dir, 10);
    let r = request(
        &service,
        "POST",
        "/ingest",
        b"{\"name\":\"a\",\"value\":1}\n{\"name\":\"b\",\"value\":\"x\"}\n",
    );
    assert_eq!(
        (r.status, body(&r)),
        (400, r#"{"error":"event 1: value must be a finite number"}"#)
    );
    let r = request(&service, "POST", "/ingest", b"\xff");
    assert_eq!(r.status, 400);
    let r = request(&service, "POST", "/ingest", b"[]");
    assert_eq!(r.status, 400);
    service.finish().unwrap();
    let len = std::fs::metadata(dir.path().join("data").join(LOG_FILE))
        .unwrap()
        .len();
    assert_eq!(len, 0);
    assert_eq!(service.stats().events_accepted.load(Relaxed), 0);
    assert_eq!(service.stats().responses_4xx.load(Relaxed), 3);
}

/// Unknown paths are 404, wrong methods 405 with Allow, all decided before the body.
#[test]
fn routing_statuses() {
    let dir = tempfile::tempdir().unwrap();
    let service = open(&dir, 10);
    let r = service
        .on_head(&head("GET", "/nope", Framing::None))
        .unwrap();
    assert_eq!(r.status, 404);
    assert!(
        body(&r).starts_with(r#"{"error":"no such path: /nope"#),
        "{}",
        body(&r)
    );
    let r = service
        .on_head(&head("GET", "/ingest", Framing::None))
        .unwrap();
    assert_eq!((r.status, r.allow), (405, Some("POST")));
    for path in ["/health", "/stats"] {
        for method in ["POST", "PUT", "DELETE", "get"] {
            let r = service
                .on_head(&head(method, path, Framing::Length(1)))
                .unwrap();
            assert_eq!(
                (r.status, r.allow),
                (405, Some("GET, HEAD")),
                "{method} {path}"
            );
        }
    }
    let r = service
        .on_head(&head("POST", "/ingest", Framing::None))
        .unwrap();
    assert_eq!(r.status, 411);
    assert!(service
        .on_head(&head("POST", "/ingest", Framing::Chunked))
        .is_none());
    assert!(service
        .on_head(&head("POST", "/ingest", Framing::Length(0)))
        .is_none());
    // An empty body that did announce framing is a 400, not a 411.
    let r = settle(
        &service,
        service.on_request(&head("POST", "/ingest", Framing::Length(0)), b""),
    );
    assert_eq!(r.status, 400);
}

/// GET and HEAD /health are 200 text/plain "ok" (the encoder drops the body for HEAD).
#[test]
fn health() {
    let dir = tempfile::tempdir().unwrap();
    let service = open(&dir, 10);
    for method in ["GET", "HEAD"] {
        let r = request(&service, method, "/health", b"");
        assert_eq!(
            (r.status, r.content_type, body(&r)),
            (200, "text/plain", "ok")
        );
    }
}

/// /stats is JSON with every counter SPEC.md names, counting what happened.
#[test]
fn stats_counts_requests_and_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let service = open(&dir, 10);
    request(&service, "POST", "/ingest", br#"{"name":"a","value":1}"#);
    request(&service, "GET", "/nope", b"");
    service.on_bytes(100, 0);
    service.on_bytes(0, 50);
    let r = request(&service, "HEAD", "/stats", b"");
    assert_eq!((r.status, r.content_type), (200, "application/json"));
    let stats: serde_json::Value = serde_json::from_slice(r.body.as_bytes()).unwrap();
    assert_eq!(stats["phase"], "test-phase");
    // The /stats response itself is counted only once it is sent.
    assert_eq!(stats["requests_total"], 2);
    assert_eq!(stats["responses_2xx"], 1);
    assert_eq!(stats["responses_4xx"], 1);
    assert_eq!(stats["responses_5xx"], 0);
    assert_eq!(stats["events_accepted"], 1);
    assert_eq!(stats["bytes_read"], 100);
    assert_eq!(stats["bytes_written"], 50);
    for key in [
        "uptime_ms",
        "connections_open",
        "connections_total",
        "events_stored",
    ] {
        assert!(stats[key].is_u64(), "{key}");
    }
}

/// try_connection admits up to --max-conns; past it, None and the 503 is counted.
#[test]
fn max_conns_and_overload() {
    let dir = tempfile::tempdir().unwrap();
    let service = open(&dir, 2);
    let a = service.try_connection().unwrap();
    let _b = service.try_connection().unwrap();
    assert!(service.try_connection().is_none());
    let s = service.stats();
    assert_eq!(s.connections_open.load(Relaxed), 2);
    assert_eq!(s.connections_total.load(Relaxed), 3);
    assert_eq!(s.connections_rejected.load(Relaxed), 1);
    assert_eq!(s.responses_5xx.load(Relaxed), 1);
    drop(a);
    assert_eq!(s.connections_open.load(Relaxed), 1);
    assert!(service.try_connection().is_some());

    let bytes = service.overloaded_response();
    let text = String::from_utf8(bytes).unwrap();
    let (head, body) = text.split_once("\r\n\r\n").unwrap();
    assert!(
        head.starts_with("HTTP/1.1 503 Service Unavailable\r\n"),
        "{head}"
    );
    assert!(head.contains("\r\nConnection: close"), "{head}");
    assert!(head.contains("\r\nDate: "), "{head}");
    assert!(
        head.contains(&format!("\r\nContent-Length: {}", body.len())),
        "{head}"
    );
    assert!(body.starts_with(r#"{"error":""#), "{body}");
}

/// After finish, ingest answers 500 instead of acknowledging events it cannot store.
#[test]
fn ingest_after_finish_is_500() {
    let dir = tempfile::tempdir().unwrap();
    let service = open(&dir, 10);
    service.finish().unwrap();
    let r = request(&service, "POST", "/ingest", br#"{"name":"a","value":1}"#);
    assert_eq!(r.status, 500);
    assert_eq!(service.stats().events_accepted.load(Relaxed), 0);
}
