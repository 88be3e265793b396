#!/usr/bin/env bash
# Ingest req/s and end-to-end runs/s on SQLite, on PostgreSQL with one node, and on PostgreSQL
# with two nodes of one installation — the same load in each setup, on this machine.
#
#   bench/nodes.sh [DURATION_S=10] [SETUPS="sqlite pg1 pg2"]
#
# For each setup: fresh database (SQLite data dir, or a fresh PostgreSQL database `hookflow_bench`
# on $PG_URL, default postgres://postgres@127.0.0.1:5432), hookflow release build, nodes sharing
# one master key and admin token. Two phases, each spreading wrk's connections evenly over the
# nodes (one wrk per node, started together; ../shared/bench/load.sh, 320-byte JSON):
#   ingest — a webhook with no event: 64 connections for DURATION_S; req/s summed over nodes,
#            p99 of the worst node, and the 202s wrk counted beside the accepted rows in the
#            database (which hold a few more: requests in flight when wrk stopped counting).
#   e2e    — a webhook → event → 2-step workflow (set_variables + complete): 16 connections for
#            DURATION_S, then wait until every run finished; runs/s = runs / (first request to
#            last run finished), from each node's /metrics.
# HOOKFLOW_BIN=path uses that binary instead of building the release one.
# Needs wrk, curl, jq, python3, psql (for the PostgreSQL setups).
. "$(dirname "${BASH_SOURCE[0]}")/lib/server.sh"
DUR="${1:-10}" SETUPS="${2:-sqlite pg1 pg2}"
PG_URL="${PG_URL:-postgres://postgres@127.0.0.1:5432}"
WORK="${BENCH_WORK:-/tmp/hookflow-bench}/nodes"
KEY="$(python3 -c 'import base64,os; print(base64.b64encode(os.urandom(32)).decode())')"
BASE_PORT=18200
command -v wrk >/dev/null || { echo "wrk missing: apt-get install -y wrk" >&2; exit 2; }
hf_build
mkdir -p "$WORK"
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT
field() { sed -n "s/.* $1=\([^ ]*\).*/\1/p"; }
psql_db() { PGOPTIONS="-c client_min_messages=warning" psql "$PG_URL/$1" -Atq -c "$2"; }

start_nodes() { # SETUP → sets NODES (ports)
  local setup=$1 n=1 db_args=()
  NODES=()
  case "$setup" in
    sqlite) ;;
    pg1|pg2)
      [[ $setup == pg2 ]] && n=2
      psql_db postgres "DROP DATABASE IF EXISTS hookflow_bench WITH (FORCE)"
      psql_db postgres "CREATE DATABASE hookflow_bench"
      db_args=(--database "$PG_URL/hookflow_bench") ;;
    *) echo "unknown setup $setup" >&2; exit 2 ;;
  esac
  for i in $(seq 1 "$n"); do
    local port=$((BASE_PORT + i)) data="$WORK/$setup-data-$i"
    rm -rf "$data"
    HOOKFLOW_ADMIN_TOKEN=$TOKEN HOOKFLOW_MASTER_KEY=$KEY HOOKFLOW_LOG=warn "$BIN" serve \
      --listen "127.0.0.1:$port" --data-dir "$data" "${db_args[@]}" ${HF_ARGS:-} >"$WORK/$setup-$i.log" 2>&1 &
    PIDS+=($!)
    hf_wait "http://127.0.0.1:$port/healthz"
    NODES+=("$port")
  done
}

api() { # METHOD PATH [curl args…] — through the first node
  local m=$1 p=$2; shift 2
  curl -sf -X "$m" "http://127.0.0.1:${NODES[0]}/api/v1$p" -H "Authorization: Bearer $TOKEN" "$@"
}

webhook() { # NAME → Webhook URL path+query (without host)
  api POST /webhooks -d "{\"name\":\"$1\",\"content_type\":\"application/json\",\"rate_limit_per_minute\":0,\"rate_limit_per_day\":0}" |
    jq -r .url | sed 's|^http://[^/]*||'
}

