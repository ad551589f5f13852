//! `p6-uring`: see the crate documentation (`src/lib.rs`) for what this phase shows.

use std::process::ExitCode;

use ingest_service::Config;

fn main() -> ExitCode {
    // The flags first, so that `--help` and a bad flag (exit 2) behave as in every phase,
    // on any system; then the one line that says why this one cannot serve here.
    if let Err(e) = Config::from_args(&p6_uring::PHASE, std::env::args_os()) {
        e.exit();
    }
    if let Some(why) = p6_uring::unavailable() {
        eprintln!("error: p6-uring needs io_uring (Linux 6.1 or later), unavailable here: {why}");
        return ExitCode::FAILURE;
    }
    serve()
}

#[cfg(target_os = "linux")]
fn serve() -> ExitCode {
    ingest_service::main_with(p6_uring::PHASE, p6_uring::serve)
}

#[cfg(not(target_os = "linux"))]
fn serve() -> ExitCode {
    unreachable!("`unavailable` answers on every OS but Linux")
}
