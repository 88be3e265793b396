#!/usr/bin/env bash
# Ingest latency while retention prunes a large backlog, vs the same load without pruning.
#
#   bench/retention.sh [BACKLOG=500000] [DURATION_S=20] [REPEATS=2]
#
# Builds one SQLite data directory (release build): BACKLOG deliveries ingested through wrk,
# then, with the server stopped, each given a finished run with two steps (INSERTed by python3's
# sqlite3) and everything moved 100 days back. Each repeat then copies that directory twice and
# loads each copy with wrk (64 connections, 2 threads, the 320-byte body of ../shared/bench):
#   - `keep`:  serve --retain-days 0 (no pruning);
#   - `prune`: serve --retain-days 90, the load starting once the first pass has deleted rows;
#     the line says how many rows the pruner deleted during the load and whether it was still
#     at work when the load ended (it must be, for the numbers to mean "while pruning").
# Prints req/s, p50/p99/max latency and non-2xx per run. HOOKFLOW_BIN=path uses that binary
# instead of building the release one. Needs wrk, python3. Loopback only.
. "$(dirname "${BASH_SOURCE[0]}")/lib/server.sh"
BACKLOG="${1:-500000}" DUR="${2:-20}" REPEATS="${3:-2}"
WORK="${BENCH_WORK:-/tmp/hookflow-bench-retention}"
PORT=18191
API="http://127.0.0.1:$PORT"
BODY_FILE="$SHARED/lib/body.json"
mkdir -p "$WORK"

command -v wrk >/dev/null || { echo "wrk missing: apt-get install -y wrk" >&2; exit 2; }
hf_build
HF_WAIT_TRIES=400

field() { sed -n "s/.* $1=\([^ ]*\).*/\1/p"; }
load() { # URL DURATION
  WRK_BODY_FILE="$BODY_FILE" timeout --kill-after=5 $(($2 + 15)) \
    wrk -t2 -c64 -d"${2}s" --timeout 10s --latency -s "$SHARED/lib/post.lua" "$1"
}
start() { # DATA_DIR RETAIN_DAYS
  hf_serve "$PORT" "$1" "$WORK/hookflow.log" --retain-days "$2"
  HF_PID=$PID
}
stop() { kill "$HF_PID"; wait "$HF_PID" 2>/dev/null || true; }
pruned() { # rows deleted so far, all tables
  curl -s "$API/metrics" | awk '/^hookflow_retention_pruned_total/ {n += $2} END {print n + 0}'
}

SEED="$WORK/seed"
if [[ ! -f "$SEED/.done-$BACKLOG" ]]; then
  rm -rf "$SEED"
  start "$SEED" 0
  hf_webhook bench
  echo "$URL" >"$SEED/url"
  count() { python3 -c "import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute('select count(*) from deliveries').fetchone()[0])" "$SEED/hookflow.db"; }
  while (( $(count) < BACKLOG )); do load "$URL" 30 >/dev/null 2>&1 || true; done
  stop
  python3 - "$SEED/hookflow.db" <<'EOF'
import sqlite3, sys
db = sqlite3.connect(sys.argv[1])
back = 100 * 86_400_000
db.executescript(f"""
UPDATE deliveries SET received_at = received_at - {back};
INSERT INTO runs (id, workflow_id, workflow_name, status, trigger_kind, delivery_id, inputs,
    outputs, depth, cancel_requested, available_at, claims, created_at, started_at, finished_at,
    workflow_version)
  SELECT 'run-' || id, 'wf-bench', 'bench', 'succeeded', 'webhook', id, '{{}}', '{{}}', 0, 0,
    received_at, 1, received_at, received_at + 5, received_at + 20, 1 FROM deliveries;
INSERT INTO run_steps (run_id, path, seq, step_id, step_type, status, input, output, attempts,
    started_at, finished_at)
  SELECT id, 's' || n, n, 'step' || n, 'set_variables', 'succeeded', '{{"a": 1}}',
    '{{"a": 1}}', 1, started_at, finished_at FROM runs, (SELECT 0 AS n UNION ALL SELECT 1);
""")
db.commit()
print("seeded:", *(f"{t}={db.execute(f'select count(*) from {t}').fetchone()[0]}"
                   for t in ("deliveries", "runs", "run_steps")))
EOF
  touch "$SEED/.done-$BACKLOG"
fi
URL_PATH=$(sed 's#^http://[^/]*##' "$SEED/url")

echo "machine: $(nproc) vCPU, $(uptime | sed 's/.*load average/load average/')"
printf 'run\tmode\trps\tp50_ms\tp99_ms\tmax_ms\tnon2xx\tpruned_during\tpruner_busy_after\n'
for run in $(seq 1 "$REPEATS"); do
  for mode in keep prune; do
    DATA="$WORK/data-$mode"; rm -rf "$DATA"; cp -a "$SEED" "$DATA"
    days=0; [[ $mode == prune ]] && days=90
    start "$DATA" "$days"
    if [[ $mode == prune ]]; then
      for _ in $(seq 1 200); do (( $(pruned) > 0 )) && break; sleep 0.05; done
    fi
    P0=$(pruned)
    H=$(load "$API$URL_PATH" "$DUR" 2>/dev/null | grep '^RESULT')
    P1=$(pruned); sleep 1; P2=$(pruned)
    busy=no; (( P2 > P1 )) && busy=yes
    [[ $mode == keep ]] && busy=-
    stop
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$run" "$mode" "$(field rps <<<"$H")" \
      "$(field p50_ms <<<"$H")" "$(field p99_ms <<<"$H")" "$(field max_ms <<<"$H")" \
      "$(field non2xx <<<"$H")" "$((P1 - P0))" "$busy"
  done
done
