# shellcheck shell=bash
# What the scripts share: sourced, never run. One way to start a phase and read its port,
# one way to stop it, one ingest payload, one answer to "can we pin to CPUs here?".
#
#   . "$(dirname "$0")/lib.sh"
#   start_phase target/release/p3-reactor "$DIR" --log warn   # sets SERVER_PID, SERVER_ADDR, SERVER_PORT
#   ...
#   stop_phase

# The body of every scripted POST /ingest: the same event as the bench's scenarios
# (`EVENT` in benches/src/runner/scenarios.rs; a unit test there keeps the two equal).
EVENT='{"name":"cpu.load","value":0.93,"ts":1732370000123,"tags":{"host":"web-1","region":"eu-west-1"}}'

# Pinning: the server on CPU 0 and the client on CPU 1, where taskset and two CPUs exist.
# SERVER_CPU and CLIENT_CPU are command prefixes (empty arrays where pinning is impossible).
if command -v taskset >/dev/null && [ "$(nproc 2>/dev/null || echo 1)" -ge 2 ]; then
    SERVER_CPU=(taskset -c 0)
    CLIENT_CPU=(taskset -c 1)
    PINNING="server on CPU 0, client on CPU 1"
else
    SERVER_CPU=()
    CLIENT_CPU=()
    PINNING="none (needs taskset and 2 CPUs)"
fi

# start_phase BINARY DIR [FLAGS...]: starts a phase on 127.0.0.1:0 with DIR/data as its data
# dir (DIR must exist), stdout in DIR/stdout and stderr in DIR/stderr, pinned with
# $SERVER_CPU unless NO_PIN=1, and waits up to 10 s for SPEC's first line,
# `listening on http://IP:PORT (phase NAME, pid PID)`. Sets SERVER_PID, SERVER_ADDR (IP:PORT)
# and SERVER_PORT; returns 1, with the server's last stderr lines, if it did not start.
start_phase() {
    local bin=$1 dir=$2 line="" _
    shift 2
    local pin=("${SERVER_CPU[@]}")
    [ "${NO_PIN:-0}" = 1 ] && pin=()
    "${pin[@]}" "$bin" --addr 127.0.0.1:0 --data-dir "$dir/data" "$@" >"$dir/stdout" 2>"$dir/stderr" &
    SERVER_PID=$!
    for _ in $(seq 100); do
        line=$(head -n1 "$dir/stdout" 2>/dev/null || true)
        [[ $line == listening* ]] && break
        kill -0 "$SERVER_PID" 2>/dev/null || break
        sleep 0.1
    done
    if [[ $line != listening* ]]; then
        echo "$bin did not start: $(tail -n 3 "$dir/stderr" 2>/dev/null)" >&2
        stop_phase
        return 1
    fi
    SERVER_ADDR=$(sed -E 's|^listening on http://([^ ]*) .*|\1|' <<<"$line")
    SERVER_PORT=${SERVER_ADDR##*:}
}

# stop_phase: SIGTERM (a graceful stop), then SIGKILL if the server is still there after 8 s.
stop_phase() {
    local _
    [ -n "${SERVER_PID:-}" ] || return 0
    kill -TERM "$SERVER_PID" 2>/dev/null || true
    for _ in $(seq 80); do
        kill -0 "$SERVER_PID" 2>/dev/null || break
        sleep 0.1
    done
    kill -KILL "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
    SERVER_PID=
}
