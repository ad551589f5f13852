//! [`Stats`]: the counters behind `GET /stats` (SPEC.md, "/stats").
//!
//! Every counter is an `AtomicU64` updated with `Relaxed` ordering. Relaxed is enough because
//! no counter guards other memory: nobody reads a counter and then relies on seeing some
//! other write. Each counter on its own is exact (atomic increments never lose updates); a
//! `/stats` reply is simply not a snapshot of all counters at one instant, which no reader of
//! it could rely on anyway while requests are in flight.
//!
//! The counters are not padded to separate cache lines: every request touches
//! `requests_total` and `bytes_*`, so the contention is on the same counters (true sharing),
//! which padding cannot help. A server at millions of requests per second would keep
//! per-thread counters and sum them on `/stats`; the bench shows this is not our bottleneck.

use std::sync::atomic::Ordering::Relaxed;
use std::sync::atomic::{AtomicBool, AtomicU64};
use std::sync::Arc;
use std::time::Instant;

use crate::event_log::Ack;

/// The service's counters, shared by every connection and the event log's writer.
#[derive(Debug)]
pub struct Stats {
    /// Which phase is serving (`p1-blocking`, ...), so a `/stats` reply says what it measured.
    pub phase: &'static str,
    /// What a `202` promises (`--ack`); the event log follows it, `/stats` reports it.
    pub ack: Ack,
    /// When the service started, for `uptime_ms`.
    pub started: Instant,
    /// Connections accepted and not yet closed (see [`ConnectionGuard`]).
    pub connections_open: AtomicU64,
    /// Connections accepted since start, including rejected ones.
    pub connections_total: AtomicU64,
    /// Connections turned away with `503` (`--max-conns` reached, or a phase shedding load).
    pub connections_rejected: AtomicU64,
    /// Final responses sent (each also counted in one of `responses_*`).
    pub requests_total: AtomicU64,
    /// Responses with a `2xx` status.
    pub responses_2xx: AtomicU64,
    /// Responses with a `4xx` status.
    pub responses_4xx: AtomicU64,
    /// Responses with a `5xx` status, including `503`s to rejected connections.
    pub responses_5xx: AtomicU64,
    /// Events acknowledged with `202`: under `ack` `queued` counted when handed to the
    /// writer; under `written` and `synced` counted by the writer when it has written (and
    /// synced) them, the moment their `202` is due, even if a client left before reading it.
    pub events_accepted: AtomicU64,
    /// Events the writer has written to the log file. Equals `events_accepted` once the
    /// writer has caught up, and after a graceful shutdown.
    pub events_stored: AtomicU64,
    /// Events acknowledged with `202` and then never written: the writer gave up on them at
    /// shutdown while storage was failing, or its thread died (SPEC.md, "Storage").
    pub events_lost: AtomicU64,
    /// `fdatasync` calls the writer made (`--ack synced`: one per group), so a reader can
    /// divide `events_stored` by it and see group commit at work.
    pub fdatasyncs: AtomicU64,
    /// False while the event log's last write failed; `/health` then answers `503`.
    pub storage_ok: AtomicBool,
    /// Bytes read from clients.
    pub bytes_read: AtomicU64,
    /// Bytes written to clients.
    pub bytes_written: AtomicU64,
}

impl Stats {
    /// Zeroed counters for `phase` serving in `ack` mode, with the uptime clock starting now.
    pub fn new(phase: &'static str, ack: Ack) -> Stats {
        Stats {
            phase,
            ack,
            started: Instant::now(),
            connections_open: AtomicU64::new(0),
            connections_total: AtomicU64::new(0),
            connections_rejected: AtomicU64::new(0),
            requests_total: AtomicU64::new(0),
            responses_2xx: AtomicU64::new(0),
            responses_4xx: AtomicU64::new(0),
            responses_5xx: AtomicU64::new(0),
            events_accepted: AtomicU64::new(0),
            events_stored: AtomicU64::new(0),
            events_lost: AtomicU64::new(0),
            fdatasyncs: AtomicU64::new(0),
            storage_ok: AtomicBool::new(true),
            bytes_read: AtomicU64::new(0),
            bytes_written: AtomicU64::new(0),
        }
    }

