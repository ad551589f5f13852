//! The `bench` command line.

use std::time::Duration;

use clap::{Parser, Subcommand};

use crate::loadgen::cli::parse_duration;

/// Flags of `bench` (`just bench`).
#[derive(Debug, Parser)]
#[command(
    name = "bench",
    about = "Runs every phase under the same load and prints the tables"
)]
pub struct BenchArgs {
    /// A one-second smoke of every phase (CI): fails if any phase fails.
    #[arg(long)]
    pub quick: bool,
    /// Adds 10,000 concurrent connections and the idle-connection memory test.
    #[arg(long)]
    pub c10k: bool,
    /// Only these phases, comma-separated (e.g. p1-blocking,p3-reactor).
    #[arg(long, value_delimiter = ',')]
    pub phases: Vec<String>,
    /// Length of each timed scenario (default 6s, about 3.6 minutes a round for five
    /// phases; 1s with --quick).
    #[arg(long, value_parser = parse_duration)]
    pub duration: Option<Duration>,
    /// Do not pin the server and the load generator to disjoint CPUs.
    #[arg(long)]
    pub no_pin: bool,
    /// Also write the tables and SVG charts into book/src/results/.
    #[arg(long)]
    pub publish: bool,
    /// Repetitions of every scenario (default 3; 1 with --quick). Rounds interleave
    /// the phases (round 1 runs every phase, then round 2...), so a slow minute of the
    /// machine hits them all alike; tables show the median and the min–max.
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=100))]
    pub reps: Option<u32>,
    /// Also measure the peers in the same run: nginx on the /health scenarios (when
    /// installed) and axum-ingest (axum + tokio with the project's service) on all.
    #[arg(long)]
    pub peers: bool,
    /// Load-generator threads (default: the CPUs left to it).
    #[arg(long)]
    pub loadgen_threads: Option<usize>,
    #[command(subcommand)]
    pub command: Option<BenchCommand>,
}

/// Subcommands besides the full bench.
#[derive(Debug, Subcommand)]
pub enum BenchCommand {
    /// Start one phase, load it with loadgen, print the summary, stop it (`just load`).
    ///
    /// e.g. `bench load p5-tokio -c 1000 --path /health --server-args "--threads 1" -- -d 5s`
    Load {
        /// Phase package name, e.g. p1-blocking.
        phase: String,
        /// Connections (also accepted as `-c N`).
        #[arg(value_name = "CONNS")]
        conns: Option<usize>,
        /// Connections.
        #[arg(short = 'c', long, conflicts_with = "conns")]
        connections: Option<usize>,
        /// Path to load: /ingest is a POST of the standard ~100-byte event; /health and
        /// /stats are GETs.
        #[arg(long, default_value = "/ingest")]
        path: String,
        /// Flags for the phase server, in one string (e.g. "--threads 1 --idle-timeout 5s").
        #[arg(long, allow_hyphen_values = true, default_value = "")]
        server_args: String,
        /// Further loadgen flags, after `--` (e.g. -- -d 30s --pipeline 8).
        #[arg(last = true)]
        loadgen_args: Vec<String>,
    },
    /// Start one phase, open idle keep-alive connections, print what they cost the server:
    /// threads, resident memory (RSS) and address space (VSZ), in total and per connection
    /// (`just idle`). One round per count, on the same server. Needs /proc (Linux).
    ///
    /// e.g. `bench idle p3-reactor 5000`, `bench idle p1-blocking 1000 5000`
    Idle {
        /// Phase package name, e.g. p3-reactor.
        phase: String,
        /// Idle connections to open, one round per number.
        #[arg(value_name = "CONNS", default_values_t = [5_000])]
        counts: Vec<usize>,
        /// Flags for the phase server, in one string. Unless given there, the server gets
        /// `--idle-timeout 600s --max-conns 100000`, so the connections stay open.
        #[arg(long, allow_hyphen_values = true, default_value = "")]
        server_args: String,
    },
    /// Each phase under each `--ack` mode (queued, written, synced): goodput, events stored
    /// and fdatasync calls a second, events per fdatasync, p99, and the ratio to the same
    /// phase's `queued` (`just ack-modes`). Data dirs go on a disk, never tmpfs.
    ///
    /// e.g. `bench ack-modes`, `bench ack-modes p3-reactor -c 1000`, `bench ack-modes --quick p3-reactor`
    AckModes {
        /// Phase package names (default: every phase but the blocking p1 and p2); also
        /// axum-ingest, the axum + tokio peer.
        #[arg(value_name = "PHASES")]
        phases: Vec<String>,
        /// Keep-alive connections (default 1000; 100 with --quick).
        #[arg(short = 'c', long, value_parser = clap::value_parser!(usize))]
        connections: Option<usize>,
        /// Length of each run (default 6s; 1s with --quick).
        #[arg(long, value_parser = parse_duration)]
        duration: Option<Duration>,
        /// Rounds (default 3; 1 with --quick); each round runs every phase in every mode.
        #[arg(long, value_parser = clap::value_parser!(u32).range(1..=100))]
        reps: Option<u32>,
        /// A CI-size smoke: 1 s, 1 round, 100 connections.
        #[arg(long)]
        quick: bool,
        /// Also write the table into book/src/results/ack-modes.md.
        #[arg(long)]
        publish: bool,
    },
    /// Each phase under each `--ack` mode, killed with SIGKILL mid-load: the events its
    /// 202s acknowledged, the lines its file kept, the acknowledged ones missing, the torn
    /// tail, and whether a restart recovered (`just crash`). Fails (exit code 1) when an
    /// acknowledged event is missing under written or synced; queued only reports it.
    ///
    /// e.g. `bench crash`, `bench crash p3-reactor --ack written`, `bench crash p1-blocking p5-tokio --reps 3`
    Crash {
        /// Phase package names (default: every phase).
        #[arg(value_name = "PHASES")]
        phases: Vec<String>,
        /// `--ack` modes, comma-separated (default: queued,written,synced).
        #[arg(long, value_delimiter = ',', value_parser = ["queued", "written", "synced"])]
        ack: Vec<String>,
        /// Crashes of each phase in each mode.
        #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=100))]
        reps: u32,
        /// Kill once this many events have been acknowledged (or after 2 s, whichever
        /// comes first; default 300).
        #[arg(long)]
        events: Option<u64>,
    },
}
