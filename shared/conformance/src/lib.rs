//! # conformance: the black-box suite every phase must pass
//!
//! SPEC.md says every phase serves exactly the same service. This crate checks that over
//! TCP, with raw bytes in and raw status lines and headers out, knowing nothing of the
//! shared crates: a workshop participant's own server, in any language, can be checked too.
//!
//! # Layout
//!
//! - [`client`]: a raw HTTP/1.1 client that keeps every byte for failure messages.
//! - [`server`]: [`ServerProcess`], a phase binary started on `127.0.0.1:0` with a temporary
//!   data dir, found through its `listening on` line, signalled, restarted, killed on drop.
//! - [`check`]: what a [`Check`] is, its [`Ctx`], and [`run_phase_check`] behind each test.
//! - [`crash`]: the `kill -9` experiment (load, kill mid-flight, read the log back,
//!   restart), shared by the durability checks and the bench.
//! - [`rlimit`]: the open-file limit raised portably (shared with the bench).
//! - [`support`]: shared expectations (`expect_error_and_close`, `/stats`, canonical lines).
//! - [`checks`]: the checks, one module per part of SPEC.md, listed in [`checks::ALL`] and
//!   [`checks::SCALE`].
//!
//! # Use from a phase
//!
//! A phase's `tests/conformance.rs` is one line per list:
//!
//! ```ignore
//! conformance::phase_tests!(env!("CARGO_BIN_EXE_p1-blocking"));
//! conformance::scale_tests!(env!("CARGO_BIN_EXE_p3-reactor")); // event-driven phases only
//! ```
//!
//! Each expands to one `#[test]` per check, named after it, so `cargo test -p p1-blocking`
//! reports `max_conns_503 ... FAILED` rather than one opaque failure.
//!
//! # Use against any server
//!
//! ```text
//! conformance --addr 127.0.0.1:8080 [--data-file data/events.ndjson]
//! conformance --spawn target/debug/p1-blocking [--only NAME] [--scale]
//! conformance --list
//! ```

pub mod check;
pub mod checks;
pub mod client;
pub mod crash;
pub mod rlimit;
pub mod server;
pub mod support;

pub use check::{find_check, run_phase_check, Check, Ctx, Failure, Needs, Outcome};
pub use server::{Options, ServerProcess};

/// Expands to one `#[test]` per check of [`checks::ALL`] against the binary at `$bin`
/// (usually `env!("CARGO_BIN_EXE_<name>")`). Each test starts its own server process.
#[macro_export]
macro_rules! phase_tests {
    ($bin:expr) => {
        $crate::__tests_for!($bin;
            health_get, head_has_length_but_no_body, stats_has_every_field, unknown_path_404,
            wrong_method_405_with_allow, query_string_ignored, absolute_form_target,
            empty_lines_before_request_skipped, ingest_single_array_ndjson,
            event_limits_accepted, event_rules_rejected, batch_is_atomic, batch_size_limit,
            stored_in_canonical_form, chunked_body_accepted, content_length_rules,
            chunk_syntax_rules, transfer_coding_rules, post_without_framing_411,
            huge_content_length_413, max_body_413, other_version_505, malformed_version_400,
            host_header_rules, bare_lf_or_cr_400, header_syntax_400, target_over_4k_414,
            head_over_8k_431, over_100_headers_431, http11_keep_alive_and_close,
            http10_close_and_keep_alive, pipelined_16_in_order, one_byte_writes,
            expect_100_continue_sent, expect_100_not_sent_when_refused, header_timeout_408,
            idle_timeout_closes_silently, max_conns_503, write_stall_closed, no_read_client,
            sigterm_keeps_every_event, sigterm_keeps_every_event_synced,
            sigterm_finishes_request_in_flight, restart_appends, command_line_and_exit_codes,
            stats_report_storage, torn_tail_recovered_at_start, torn_tail_recovered_at_start_synced,
            storage_failure_503_and_recovery, storage_failure_503_and_recovery_synced,
            ack_mode_in_stats, deferred_pipelined_in_order, kill_9_keeps_acknowledged_written,
            kill_9_keeps_acknowledged_synced, curl_expect_100_continue, curl_keep_alive_reuse,
            python_http_client
        );
    };
}

/// Expands to one `#[test]` per check of [`checks::SCALE`]: thousands of idle connections
/// and slowloris clients. For the event-driven phases (p3, p4, p5) only.
#[macro_export]
macro_rules! scale_tests {
    ($bin:expr) => {
        $crate::__tests_for!($bin;
            five_thousand_idle_connections, slowloris_does_not_delay_others
        );
    };
}

/// The shared expansion of [`phase_tests!`] and [`scale_tests!`]: a `#[test]` per name.
#[doc(hidden)]
#[macro_export]
macro_rules! __tests_for {
    ($bin:expr; $($name:ident),* $(,)?) => {
        $(
            #[test]
            fn $name() {
                $crate::run_phase_check($bin, stringify!($name));
            }
        )*
    };
}

#[cfg(test)]
mod tests {
    /// The macros' name lists and the check lists must agree, or a check would go unrun.
    #[test]
    fn macro_lists_match_check_lists() {
        let source = include_str!("lib.rs");
        for (macro_name, list) in [
            ("phase_tests", crate::checks::ALL),
            ("scale_tests", crate::checks::SCALE),
        ] {
            let start = source.find(&format!("macro_rules! {macro_name}")).unwrap();
            let body = &source[start..];
            let body = &body[body.find("$bin;").unwrap() + 5..body.find(");").unwrap()];
            let in_macro: Vec<&str> = body
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .collect();
            let in_list: Vec<&str> = list.iter().map(|c| c.name).collect();
            assert_eq!(in_macro, in_list, "{macro_name}! and its check list differ");
        }
    }

    /// The banner parser takes the SPEC line apart and rejects anything else.
    #[test]
    fn banner_parses() {
        let (addr, phase, pid) = crate::server::parse_banner(
            "listening on http://127.0.0.1:4242 (phase p1-blocking, pid 77)\n",
        )
        .unwrap();
        assert_eq!(
            (addr.port(), phase.as_str(), pid),
            (4242, "p1-blocking", 77)
        );
        assert!(crate::server::parse_banner("listening on 127.0.0.1:4242").is_err());
    }

    /// The canonical-line checker accepts SPEC's form and rejects reordered or spaced keys.
    #[test]
    fn canonical_lines() {
        use crate::support::check_canonical;
        assert!(check_canonical(r#"{"name":"a","value":1.5,"ts":3,"tags":{"h":"x y"}}"#).is_ok());
        assert!(check_canonical(r#"{"name":"a","value":1,"ts":3}"#).is_ok());
        assert!(check_canonical(r#"{"value":1,"name":"a","ts":3}"#).is_err());
        assert!(check_canonical(r#"{"name":"a", "value":1,"ts":3}"#).is_err());
        assert!(check_canonical(r#"{"name":"a","value":1}"#).is_err());
    }
}
