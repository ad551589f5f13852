#!/usr/bin/env bash
# The book's CI check (`book/check.sh`, from anywhere):
#   1. build it with mdbook, failing on any error *or warning* (mdbook only warns about some
#      problems, such as an `{{#include file:anchor}}` whose anchor does not exist);
#   2. run benches/tests/book_includes.rs: every include names an existing file and anchor,
#      every link between chapters and every image resolves, no long Rust block is pasted.
# Installs mdbook with `cargo install mdbook --locked` when it is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v mdbook >/dev/null; then
    echo "== installing mdbook"
    cargo install mdbook --locked
fi

echo "== mdbook build book ($(mdbook --version))"
log=$(mktemp)
trap 'rm -f "$log"' EXIT
mdbook build book 2>&1 | tee "$log"
if grep -Eq '\b(WARN|WARNING|ERROR)\b' "$log"; then
    echo "mdbook printed warnings or errors (above): the book check fails" >&2
    exit 1
fi

echo "== book includes, anchors and links"
cargo test -p bench --test book_includes
