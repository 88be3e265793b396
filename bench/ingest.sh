#!/usr/bin/env bash
# Ingest benchmark: durable hookflow ingest vs the bare-HTTP reference server, in one run.
#
#   bench/ingest.sh [DURATION_S=10] [REPEATS=3]
#   VERIFY=1 bench/ingest.sh ...   # also hookflow with signature verification on (SPEC §9)
#   DEDUP=1 bench/ingest.sh ...    # also hookflow with verification and duplicate detection on
#
# For each repeat: the reference server (../shared/bench/limit-server, mode a: answer 202, store
# nothing) and hookflow (release build, fresh SQLite data dir, one webhook with limits 0) are each
# loaded with ../shared/bench/load.sh (wrk, 64 connections, 2 threads, 320-byte JSON). Reports
# req/s, p50/p99, the ratio hookflow/reference, hookflow's peak RSS (VmHWM) and whether every
# request wrk saw answered 202 is in the database (python3's sqlite3 counts the rows).
# With VERIFY=1 each repeat also loads a second fresh hookflow whose webhook verifies `github`
# signatures (HMAC-SHA256 of the body, enforced), every request carrying a valid
# X-Hub-Signature-256 computed once over the fixed body (wrk cannot sign per request; github has
# no timestamp); the `ratio_verify` line is hookflow+verify / hookflow of the same repeat.
# With DEDUP=1 the requests also carry a unique X-GitHub-Delivery (wrk's per-request Lua call, which
# is client CPU on the same cores), sent to three more servers: neither verification nor dedup on
# (hookflow+uniq), verification on (hookflow+verify+uniq), both on (hookflow+verify+dedup).
# `ratio_dedup` is both / verification alone; `ratio_both` is both / neither, the same requests:
# what switching both on costs (issue 13: within 15 %).
# HOOKFLOW_BIN=path uses that binary instead of building the release one.
# Needs: wrk (apt-get install -y wrk), python3. Loopback only.
. "$(dirname "${BASH_SOURCE[0]}")/lib/server.sh"
DUR="${1:-10}" REPEATS="${2:-3}"
WORK="${BENCH_WORK:-/tmp/hookflow-bench}"
PORT_REF=18180
PORT_HF=18181
hf_build
ref_build "$WORK"

field() { sed -n "s/.* $1=\([^ ]*\).*/\1/p"; }

BODY_FILE="$SHARED/lib/body.json"
SECRET=bench-signing-secret
SIG="sha256=$(python3 -c 'import hmac,hashlib,sys; print(hmac.new(sys.argv[1].encode(), open(sys.argv[2],"rb").read(), hashlib.sha256).hexdigest())' "$SECRET" "$BODY_FILE")"

# wrk as ../shared/bench/load.sh runs it (64 connections, 2 threads, the same body), with
# bench/lib/post_signed.lua: post.lua plus an optional fixed header.
load() { # URL DURATION [HEADER VALUE [UNIQUE_HEADER]]
  WRK_BODY_FILE="$BODY_FILE" WRK_SIG_HEADER="${3:-}" WRK_SIG_VALUE="${4:-}" \
    WRK_UNIQUE_HEADER="${5:-}" \
    timeout --kill-after=5 $(($2 + 15)) wrk -t2 -c64 -d"${2}s" --timeout 10s --latency \
    -s "$HERE/lib/post_signed.lua" "$1"
}

run_hookflow() { # RUN LABEL SIG_HEADER SIG_VALUE [UNIQUE_HEADER [nodedup|neither]] — one fresh server
  local run=$1 label=$2 sigh=$3 sigv=$4 uniq=${5:-} verification='null' dedup='null'
  [[ -n "$sigh" && "${6:-}" != neither ]] && verification="{\"scheme\":\"github\",\"secret\":\"$SECRET\"}"
  # the github preset: X-GitHub-Delivery, a different value on every request
  [[ -n "$uniq" && -z "${6:-}" ]] && dedup='{"key":"github"}'
  DATA="$WORK/data-$run-$label"; rm -rf "$DATA"
  hf_serve "$PORT_HF" "$DATA" "$WORK/hookflow.log"
  HF_PID=$PID
  hf_webhook bench "\"verification\":$verification,\"dedup\":$dedup"
  load "$URL" 2 "$sigh" "$sigv" "$uniq" >/dev/null 2>&1 || true
  count() { python3 -c "import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute(\"select count(*) from deliveries where status='accepted'\").fetchone()[0])" "$DATA/hookflow.db"; }
  BEFORE=$(count)
  H=$(load "$URL" "$DUR" "$sigh" "$sigv" "$uniq" 2>/dev/null | grep '^RESULT')
  RSS=$(awk '/VmHWM/ {printf "%.1f", $2/1024}' "/proc/$HF_PID/status")
  kill "$HF_PID"; wait "$HF_PID" 2>/dev/null || true
  AFTER=$(count)
  REQS=$(field requests <<<"$H"); NON=$(field non2xx <<<"$H")
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$run" "$label" "$(field rps <<<"$H")" \
    "$(field p50_ms <<<"$H")" "$(field p99_ms <<<"$H")" "$NON" "$RSS" "$((REQS - NON))" "$((AFTER - BEFORE))"
  LAST_RPS=$(field rps <<<"$H")
}

