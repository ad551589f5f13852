"""Long stalls of a server's threads (and its clients'), from `perf sched script` output.

    perf sched script -i sched.data | python3 scripts/sched-stalls.py PID [MS]

Prints, as each ends, every time one of PID's threads slept for MS milliseconds or more
(default 20) and which thread woke it, and every time one waited MS or more for a CPU after
being woken (the machine was busy). A worker woken by `event-log` after a long sleep was
waiting for the event log; one woken by a sibling worker was parked, idle. Used by
scripts/big-batch-rounds.sh (PERF_SCHED=1).
"""
import os, re, sys

pid, limit = sys.argv[1], float(sys.argv[2]) if len(sys.argv) > 2 else 20.0
# The threads must be listed while the processes live: the caller passes them in STALL_TIDS.
tids = set(os.environ.get("STALL_TIDS", "").split()) or {pid}
line_re = re.compile(r"^\s*(.+?)\s+(\d+)\s+\[\d+\]\s+([\d.]+):\s+sched:(\w+):\s+(.*)$")
switch_re = re.compile(r"prev_comm=(.*?) prev_pid=(\d+) .*prev_state=(\S+) ==> "
                       r"next_comm=(.*?) next_pid=(\d+)")
waking_re = re.compile(r"comm=(.*?) pid=(\d+)")
asleep = {}  # tid -> (since, name)
woken = {}   # tid -> (at, waker)
for line in sys.stdin:
    m = line_re.match(line)
    if not m:
        continue
    comm, tid, ts, event, rest = m.group(1), m.group(2), float(m.group(3)), m.group(4), m.group(5)
    if event == "sched_switch":
        s = switch_re.search(rest)
        if not s:
            continue
        prev_comm, prev_tid, state, next_comm, next_tid = s.groups()
        if prev_tid in tids and state.startswith(("S", "D")):
            asleep[prev_tid] = (ts, prev_comm)
        if next_tid in woken:
            at, waker = woken.pop(next_tid)
            if (ts - at) * 1000 >= limit:
                print(f"{at:.3f}  {next_comm}/{next_tid} waited {(ts - at) * 1000:.1f} ms for a CPU")
    elif event == "sched_waking":
        w = waking_re.search(rest)
        if not w or w.group(2) not in tids:
            continue
        target = w.group(2)
        if target in asleep:
            since, name = asleep.pop(target)
            if (ts - since) * 1000 >= limit:
                print(f"{since:.3f}  {name}/{target} slept {(ts - since) * 1000:.1f} ms, "
                      f"woken by {comm}/{tid}")
        woken[target] = (ts, comm)
