//! Runs the whole conformance suite (every line of SPEC.md) against this phase's binary, then
//! the scale checks an event-driven server must pass (5,000 idle connections, 200 slowloris
//! clients).
//!
//! Where io_uring cannot run, no test passes silently. On Linux, each test fails with the
//! reason (a seccomp filter, `io_uring_disabled`, an old kernel): a CI that loses io_uring
//! should notice. With `P6_SKIP_UNAVAILABLE=1`, or on another OS, each test instead prints
//! `SKIP` and the reason to the terminal, past the test harness's capture, and passes.

use std::io::Write;

/// The binary to test, or `return` from the calling test after saying why it cannot run.
/// A macro, so that its `return` leaves the test function `phase_tests!` generated.
macro_rules! p6_binary {
    () => {{
        if let Some(why) = p6_uring::unavailable() {
            if skip_unavailable() {
                // `io::stderr()` directly: `eprintln!` would be captured and never shown.
                let _ = writeln!(
                    std::io::stderr(),
                    "SKIP p6-uring conformance test: io_uring unavailable: {why}"
                );
                return;
            }
            panic!(
                "io_uring is unavailable here ({why}), so phase 6 cannot run. \
                 Set P6_SKIP_UNAVAILABLE=1 to skip its tests on this machine."
            );
        }
        env!("CARGO_BIN_EXE_p6-uring")
    }};
}

/// Skipping is asked for, or the OS has no io_uring at all (nothing to notice there).
fn skip_unavailable() -> bool {
    std::env::var_os("P6_SKIP_UNAVAILABLE").is_some_and(|v| v == "1") || !cfg!(target_os = "linux")
}

conformance::phase_tests!(p6_binary!());
conformance::scale_tests!(p6_binary!());
