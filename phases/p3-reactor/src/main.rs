//! `p3-reactor`: see the crate documentation (`src/lib.rs`) for what this phase shows.

use std::process::ExitCode;

fn main() -> ExitCode {
    ingest_service::main_with(p3_reactor::PHASE, p3_reactor::serve)
}
