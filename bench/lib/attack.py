#!/usr/bin/env python3
"""Hostile clients for bench/hostile.sh: keeps N attack connections open against a hookflow
server for a while, re-opening each one the server closes, and prints what happened.

    attack.py MODE HOST:PORT N SECONDS [--from-ips K] [--webhook ID] [--reconnect-delay S]

MODE (the probes of issue 9):
  headers   GET /healthz with an X-Pad header of 400,000 'a's, never finishing the headers
  idle      a third send nothing, a third half a header section, a third half a body
  wrongkey  POST /webhooks/ID with X-Api-Key: wrong and Content-Length: 1048576, one body
            byte, then stall
A connection the server closes is opened again after --reconnect-delay seconds (default 1: the
attack keeps N sockets at it; 0 turns it into a connection flood). Connections come from 127.0.0.2 (or spread over 127.0.0.2 .. 127.0.0.(K+1) with --from-ips K).
Loopback only; stops by itself after SECONDS.
"""
import argparse
import asyncio
import collections
import resource
import socket
import sys
import time

PAD = b"a" * 400_000


def request_bytes(mode, webhook, opened):
    """What an attack connection sends (and then never finishes)."""
    if mode == "headers":
        return b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Pad: " + PAD
    if mode == "idle":
        kind = opened % 3
        if kind == 1:
            return b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Half: "
        if kind == 2:
            return (
                b"POST /webhooks/%s HTTP/1.1\r\nHost: x\r\nAccept: application/json\r\n"
                b"Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n{" % webhook.encode()
            )
        return b""
    return (
        b"POST /webhooks/%s HTTP/1.1\r\nHost: x\r\nX-Api-Key: wrong\r\n"
        b"Accept: application/json\r\nContent-Type: application/json\r\n"
        b"Content-Length: 1048576\r\n\r\n{" % webhook.encode()
    )


async def one(mode, host, port, src, webhook, stop_at, stats, delay):
    """One attack connection, re-opened until the time is up. Plain non-blocking sockets (no
    name resolution, no stream objects) so the attacker spends little CPU per connection."""
    loop = asyncio.get_running_loop()
    first = True
    while time.monotonic() < stop_at:
        if not first:
            await asyncio.sleep(delay)
        first = False
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setblocking(False)
        try:
            sock.bind((src, 0))
            await asyncio.wait_for(loop.sock_connect(sock, (host, port)), 5)
        except Exception as e:  # refused, out of ports or descriptors, timed out
            stats["connect_error:" + type(e).__name__] += 1
            sock.close()
            await asyncio.sleep(0.2)
            continue
        stats["opened"] += 1
        try:
            data = request_bytes(mode, webhook, stats["opened"])
            if data:
                try:
                    await asyncio.wait_for(
                        loop.sock_sendall(sock, data), max(0.1, stop_at - time.monotonic())
                    )
                except asyncio.TimeoutError:
                    pass
            # Wait for the server to answer or close, never sending more.
            left = stop_at - time.monotonic()
            if left > 0:
                try:
                    got = await asyncio.wait_for(loop.sock_recv(sock, 256), left)
                    if got.startswith(b"HTTP/1.1 "):
                        stats["answered_" + got[9:12].decode()] += 1
                    else:
                        stats["closed_unanswered"] += 1
                except asyncio.TimeoutError:
                    stats["still_open_at_end"] += 1
        except (ConnectionError, OSError):
            stats["reset"] += 1
        finally:
            sock.close()


async def main():
    p = argparse.ArgumentParser()
    p.add_argument("mode", choices=["headers", "idle", "wrongkey"])
    p.add_argument("addr")
    p.add_argument("n", type=int)
    p.add_argument("seconds", type=float)
    p.add_argument("--from-ips", type=int, default=1)
    p.add_argument("--webhook", default="00000000-0000-0000-0000-000000000000")
    p.add_argument("--reconnect-delay", type=float, default=1.0)
    a = p.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    host, port = a.addr.rsplit(":", 1)
    stop_at = time.monotonic() + a.seconds
    stats = collections.Counter()
    tasks = []
    for i in range(a.n):
        src = "127.0.0.%d" % (2 + i % a.from_ips)
        tasks.append(one(a.mode, host, int(port), src, a.webhook, stop_at, stats, a.reconnect_delay))
    await asyncio.gather(*tasks)
    print("ATTACK mode=%s n=%d %s" % (a.mode, a.n, " ".join(
        "%s=%d" % kv for kv in sorted(stats.items()))))


if __name__ == "__main__":
    asyncio.run(main())
    sys.exit(0)