load_all() { # PATH CONNS → prints "requests non2xx rps worst_p99"
  local path=$1 conns=$2 n=${#NODES[@]} i=0 outs=() loads=()
  local per=$((conns / n)) threads=$((2 / n > 0 ? 2 / n : 1))
  for port in "${NODES[@]}"; do
    outs+=("$WORK/load-$i.out")
    "$SHARED/load.sh" "http://127.0.0.1:$port$path" "$DUR" "$per" "$threads" >"$WORK/load-$i.out" 2>/dev/null &
    loads+=($!)
    i=$((i + 1))
  done
  wait "${loads[@]}" || true
  python3 - "${outs[@]}" <<'PY'
import re, sys
req = non = 0; rps = 0.0; p99 = 0.0
for f in sys.argv[1:]:
    line = [l for l in open(f) if l.startswith("RESULT")][0]
    kv = dict(x.split("=", 1) for x in line.split()[1:])
    req += int(kv["requests"]); non += int(kv["non2xx"]); rps += float(kv["rps"])
    p99 = max(p99, float(kv["p99_ms"]))
print(req, non, f"{rps:.0f}", f"{p99:.2f}")
PY
}

metric_sum() { # REGEX → summed over nodes
  local total=0 v
  for port in "${NODES[@]}"; do
    v=$(curl -s "http://127.0.0.1:$port/metrics" | awk -v m="$1" '$1 ~ "^"m {s+=$2} END {printf "%d", s+0}')
    total=$((total + v))
  done
  echo "$total"
}

accepted_in_db() { # SETUP WEBHOOK_PATH
  local id; id=$(sed 's|^/webhooks/\([^?]*\).*|\1|' <<<"$2")
  case "$1" in
    sqlite) python3 -c "import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute(\"select count(*) from deliveries where status='accepted' and webhook_id=?\", (sys.argv[2],)).fetchone()[0])" "$WORK/sqlite-data-1/hookflow.db" "$id" ;;
    *) psql_db hookflow_bench "select count(*) from deliveries where status='accepted' and webhook_id='$id'" ;;
  esac
}

printf 'setup\tnodes\tingest_rps\tingest_p99_ms\tanswered_202\trecorded\te2e_accepted\truns_finished\truns_per_s\n'
for setup in $SETUPS; do
  start_nodes "$setup"
  # Phase 1: ingest only.
  P=$(webhook ingest)
  "$SHARED/load.sh" "http://127.0.0.1:${NODES[0]}$P" 2 >/dev/null 2>&1 || true # warm-up
  W0=$(accepted_in_db "$setup" "$P")
  read -r REQ NON RPS P99 < <(load_all "$P" 64)
  sleep 0.5
  REC=$(( $(accepted_in_db "$setup" "$P") - W0 ))
  # Phase 2: webhook → event → workflow → finished run.
  E=$(webhook e2e)
  api POST /events -d "{\"name\":\"e2e\",\"webhook_id\":\"$(sed 's|^/webhooks/\([^?]*\).*|\1|' <<<"$E")\"}" >/dev/null
  api POST /workflows -H 'Content-Type: application/yaml' --data-binary @- >/dev/null <<'YAML'
name: two-steps
variables: [{name: x, type: string}]
outputs: [{name: x, type: string}]
triggers: [{event: e2e}]
steps:
  - {id: setx, type: set_variables, values: {x: "{{ trigger.body.event }}"}}
  - {id: done, type: complete, outputs: {x: "{{ vars.x }}"}}
YAML
  DONE0=$(metric_sum 'hookflow_runs_finished_total')
  T0=$(date +%s.%N)
  read -r EREQ ENON _ _ < <(load_all "$E" 16)
  ACC=$((EREQ - ENON))
  DEADLINE=$(( $(date +%s) + 300 ))
  while :; do
    DONE=$(( $(metric_sum 'hookflow_runs_finished_total') - DONE0 ))
    [[ $DONE -ge $ACC || $(date +%s) -gt $DEADLINE ]] && break
    sleep 0.1
  done
  T1=$(date +%s.%N)
  RPS_RUNS=$(python3 -c "import sys; print(f'{int(sys.argv[1])/(float(sys.argv[3])-float(sys.argv[2])):.0f}')" "$DONE" "$T0" "$T1")
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$setup" "${#NODES[@]}" "$RPS" "$P99" \
    "$((REQ - NON))" "$REC" "$ACC" "$DONE" "$RPS_RUNS"
  cleanup
  PIDS=()
done
