//! `p1-blocking`: see the crate documentation (`src/lib.rs`) for what this phase shows.

use std::process::ExitCode;

fn main() -> ExitCode {
    ingest_service::main_with(p1_blocking::PHASE, p1_blocking::serve)
}
