#!/usr/bin/env bash
# Is loadgen the bottleneck? Drives the same server (p3-reactor, GET /health) with wrk and with
# loadgen, alternating, ROUNDS times each at 100 and at 1,000 connections, both clients with one
# thread on CPU 1 and the server on CPU 0, and prints every run and the median ratio
# loadgen / wrk. The book's "Benchmarking honestly" chapter includes its output.
#
#   scripts/loadgen-vs-wrk.sh [ROUNDS] [DURATION] > book/src/generated/loadgen-vs-wrk.txt
#
# Needs wrk (Debian/Ubuntu: apt-get install wrk; macOS: brew install wrk) and, on Linux,
# taskset (util-linux). Without wrk it says so and exits 0: nothing to compare against.
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${1:-5}
DURATION=${2:-5}

if ! command -v wrk >/dev/null; then
  echo "wrk is not installed: nothing to compare loadgen against (apt-get install wrk)."
  exit 0
fi
. scripts/lib.sh

cargo build --release --quiet -p p3-reactor -p bench
DIR=$(mktemp -d)
trap 'stop_phase; rm -rf "$DIR"' EXIT
start_phase target/release/p3-reactor "$DIR" --log warn
URL="http://$SERVER_ADDR/health"

echo "# loadgen vs wrk: same server, same connections, one client thread each"
echo "# server: p3-reactor GET /health; pinning: $PINNING; ${ROUNDS} rounds of ${DURATION} s, alternating"
echo "# $(uname -sr), $(nproc) CPUs, $(wrk --version 2>&1 | head -n1 | cut -d' ' -f1-2), $(date -u +%Y-%m-%d)"
for CONNS in 100 1000; do
  ratios=()
  for round in $(seq "$ROUNDS"); do
    w=$("${CLIENT_CPU[@]}" wrk -t1 -c"$CONNS" -d"${DURATION}s" "$URL" | awk '/Requests\/sec/ {print $2}')
    l=$("${CLIENT_CPU[@]}" target/release/loadgen -t1 -c"$CONNS" -d"${DURATION}s" --json "$URL" |
      sed -n 's/.*"answered_per_s": *\([0-9.]*\).*/\1/p')
    ratio=$(awk -v l="$l" -v w="$w" 'BEGIN { printf "%.2f", l / w }')
    ratios+=("$ratio")
    printf 'connections %5d  round %d  wrk %9.0f rps  loadgen %9.0f rps  loadgen/wrk %s\n' \
      "$CONNS" "$round" "$w" "$l" "$ratio"
  done
  median=$(printf '%s\n' "${ratios[@]}" | sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}')
  echo "connections $CONNS: median loadgen/wrk = $median"
done
