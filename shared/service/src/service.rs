//! [`Service`]: the routes of SPEC.md behind `ingest_http::Handler`, shared by every phase.
//!
//! | request | answer |
//! |---|---|
//! | `POST /ingest` | `202 {"accepted":N}` once the [`EventLog`] has the batch queued, written or synced (`--ack`); `503` while storage fails |
//! | `GET`/`HEAD /health` | `200 text/plain ok`; `503 storage unavailable` while the log's last write failed |
//! | `GET`/`HEAD /stats` | `200 application/json`, see [`Stats::to_json`] |
//! | other path | `404` |
//! | known path, other method | `405` with `Allow` |
//!
//! Decisions that need no body (`404`, `405`, `411`) are made in [`Handler::on_head`], so the
//! connection never reads a body it would throw away, and a client sending
//! `Expect: 100-continue` gets its answer at once.
//!
//! Under `--ack written` and `--ack synced`, `POST /ingest` answers [`Reply::Later`]: the
//! connection waits while the writer works, and [`Handler::poll_pending`] gives the `202` (or
//! the `503`) once the event log reports the batch's outcome. The phase's loop learns when to
//! ask from [`Service::watch`] (event loops) or [`Service::wait_for_answer`] (a thread that
//! may block). A batch the writer's full queue refused waits the same way, in every mode.

use std::io;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use ingest_http::response::InlineBody;
use ingest_http::{Body, Conn, Framing, Handler, Limits, Pending, Reply, RequestHead, Response};

use crate::event_log::{Ack, LogWatch, Refused, StorageUnavailable};
use crate::{events, Config, ConnectionGuard, EventLog, Stats};

/// The ingestion service: routing, validation, the event log and the counters. One value is
/// shared (behind an `Arc`) by every connection of a server.
pub struct Service {
    /// Counters for `/stats`, shared with the log's writer and with [`ConnectionGuard`]s.
    stats: Arc<Stats>,
    /// Where accepted batches go.
    log: EventLog,
    /// What every connection enforces (from the CLI).
    limits: Limits,
    /// `--max-conns`, checked by [`Service::try_connection`].
    max_conns: u64,
}

/// The routes, decided from the path alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Route {
    Ingest,
    Health,
    Stats,
}

impl Route {
    fn of(path: &str) -> Option<Route> {
        match path {
            "/ingest" => Some(Route::Ingest),
            "/health" => Some(Route::Health),
            "/stats" => Some(Route::Stats),
            _ => None,
        }
    }

    /// The `Allow` header value: the methods this route serves.
    fn allow(self) -> &'static str {
        match self {
            Route::Ingest => "POST",
            Route::Health | Route::Stats => "GET, HEAD",
        }
    }

    fn allows(self, method: &str) -> bool {
        match self {
            Route::Ingest => method == "POST",
            Route::Health | Route::Stats => method == "GET" || method == "HEAD",
        }
    }
}

impl Service {
    /// Opens the event log in `config.data_dir` (creating the directory) and starts its
    /// writer. `phase` names the binary in `/stats` and the logs.
    pub fn open(phase: &'static str, config: &Config) -> io::Result<Service> {
        Service::open_with(phase, config, EventLog::open)
    }

    /// [`Service::open`] with the event log opened by `open_log` (given the data dir and the
    /// counters): tests pass [`EventLog::open_with_sink`] to make the disk fail on demand.
    pub fn open_with(
        phase: &'static str,
        config: &Config,
        open_log: impl FnOnce(&std::path::Path, Arc<Stats>) -> io::Result<EventLog>,
    ) -> io::Result<Service> {
        let stats = Arc::new(Stats::new(phase, config.ack));
        let log = open_log(&config.data_dir, Arc::clone(&stats))?;
        tracing::info!(path = %log.path().display(), ack = config.ack.as_str(), "event log open");
        Ok(Service {
            stats,
            log,
            limits: config.limits(),
            max_conns: config.max_conns as u64,
        })
    }

    /// The counters (for phases that report them, and for tests).
    pub fn stats(&self) -> &Arc<Stats> {
        &self.stats
    }

    /// A wake-up for an event loop whose connections wait on the event log: see [`LogWatch`]
    /// and [`EventLog::watch`]. `wake` runs on the writer thread and must not block.
    pub fn watch(&self, wake: impl Fn() + Send + Sync + 'static) -> LogWatch {
        self.log.watch(wake)
    }

