//! Every check, grouped by the part of SPEC.md it covers, and the two lists that name them.
//!
//! Adding a check: write the `fn(&Ctx) -> Outcome` in the module for its part of SPEC, add
//! it to [`ALL`] (or [`SCALE`]) below, and add its name to the list in `phase_tests!` (or
//! `scale_tests!`) in `lib.rs`; a unit test fails until the lists agree.

use crate::check::{Check, Needs};

pub mod backpressure;
pub mod clients;
pub mod connection;
pub mod durability;
pub mod events;
pub mod framing;
pub mod head;
pub mod lifecycle;
pub mod limits;
pub mod routes;
pub mod scale;
pub mod storage;

/// Builds a [`Check`] named after its function, so a test name and a report line match it.
macro_rules! check {
    ($module:ident :: $name:ident, $needs:ident, $doc:literal) => {
        Check {
            name: stringify!($name),
            doc: $doc,
            needs: Needs::$needs,
            run: $module::$name,
        }
    };
}

/// The checks every phase must pass, in the order the binary runs them.
pub const ALL: &[Check] = &[
    check!(
        routes::health_get,
        Server,
        "GET /health is 200 text/plain `ok`"
    ),
    check!(
        routes::head_has_length_but_no_body,
        Server,
        "HEAD /health and /stats: Content-Length, no body"
    ),
    check!(
        routes::stats_has_every_field,
        Server,
        "GET /stats is JSON with every counter of SPEC"
    ),
    check!(
        routes::unknown_path_404,
        Server,
        "unknown path: 404 with a JSON error"
    ),
    check!(
        routes::wrong_method_405_with_allow,
        Server,
        "wrong method: 405 with Allow"
    ),
    check!(
        routes::query_string_ignored,
        Server,
        "the query string is ignored for routing"
    ),
    check!(
        routes::absolute_form_target,
        Server,
        "absolute-form target is routed by its path"
    ),
    check!(
        routes::empty_lines_before_request_skipped,
        Server,
        "CRLFs before a request line are skipped"
    ),
    check!(
        events::ingest_single_array_ndjson,
        Server,
        "one event, an array, NDJSON: 202 with counts"
    ),
    check!(
        events::event_limits_accepted,
        Server,
        "events at the edge of every rule are valid"
    ),
    check!(
        events::event_rules_rejected,
        Server,
        "each invalid event is 400 and stores nothing"
    ),
    check!(
        events::batch_is_atomic,
        Server,
        "one bad event rejects the batch, naming `event 3`"
    ),
    check!(
        events::batch_size_limit,
        Server,
        "10,000 events accepted, 10,001 rejected"
    ),
    check!(
        events::stored_in_canonical_form,
        Server,
        "the log line is canonical, ts stamped"
    ),
    check!(
        framing::chunked_body_accepted,
        Server,
        "chunked with extensions and trailers is decoded"
    ),
    check!(
        framing::content_length_rules,
        Server,
        "CL+TE, differing CLs, non-digit CL: 400 and close"
    ),
    check!(
        framing::chunk_syntax_rules,
        Server,
        "bad or overflowing chunk size, `5;`: 400 and close"
    ),
    check!(
        framing::transfer_coding_rules,
        Server,
        "unknown coding 501, chunked twice 400"
    ),
    check!(
        framing::post_without_framing_411,
        Server,
        "POST /ingest without framing: 411"
    ),
    check!(
        framing::huge_content_length_413,
        Server,
        "a 10 GiB Content-Length: 413 at once, close"
    ),
    check!(
        framing::max_body_413,
        Spawn,
        "--max-body 4096: 413 by header and while decoding chunks"
    ),
    check!(head::other_version_505, Server, "HTTP/2.0, HTTP/1.2: 505"),
    check!(
        head::malformed_version_400,
        Server,
        "HTTP/1.32, http/1.1, HTTP/1: 400"
    ),
    check!(
        head::host_header_rules,
        Server,
        "HTTP/1.1 without exactly one Host: 400"
    ),
    check!(head::bare_lf_or_cr_400, Server, "a bare LF or CR: 400"),
    check!(
        head::header_syntax_400,
        Server,
        "space before colon, obs-fold, control chars: 400"
    ),
    check!(head::target_over_4k_414, Server, "a target over 4 KiB: 414"),
    check!(head::head_over_8k_431, Server, "a head over 8 KiB: 431"),
    check!(
        head::over_100_headers_431,
        Server,
        "more than 100 headers: 431"
    ),
    check!(
        connection::http11_keep_alive_and_close,
        Server,
        "HTTP/1.1 keeps alive; Connection: close closes"
    ),
    check!(
        connection::http10_close_and_keep_alive,
        Server,
        "HTTP/1.0 closes; keep-alive keeps"
    ),
    check!(
        connection::pipelined_16_in_order,
        Server,
        "16 pipelined requests answered in order"
    ),
    check!(
        connection::one_byte_writes,
        Server,
        "a request written one byte at a time"
    ),
    check!(
        connection::expect_100_continue_sent,
        Server,
        "Expect: 100-continue gets 100 before the body"
    ),
    check!(
        connection::expect_100_not_sent_when_refused,
        Server,
        "no 100 Continue before a 413 or 404"
    ),
    check!(
        limits::header_timeout_408,
        Spawn,
        "--header-timeout 1s: 408 and close"
    ),
    check!(
        limits::idle_timeout_closes_silently,
        Spawn,
        "--idle-timeout 1s: closed without a byte"
    ),
    check!(
        limits::max_conns_503,
        Spawn,
        "--max-conns 4: the 5th gets 503, the 4 are served"
    ),
    check!(
        limits::write_stall_closed,
        Spawn,
        "a client that never reads is closed"
    ),
    check!(
        backpressure::no_read_client,
        Server,
        "50,000 pipelined, unread for 3 s: no deadlock, RSS bounded"
    ),
    check!(
        lifecycle::sigterm_keeps_every_event,
        Spawn,
        "32x500 events, SIGTERM: exit 0, log == events_accepted"
    ),
    check!(
        lifecycle::sigterm_keeps_every_event_synced,
        Spawn,
        "the same under --ack synced"
    ),
    check!(
        lifecycle::sigterm_finishes_request_in_flight,
        Spawn,
        "SIGTERM mid-body: the request completes"
    ),
    check!(
        lifecycle::restart_appends,
        Spawn,
        "a restart appends to the log (SIGTERM, SIGINT)"
    ),
    check!(
        lifecycle::command_line_and_exit_codes,
        Spawn,
        "banner phase, exit 2 on bad flags, 1 on bad port/dir"
    ),
    check!(
        storage::stats_report_storage,
        Server,
        "/stats has events_lost, ack and storage_ok"
    ),
    check!(
        storage::torn_tail_recovered_at_start,
        Spawn,
        "a torn last line moves to events.ndjson.torn at restart"
    ),
    check!(
        storage::torn_tail_recovered_at_start_synced,
        Spawn,
        "the same under --ack synced"
    ),
    check!(
        storage::storage_failure_503_and_recovery,
        Spawn,
        "RLIMIT_FSIZE hit: 503s, storage_ok false, no torn line; then recovery"
    ),
    check!(
        storage::storage_failure_503_and_recovery_synced,
        Spawn,
        "the same under --ack synced"
    ),
    check!(
        durability::ack_mode_in_stats,
        Spawn,
        "/stats ack is --ack's mode; a 202 is already stored (synced: fdatasync'ed)"
    ),
    check!(
        durability::deferred_pipelined_in_order,
        Spawn,
        "POST, GET, POST, GET in one write: in order, stats count both batches"
    ),
    check!(
        durability::kill_9_keeps_acknowledged_written,
        Spawn,
        "--ack written: kill -9 under load loses no acknowledged event"
    ),
    check!(
        durability::kill_9_keeps_acknowledged_synced,
        Spawn,
        "--ack synced: kill -9 under load loses no acknowledged event"
    ),
    check!(
        clients::curl_expect_100_continue,
        Server,
        "curl upload with Expect: 100-continue, no 1 s wait"
    ),
    check!(
        clients::curl_keep_alive_reuse,
        Server,
        "curl reuses one connection for two URLs"
    ),
    check!(
        clients::python_http_client,
        Server,
        "Python http.client keep-alive GET/POST"
    ),
];

/// The checks only the event-driven phases (p3, p4, p5) are expected to pass.
pub const SCALE: &[Check] = &[
    check!(
        scale::five_thousand_idle_connections,
        Spawn,
        "5,000 idle connections, others still served"
    ),
    check!(
        scale::slowloris_does_not_delay_others,
        Spawn,
        "200 slowloris clients do not delay others"
    ),
];
