# c10k-phases: one HTTP ingestion service, five I/O models.
# `just --list` shows every recipe.

# Run the whole test suite (every crate, every phase's conformance tests).
test:
    cargo test --workspace

# Start one phase, e.g. `just run p3-reactor --addr 127.0.0.1:8080`.
run PHASE *ARGS:
    cargo run --release -p {{PHASE}} -- {{ARGS}}

# Every phase under the same load; prints the tables the book shows. `just bench --quick`.
bench *ARGS:
    cargo run --release -p bench --bin bench -- {{ARGS}}

# Start PHASE, load it with CONNS keep-alive connections, print a summary, stop it.
load PHASE CONNS="100" *ARGS:
    cargo run --release -p bench --bin bench -- load {{PHASE}} -c {{CONNS}} -- {{ARGS}}

# Run the conformance suite against a server you started: `just conformance 127.0.0.1:8080`.
conformance ADDR:
    cargo run -p conformance -- --addr {{ADDR}}

# Serve the book on http://localhost:3000 (needs `cargo install mdbook`).
book:
    mdbook serve book

# Build the book into book/book.
book-build:
    mdbook build book

fmt:
    cargo fmt --all

lint:
    cargo fmt --all -- --check
    cargo clippy --workspace --all-targets -- -D warnings
