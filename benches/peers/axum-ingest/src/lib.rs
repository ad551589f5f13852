//! # A peer, not a phase: the ingest contract on axum
//!
//! The bench sets the phases beside what a reader would pick instead of writing any of them:
//! axum on tokio (hyper underneath) for HTTP, and this project's service crate for the rest
//! (routes, validation, the event log, the counters, the command line, the signals), so the
//! difference from phase 5 is the HTTP layer and nothing else. It lives under `benches/`, not
//! `phases/`: the bench runs it as a peer (`--peers`), never as a phase.
//!
//! Where hyper's HTTP/1.1 differs from SPEC.md (status codes for malformed requests,
//! timeouts it does not offer through `axum::serve`), this peer keeps hyper's behaviour: it
//! is the honest "off the shelf" baseline, and its conformance test records which checks
//! it fails and why.
//!
//! # Layout
//!
//! - this file: the runtime, the router, graceful shutdown;
//! - [`listener`]: `--max-conns` at accept, as every phase enforces it;
//! - [`handler`]: one axum request turned into the service's `RequestHead` and body;
//! - [`ack`]: a request that waits for the event log (`--ack written|synced`) awaits a
//!   `tokio::sync::Notify` the writer wakes.

// Every public item says what it is for, as in the phases.
#![warn(missing_docs)]

pub mod ack;
pub mod handler;
pub mod listener;

use std::future::IntoFuture;
use std::io;
use std::sync::Arc;

use axum::Router;
use ingest_service::{Phase, Server, DRAIN_TIMEOUT};
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

/// Who this server is, for the CLI and `/stats`.
pub const PHASE: Phase = Phase {
    name: "axum-ingest",
    threads_help: "Worker threads of the tokio runtime [default: one per CPU]",
};

/// Builds the runtime, serves with axum until shutdown, drains at most [`DRAIN_TIMEOUT`].
pub fn serve(server: Server) -> io::Result<()> {
    let Server {
        listener,
        service,
        shutdown,
        config,
    } = server;
    let threads = config.threads_or_one_per_cpu()?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads)
        .thread_name("axum-worker")
        .enable_all()
        .build()?;
    listener.set_nonblocking(true)?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::from_std(listener)?;
        let cancel = CancellationToken::new();
        let on_trigger = cancel.clone();
        shutdown.on_trigger(move || on_trigger.cancel());

        let app = Router::new()
            .fallback(handler::handle)
            .with_state((service.clone(), Arc::new(ack::LogWaiter::new(&service))));
        let listener = listener::Limited::new(listener, service);
        let stopping = cancel.clone();
        let serving = axum::serve(listener, app)
            .with_graceful_shutdown(async move { stopping.cancelled().await })
            .into_future();
        tokio::pin!(serving);
        tokio::select! {
            result = &mut serving => return result,
            () = cancel.cancelled() => {}
        }
        info!("shutting down: draining connections");
        // axum stops accepting and waits for every connection; SPEC gives them 5 s.
        if tokio::time::timeout(DRAIN_TIMEOUT, serving).await.is_err() {
            warn!("drain timeout passed: closing the connections still open");
        }
        Ok(())
    })
}
