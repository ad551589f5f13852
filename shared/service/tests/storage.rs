//! The event log when the disk fails and when a crash tore its last line: cut back, refuse
//! with 503, retry, recover, count what is truly lost, and move a torn tail aside at start.

use std::io;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ingest_service::event_log::{
    recover_torn_tail, Ack, LogSink, StorageUnavailable, FINISH_RETRY_LIMIT, LOG_FILE,
};
use ingest_service::{Config, EventLog, Service, Stats};

mod common;
use common::{batch, request, text, wait_until, whole_lines, Disk};

/// A write that fails halfway is cut back to the last whole line; appends are refused with
/// StorageUnavailable and storage_ok is false while it fails; once space returns the kept
/// group is written, storage_ok is true again and nothing is lost.
#[test]
fn failed_write_is_cut_back_retried_and_recovers() {
    let dir = tempfile::tempdir().unwrap();
    let stats = Arc::new(Stats::new("test", Ack::Queued));
    let disk = Disk::new();
    let log = disk.open(dir.path(), Arc::clone(&stats)).unwrap();
    let path = dir.path().join(LOG_FILE);

    let (lines, n) = batch(0, 3);
    log.append(lines, n).unwrap();
    wait_until("the first batch stored", || {
        stats.events_stored.load(Relaxed) == 3
    });
    let whole = std::fs::metadata(&path).unwrap().len();

    // Room for 10 more bytes: the next group's write goes in part, then fails.
    disk.limit.store(whole + 10, Relaxed);
    let (lines, n) = batch(3, 2);
    log.append(lines, n).unwrap();
    wait_until("storage_ok false", || !stats.storage_ok.load(Relaxed));
    assert!(
        disk.partial_writes.load(Relaxed) >= 1,
        "no partial write happened"
    );
    assert!(!log.storage_ok());
    assert_eq!(
        std::fs::metadata(&path).unwrap().len(),
        whole,
        "not cut back"
    );
    assert_eq!(whole_lines(&path).len(), 3);

    let (lines, n) = batch(5, 1);
    let refused = log.append(lines, n).unwrap_err();
    let unavailable = StorageUnavailable::of(&refused).expect("a StorageUnavailable error");
    assert!(
        unavailable.to_string().starts_with("storage unavailable: "),
        "{unavailable}"
    );

    disk.limit.store(u64::MAX, Relaxed);
    wait_until("storage_ok true again", || stats.storage_ok.load(Relaxed));
    assert_eq!(stats.events_stored.load(Relaxed), 5);
    let (lines, n) = batch(5, 1);
    log.append(lines, n).unwrap();
    log.finish().unwrap();

    assert_eq!(stats.events_stored.load(Relaxed), 6);
    assert_eq!(stats.events_lost.load(Relaxed), 0);
    let values: Vec<u64> = whole_lines(&path)
        .iter()
        .map(|e| e["ts"].as_u64().unwrap())
        .collect();
    assert_eq!(values, [0, 1, 2, 3, 4, 5]);
}

/// A shutdown while the disk stays full ends (after FINISH_RETRY_LIMIT), returns the error,
/// counts the unwritten events in events_lost, and leaves only whole lines.
#[test]
fn finish_while_failing_gives_up_and_counts_lost() {
    let dir = tempfile::tempdir().unwrap();
    let stats = Arc::new(Stats::new("test", Ack::Queued));
    let disk = Disk::new();
    let log = disk.open(dir.path(), Arc::clone(&stats)).unwrap();
    let path = dir.path().join(LOG_FILE);

    let (lines, n) = batch(0, 2);
    log.append(lines, n).unwrap();
    wait_until("the first batch stored", || {
        stats.events_stored.load(Relaxed) == 2
    });
    disk.limit
        .store(std::fs::metadata(&path).unwrap().len() + 7, Relaxed);
    let (lines, n) = batch(2, 4);
    log.append(lines, n).unwrap();
    wait_until("storage_ok false", || !stats.storage_ok.load(Relaxed));

    let start = Instant::now();
    let error = log.finish().unwrap_err();
    let took = start.elapsed();
    assert_eq!(error.raw_os_error(), Some(28), "{error}");
    assert!(
        took < FINISH_RETRY_LIMIT + Duration::from_secs(3),
        "finish took {took:?}"
    );
    assert_eq!(stats.events_lost.load(Relaxed), 4);
    assert_eq!(stats.events_stored.load(Relaxed), 2);
    assert_eq!(whole_lines(&path).len(), 2);
}

/// A log that does not end in a newline has its tail moved to events.ndjson.torn at open,
/// the whole lines kept, and new events appended after them.
#[test]
fn torn_tail_is_moved_aside_at_open() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(LOG_FILE);
    let whole =
        "{\"name\":\"a\",\"value\":1.0,\"ts\":1}\n{\"name\":\"b\",\"value\":2.0,\"ts\":2}\n";
    let torn = "{\"name\":\"c\",\"val";
    std::fs::write(&path, format!("{whole}{torn}")).unwrap();

    let stats = Arc::new(Stats::new("test", Ack::Queued));
    let log = EventLog::open(dir.path(), Arc::clone(&stats)).unwrap();
    let (lines, n) = batch(7, 1);
    log.append(lines, n).unwrap();
    log.finish().unwrap();

    let text = std::fs::read_to_string(&path).unwrap();
    assert_eq!(
        text,
        format!("{whole}{{\"name\":\"storage.test\",\"value\":7.0,\"ts\":7}}\n")
    );
    let aside = std::fs::read_to_string(dir.path().join("events.ndjson.torn")).unwrap();
    assert_eq!(aside, torn);
}