    // ANCHOR: wait_for_answer
    /// For a thread that may block (phases 1 and 2): waits until `conn`'s waiting request is
    /// answered ([`Conn::poll_pending`] returned `true`), sleeping on the event log between
    /// looks. Returns at once if the connection does not wait.
    pub fn wait_for_answer(&self, conn: &mut Conn) {
        loop {
            // Read before looking, so progress made in between is not slept through.
            let seen = self.log.progress();
            if !conn.is_waiting() || conn.poll_pending(Instant::now(), self) {
                return;
            }
            self.log.wait_progress(seen);
        }
    }
    // ANCHOR_END: wait_for_answer

    /// Admits a new connection, or `None` when `--max-conns` connections are open. On `None`
    /// the phase writes [`Service::overloaded_response`] and closes the socket; the rejection
    /// is already counted (`connections_rejected`, `responses_5xx`). Keep the guard for the
    /// life of the connection: dropping it is what frees the slot.
    pub fn try_connection(&self) -> Option<ConnectionGuard> {
        // Compare-and-swap rather than add-then-check, so `connections_open` never reads
        // above the limit, even for an instant, in `/stats`.
        let admitted = self
            .stats
            .connections_open
            .fetch_update(Relaxed, Relaxed, |open| {
                (open < self.max_conns).then_some(open + 1)
            })
            .is_ok();
        if admitted {
            Some(ConnectionGuard::admitted(Arc::clone(&self.stats)))
        } else {
            self.stats.connection_refused();
            None
        }
    }

    /// The complete bytes of the `503` a rejected connection gets, `Connection: close`
    /// included. Written by the phase directly to the socket (no `Conn` exists for it),
    /// best-effort and without waiting.
    pub fn overloaded_response(&self) -> Vec<u8> {
        let mut response = Response::error(
            503,
            "the server is at its connection limit; retry in a moment",
        );
        response.close = true;
        let mut out = Vec::with_capacity(256);
        ingest_http::response::encode(&mut out, &response, false, true);
        out
    }

    /// Drains the event log, `fsync`s it, and logs the final counters. Call it once the
    /// phase has stopped serving. Takes `&self` so that a phase may finish even while a
    /// straggling thread still holds an `Arc<Service>`; that thread's later appends fail
    /// (`500`), so no event is acknowledged after the file was synced.
    pub fn finish(&self) -> io::Result<()> {
        let result = self.log.finish();
        let s = &self.stats;
        tracing::info!(
            phase = s.phase,
            uptime_ms = s.uptime_ms(),
            connections_total = s.connections_total.load(Relaxed),
            connections_rejected = s.connections_rejected.load(Relaxed),
            requests_total = s.requests_total.load(Relaxed),
            responses_2xx = s.responses_2xx.load(Relaxed),
            responses_4xx = s.responses_4xx.load(Relaxed),
            responses_5xx = s.responses_5xx.load(Relaxed),
            events_accepted = s.events_accepted.load(Relaxed),
            events_stored = s.events_stored.load(Relaxed),
            events_lost = s.events_lost.load(Relaxed),
            bytes_read = s.bytes_read.load(Relaxed),
            bytes_written = s.bytes_written.load(Relaxed),
            "final counters"
        );
        result
    }

    // ANCHOR: ingest
    /// `POST /ingest`: validate, canonicalise, queue; answer now under `--ack queued`, later
    /// (when the writer reports the batch done) otherwise. See [`events`] for the body rules.
    fn ingest(&self, body: &[u8]) -> Reply {
        let batch = match events::canonicalize(body, now_ms()) {
            Ok(batch) => batch,
            Err(invalid) => return Response::error(400, &invalid.to_string()).into(),
        };
        let mut pending = Pending {
            ticket: None,
            count: batch.events,
            work: batch.lines,
        };
        match self.poll_pending(&mut pending) {
            Some(response) => Reply::Now(response),
            None => Reply::Later(pending),
        }
    }
    // ANCHOR_END: ingest

    /// The `202` for `events` acknowledged events. Under `--ack queued` they are counted as
    /// accepted here; under `written` and `synced` the writer counted them when it wrote them,
    /// so that a client that went away while its batch was written (its answer never polled
    /// for) still leaves `events_accepted` equal to the lines in the file.
    fn accepted(&self, events: u64) -> Response {
        if self.stats.ack == Ack::Queued {
            self.stats.events_accepted.fetch_add(events, Relaxed);
        }
        let mut digits = itoa::Buffer::new();
        let mut text = [0u8; 40];
        let parts: [&[u8]; 3] = [b"{\"accepted\":", digits.format(events).as_bytes(), b"}"];
        let mut len = 0;
        for part in parts {
            text[len..len + part.len()].copy_from_slice(part);
            len += part.len();
        }
        let body = InlineBody::new(&text[..len]).expect("{\"accepted\":N} fits inline");
        Response {
            status: 202,
            content_type: "application/json",
            allow: None,
            body: Body::Inline(body),
            close: false,
        }
    }
}

