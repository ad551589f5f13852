//! Runs the whole conformance suite (every line of SPEC.md) against this phase's binary, then
//! the scale checks an event-driven server must pass (5,000 idle connections, 200 slowloris
//! clients).

conformance::phase_tests!(env!("CARGO_BIN_EXE_p4b-executor"));
conformance::scale_tests!(env!("CARGO_BIN_EXE_p4b-executor"));
