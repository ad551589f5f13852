//! `loadgen`: see `bench::loadgen` for what it does and how. Run
//! `cargo run --release -p bench --bin loadgen -- --help`.

use std::process::ExitCode;

use bench::loadgen::{self, cli::LoadgenArgs};
use clap::Parser;

fn main() -> ExitCode {
    let args = LoadgenArgs::parse();
    let json = args.json;
    let report = match args.into_config().and_then(|c| loadgen::run(&c)) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("loadgen: {e}");
            return ExitCode::from(2);
        }
    };
    if json {
        match serde_json::to_string_pretty(&report) {
            Ok(s) => println!("{s}"),
            Err(e) => {
                eprintln!("loadgen: cannot encode the report: {e}");
                return ExitCode::FAILURE;
            }
        }
    } else {
        print!("{report}");
    }
    ExitCode::SUCCESS
}