/// recover_torn_tail leaves a whole file alone (no side file), moves a file with no newline
/// at all entirely, and appends to an existing side file rather than replacing it.
#[test]
fn recover_torn_tail_edge_cases() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(LOG_FILE);
    let aside = dir.path().join("events.ndjson.torn");
    assert_eq!(recover_torn_tail(&path).unwrap(), 0, "a missing file");

    std::fs::write(&path, "{}\n").unwrap();
    assert_eq!(recover_torn_tail(&path).unwrap(), 0);
    assert!(!aside.exists());

    std::fs::write(&path, "{\"na").unwrap();
    assert_eq!(recover_torn_tail(&path).unwrap(), 4);
    assert_eq!(std::fs::read(&path).unwrap(), b"");

    // A tail longer than one read chunk, after a newline far back.
    let long_tail = "x".repeat(200_000);
    std::fs::write(&path, format!("{{}}\n{long_tail}")).unwrap();
    assert_eq!(recover_torn_tail(&path).unwrap(), 200_000);
    assert_eq!(std::fs::read(&path).unwrap(), b"{}\n");
    assert_eq!(
        std::fs::read_to_string(&aside).unwrap(),
        format!("{{\"na{long_tail}")
    );
}

/// Through the service, under `--ack queued`: while the disk is full, /health is 503 `storage unavailable`,
/// /ingest is 503 `{"error":"storage unavailable: ..."}` (with Retry-After once encoded),
/// /stats says storage_ok false; after recovery all is 200/202 again.
#[test]
fn service_answers_503_while_storage_fails() {
    let dir = tempfile::tempdir().unwrap();
    let disk = Disk::new();
    let config = Config {
        data_dir: dir.path().to_path_buf(),
        ack: Ack::Queued,
        ..Config::default()
    };
    let service = Service::open_with("test", &config, |dir, stats| disk.open(dir, stats)).unwrap();
    let event = br#"{"name":"a","value":1}"#;
    assert_eq!(request(&service, "POST", "/ingest", event).status, 202);
    let stats = Arc::clone(service.stats());
    wait_until("stored", || stats.events_stored.load(Relaxed) == 1);
    let stats_json = text(&request(&service, "GET", "/stats", b""));
    assert!(
        stats_json.contains(r#""events_lost":0"#)
            && stats_json.contains(r#""ack":"queued","storage_ok":true"#),
        "{stats_json}"
    );

    disk.limit.store(0, Relaxed);
    // The writer notices on its next write: this batch is acknowledged, then kept.
    assert_eq!(request(&service, "POST", "/ingest", event).status, 202);
    wait_until("storage_ok false", || !stats.storage_ok.load(Relaxed));
    let health = request(&service, "GET", "/health", b"");
    assert_eq!(
        (health.status, text(&health).as_str()),
        (503, "storage unavailable")
    );
    let refused = request(&service, "POST", "/ingest", event);
    assert_eq!(refused.status, 503);
    assert!(
        text(&refused).starts_with(r#"{"error":"storage unavailable: "#),
        "{}",
        text(&refused)
    );
    let mut encoded = Vec::new();
    ingest_http::response::encode(&mut encoded, &refused, false, false);
    assert!(
        String::from_utf8_lossy(&encoded).contains("\r\nRetry-After: 1\r\n"),
        "{}",
        String::from_utf8_lossy(&encoded)
    );
    assert!(text(&request(&service, "GET", "/stats", b"")).contains(r#""storage_ok":false"#));

    disk.limit.store(u64::MAX, Relaxed);
    wait_until("storage_ok true", || stats.storage_ok.load(Relaxed));
    assert_eq!(request(&service, "GET", "/health", b"").status, 200);
    assert_eq!(request(&service, "POST", "/ingest", event).status, 202);
    service.finish().unwrap();
    assert_eq!(stats.events_stored.load(Relaxed), 3);
    assert_eq!(stats.events_lost.load(Relaxed), 0);
    assert_eq!(whole_lines(&dir.path().join(LOG_FILE)).len(), 3);
}

/// A sink that panics on its first write, standing in for a bug in the writer.
struct PanickingSink;

impl LogSink for PanickingSink {
    fn append(&mut self, _: &[u8]) -> io::Result<usize> {
        panic!("injected writer panic (expected by this test)");
    }

    fn truncate(&mut self, _: u64) -> io::Result<()> {
        Ok(())
    }

    fn sync(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// If the writer thread dies, appends are refused (503) rather than queued for nobody, the
/// batch it was writing counts as lost, and finish reports the failure.
#[test]
fn writer_panic_refuses_appends_and_counts_lost() {
    let dir = tempfile::tempdir().unwrap();
    let stats = Arc::new(Stats::new("test", Ack::Queued));
    let log = EventLog::open_with_sink(dir.path(), Arc::clone(&stats), |_| Box::new(PanickingSink))
        .unwrap();
    let (lines, n) = batch(0, 3);
    log.append(lines, n).unwrap();
    wait_until("storage_ok false", || !stats.storage_ok.load(Relaxed));
    let (lines, n) = batch(3, 1);
    let refused = log.append(lines, n).unwrap_err();
    assert!(StorageUnavailable::of(&refused).is_some(), "{refused}");
    assert_eq!(stats.events_lost.load(Relaxed), 3);
    assert!(log.finish().is_err());
}
