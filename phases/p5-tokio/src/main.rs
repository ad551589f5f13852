//! `p5-tokio`: see the crate documentation (`src/lib.rs`) for what this phase shows.

use std::process::ExitCode;

fn main() -> ExitCode {
    ingest_service::main_with(p5_tokio::PHASE, p5_tokio::serve)
}