    /// Counts one final response by its status class. `1xx` responses are not counted.
    pub fn count_response(&self, status: u16) {
        let class = match status {
            200..=299 => &self.responses_2xx,
            400..=499 => &self.responses_4xx,
            500..=599 => &self.responses_5xx,
            _ => return,
        };
        self.requests_total.fetch_add(1, Relaxed);
        class.fetch_add(1, Relaxed);
    }

    /// Counts a connection turned away with `503`: by [`crate::Service::try_connection`] at
    /// `--max-conns`, or by a phase shedding load for a reason of its own (p2's full queue,
    /// after dropping the connection's guard, which already counted it in
    /// `connections_total`). The `503` is written straight to the socket, never through
    /// `Conn`, so it is counted here rather than by `Handler::on_response`.
    pub fn connection_shed(&self) {
        self.connections_rejected.fetch_add(1, Relaxed);
        self.responses_5xx.fetch_add(1, Relaxed);
    }

    /// Counts a connection accepted from the kernel and turned away with `503` before it was
    /// ever admitted (no [`crate::ConnectionGuard`] counted it): `--max-conns`, or a reactor
    /// out of descriptors answering from its reserve.
    pub fn connection_refused(&self) {
        self.connections_total.fetch_add(1, Relaxed);
        self.connection_shed();
    }

    /// Milliseconds since the service started.
    pub fn uptime_ms(&self) -> u64 {
        self.started.elapsed().as_millis() as u64
    }

    /// The counters as the JSON object `GET /stats` returns, keys in a fixed order.
    pub fn to_json(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(512);
        out.extend_from_slice(b"{\"phase\":");
        // Serialising a `&str` into a `Vec` cannot fail.
        serde_json::to_writer(&mut out, self.phase).expect("writing to a Vec cannot fail");
        let fields: [(&str, u64); 15] = [
            ("uptime_ms", self.uptime_ms()),
            ("connections_open", self.connections_open.load(Relaxed)),
            ("connections_total", self.connections_total.load(Relaxed)),
            (
                "connections_rejected",
                self.connections_rejected.load(Relaxed),
            ),
            ("requests_total", self.requests_total.load(Relaxed)),
            ("responses_2xx", self.responses_2xx.load(Relaxed)),
            ("responses_4xx", self.responses_4xx.load(Relaxed)),
            ("responses_5xx", self.responses_5xx.load(Relaxed)),
            ("events_accepted", self.events_accepted.load(Relaxed)),
            ("events_stored", self.events_stored.load(Relaxed)),
            ("events_lost", self.events_lost.load(Relaxed)),
            ("fdatasyncs", self.fdatasyncs.load(Relaxed)),
            ("bytes_read", self.bytes_read.load(Relaxed)),
            ("bytes_written", self.bytes_written.load(Relaxed)),
            ("pid", u64::from(std::process::id())),
        ];
        let mut digits = itoa::Buffer::new();
        for (key, value) in fields {
            out.extend_from_slice(b",\"");
            out.extend_from_slice(key.as_bytes());
            out.extend_from_slice(b"\":");
            out.extend_from_slice(digits.format(value).as_bytes());
        }
        out.extend_from_slice(b",\"ack\":\"");
        out.extend_from_slice(self.ack.as_str().as_bytes());
        out.extend_from_slice(b"\",\"storage_ok\":");
        let storage_ok: &[u8] = if self.storage_ok.load(Relaxed) {
            b"true"
        } else {
            b"false"
        };
        out.extend_from_slice(storage_ok);
        out.push(b'}');
        out
    }
}

/// One open connection, counted for as long as this value lives. Created by
/// [`crate::Service::try_connection`]; a phase keeps it in its per-connection state, so the
/// count goes down on every path that drops a connection (close, error, panic unwinding).
#[derive(Debug)]
pub struct ConnectionGuard {
    stats: Arc<Stats>,
}

impl ConnectionGuard {
    /// Counts a connection that was already admitted into `connections_open`.
    pub(crate) fn admitted(stats: Arc<Stats>) -> ConnectionGuard {
        stats.connections_total.fetch_add(1, Relaxed);
        ConnectionGuard { stats }
    }
}

impl Drop for ConnectionGuard {
    fn drop(&mut self) {
        self.stats.connections_open.fetch_sub(1, Relaxed);
    }
}