printf 'run\ttarget\trps\tp50_ms\tp99_ms\tnon2xx\tpeak_rss_mb\tanswered_202\trecorded\n'
for run in $(seq 1 "$REPEATS"); do
  # Reference: bare axum 202.
  "$REF" serve --mode a --addr "127.0.0.1:$PORT_REF" --api-key KEY >"$WORK/ref.log" 2>&1 &
  REF_PID=$!
  hf_wait "http://127.0.0.1:$PORT_REF/"
  "$SHARED/load.sh" "http://127.0.0.1:$PORT_REF/webhooks/demo?api_key=KEY" 2 >/dev/null 2>&1 || true
  R=$("$SHARED/load.sh" "http://127.0.0.1:$PORT_REF/webhooks/demo?api_key=KEY" "$DUR" 2>/dev/null | grep '^RESULT')
  kill "$REF_PID"; wait "$REF_PID" 2>/dev/null || true
  printf '%s\treference-a\t%s\t%s\t%s\t%s\t-\t-\t-\n' "$run" "$(field rps <<<"$R")" \
    "$(field p50_ms <<<"$R")" "$(field p99_ms <<<"$R")" "$(field non2xx <<<"$R")"
  REF_RPS=$(field rps <<<"$R")

  # hookflow: durable ingest (SQLite WAL, synchronous=FULL, group commit).
  run_hookflow "$run" hookflow '' ''
  PLAIN_RPS=$LAST_RPS
  python3 -c "import sys; print(f'{sys.argv[3]}\tratio\t{float(sys.argv[1])/float(sys.argv[2]):.2f}')" \
    "$PLAIN_RPS" "$REF_RPS" "$run"
  if [[ -n "${VERIFY:-}" ]]; then
    run_hookflow "$run" hookflow+verify X-Hub-Signature-256 "$SIG"
    python3 -c "import sys; print(f'{sys.argv[3]}\tratio_verify\t{float(sys.argv[1])/float(sys.argv[2]):.2f}')" \
      "$LAST_RPS" "$PLAIN_RPS" "$run"
  fi
  if [[ -n "${DEDUP:-}" ]]; then
    # The same load with a unique X-GitHub-Delivery per request (wrk's per-request Lua call is
    # client CPU on the same cores): neither check, verification only, both.
    run_hookflow "$run" hookflow+uniq X-Hub-Signature-256 "$SIG" X-GitHub-Delivery neither
    NEITHER_RPS=$LAST_RPS
    run_hookflow "$run" hookflow+verify+uniq X-Hub-Signature-256 "$SIG" X-GitHub-Delivery nodedup
    UNIQ_RPS=$LAST_RPS
    run_hookflow "$run" hookflow+verify+dedup X-Hub-Signature-256 "$SIG" X-GitHub-Delivery
    python3 -c "import sys; print(f'{sys.argv[4]}\tratio_dedup\t{float(sys.argv[1])/float(sys.argv[2]):.2f} (of the same load without dedup; {float(sys.argv[1])/float(sys.argv[3]):.2f} of plain)')" \
      "$LAST_RPS" "$UNIQ_RPS" "$PLAIN_RPS" "$run"
    python3 -c "import sys; print(f'{sys.argv[3]}\tratio_both\t{float(sys.argv[1])/float(sys.argv[2]):.2f} (verification and dedup on / neither, the same requests)')" \
      "$LAST_RPS" "$NEITHER_RPS" "$run"
  fi
done
