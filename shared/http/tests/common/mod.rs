//! A tiny handler and helpers shared by the integration tests.
#![allow(dead_code)]

use std::cell::{Cell, RefCell};
use std::time::Instant;

use ingest_http::{Body, Conn, Handler, Limits, Pending, Reply, RequestHead, Response};

/// Answers `200` with `METHOD PATH BODY-LENGTH` as its body; `/reject` is refused at the head
/// with `404`; `/close` asks to close; `/later` answers later, `202` with the same body, once
/// `released` reaches its ticket (tickets count from 1). Records every counted status and byte.
#[derive(Default)]
pub struct Echo {
    /// Tickets handed out to `/later` requests so far.
    pub tickets: Cell<u64>,
    /// `/later` requests with a ticket up to this are answered by `poll_pending`.
    pub released: Cell<u64>,
    pub limits: Limits,
    pub statuses: RefCell<Vec<u16>>,
    pub bytes_read: Cell<u64>,
    pub bytes_written: Cell<u64>,
    pub bodies: RefCell<Vec<Vec<u8>>>,
}

impl Echo {
    pub fn with_limits(limits: Limits) -> Echo {
        Echo {
            limits,
            ..Echo::default()
        }
    }
}

impl Handler for Echo {
    fn limits(&self) -> &Limits {
        &self.limits
    }

    fn on_head(&self, head: &RequestHead<'_>) -> Option<Response> {
        (head.path == "/reject").then(|| Response::error(404, "no such path"))
    }

    fn on_request(&self, head: &RequestHead<'_>, body: &[u8]) -> Reply {
        self.bodies.borrow_mut().push(body.to_vec());
        let text = format!("{} {} {}", head.method, head.path, body.len());
        if head.path == "/later" {
            self.tickets.set(self.tickets.get() + 1);
            return Reply::Later(Pending {
                ticket: Some(self.tickets.get()),
                count: 0,
                work: text.into_bytes(),
            });
        }
        Reply::Now(Response {
            status: 200,
            content_type: "text/plain",
            allow: None,
            body: Body::Owned(text.into_bytes()),
            close: head.path == "/close",
        })
    }

    fn poll_pending(&self, pending: &mut Pending) -> Option<Response> {
        (pending.ticket? <= self.released.get()).then(|| Response {
            status: 202,
            content_type: "text/plain",
            allow: None,
            body: Body::Owned(std::mem::take(&mut pending.work)),
            close: false,
        })
    }

    fn on_response(&self, status: u16) {
        self.statuses.borrow_mut().push(status);
    }

    fn on_bytes(&self, read: u64, written: u64) {
        self.bytes_read.set(self.bytes_read.get() + read);
        self.bytes_written.set(self.bytes_written.get() + written);
    }
}

/// The output with `Date` lines removed (their value changes every second).
pub fn strip_date(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes)
        .split("\r\n")
        .filter(|line| !line.starts_with("Date: "))
        .collect::<Vec<_>>()
        .join("\r\n")
}

/// Drains a connection's output as a writer would, returning it without `Date` lines.
pub fn take_output(conn: &mut Conn, now: Instant, handler: &Echo) -> String {
    let out = conn.output().to_vec();
    conn.on_written(out.len(), now, handler);
    strip_date(&out)
}

/// Feeds `chunks` to a new connection one after another, writing all output after each.
pub fn feed(chunks: &[&[u8]], handler: &Echo) -> (String, Conn) {
    let now = Instant::now();
    let mut conn = Conn::with_limits(now, &handler.limits);
    let mut out = String::new();
    for chunk in chunks {
        conn.on_read(chunk, now, handler);
        out += &take_output(&mut conn, now, handler);
    }
    (out, conn)
}

/// Everything the server answers to `request` sent in one read.
pub fn answer(request: &[u8]) -> String {
    feed(&[request], &Echo::default()).0
}

/// The status codes of every response in `output`, in order.
pub fn statuses(output: &str) -> Vec<u16> {
    output
        .match_indices("HTTP/1.1 ")
        .filter_map(|(i, _)| output.get(i + 9..i + 12)?.parse().ok())
        .collect()
}

/// The status of the first response to `request` sent in one read.
pub fn status(request: &[u8]) -> u16 {
    statuses(&answer(request)).first().copied().unwrap_or(0)
}
