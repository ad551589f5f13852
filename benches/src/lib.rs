//! The benchmark crate: `loadgen`, a load generator that is not the bottleneck,
//! and `bench`, which runs every phase under the same load and reports.
//!
//! # Layout
//! - [`loadgen`]: the load generator (closed loop, new connection per request,
//!   open loop), one mio event loop per thread, an HdrHistogram of latencies;
//! - [`runner`]: the `bench` binary: build the phases, start each, load it,
//!   sample it, stop it, check its log, print and publish the tables;
//! - [`os`]: the open-file limit and CPU pinning (the only `unsafe` here).

pub mod loadgen;
pub mod os;
pub mod runner;
