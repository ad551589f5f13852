//! Runs the whole conformance suite (every line of SPEC.md) against this phase's binary.

conformance::phase_tests!(env!("CARGO_BIN_EXE_p2-threadpool"));
