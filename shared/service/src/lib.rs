//! # ingest-service: the service every phase serves
//!
//! Everything about the *service* lives here, so that the phases differ only in how bytes
//! move between sockets and [`ingest_http::Conn`]. A phase that re-implements any of this is
//! a bug (STYLE.md, habit 1).
//!
//! ```text
//!  phase I/O loop ──► ingest_http::Conn ──► Service (Handler) ──► events::canonicalize
//!                                              │                        │
//!                                              ▼                        ▼
//!                                        Stats (/stats)        EventLog ──► writer thread ──► events.ndjson
//! ```
//!
//! # Layout
//!
//! - [`service`]: [`Service`], the routes (`/ingest`, `/health`, `/stats`) as an
//!   [`ingest_http::Handler`], connection admission (`--max-conns`) and the `503` for it.
//! - [`events`]: strict event validation and the canonical line format, in one pass with no
//!   allocation per event.
//! - [`event_log`]: [`EventLog`], the writer thread that owns `events.ndjson`: bounded queue,
//!   group commit, `fsync` at shutdown.
//! - [`stats`]: [`Stats`], the counters, and [`ConnectionGuard`].
//! - [`cli`]: [`Config`], the command line all phases share, and [`Phase`].
//! - [`telemetry`]: `tracing` to stderr, `RUST_LOG` over `--log`.
//! - [`shutdown`]: [`Shutdown`], SIGINT/SIGTERM turned into a flag, a callback, a pipe.
//! - [`run`]: [`main_with`], the `main` every phase calls.
//!
//! # What it leaves out on purpose
//!
//! Log rotation, per-request `fsync` and authentication: none of them changes how a server
//! scales with connections, which is what the book is about.

pub mod cli;
pub mod event_log;
pub mod events;
pub mod run;
pub mod service;
pub mod shutdown;
pub mod stats;
pub mod telemetry;

pub use cli::{Config, Phase};
pub use event_log::EventLog;
pub use run::{main_with, Server};
pub use service::Service;
pub use shutdown::{Shutdown, DRAIN_TIMEOUT};
pub use stats::{ConnectionGuard, Stats};
pub use telemetry::init_tracing;
