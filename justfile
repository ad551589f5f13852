# c10k-phases: one HTTP ingestion service, six I/O models.
# `just --list` shows every recipe.

# Recipes see their arguments as "$@", so `--server-args "--threads 1"` stays one argument.
set positional-arguments

# Run the whole test suite (every crate, every phase's conformance tests).
test:
    cargo test --workspace

# What CI runs on a fresh clone: fmt, clippy (also for macOS and FreeBSD), the book, a bench smoke, the tests.
ci:
    bash .ci/run

# Is this laptop ready for the workshop? Toolchain, descriptor limits, the tools the book uses.
doctor:
    sh scripts/doctor.sh

# Start one phase, e.g. `just run p3-reactor --addr 127.0.0.1:8080`.
run PHASE *ARGS:
    phase="$1"; shift; cargo run --release -p "$phase" -- "$@"

# Every phase under the same load; prints the tables the book shows. `just bench --quick`.
bench *ARGS:
    cargo run --release -p bench --bin bench -- "$@"

# Start PHASE, load it with CONNS connections, print a summary, stop it, e.g.
# `just load p3-reactor 1000 --path /health --server-args "--threads 1" -- -d 5s`.
load PHASE CONNS="100" *ARGS:
    cargo run --release -p bench --bin bench -- load "$@"

# What one idle keep-alive connection costs PHASE in memory: `just idle p3-reactor 5000` (Linux).
idle PHASE CONNS="5000" *ARGS:
    cargo run --release -p bench --bin bench -- idle "$@"

# What each --ack mode costs, each event-driven phase as queued, written and synced: `just ack-modes p3-reactor -c 1000`.
ack-modes *ARGS:
    cargo run --release -p bench --bin bench -- ack-modes "$@"

# Kill each phase with SIGKILL mid-load under each --ack mode; what the 202s promised, what the file kept: `just crash p3-reactor --ack written`.
crash *ARGS:
    cargo run --release -p bench --bin bench -- crash "$@"

# Check a server you started against SPEC (the checks that must start their own server are listed as skipped).
conformance ADDR *ARGS:
    cargo run --release -p conformance -- --addr "$@"

# Check one phase completely: build it, start it, run every conformance check (scale checks too, for the event-driven phases).
check PHASE *ARGS:
    #!/usr/bin/env sh
    set -eu
    phase="$1"; shift
    cargo build --release -p "$phase" -p conformance
    # The blocking phases are not expected to hold 5,000 idle connections: that is the lesson.
    case "$phase" in p1-*|p2-*) scale="" ;; *) scale="--scale" ;; esac
    exec "${CARGO_TARGET_DIR:-target}/release/conformance" --spawn "${CARGO_TARGET_DIR:-target}/release/$phase" $scale "$@"

# Serve the book on http://localhost:3000 (`book/check.sh` installs the pinned mdbook if missing).
book:
    mdbook serve book

# Build the book into book/book and check every include, anchor and link.
book-build:
    bash book/check.sh

fmt:
    cargo fmt --all

lint:
    cargo fmt --all -- --check
    cargo clippy --workspace --all-targets -- -D warnings
