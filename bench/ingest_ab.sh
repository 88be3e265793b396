#!/usr/bin/env bash
# Two hookflow binaries on the ingest load, alternating, with the per-thread CPU split.
#
#   bench/ingest_ab.sh PAIRS BIN_A BIN_B
#
# Each run: a fresh SQLite data dir, one webhook with limits 0 (no verification, no dedup), 2 s of
# warm-up, then 8 s of ../shared/bench/load.sh (wrk, 64 connections, the 320-byte JSON body).
# One line per run: req/s, p99, CPU per request in all and by thread kind (/proc/PID/task/*/stat),
# the mean commit time and batch size (hookflow_journal_commit_seconds on /metrics). Alternating
# A and B run after run is what separates a change from this machine's drift (the same binary
# gives 34k-52k req/s from one run to the next). Needs wrk, python3. Loopback only.
. "$(dirname "${BASH_SOURCE[0]}")/lib/server.sh"
if [[ $# -ne 3 ]]; then
  echo "usage: bench/ingest_ab.sh PAIRS BIN_A BIN_B" >&2
  exit 2
fi
PAIRS=$1 BIN_A=$2 BIN_B=$3
WORK="${BENCH_WORK:-/tmp/hookflow-bench}/ab"
PORT=18196

# threads PID: "name ticks" per thread name, summed.
threads() {
  for t in /proc/"$1"/task/*; do
    echo "$(tr ' ' _ <"$t/comm") $(awk '{print $14 + $15}' "$t/stat")"
  done | awk '{s[$1] += $2} END {for (k in s) print k, s[k]}' | sort
}
commits() { curl -s "http://127.0.0.1:$PORT/metrics" | awk '/^hookflow_journal_commit_seconds_(sum|count)/ {printf "%s ", $2}'; }

run() { # BIN LABEL
  BIN=$1
  rm -rf "$WORK"; mkdir -p "$WORK"
  hf_serve "$PORT" "$WORK/data" "$WORK/hookflow.log"
  hf_webhook bench
  "$SHARED/load.sh" "$URL" 2 >/dev/null 2>&1 || true
  local m0 m1 t0 t1 out
  m0=$(commits); t0=$(threads "$PID")
  out=$("$SHARED/load.sh" "$URL" 8 2>/dev/null | grep '^RESULT')
  t1=$(threads "$PID"); m1=$(commits)
  kill "$PID"; wait "$PID" 2>/dev/null || true
  python3 - "$2" "$out" "$t0" "$t1" "$m0" "$m1" "$(getconf CLK_TCK)" <<'PY'
import re, sys
label, out, t0, t1, m0, m1, hz = sys.argv[1:]
n = int(re.search(r'requests=(\d+)', out).group(1))
rps = float(re.search(r'rps=([\d.]+)', out).group(1))
p99 = re.search(r'p99_ms=([\d.]+)', out).group(1)
parse = lambda t: {l.split()[0]: int(l.split()[1]) for l in t.splitlines()}
a, b = parse(t0), parse(t1)
us = {k: (b[k] - a.get(k, 0)) * 1e6 / int(hz) / n for k in b}
(s0, c0), (s1, c1) = map(float, m0.split()), map(float, m1.split())
print(f"{label} rps {rps:8.0f} p99 {p99:>7} ms cpu/req {sum(us.values()):5.1f} us "
      f"(writer {us.get('hookflow-journa', 0):4.1f}, http {us.get('tokio-rt-worker', 0):4.1f}, "
      f"checkpointer {us.get('hookflow-checkp', 0):3.1f}) commit {(s1 - s0) / (c1 - c0) * 1e6:4.0f} us "
      f"batch {n / (c1 - c0):4.1f}")
PY
}

for _ in $(seq 1 "$PAIRS"); do
  run "$BIN_A" A
  run "$BIN_B" B
done
