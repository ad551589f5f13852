#!/usr/bin/env bash
# The book's CI check (`book/check.sh`, from anywhere):
#   1. build it with mdbook, failing on any error *or warning* (mdbook only warns about some
#      problems, such as an `{{#include file:anchor}}` whose anchor does not exist);
#   2. run benches/tests/book_includes.rs: every include names an existing file and anchor,
#      every link between chapters and every image resolves, no long Rust block is pasted.
# Installs the pinned mdbook with `cargo install` when it is missing or another version.
set -euo pipefail
cd "$(dirname "$0")/.."

# Pinned: step 1 relies on how this version reports problems (a missing anchor is only a
# WARN line; a missing include file is an ERROR). A new mdbook may report them differently,
# so moving the pin means re-running the scratch-book self-test in book_includes.rs and
# breaking an anchor by hand to see the build fail.
MDBOOK_VERSION=0.5.4
export PATH="$HOME/.cargo/bin:$PATH"
if [ "$(mdbook --version 2>/dev/null)" != "mdbook v$MDBOOK_VERSION" ]; then
    echo "== installing mdbook $MDBOOK_VERSION (found: $(mdbook --version 2>/dev/null || echo none))"
    cargo install mdbook --version "$MDBOOK_VERSION" --locked
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
