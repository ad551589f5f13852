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
//!   group commit, what a `202` waits for (`--ack queued|written|synced`: tickets, outcomes,
//!   and the [`event_log::LogWatch`] that wakes an event loop once per group), cut-back,
//!   retry or probe when the disk fails, torn-tail recovery at start, `fsync` at shutdown.
//! - [`stats`]: [`Stats`], the counters, and [`ConnectionGuard`].
//! - [`host`]: what runs the service as a process, and must not leak into it: [`host::cli`]
//!   ([`Config`], the command line all phases share, and [`Phase`]), [`host::telemetry`]
//!   (`tracing` to stderr), [`host::shutdown`] ([`Shutdown`]: SIGINT/SIGTERM turned into a
//!   flag and callbacks), [`host::run`] ([`main_with`], the `main` every phase calls, and
//!   [`bind`]).
//!
//! # What it leaves out on purpose
//!
//! Log rotation and authentication: neither changes how a server scales with connections,
//! which is what the book is about. (Durability is in: `--ack synced` `fdatasync`s once per
//! group, never per request.)

// Every public item says what it is for: the documentation is part of the lesson.
#![warn(missing_docs)]

pub mod event_log;
pub mod events;
pub mod host;
pub mod service;
pub mod stats;

pub use event_log::EventLog;
pub use host::cli::{Config, Phase};
pub use host::run::{bind, main_with, run_loops, Server, LISTEN_BACKLOG};
pub use host::shutdown::{Shutdown, DRAIN_TIMEOUT};
pub use host::telemetry::init_tracing;
pub use service::Service;
pub use stats::{ConnectionGuard, Stats};
