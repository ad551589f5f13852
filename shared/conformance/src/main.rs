//! `conformance`: run the suite against a server that is already running (`--addr`) or that
//! the suite starts itself (`--spawn BIN`), and print one line per check.
//!
//! With `--addr`, the checks that must start their own server (special limits, signals,
//! restarts) cannot run; they are listed at the end with the reason, and `--spawn` (or
//! `just check PHASE`) runs them. Every skip is printed with its reason and counted in the
//! last line (`N passed, N failed, N skipped`). `CONFORMANCE_STRICT`, which makes a skip fail
//! a phase's `cargo test`, does not apply here: a check `--addr` cannot run is part of what
//! this run reports, not a hidden pass.
//!
//! ```text
//! conformance --addr 127.0.0.1:8080 --data-file ./data/events.ndjson
//! conformance --spawn target/debug/p1-blocking --only max_conns_503
//! conformance --list
//! ```

use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use conformance::{checks, Check, Ctx, Failure, Needs, ServerProcess};

/// Checks an HTTP server against the ingestion service's SPEC.md over raw TCP.
#[derive(Parser)]
#[command(version, about)]
struct Args {
    /// Address of a running server (checks that need special flags are skipped).
    #[arg(long, conflicts_with = "spawn")]
    addr: Option<String>,
    /// The running server's event log, for the checks that read it.
    #[arg(long, requires = "addr")]
    data_file: Option<PathBuf>,
    /// Start this server binary (with a temp data dir on 127.0.0.1:0) and run every check.
    #[arg(long)]
    spawn: Option<PathBuf>,
    /// Run only the check with this name (see --list).
    #[arg(long)]
    only: Option<String>,
    /// Also run the scale checks (5,000 connections, slowloris) meant for event-driven servers.
    #[arg(long)]
    scale: bool,
    /// List the checks and exit.
    #[arg(long)]
    list: bool,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let all = checks::ALL.iter().chain(checks::SCALE.iter());
    if args.list {
        for check in all {
            let needs = if check.needs == Needs::Spawn {
                " [needs --spawn]"
            } else {
                ""
            };
            println!("{:<36} {}{needs}", check.name, check.doc);
        }
        return ExitCode::SUCCESS;
    }
    let selected: Vec<&Check> = match &args.only {
        Some(name) => match conformance::find_check(name) {
            Some(check) => vec![check],
            None => {
                eprintln!("no check named {name:?}; `conformance --list` shows them");
                return ExitCode::from(2);
            }
        },
        None if args.scale => all.collect(),
        None => checks::ALL.iter().collect(),
    };
    // With --spawn, one default server is shared by the checks that need no special flags.
    let (server, ctx) = match (&args.addr, &args.spawn) {
        (Some(addr), None) => match resolve(addr) {
            Ok(addr) => (
                None,
                Ctx {
                    addr: Some(addr),
                    data_file: args.data_file.clone(),
                    pid: None,
                    bin: None,
                },
            ),
            Err(e) => {
                eprintln!("{e}");
                return ExitCode::from(2);
            }
        },
        (None, Some(bin)) => match ServerProcess::try_start(bin, &[]) {
            Ok(server) => {
                let ctx = Ctx::for_server(&server, Some(bin.clone()));
                (Some(server), ctx)
            }
            Err(e) => {
                eprintln!("{e}");
                return ExitCode::FAILURE;
            }
        },
        _ => {
            eprintln!("give --addr HOST:PORT (a running server) or --spawn BIN (see --help)");
            return ExitCode::from(2);
        }
    };
    let (mut passed, mut failed) = (0, 0);
    let mut skipped: Vec<(&str, String)> = Vec::new();
    for check in selected {
        let outcome = if check.needs == Needs::Spawn && ctx.bin.is_none() {
            Err(Failure::Skip(
                "starts its own server with special flags or signals it: needs --spawn".into(),
            ))
        } else {
            (check.run)(&ctx)
        };
        match outcome {
            Ok(()) => {
                passed += 1;
                println!("PASS {}", check.name);
            }
            Err(Failure::Skip(why)) => {
                println!("SKIP {}: {why}", check.name);
                skipped.push((check.name, why));
            }
            Err(Failure::Fail(why)) => {
                failed += 1;
                println!("FAIL {}: {why}", check.name);
            }
        }
    }
    drop(server);
    if !skipped.is_empty() {
        println!(
            "\n{} check(s) skipped, so this run proves less than the whole SPEC:",
            skipped.len()
        );
        for (name, why) in &skipped {
            println!("  {name:<36} {why}");
        }
        if args.addr.is_some() {
            println!(
                "Run them with `just check PHASE` or `conformance --spawn path/to/server`, which \
                 start the server themselves."
            );
        }
        println!(
            "{passed} passed, {failed} failed, {} skipped",
            skipped.len()
        );
    } else {
        println!("{passed} passed, {failed} failed");
    }
    if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// `localhost:8080` or `127.0.0.1:8080` to one socket address.
fn resolve(addr: &str) -> Result<SocketAddr, String> {
    addr.to_socket_addrs()
        .map_err(|e| format!("--addr {addr}: {e}"))?
        .next()
        .ok_or_else(|| format!("--addr {addr}: no address"))
}
