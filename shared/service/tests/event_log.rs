//! The EventLog's writer thread: concurrent appends, group commit, finish, reopen.

use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;

use ingest_service::event_log::{Ack, LOG_FILE};
use ingest_service::events::canonicalize;
use ingest_service::{EventLog, Stats};

/// 8 threads append 10,000 one-event batches each; after finish the file holds exactly
/// 80,000 valid canonical lines, each thread's in order, and events_stored says so.
#[test]
fn concurrent_appends_are_all_stored() {
    let dir = tempfile::tempdir().unwrap();
    let stats = Arc::new(Stats::new("test", Ack::Queued));
    let log = Arc::new(EventLog::open(dir.path(), Arc::clone(&stats)).unwrap());
    let threads: Vec<_> = (0..8u64)
        .map(|t| {
            let log = Arc::clone(&log);
            std::thread::spawn(move || {
                for i in 0..10_000u64 {
                    let body = format!(r#"{{"name":"t{t}","value":{i},"ts":{i}}}"#);
                    let batch = canonicalize(body.as_bytes(), 0).unwrap();
                    log.append(batch.lines, batch.events).unwrap();
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    log.finish().unwrap();
    assert_eq!(stats.events_stored.load(Relaxed), 80_000);

    let text = std::fs::read_to_string(dir.path().join(LOG_FILE)).unwrap();
    let mut next = [0u64; 8];
    let mut lines = 0;
    for line in text.lines() {
        let event: serde_json::Value = serde_json::from_str(line).unwrap();
        let t: usize = event["name"].as_str().unwrap()[1..].parse().unwrap();
        assert_eq!(
            event["ts"].as_u64(),
            Some(next[t]),
            "thread {t} out of order"
        );
        next[t] += 1;
        lines += 1;
    }
    assert_eq!(lines, 80_000);
    assert!(text.ends_with('\n'));
}

/// Reopening the same data dir appends after what is there; it never truncates.
#[test]
fn reopening_appends() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("nested/data");
    for round in 0..3u64 {
        let stats = Arc::new(Stats::new("test", Ack::Queued));
        let log = EventLog::open(&data_dir, stats).unwrap();
        let body = format!(r#"{{"name":"r","value":{round},"ts":1}}"#);
        let batch = canonicalize(body.as_bytes(), 0).unwrap();
        log.append(batch.lines, 1).unwrap();
        log.finish().unwrap();
    }
    let text = std::fs::read_to_string(data_dir.join(LOG_FILE)).unwrap();
    assert_eq!(
        text,
        "{\"name\":\"r\",\"value\":0.0,\"ts\":1}\n{\"name\":\"r\",\"value\":1.0,\"ts\":1}\n{\"name\":\"r\",\"value\":2.0,\"ts\":1}\n"
    );
}

/// After finish, appends fail (no 202 for an event that would never be written) and a
/// second finish is a no-op.
#[test]
fn append_after_finish_fails() {
    let dir = tempfile::tempdir().unwrap();
    let log = EventLog::open(dir.path(), Arc::new(Stats::new("test", Ack::Queued))).unwrap();
    log.finish().unwrap();
    assert!(log.append(b"{}\n".to_vec(), 1).is_err());
    log.finish().unwrap();
}

/// 64 MiB from 4 threads, four times the queue's byte bound: appenders that find the queue
/// full wait for room, and nothing is lost or torn.
#[test]
fn backpressure_blocks_then_resumes() {
    let dir = tempfile::tempdir().unwrap();
    let stats = Arc::new(Stats::new("test", Ack::Queued));
    let log = Arc::new(EventLog::open(dir.path(), Arc::clone(&stats)).unwrap());
    let big = vec![b'x'; 1 << 20];
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let (log, big) = (Arc::clone(&log), big.clone());
            std::thread::spawn(move || {
                for _ in 0..16 {
                    let mut line = big.clone();
                    line.push(b'\n');
                    log.append(line, 1).unwrap();
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    log.finish().unwrap();
    assert_eq!(stats.events_stored.load(Relaxed), 64);
    let len = std::fs::metadata(dir.path().join(LOG_FILE)).unwrap().len();
    assert_eq!(len, 64 * ((1 << 20) + 1));
}

/// A data dir that cannot be created is an error, not a panic.
#[test]
fn unusable_data_dir_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("not-a-dir");
    std::fs::write(&file, b"").unwrap();
    assert!(EventLog::open(
        &file.join("data"),
        Arc::new(Stats::new("test", Ack::Queued))
    )
    .is_err());
}
