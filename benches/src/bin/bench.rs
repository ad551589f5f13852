//! `bench`: see `bench::runner`. `just bench` runs it; `--quick` is the CI smoke.

fn main() {
    std::process::exit(bench::runner::main());
}
