//! Validate and append one ~100-byte event, with the writer thread running, into a temp dir:
//! the per-request cost of `POST /ingest` beyond HTTP.
//!
//! Run: `cargo bench -p ingest-service --bench ingest`

use std::sync::Arc;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use ingest_service::event_log::Ack;
use ingest_service::events::canonicalize;
use ingest_service::{EventLog, Stats};

const EVENT: &[u8] =
    br#"{"name":"cpu.load","value":0.93,"ts":1732370000123,"tags":{"host":"web-1","dc":"eu-1"}}"#;

fn ingest(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("temp dir");
    let log =
        EventLog::open(dir.path(), Arc::new(Stats::new("bench", Ack::Queued))).expect("event log");
    let mut group = c.benchmark_group("ingest");
    group.throughput(Throughput::Elements(1));
    group.bench_function("canonicalize", |b| {
        b.iter(|| canonicalize(std::hint::black_box(EVENT), 1).expect("valid"))
    });
    group.bench_function("canonicalize+append", |b| {
        b.iter(|| {
            let batch = canonicalize(std::hint::black_box(EVENT), 1).expect("valid");
            log.append(batch.lines, batch.events).expect("append");
        })
    });
    group.finish();
    log.finish().expect("finish");
}

criterion_group!(benches, ingest);
criterion_main!(benches);
