//! `p4b-executor`: see the crate documentation (`src/lib.rs`) for what this phase shows.

use std::process::ExitCode;

fn main() -> ExitCode {
    ingest_service::main_with(p4b_executor::PHASE, p4b_executor::serve)
}
