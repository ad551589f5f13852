//! The ingest path allocates once per request (the canonical batch), beyond what serde_json
//! needs for strings with escapes. Counted with a global allocator that counts this thread's
//! allocations.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use ingest_http::Reply;
use ingest_http::{Framing, Handler, RequestHead, Version};
use ingest_service::event_log::Ack;
use ingest_service::events::canonicalize;
use ingest_service::{Config, Service};

struct Counting;

thread_local! {
    static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
}

// SAFETY: every call is forwarded unchanged to the system allocator; the counter is a
// const-initialised thread local without a destructor, which allocates nothing itself.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.with(|n| n.set(n.get() + 1));
        // SAFETY: same contract as ours.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as ours.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.with(|n| n.set(n.get() + 1));
        // SAFETY: same contract as ours.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn allocations_in(f: impl FnOnce()) -> u64 {
    let before = ALLOCATIONS.with(Cell::get);
    f();
    ALLOCATIONS.with(Cell::get) - before
}

const EVENT: &str =
    r#"{"name":"cpu.load","value":0.93,"ts":1732370000123,"tags":{"host":"web-1","dc":"eu"}}"#;

/// canonicalize allocates exactly once (its output) for one event, an array and NDJSON.
#[test]
fn canonicalize_allocates_once() {
    let array = format!("[{}]", vec![EVENT; 1000].join(","));
    let ndjson = vec![r#"{"name":"a","value":1}"#; 1000].join("\n");
    for body in [EVENT, array.as_str(), ndjson.as_str()] {
        let mut batch = None;
        let n = allocations_in(|| batch = Some(canonicalize(body.as_bytes(), 7).unwrap()));
        assert_eq!(n, 1, "{}", &body[..40.min(body.len())]);
        drop(batch);
    }
}

/// A whole POST /ingest through the Handler (validate, queue, 202 under `--ack queued`)
/// allocates once: the batch's lines.
#[test]
fn ingest_request_allocates_once() {
    let dir = tempfile::tempdir().unwrap();
    let config = Config {
        data_dir: dir.path().to_owned(),
        ack: Ack::Queued,
        ..Config::default()
    };
    let service = Service::open("alloc-test", &config).unwrap();
    let head = RequestHead {
        method: "POST",
        target: "/ingest",
        path: "/ingest",
        version: Version::Http11,
        headers: &[],
        framing: Framing::Length(EVENT.len() as u64),
        keep_alive: true,
        expect_continue: false,
    };
    for _ in 0..3 {
        let n = allocations_in(|| {
            assert!(service.on_head(&head).is_none());
            let Reply::Now(response) = service.on_request(&head, EVENT.as_bytes()) else {
                panic!("--ack queued answers at once");
            };
            assert_eq!(response.status, 202);
            service.on_response(response.status);
        });
        assert_eq!(n, 1);
    }
    service.finish().unwrap();
}
