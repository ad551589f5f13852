#!/usr/bin/env bash
# Requests per second of one phase binary under wrk: GET /health and POST /ingest, at 100 and
# 1,000 connections, the server pinned to CPU 0 and wrk to CPU 1.
#
#   cargo build --release -p p3-reactor
#   phases/p3-reactor/scripts/measure.sh [BINARY] [DURATION]
#
# BINARY defaults to target/release/p3-reactor (any phase works); DURATION to 10s.
# Run from the workspace root. Needs wrk and taskset (util-linux).
set -euo pipefail
BIN=${1:-target/release/p3-reactor}
DURATION=${2:-10s}
HERE=$(cd "$(dirname "$0")" && pwd)
DATA=$(mktemp -d)
taskset -c 0 "$BIN" --addr 127.0.0.1:0 --data-dir "$DATA" --log warn >"$DATA/stdout" &
PID=$!
trap 'kill -TERM $PID 2>/dev/null; wait $PID 2>/dev/null; rm -rf "$DATA"' EXIT
for _ in $(seq 50); do
  grep -q '^listening on' "$DATA/stdout" 2>/dev/null && break
  sleep 0.1
done
ADDR=$(sed -n 's|^listening on http://\([^ ]*\) .*|\1|p' "$DATA/stdout")
[ -n "$ADDR" ] || { echo "no banner from $BIN" >&2; exit 1; }
echo "# $BIN on $ADDR; load average $(cut -d' ' -f1-3 /proc/loadavg)"
for CONNS in 100 1000; do
  echo "## GET /health, $CONNS connections"
  taskset -c 1 wrk -t1 -c"$CONNS" -d"$DURATION" "http://$ADDR/health"
  echo "## POST /ingest, $CONNS connections"
  taskset -c 1 wrk -t1 -c"$CONNS" -d"$DURATION" -s "$HERE/ingest.lua" "http://$ADDR/ingest"
done
