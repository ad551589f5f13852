//! Runs the whole conformance suite (every line of SPEC.md) against this phase's binary, and
//! the scale tests an event-driven phase must pass: 5,000 idle connections and 200 slowloris
//! clients while others are served.

conformance::phase_tests!(env!("CARGO_BIN_EXE_p5-tokio"));
conformance::scale_tests!(env!("CARGO_BIN_EXE_p5-tokio"));
