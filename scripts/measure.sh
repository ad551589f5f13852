#!/usr/bin/env bash
# Requests per second of one phase binary under wrk: GET /health and POST /ingest, at 100 and
# 1,000 connections, the server pinned to CPU 0 and wrk to CPU 1 (where taskset exists).
#
#   cargo build --release -p p3-reactor
#   scripts/measure.sh [BINARY] [DURATION]
#
# BINARY defaults to target/release/p3-reactor (any phase works); DURATION to 10s.
# Needs wrk (apt-get install wrk; brew install wrk).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
BIN=${1:-target/release/p3-reactor}
DURATION=${2:-10s}
command -v wrk >/dev/null || { echo "wrk is not installed (apt-get install wrk; brew install wrk)" >&2; exit 1; }
DIR=$(mktemp -d)
trap 'stop_phase; rm -rf "$DIR"' EXIT
start_phase "$BIN" "$DIR" --log warn
echo "# $BIN on $SERVER_ADDR; pinning: $PINNING; load average $(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo '?')"
for CONNS in 100 1000; do
    echo "## GET /health, $CONNS connections"
    "${CLIENT_CPU[@]}" wrk -t1 -c"$CONNS" -d"$DURATION" "http://$SERVER_ADDR/health"
    echo "## POST /ingest, $CONNS connections"
    "${CLIENT_CPU[@]}" wrk -t1 -c"$CONNS" -d"$DURATION" -s scripts/ingest.lua "http://$SERVER_ADDR/ingest"
done
