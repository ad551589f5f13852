//! The host: what runs the service as a process on a machine. The command line, logging,
//! signals, the listening socket and `main`, everything [`crate::service`] and its helpers
//! must not know about: they see no socket, no signal and no argument vector, which is what
//! lets every phase serve them with its own I/O model (and tests drive them without a
//! process). The one thing the service takes from here is [`cli::Config`], plain parsed
//! values, in `Service::open`.
//!
//! The crate root re-exports what a phase's `main.rs` and `serve` need ([`crate::main_with`],
//! [`crate::Server`], [`crate::Shutdown`], [`crate::bind`], ...), so phase code rarely names
//! this module.

pub mod cli;
pub mod run;
pub mod shutdown;
pub mod telemetry;
