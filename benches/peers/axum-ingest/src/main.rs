//! `axum-ingest`: see the crate documentation (`src/lib.rs`) for what this peer is for.

use std::process::ExitCode;

fn main() -> ExitCode {
    ingest_service::main_with(axum_ingest::PHASE, axum_ingest::serve)
}
