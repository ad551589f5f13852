//! `p4-mio`: see the crate documentation (`src/lib.rs`) for what this phase shows.

use std::process::ExitCode;

fn main() -> ExitCode {
    ingest_service::main_with(p4_mio::PHASE, p4_mio::serve)
}
