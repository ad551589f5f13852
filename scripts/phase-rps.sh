#!/usr/bin/env bash
# Requests per second of the event-driven phases on GET /health and POST /ingest at 100 and
# 1,000 keep-alive connections, with extra server flags per run (the bench runs every phase
# with its defaults; this is for the comparisons the book's phase 4 and 5 chapters discuss).
#
#   scripts/phase-rps.sh [DURATION]     e.g. scripts/phase-rps.sh 5s
#
# Server on CPU 0 and loadgen (one thread) on CPU 1 where taskset and 2 CPUs exist. p4 with
# --threads 2 runs twice: pinned to one core, and unpinned (sharing both cores with loadgen).
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${1:-5s}
BODY='{"name":"cpu.load","value":0.93,"ts":1732370000123,"tags":{"host":"web-1","region":"eu-west"}}'
if command -v taskset >/dev/null && [ "$(nproc)" -ge 2 ]; then CAN_PIN=yes; else CAN_PIN=no; fi
cargo build --release --quiet -p p3-reactor -p p4-mio -p p5-tokio -p bench

field() { sed -n "s/.*\"$1\": *\\([0-9.]*\\).*/\\1/p"; }

run() { # PHASE pin|nopin [SERVER FLAGS...]
  local phase=$1 pin=$2
  shift 2
  local server=() client=(target/release/loadgen)
  if [ "$pin" = pin ] && [ "$CAN_PIN" = yes ]; then
    server=(taskset -c 0)
    client=(taskset -c 1 target/release/loadgen)
  fi
  local data
  data=$(mktemp -d)
  "${server[@]}" "target/release/$phase" --addr 127.0.0.1:0 --data-dir "$data/data" --log warn "$@" \
    >"$data/stdout" 2>/dev/null &
  local pid=$!
  for _ in $(seq 100); do
    grep -q '^listening on' "$data/stdout" 2>/dev/null && break
    sleep 0.05
  done
  local addr
  addr=$(sed -n 's|^listening on http://\([^ ]*\) .*|\1|p' "$data/stdout")
  for conns in 100 1000; do
    local h i
    h=$("${client[@]}" -t1 -c"$conns" -d"$DURATION" --json "http://$addr/health")
    i=$("${client[@]}" -t1 -c"$conns" -d"$DURATION" --json -b "$BODY" \
      -H 'Content-Type: application/json' "http://$addr/ingest")
    printf '%-30s c=%-5d health %7.0f rps p99 %6.2f ms | ingest %7.0f rps p99 %6.2f ms\n' \
      "$phase $* ($pin)" "$conns" \
      "$(field rps <<<"$h")" "$(field p99_ms <<<"$h")" "$(field rps <<<"$i")" "$(field p99_ms <<<"$i")"
  done
  kill -TERM "$pid"
  wait "$pid" 2>/dev/null || true
  rm -rf "$data"
}

echo "# $(uname -sr), $(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo '?'), $(date -u +%Y-%m-%dT%H:%MZ)"
run p3-reactor pin
run p4-mio pin --threads 1
run p4-mio pin --threads 2
run p4-mio nopin --threads 2
run p5-tokio pin --threads 1
