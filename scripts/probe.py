#!/usr/bin/env python3
"""The client side of scripts/book-outputs.sh's measurements: plain Python 3, standard library
only, loopback only, every step bounded in time. One subcommand per generated file:

    probe.py hog PORT PID HOGS
    probe.py slowloris PORT PID CLIENTS HEADER_TIMEOUT
    probe.py big-batch PORT PID SECONDS
    probe.py backpressure PORT PID STALL_SECONDS CLOSE_WAIT

The server's own numbers come from /proc/PID/status and its /stats (Linux only).
"""
import json, os, selectors, socket, sys, time

HOST = "127.0.0.1"
GET = b"GET /health HTTP/1.1\r\nHost: book\r\n\r\n"

def status(pid):
    """Threads, VmRSS and VmSize of a process, from /proc/PID/status (kB)."""
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            if key in ("Threads", "VmRSS", "VmSize", "VmHWM"):
                out[key] = int(value.split()[0])
    return out

def mib(kb):
    return f"{kb / 1024:,.1f} MiB"

def stats(port):
    """The server's /stats, on a connection of its own (HTTP/1.0: it closes after)."""
    s = socket.create_connection((HOST, port), timeout=5)
    s.sendall(b"GET /stats HTTP/1.0\r\n\r\n")
    data = b""
    while True:
        chunk = s.recv(65536)
        if not chunk:
            break
        data += chunk
    s.close()
    return json.loads(data.split(b"\r\n\r\n", 1)[1])

def timed_get(port, timeout):
    """Seconds until a fresh connection's GET /health is answered, or None."""
    start = time.monotonic()
    try:
        s = socket.create_connection((HOST, port), timeout=timeout)
        s.sendall(GET)
        data = s.recv(4096)
        s.close()
        return (time.monotonic() - start) if data.startswith(b"HTTP/1.1 200") else None
    except OSError:
        return None

def open_idle(port, n, wait):
    """n connections, each sends one GET /health; returns (sockets, answered, refused)."""
    socks = []
    for _ in range(n):
        s = socket.create_connection((HOST, port), timeout=10)
        s.sendall(GET)
        s.setblocking(False)
        socks.append(s)
    sel = selectors.DefaultSelector()
    for s in socks:
        sel.register(s, selectors.EVENT_READ)
    codes = {}
    deadline = time.monotonic() + wait
    pending = len(socks)
    while pending and time.monotonic() < deadline:
        for key, _ in sel.select(timeout=0.2):
            try:
                data = key.fileobj.recv(4096)
            except OSError:
                data = b""
            code = data[9:12].decode() if data.startswith(b"HTTP/1.") else "closed"
            codes[code] = codes.get(code, 0) + 1
            sel.unregister(key.fileobj)
            pending -= 1
    if pending:
        codes["no answer"] = pending
    return socks, codes

def hog(port, hogs):
    """`hogs` keep-alive clients get an answer and stay idle; is a newcomer served?"""
    socks, codes = open_idle(port, hogs, wait=3)
    print(f"{hogs} keep-alive clients connected, sent GET /health, got: "
          + ", ".join(f"{v} x {k}" for k, v in sorted(codes.items())) + "; now idle")
    t = timed_get(port, timeout=3)
    print("a new client's GET /health: "
          + (f"answered in {t * 1000:.1f} ms" if t is not None else "no answer within 3 s"))
    if t is not None:
        for s2 in socks:
            s2.close()
        return
    start = time.monotonic()
    s = socket.create_connection((HOST, port), timeout=10)
    s.sendall(GET)
    socks[0].close()
    print("one idle client leaves ...")
    try:
        data = s.recv(4096)
        first_line = data.split(b"\r\n")[0].decode() if data else "connection closed"
        print("a new client that connected just before is answered "
              f"{(time.monotonic() - start) * 1000:.0f} ms later: {first_line}")
    except OSError as e:
        print(f"the waiting client is still not answered after 10 s ({e})")
    for s2 in socks[1:] + [s]:
        s2.close()

def slowloris(port, clients, header_timeout):
    """Clients that send their head one byte every 0.5 s; does /health still answer?"""
    import threading
    head = b"POST /ingest HTTP/1.1\r\nHost: book\r\nContent-Type: application/json\r\n"
    socks = [socket.create_connection((HOST, port), timeout=10) for _ in range(clients)]
    for s in socks:
        s.setblocking(False)
    start = time.monotonic()
    limit = header_timeout * 3
    health = []
    def check_health():
        time.sleep(0.5)
        health.append(timed_get(port, timeout=limit))
    checker = threading.Thread(target=check_health)
    checker.start()
    answers = [None] * clients
    i = 0
    while time.monotonic() - start < limit and None in answers:
        for k, s in enumerate(socks):
            if answers[k] is not None:
                continue
            try:
                s.send(head[i % len(head):i % len(head) + 1])
            except OSError:
                pass
            try:
                data = s.recv(4096)
                line = data.split(b"\r\n")[0].decode() if data else "connection closed"
                answers[k] = (time.monotonic() - start, line)
            except BlockingIOError:
                pass
            except OSError as e:
                answers[k] = (time.monotonic() - start, f"error: {e.strerror}")
        i += 1
        time.sleep(0.5)
    checker.join()
    t = health[0]
    print(f"while {clients} slow clients trickle their heads, a GET /health sent at 0.5 s "
          + (f"is answered in {t * 1000:.1f} ms" if t is not None
             else f"gets no answer within {limit:.0f} s"))
    for k, a in enumerate(answers):
        if a is None:
            print(f"slow client {k + 1}: nothing after {limit:.0f} s")
        else:
            print(f"slow client {k + 1}: after {a[0]:4.1f} s: {a[1]}")
    for s in socks:
        s.close()

