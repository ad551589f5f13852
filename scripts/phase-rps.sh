#!/usr/bin/env bash
# Requests per second of the event-driven phases on GET /health and POST /ingest at 100 and
# 1,000 keep-alive connections, with extra server flags per run (the bench runs every phase
# with its defaults; this is for the comparisons the book's phase 4 and 5 chapters discuss).
#
#   scripts/phase-rps.sh [DURATION]     e.g. scripts/phase-rps.sh 5s
#
# Server on CPU 0 and loadgen (one thread) on CPU 1 where taskset and 2 CPUs exist (scripts/lib.sh). p4 with
# --threads 2 runs twice: pinned to one core, and unpinned (sharing both cores with loadgen).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
DURATION=${1:-5s}
cargo build --release --quiet -p p3-reactor -p p4-mio -p p5-tokio -p bench

field() { sed -n "s/.*\"$1\": *\([0-9.]*\).*/\1/p"; }

run() { # PHASE pin|nopin [SERVER FLAGS...]
  local phase=$1 pin=$2
  shift 2
  local client=(target/release/loadgen) dir
  [ "$pin" = pin ] && client=("${CLIENT_CPU[@]}" target/release/loadgen)
  dir=$(mktemp -d)
  if [ "$pin" = pin ]; then NO_PIN=0; else NO_PIN=1; fi
  NO_PIN=$NO_PIN start_phase "target/release/$phase" "$dir" --log warn "$@"
  for conns in 100 1000; do
    local h i
    h=$("${client[@]}" -t1 -c"$conns" -d"$DURATION" --json "http://$SERVER_ADDR/health")
    i=$("${client[@]}" -t1 -c"$conns" -d"$DURATION" --json -b "$EVENT" \
      -H 'Content-Type: application/json' "http://$SERVER_ADDR/ingest")
    printf '%-30s c=%-5d health %7.0f rps p99 %6.2f ms | ingest %7.0f rps p99 %6.2f ms\n' \
      "$phase $* ($pin)" "$conns" \
      "$(field ok_per_s <<<"$h")" "$(field p99_ms <<<"$h")" "$(field ok_per_s <<<"$i")" "$(field p99_ms <<<"$i")"
  done
  stop_phase
  rm -rf "$dir"
}

echo "# $(uname -sr), $(nproc) CPUs, pinning: $PINNING, load average $(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo '?'), $(date -u +%Y-%m-%dT%H:%MZ)"
run p3-reactor pin
run p4-mio pin --threads 1
run p4-mio pin --threads 2
run p4-mio nopin --threads 2
run p5-tokio pin --threads 1
