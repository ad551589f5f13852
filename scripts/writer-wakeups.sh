#!/usr/bin/env bash
# What one acknowledged request costs the server in wake-ups, per --ack mode: the figures of
# the book's chapter "What 202 promises" (the section on waking the writer).
#
#   scripts/writer-wakeups.sh [PHASE] [SECONDS]     # default p3-reactor, 4
#
# For each of queued, written and synced: the phase pinned to CPU 0 and loadgen to CPU 1,
# POST /ingest on 1,000 keep-alive connections for SECONDS, while `perf stat` counts the
# server's context switches and its futex, write and epoll_wait system calls; each count is
# divided by the requests the server answered (/stats requests_total). The writes are the
# event log's (one per group) plus the writer's wake-ups of the loop (an eventfd write per
# group), so under written and synced 2 / (writes per request) is about the group size.
# Counts hold still from run to run where throughput on a shared machine does not.
#
# Linux only; needs perf (linux-perf) with tracepoints readable, taskset, curl, python3.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
PHASE=${1:-p3-reactor}
SECONDS_PER_RUN=${2:-4}
command -v perf >/dev/null || { echo "writer-wakeups.sh: needs perf (sudo apt-get install -y linux-perf)" >&2; exit 1; }
cargo build --release --quiet -p "$PHASE" -p bench
TMP=$(mktemp -d)
trap 'stop_phase; rm -rf "$TMP"' EXIT
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
EVENTS=context-switches,syscalls:sys_enter_futex,syscalls:sys_enter_write,syscalls:sys_enter_epoll_wait

echo "# $PHASE, POST /ingest, 1,000 connections, ${SECONDS_PER_RUN}s a mode; pinning: $PINNING"
printf '%-8s %9s %18s %10s %10s %12s\n' ack ok/s "context switches" futex write epoll_wait
for mode in queued written synced; do
    dir=$(mktemp -d -p "$TMP")
    start_phase "target/release/$PHASE" "$dir" --log warn --ack "$mode"
    perf stat -x, -e "$EVENTS" -p "$SERVER_PID" -o "$dir/perf" -- sleep "$SECONDS_PER_RUN" &
    perf_pid=$!
    ok=$("${CLIENT_CPU[@]}" target/release/loadgen -c 1000 -d "${SECONDS_PER_RUN}s" -b "$EVENT" \
        "http://$SERVER_ADDR/ingest" 2>&1 | sed -nE 's/.*ok\/s ([0-9]+).*/\1/p' | head -n1)
    wait "$perf_pid"
    requests=$(curl -s "http://$SERVER_ADDR/stats" |
        python3 -c 'import json, sys; print(json.load(sys.stdin)["requests_total"])')
    stop_phase
    # perf -x, lines: count,unit,event,...
    per_request() { awk -F, -v e="$1" -v r="$requests" '$3 == e { printf "%.3f", $1 / r }' "$dir/perf"; }
    printf '%-8s %9s %18s %10s %10s %12s\n' "$mode" "$ok" \
        "$(per_request context-switches)" "$(per_request syscalls:sys_enter_futex)" \
        "$(per_request syscalls:sys_enter_write)" "$(per_request syscalls:sys_enter_epoll_wait)"
done
echo "(per request answered; ok/s is loadgen's, and moves with the machine's other load)"
