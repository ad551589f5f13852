//! `--ack written` and `--ack synced`: a `202` waits for the writer, a failed write is
//! answered `503` and never stored, group commit syncs once per group, and event loops are
//! woken once per group without blocking.

use std::sync::atomic::AtomicUsize;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ingest_service::event_log::gate::Gate;
use ingest_service::event_log::{Ack, Refused, LOG_FILE, MAX_QUEUED_BATCHES};
use ingest_service::{Config, EventLog, Service, Stats};

mod common;
use common::{batch, request, text, wait_until, whole_lines, Disk};

fn config(dir: &tempfile::TempDir, ack: Ack) -> Config {
    Config {
        data_dir: dir.path().to_path_buf(),
        ack,
        ..Config::default()
    }
}

/// Under `written` a 202 means the batch is in the file: `events_stored` already counts it
/// when the answer comes, and `/stats` says `"ack":"written"`.
#[test]
fn written_answers_after_the_write() {
    let dir = tempfile::tempdir().unwrap();
    let service = Service::open("test", &config(&dir, Ack::Written)).unwrap();
    let mut body = Vec::new();
    for i in 0..3 {
        body.extend_from_slice(format!("{{\"name\":\"w\",\"value\":{i}}}\n").as_bytes());
    }
    let head_reply = request(&service, "POST", "/ingest", &body);
    assert_eq!(head_reply.status, 202);
    assert_eq!(service.stats().events_stored.load(Relaxed), 3);
    assert_eq!(whole_lines(&dir.path().join(LOG_FILE)).len(), 3);
    assert!(text(&request(&service, "GET", "/stats", b"")).contains(r#""ack":"written""#));
    service.finish().unwrap();
}

/// Under `written`, a write that fails (here partly, then `ENOSPC`) is cut back and its batch
/// answered 503, never stored later; new batches get 503 and /health 503 until the probe
/// finds room again, then all is 202; the probe leaves nothing in the file.
#[test]
fn written_failure_is_refused_then_probed_back() {
    let dir = tempfile::tempdir().unwrap();
    let disk = Disk::new();
    let service = Service::open_with("test", &config(&dir, Ack::Written), |dir, stats| {
        disk.open(dir, stats)
    })
    .unwrap();
    let event = br#"{"name":"a","value":1}"#;
    assert_eq!(request(&service, "POST", "/ingest", event).status, 202);
    let path = dir.path().join(LOG_FILE);
    let len = std::fs::metadata(&path).unwrap().len();
    // Room for half a line: the write goes in partly, then fails.
    disk.limit.store(len + 10, Relaxed);
    let failed = request(&service, "POST", "/ingest", event);
    assert_eq!(failed.status, 503, "{}", text(&failed));
    assert!(disk.partial_writes.load(Relaxed) >= 1);
    assert_eq!(whole_lines(&path).len(), 1, "the failed batch was cut back");
    let stats = Arc::clone(service.stats());
    assert!(!stats.storage_ok.load(Relaxed));
    assert_eq!(request(&service, "GET", "/health", b"").status, 503);
    assert_eq!(request(&service, "POST", "/ingest", event).status, 503);
    disk.limit.store(u64::MAX, Relaxed);
    wait_until("the probe finds room", || stats.storage_ok.load(Relaxed));
    assert_eq!(request(&service, "GET", "/health", b"").status, 200);
    assert_eq!(request(&service, "POST", "/ingest", event).status, 202);
    service.finish().unwrap();
    assert_eq!(whole_lines(&path).len(), 2, "nothing refused was stored");
    assert_eq!(stats.events_stored.load(Relaxed), 2);
    assert_eq!(stats.events_accepted.load(Relaxed), 2);
    assert_eq!(stats.events_lost.load(Relaxed), 0);
}

/// Under `synced`, many concurrent batches share their `fdatasync`s (group commit), and
/// every ticket is reported written.
#[test]
fn synced_shares_one_fdatasync_per_group() {
    let dir = tempfile::tempdir().unwrap();
    let stats = Arc::new(Stats::new("test", Ack::Synced));
    let log = Arc::new(EventLog::open(dir.path(), Arc::clone(&stats)).unwrap());
    let per_thread = 250;
    let threads: Vec<_> = (0..4)
        .map(|t| {
            let log = Arc::clone(&log);
            std::thread::spawn(move || {
                (0..per_thread)
                    .map(|i| {
                        let (lines, n) = batch(t * 1000 + i, 1);
                        log.append(lines, n).unwrap()
                    })
                    .collect::<Vec<u64>>()
            })
        })
        .collect();
    let tickets: Vec<u64> = threads
        .into_iter()
        .flat_map(|t| t.join().unwrap())
        .collect();
    for ticket in &tickets {
        wait_until("every ticket written", || log.outcome(*ticket).is_some());
        assert!(log.outcome(*ticket).unwrap().is_ok());
    }
    let syncs = stats.fdatasyncs.load(Relaxed);
    assert!(syncs >= 1);
    assert!(
        syncs <= tickets.len() as u64 / 2,
        "{syncs} fdatasyncs for {} batches: groups should share them",
        tickets.len()
    );
    log.finish().unwrap();
    assert_eq!(whole_lines(&dir.path().join(LOG_FILE)).len(), tickets.len());
}

/// A full queue refuses `try_append` at once (an event loop never blocks on it); the watch's
/// wake-up fires when the writer makes room and again when the group is written, once each,
/// and only while armed.
#[test]
fn full_queue_refuses_and_the_watch_wakes() {
    let dir = tempfile::tempdir().unwrap();
    let stats = Arc::new(Stats::new("test", Ack::Written));
    let gate = Gate::closed();
    let log = EventLog::open_with_sink(dir.path(), stats, gate.sink()).unwrap();
    let wakes = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&wakes);
    let mut watch = log.watch(move || {
        counter.fetch_add(1, Relaxed);
    });
    // The first batch is taken by the writer, which then waits at the gate.
    let (mut lines, n) = batch(0, 1);
    let first = log.try_append(&mut lines, n).unwrap();
    gate.wait_reached();
    let mut queued = 0;
    loop {
        let (mut lines, n) = batch(10 + queued, 1);
        match log.try_append(&mut lines, n) {
            Ok(_) => queued += 1,
            Err(Refused::Full) => {
                assert!(!lines.is_empty(), "a refused batch is left with the caller");
                break;
            }
            Err(other) => panic!("{other:?}"),
        }
        assert!(
            queued <= MAX_QUEUED_BATCHES as u64 + 2,
            "the queue never filled"
        );
    }
    assert!(!watch.arm(), "no progress yet: the loop may sleep");
    gate.open();
    wait_until("woken", || wakes.load(Relaxed) >= 1);
    assert!(watch.moved());
    assert!(!watch.moved(), "moved reports each progress once");
    wait_until("the first group written", || log.outcome(first).is_some());
    let before = wakes.load(Relaxed);
    // Not armed: the writer's progress wakes nobody.
    let (mut lines, n) = batch(5000, 1);
    let last = log.try_append(&mut lines, n).unwrap();
    wait_until("the last batch written", || log.outcome(last).is_some());
    let deadline = Instant::now() + Duration::from_millis(50);
    while Instant::now() < deadline {
        std::thread::yield_now();
    }
    assert_eq!(wakes.load(Relaxed), before, "an unarmed watch is not woken");
    log.finish().unwrap();
}

/// A client that leaves while its batch is being written never has its answer polled for;
/// the batch is still written and counted as accepted, so after shutdown the file holds
/// exactly `events_accepted` lines (SPEC, graceful shutdown).
#[test]
fn a_batch_whose_answer_is_never_polled_is_still_counted() {
    let dir = tempfile::tempdir().unwrap();
    let service = Service::open("test", &config(&dir, Ack::Written)).unwrap();
    let event = br#"{"name":"gone","value":1}"#;
    let head = ingest_http::RequestHead {
        method: "POST",
        target: "/ingest",
        path: "/ingest",
        version: ingest_http::Version::Http11,
        headers: &[],
        framing: ingest_http::Framing::Length(event.len() as u64),
        keep_alive: true,
        expect_continue: false,
    };
    let reply = ingest_http::Handler::on_request(&service, &head, event);
    assert!(matches!(reply, ingest_http::Reply::Later(_)));
    drop(reply);
    service.finish().unwrap();
    let stats = service.stats();
    assert_eq!(stats.events_accepted.load(Relaxed), 1);
    assert_eq!(whole_lines(&dir.path().join(LOG_FILE)).len(), 1);
}
