#!/usr/bin/env bash
# Where one ingest request's CPU goes, per thread, beside the two reference servers.
#
#   bench/ingest_split.sh [DURATION_S=8] [REPEATS=1]
#
# Each repeat loads, with ../shared/bench/load.sh (wrk, 64 connections, the 320-byte JSON body),
# one after the other: the reference server in mode a (axum answering 202, storing nothing), in
# mode b (each body inserted into SQLite, WAL, synchronous=FULL, by one group-committing writer
# thread: the durable limit), and hookflow (release build, fresh SQLite data dir, one webhook with
# limits 0, no verification, no dedup). For each it prints req/s, p99, and the CPU time per
# request of each thread kind (/proc/PID/task/*/stat utime+stime, summed by thread name) and in
# all; for hookflow also the bytes written to disk per request (/proc/PID/io: WAL frames and
# checkpoints). CPU per request is steadier than req/s on this machine.
# HOOKFLOW_BIN=path uses that binary instead of building the release one. Needs wrk, python3.
. "$(dirname "${BASH_SOURCE[0]}")/lib/server.sh"
DUR="${1:-8}" REPEATS="${2:-1}"
WORK="${BENCH_WORK:-/tmp/hookflow-bench}"
PORT_REF=18182 PORT_HF=18183
hf_build
ref_build "$WORK"

# threads PID: "name ticks" per thread name, summed.
threads() {
  for t in /proc/"$1"/task/*; do
    echo "$(tr ' ' _ <"$t/comm") $(awk '{print $14 + $15}' "$t/stat")"
  done | awk '{s[$1] += $2} END {for (k in s) print k, s[k]}' | sort
}
written() { awk '/^write_bytes/ {print $2}' "/proc/$1/io"; }

# measure LABEL PID URL: warm up, load, print the split.
measure() {
  local label=$1 pid=$2 url=$3 before after w0 w1 out
  "$SHARED/load.sh" "$url" 2 >/dev/null 2>&1 || true
  before=$(threads "$pid"); w0=$(written "$pid")
  out=$("$SHARED/load.sh" "$url" "$DUR" 2>/dev/null | grep '^RESULT')
  after=$(threads "$pid"); w1=$(written "$pid")
  python3 - "$label" "$out" "$before" "$after" "$((w1 - w0))" "$(getconf CLK_TCK)" <<'PY'
import re, sys
label, out, before, after, wbytes, hz = sys.argv[1:]
req = int(re.search(r'requests=(\d+)', out).group(1))
rps = float(re.search(r'rps=([\d.]+)', out).group(1))
p99 = re.search(r'p99_ms=([\d.]+)', out).group(1)
b = dict(l.split() for l in before.splitlines())
us = lambda ticks: ticks * 1e6 / int(hz) / req
parts, total = [], 0
for line in after.splitlines():
    name, t = line.split()
    d = int(t) - int(b.get(name, 0))
    total += d
    if us(d) >= 0.1:
        parts.append(f"{name} {us(d):.1f}")
print(f"{label}\treq/s {rps:.0f}\tp99 {p99} ms\tcpu/req {us(total):.1f} us ({', '.join(parts)})"
      f"\twritten/req {int(wbytes) / req:.0f} B")
PY
}

for _ in $(seq 1 "$REPEATS"); do
  for mode in a b; do
    rm -f "$WORK"/limit.db*
    "$REF" serve --mode "$mode" --addr "127.0.0.1:$PORT_REF" --api-key KEY \
      --db "$WORK/limit.db" >"$WORK/ref.log" 2>&1 &
    REF_PID=$!
    hf_wait "http://127.0.0.1:$PORT_REF/"
    measure "reference-$mode" "$REF_PID" "http://127.0.0.1:$PORT_REF/webhooks/demo?api_key=KEY"
    kill "$REF_PID"; wait "$REF_PID" 2>/dev/null || true
  done
  hf_serve_fresh "$PORT_HF" "$WORK/split-data" "$WORK/split.log"
  hf_webhook bench '"verification":null,"dedup":null'
  measure hookflow "$PID" "$URL"
  kill "$PID"; wait "$PID" 2>/dev/null || true
done
