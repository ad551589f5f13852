//! `p2-threadpool`: see the crate documentation (`src/lib.rs`) for what this phase shows.

use std::process::ExitCode;

fn main() -> ExitCode {
    ingest_service::main_with(p2_threadpool::PHASE, p2_threadpool::serve)
}
