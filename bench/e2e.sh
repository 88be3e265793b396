#!/usr/bin/env bash
# End-to-end benchmark: webhook → event → 2-step workflow (set_variables + complete) → finished run.
#
#   bench/e2e.sh [LOAD_SECONDS=5] [CONNECTIONS=8] [PACED_RATE=0]
#
# Starts hookflow (release, fresh SQLite data dir), creates a webhook (limits 0), an event and the
# workflow, drives the webhook with wrk (../shared/bench/load.sh: 320-byte JSON) for LOAD_SECONDS,
# then waits until every run has finished. Reports accepted requests, runs finished, and runs/s
# over the whole period (first request to last run finished), read from /metrics.
# With PACED_RATE > 0, then drives the webhook at about that many requests/s for 10 s (wrk with
# a per-connection pause, bench/lib/paced.lua) and reports webhook-received → run-finished
# latency p50/p99 of those runs, read from the database.
# HOOKFLOW_BIN=path uses that binary instead of building the release one. Needs wrk, curl, jq,
# python3.
. "$(dirname "${BASH_SOURCE[0]}")/lib/server.sh"
LOAD="${1:-5}" CONNS="${2:-8}" PACED="${3:-0}"
PORT=18190
DATA="${BENCH_WORK:-/tmp/hookflow-bench}/e2e-data"
hf_build
hf_serve_fresh "$PORT" "$DATA" /tmp/hookflow-e2e.log
A="Authorization: Bearer $TOKEN"
hf_webhook bench
hf_event bench-event >/dev/null
hf_workflow >/dev/null <<'YAML'
name: two-steps
variables: [{name: x, type: string}]
outputs: [{name: x, type: string}]
triggers: [{event: bench-event}]
steps:
  - {id: setx, type: set_variables, values: {x: "{{ trigger.body.event }}"}}
  - {id: done, type: complete, outputs: {x: "{{ vars.x }}"}}
YAML
metric() { hf_metric "http://127.0.0.1:$PORT" "$1"; }
# Waits until the runs finished (DONE) reach ACCEPTED requests.
drain() { # ACCEPTED
  while :; do
    DONE=$(metric 'hookflow_runs_finished_total')
    [[ "${DONE%.*}" -ge "${1%.*}" ]] && break
    sleep 0.1
  done
}
START=$(date +%s.%N)
R=$("$SHARED/load.sh" "$URL" "$LOAD" "$CONNS" 2 2>/dev/null | grep '^RESULT')
# The 202s answered. Requests in flight when wrk stops and closes its connections are still
# stored and run, but their 202 is never sent (nor counted): runs_finished may exceed accepted by
# up to the connections' number (measured: 44 with 64 connections, every delivery with exactly
# one run in the database).
ACCEPTED=$(metric 'hookflow_webhook_requests_total{status="202"}')
drain "$ACCEPTED"
END=$(date +%s.%N)
FAILED=$(curl -s "$B/runs?status=failed&limit=1" -H "$A" | jq '.items | length')
python3 - "$START" "$END" "$ACCEPTED" "$DONE" "$FAILED" "$R" <<'PY'
import sys
s, e, acc, done, failed, r = float(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4]), sys.argv[5], sys.argv[6]
print(r)
print(f"accepted={int(acc)} runs_finished={int(done)} failed_runs_seen={failed} elapsed_s={e-s:.2f} runs_per_s={done/(e-s):.0f}")
PY

if [[ "$PACED" -gt 0 ]]; then
  T0=$(python3 -c 'import time; print(int(time.time()*1000))')
  PACE_CONNS=16
  PACE_MS=$(( PACE_CONNS * 1000 / PACED ))
  BODY_FILE="$SHARED/lib/body.json" PACE_MS=$PACE_MS timeout 40 wrk -t2 -c$PACE_CONNS -d10s \
    -s "$HERE/lib/paced.lua" "$URL" | grep -E 'Requests/sec' || true
  drain "$(metric 'hookflow_webhook_requests_total{status="202"}')"
  python3 - "$DATA/hookflow.db" "$T0" <<'PY'
import sqlite3, sys
db = sqlite3.connect(sys.argv[1])
rows = sorted(r[0] for r in db.execute(
    "SELECT r.finished_at - d.received_at FROM runs r JOIN deliveries d ON d.id = r.delivery_id "
    "WHERE d.received_at >= ? AND r.status = 'succeeded'", (int(sys.argv[2]),)))
n = len(rows)
pick = lambda q: rows[min(n - 1, int(q * n))]
print(f"paced: runs={n} latency_ms p50={pick(0.5)} p90={pick(0.9)} p99={pick(0.99)} max={rows[-1]}")
PY
fi
