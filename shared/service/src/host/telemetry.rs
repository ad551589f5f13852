//! Logging: `tracing` to stderr, so that stdout carries only the `listening on` line that
//! tests and the bench read.

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

/// Installs the global `tracing` subscriber: human-readable lines on stderr, filtered by
/// `RUST_LOG` when it is set (and valid), otherwise by `default_filter` (the `--log` flag).
/// A second call (tests that start several services in one process) changes nothing.
pub fn init_tracing(default_filter: &str) {
    let from_env = std::env::var("RUST_LOG")
        .ok()
        .filter(|v| !v.trim().is_empty());
    let mut rejected_env = None;
    let filter = match from_env.as_deref().map(EnvFilter::try_new) {
        Some(Ok(filter)) => filter,
        Some(Err(e)) => {
            rejected_env = Some(e);
            EnvFilter::new(default_filter)
        }
        None => EnvFilter::new(default_filter),
    };
    let installed = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        // Colours only for a person at a terminal, not in the log files tests and the bench keep.
        .with_ansi(std::io::stderr().is_terminal())
        // When stderr cannot be written (a log file on a full disk, or past the file-size
        // limit), tracing-subscriber would report it with `eprintln!`, which panics on the
        // same failure, in whatever thread was logging: the event log's writer included.
        // A lost log line is the lesser harm.
        .log_internal_errors(false)
        .try_init()
        .is_ok();
    if let (true, Some(e)) = (installed, rejected_env) {
        tracing::warn!(error = %e, "RUST_LOG is not a valid filter; using --log {default_filter}");
    }
}