def backpressure(port, pid, stall_seconds, close_wait):
    """Pipeline GET /health as fast as the server takes them, and never read an answer."""
    s = socket.create_connection((HOST, port), timeout=10)
    s.setblocking(False)
    batch = GET * 1000
    sent = 0
    start = time.monotonic()
    stalled_since = None
    last_sample = -1.0
    print(f"{'time':>6} {'bytes sent':>11} {'requests sent':>14} {'requests answered':>18} "
          f"{'server RSS':>11}")
    samples = [0]
    def sample(t):
        # requests_total counts this probe's own earlier GET /stats too: take them out.
        answered = stats(port)["requests_total"] - samples[0]
        samples[0] += 1
        print(f"{t:5.1f}s {sent:>11,} {sent // len(GET):>14,} {answered:>18,} "
              f"{mib(status(pid)['VmRSS']):>11}")
    while True:
        now = time.monotonic() - start
        if now - last_sample >= 1.0:
            sample(now)
            last_sample = now
        try:
            sent += s.send(batch)
            stalled_since = None
        except BlockingIOError:
            stalled_since = stalled_since or time.monotonic()
            if time.monotonic() - stalled_since > stall_seconds:
                break
            time.sleep(0.05)
        if now > 30:
            print("still sending after 30 s: the server never stopped reading")
            break
    sample(time.monotonic() - start)
    print(f"the client's send() has blocked for {stall_seconds:.0f} s: the server stopped reading")
    t = timed_get(port, timeout=5)
    print("meanwhile, another client's GET /health: "
          + (f"answered in {t * 1000:.1f} ms" if t is not None else "NO ANSWER within 5 s"))
    stall = time.monotonic()
    while time.monotonic() - stall < close_wait:
        try:
            s.send(b"x")
        except BlockingIOError:
            time.sleep(0.25)
            continue
        except OSError as e:
            print(f"the server closed the stalled connection {time.monotonic() - stall:.1f} s "
                  f"later ({e.strerror})")
            break
    else:
        print(f"the stalled connection is still open {close_wait} s later")
    s.close()

def big_batch(port, seconds):
    """GET /health latency, alone and while another client posts 10,000-event batches."""
    import http.client, threading
    batch = b"\n".join(b'{"name":"cpu.load","value":0.93}' for _ in range(10000)) + b"\n"
    def health_latencies(until):
        c = http.client.HTTPConnection(HOST, port, timeout=10)
        out = []
        while time.monotonic() < until:
            t = time.monotonic()
            c.request("GET", "/health")
            c.getresponse().read()
            out.append((time.monotonic() - t) * 1000)
        c.close()
        return sorted(out)
    def row(label, lat, batches):
        pick = lambda q: lat[min(len(lat) - 1, int(q * len(lat)))]
        print(f"{label:<34} {len(lat):>8,} {pick(0.5):>8.2f} {pick(0.99):>8.2f} "
              f"{lat[-1]:>8.2f} {batches:>8}")
    print(f"{'GET /health on one connection':<34} {'requests':>8} {'p50 ms':>8} "
          f"{'p99 ms':>8} {'max ms':>8} {'batches':>8}")
    row("alone", health_latencies(time.monotonic() + seconds), "-")
    posted = [0]
    stop = time.monotonic() + seconds
    def poster():
        c = http.client.HTTPConnection(HOST, port, timeout=10)
        while time.monotonic() < stop:
            c.request("POST", "/ingest", body=batch,
                      headers={"Content-Type": "application/x-ndjson"})
            r = c.getresponse()
            r.read()
            posted[0] += r.status == 202
        c.close()
    t = threading.Thread(target=poster)
    t.start()
    lat = health_latencies(stop)
    t.join()
    row("while another client posts batches", lat, posted[0])

cmd, port, pid = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
if cmd == "hog":
    hog(port, int(sys.argv[4]))
elif cmd == "slowloris":
    slowloris(port, int(sys.argv[4]), float(sys.argv[5]))
elif cmd == "big-batch":
    big_batch(port, float(sys.argv[4]))
elif cmd == "backpressure":
    backpressure(port, pid, float(sys.argv[4]), float(sys.argv[5]))