/// The `503` for a batch the event log could not take or could not write.
fn unavailable(e: &StorageUnavailable) -> Response {
    // The writer already logged the failure once; a line per refused request would flood
    // the log while the disk is full. The encoder adds `Retry-After: 1` to every 503: the
    // writer probes about that often.
    tracing::debug!(error = %e, "batch refused");
    Response::error(503, &e.to_string())
}

impl std::fmt::Debug for Service {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Service")
            .field("phase", &self.stats().phase)
            .finish()
    }
}

impl Handler for Service {
    fn limits(&self) -> &Limits {
        &self.limits
    }

    fn on_head(&self, head: &RequestHead<'_>) -> Option<Response> {
        let Some(route) = Route::of(head.path) else {
            return Some(not_found(head.path));
        };
        if !route.allows(head.method) {
            return Some(method_not_allowed(route, head.method));
        }
        if route == Route::Ingest && head.framing == Framing::None {
            return Some(Response::error(
                411,
                "POST /ingest needs a body with Content-Length or Transfer-Encoding: chunked",
            ));
        }
        None
    }

    fn on_request(&self, head: &RequestHead<'_>, body: &[u8]) -> Reply {
        // `on_head` already answered anything else, but a handler must not trust its caller.
        let response = match Route::of(head.path) {
            Some(route) if !route.allows(head.method) => method_not_allowed(route, head.method),
            Some(Route::Ingest) => return self.ingest(body),
            Some(Route::Health) if !self.stats.storage_ok.load(Relaxed) => {
                Response::fixed(503, "text/plain", b"storage unavailable")
            }
            Some(Route::Health) => Response::fixed(200, "text/plain", b"ok"),
            Some(Route::Stats) => Response {
                status: 200,
                content_type: "application/json",
                allow: None,
                body: Body::Owned(self.stats.to_json()),
                close: false,
            },
            None => not_found(head.path),
        };
        Reply::Now(response)
    }

    // ANCHOR: poll_pending
    /// A batch waiting for room in the writer's queue is handed over when there is room; a
    /// queued one is answered when the writer reports its outcome. Never blocks.
    fn poll_pending(&self, pending: &mut Pending) -> Option<Response> {
        let ticket = match pending.ticket {
            Some(ticket) => ticket,
            None => match self.log.try_append(&mut pending.work, pending.count) {
                // Handed to the writer is all `queued` promises.
                Ok(_) if self.stats.ack == Ack::Queued => {
                    return Some(self.accepted(pending.count))
                }
                Ok(ticket) => *pending.ticket.insert(ticket),
                Err(Refused::Full) => return None,
                Err(Refused::Unavailable(e)) => return Some(unavailable(&e)),
                Err(Refused::Closed) => {
                    tracing::error!("batch refused: the event log is closed");
                    return Some(Response::error(
                        500,
                        "the server cannot store events right now; nothing of this batch was stored",
                    ));
                }
            },
        };
        match self.log.outcome(ticket)? {
            Ok(()) => Some(self.accepted(pending.count)),
            Err(e) => Some(unavailable(&e)),
        }
    }
    // ANCHOR_END: poll_pending

    fn on_response(&self, status: u16) {
        self.stats.count_response(status);
    }

    fn on_bytes(&self, read: u64, written: u64) {
        if read > 0 {
            self.stats.bytes_read.fetch_add(read, Relaxed);
        }
        if written > 0 {
            self.stats.bytes_written.fetch_add(written, Relaxed);
        }
    }
}

fn not_found(path: &str) -> Response {
    let shown: String = path.chars().take(100).collect();
    Response::error(
        404,
        &format!("no such path: {shown}; the paths are /ingest, /health and /stats"),
    )
}

fn method_not_allowed(route: Route, method: &str) -> Response {
    let shown: String = method.chars().take(32).collect();
    let mut response = Response::error(
        405,
        &format!("method {shown} is not allowed here; use {}", route.allow()),
    );
    response.allow = Some(route.allow());
    response
}

/// Milliseconds since the Unix epoch: the `ts` of events that carry none. A clock set before
/// 1970 stamps 0 rather than failing the request.
fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}
