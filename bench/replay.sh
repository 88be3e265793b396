#!/usr/bin/env bash
# Replay benchmark (SPEC §10, issue 14): webhook ingest p99 with and without a bulk replay of
# 1,000 deliveries running, and the replay's wall time.
#
#   bench/replay.sh [DURATION_S=10] [REPEATS=3] [DELIVERIES=1000]
#
# Starts hookflow (release, fresh SQLite data dir, or HOOKFLOW_DATABASE_URL=postgres://… for a
# PostgreSQL database that must be empty), creates one webhook (no rate limit) whose event starts
# one workflow (a single `complete` step), and sends it DELIVERIES requests (the deliveries to
# replay, each with its run). Then, per repeat:
#   - baseline: wrk (64 connections, 2 threads, the shared 320-byte body, as bench/ingest.sh) for
#     DURATION_S against the webhook;
#   - with replay: the same load, and meanwhile `POST /api/v1/webhooks/{id}/replay` over the
#     DELIVERIES deliveries' time range, again and again back to back until the load ends (so the
#     whole measured window is "during a replay"; each call starts DELIVERIES new runs, which the
#     workers then execute on the same 2 cores).
# Reports the wall time of three replay calls with no load first, then per repeat rps and
# p50/p99 of both phases, the p99 ratio, and the replay calls' wall times under load (curl
# time_total, p50 and max), each answer checked (DELIVERIES deliveries, DELIVERIES runs).
# Every request is also sent to the same webhook, so ingest's own deliveries start runs too.
# HOOKFLOW_BIN=path uses that binary instead of building the release one. Needs wrk, curl, jq,
# python3. Loopback only.
. "$(dirname "${BASH_SOURCE[0]}")/lib/server.sh"
DUR="${1:-10}" REPEATS="${2:-3}" DELIVERIES="${3:-1000}"
PORT=18194
WORK="${BENCH_WORK:-/tmp/hookflow-bench}/replay"
command -v wrk >/dev/null || { echo "wrk missing: apt-get install -y wrk" >&2; exit 2; }
hf_build
hf_serve_work "$PORT" "$WORK"
api() { curl -sf -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' "$@"; }
field() { sed -n "s/.* $1=\([^ ]*\).*/\1/p"; }

hf_webhook bench
hf_event bench-in >/dev/null
hf_workflow <<<$'name: bench-wf\ntriggers:\n  - event: bench-in\nsteps:\n  - {id: done, type: complete}\n' \
  | jq -e '.validation.status == "valid"' >/dev/null
FROM=$(date -u +%Y-%m-%dT%H:%M:%S.%3NZ)
sleep 0.01
python3 "$HERE/lib/post_many.py" "$URL" "$DELIVERIES" 4 application/json "$(cat "$SHARED/lib/body.json")"
sleep 0.01
TO=$(date -u +%Y-%m-%dT%H:%M:%S.%3NZ)
REPLAY=$(jq -cn --arg f "$FROM" --arg t "$TO" '{from: $f, to: $t}')
# The range holds exactly the deliveries to replay.
api -X POST "$B/webhooks/$HOOK/replay" -d "$(jq -c '. + {dry_run: true}' <<<"$REPLAY")" \
  | jq -e --argjson n "$DELIVERIES" '.deliveries == $n and .runs_started == $n' >/dev/null \
  || { echo "the range does not hold the $DELIVERIES deliveries" >&2; exit 1; }

load() { # DURATION
  BODY_FILE="$SHARED/lib/body.json" "$SHARED/load.sh" "$URL" "$1" 2>/dev/null | grep '^RESULT'
}
# Waits until no run is queued or running (the previous phase's runs done), at most 120 s.
drain() {
  for _ in $(seq 1 1200); do
    local q r
    q=$(api "$B/runs?status=queued&limit=1" | jq '.items | length')
    r=$(api "$B/runs?status=running&limit=1" | jq '.items | length')
    [[ "$q" == 0 && "$r" == 0 ]] && return 0
    sleep 0.1
  done
  echo "runs still pending after 120 s" >&2
}

load 2 >/dev/null || true
drain
# The replay alone (no ingest load), three calls, each followed by its runs' execution.
: >"$WORK/alone.txt"
for _ in 1 2 3; do
  curl -sf -o /dev/null -w '%{time_total}\n' -H "Authorization: Bearer $TOKEN" \
    -H 'Content-Type: application/json' -X POST "$B/webhooks/$HOOK/replay" -d "$REPLAY" >>"$WORK/alone.txt"
  drain
done
python3 -c '
import sys
t = sorted(float(x) * 1000 for x in open(sys.argv[1]) if x.strip())
print("replay alone (ms):", " ".join(f"{x:.0f}" for x in t))' "$WORK/alone.txt"
printf 'run\tphase\trps\tp50_ms\tp99_ms\tnon2xx\treplays\treplay_p50_ms\treplay_max_ms\n'
for run in $(seq 1 "$REPEATS"); do
  BASE=$(load "$DUR")
  printf '%s\tingest\t%s\t%s\t%s\t%s\t-\t-\t-\n' "$run" "$(field rps <<<"$BASE")" \
    "$(field p50_ms <<<"$BASE")" "$(field p99_ms <<<"$BASE")" "$(field non2xx <<<"$BASE")"
  drain

  load "$DUR" >"$WORK/with.txt" &
  LOAD_PID=$!
  : >"$WORK/replays.txt"
  sleep 0.2
  while kill -0 "$LOAD_PID" 2>/dev/null; do
    OUT=$(curl -sf -o "$WORK/answer.json" -w '%{time_total}' -H "Authorization: Bearer $TOKEN" \
      -H 'Content-Type: application/json' -X POST "$B/webhooks/$HOOK/replay" -d "$REPLAY")
    jq -e --argjson n "$DELIVERIES" '.deliveries == $n and .runs_started == $n' "$WORK/answer.json" \
      >/dev/null || { echo "a replay answered $(cat "$WORK/answer.json")" >&2; exit 1; }
    echo "$OUT" >>"$WORK/replays.txt"
  done
  wait "$LOAD_PID"
  WITH=$(cat "$WORK/with.txt")
  STATS=$(python3 -c '
import sys, statistics
t = sorted(float(x) * 1000 for x in open(sys.argv[1]) if x.strip())
print(f"{len(t)}\t{statistics.median(t):.0f}\t{max(t):.0f}")' "$WORK/replays.txt")
  printf '%s\tingest+replay\t%s\t%s\t%s\t%s\t%s\n' "$run" "$(field rps <<<"$WITH")" \
    "$(field p50_ms <<<"$WITH")" "$(field p99_ms <<<"$WITH")" "$(field non2xx <<<"$WITH")" "$STATS"
  python3 -c "import sys; print(f'{sys.argv[3]}\tp99_ratio\t{float(sys.argv[1])/float(sys.argv[2]):.2f}')" \
    "$(field p99_ms <<<"$WITH")" "$(field p99_ms <<<"$BASE")" "$run"
  drain
done
