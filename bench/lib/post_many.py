#!/usr/bin/env python3
"""POST a body COUNT times to one loopback URL over CONNS keep-alive connections, each in its own
thread, and print one line: `sent=N status_<code>=n ... seconds=S`.

    post_many.py URL COUNT CONNS CONTENT_TYPE BODY

A count, not a duration (wrk's way): the UI benchmark needs a known number of deliveries.
"""
import collections
import http.client
import sys
import threading
import time
import urllib.parse

url, count, conns, content_type, body = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5]
u = urllib.parse.urlsplit(url)
if u.hostname not in ("127.0.0.1", "localhost", "::1"):
    sys.exit(f"post_many.py: refusing non-loopback target {url}")
target = u.path + ("?" + u.query if u.query else "")
payload = body.encode()
statuses = collections.Counter()
lock = threading.Lock()
next_index = [0]


def take():
    with lock:
        if next_index[0] >= count:
            return False
        next_index[0] += 1
        return True


def worker():
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
    local = collections.Counter()
    while take():
        conn.request("POST", target, body=payload, headers={"Content-Type": content_type, "Accept": "application/json"})
        resp = conn.getresponse()
        resp.read()
        local[resp.status] += 1
        if resp.getheader("Connection", "").lower() == "close":
            conn.close()
            conn = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
    conn.close()
    with lock:
        statuses.update(local)


start = time.monotonic()
threads = [threading.Thread(target=worker) for _ in range(conns)]
for t in threads:
    t.start()
for t in threads:
    t.join()
elapsed = time.monotonic() - start
codes = " ".join(f"status_{c}={n}" for c, n in sorted(statuses.items()))
print(f"sent={sum(statuses.values())} {codes} seconds={elapsed:.1f}")
