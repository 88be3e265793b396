#!/usr/bin/env bash
# Filter test benchmark (SPEC §10, issue 14): POST /api/v1/events/{id}/test over the last 1,000
# deliveries.
#
#   bench/filter_test.sh [REPEATS=20] [DELIVERIES=1000]
#
# Starts hookflow (release, fresh SQLite data dir, or HOOKFLOW_DATABASE_URL=postgres://… for a
# PostgreSQL database that must be empty), creates one webhook (no rate limit) with one event and
# no workflow, sends it DELIVERIES JSON requests of about 1.5 KB (a GitHub-like push payload with a
# `n` counter and a list of commits), then asks REPEATS times for the test of a filter reading
# the body, a header and a nested list (`last` = DELIVERIES) and reports the answer's time
# (`time_total` of curl on loopback) p50 and max, in ms, with the answer's counts. Exits 1 if an
# answer is not 200, does not cover every delivery, or its p50 is over 1,000 ms.
# HOOKFLOW_BIN=path uses that binary instead of building the release one. Needs curl, jq, python3.
. "$(dirname "${BASH_SOURCE[0]}")/lib/server.sh"
REPEATS="${1:-20}" DELIVERIES="${2:-1000}"
LIMIT_MS=1000
PORT=18193
WORK="${BENCH_WORK:-/tmp/hookflow-bench}/filter_test"
hf_build
hf_serve_work "$PORT" "$WORK"
api() { curl -sf -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' "$@"; }

hf_webhook bench
EVENT=$(hf_event pushes | jq -r .id)
BODY=$(python3 -c '
import json
commits = [{"id": "%040x" % i, "message": "Fix the thing number %d in the parser" % i,
            "author": {"name": "Dev %d" % i, "email": "dev%d@example.com" % i},
            "added": [], "removed": [], "modified": ["src/parser/mod.rs", "README.md"]}
           for i in range(6)]
print(json.dumps({"ref": "refs/heads/main", "n": 7, "repository": {"full_name": "acme/widgets",
                  "private": False}, "pusher": {"name": "dev"}, "commits": commits}))')
echo "body: ${#BODY} bytes; sending $DELIVERIES requests"
python3 "$HERE/lib/post_many.py" "$URL" "$DELIVERIES" 4 application/json "$BODY"

FILTER="trigger.body.ref == 'refs/heads/main' and trigger.headers['content-type'] is defined and (trigger.body.commits | selectattr('message', 'matches_regex', 'parser') | list | length) > 2"
REQ=$(jq -n --arg f "$FILTER" --argjson n "$DELIVERIES" '{filter: $f, last: $n}')
# One untimed call: it must answer 200 over every delivery.
api -X POST "$B/events/$EVENT/test" -d "$REQ" >"$WORK/answer.json" || { echo "test call failed"; exit 1; }
jq -c '{total, matched, errors, first: .results[0]}' "$WORK/answer.json"
[[ "$(jq .total "$WORK/answer.json")" == "$DELIVERIES" ]] || { echo "not every delivery tried"; exit 1; }
TIMES=()
for _ in $(seq 1 "$REPEATS"); do
  T=$(curl -sf -o /dev/null -w '%{time_total}' -H "Authorization: Bearer $TOKEN" \
    -H 'Content-Type: application/json' -X POST "$B/events/$EVENT/test" -d "$REQ")
  TIMES+=("$T")
done
printf '%s\n' "${TIMES[@]}" | python3 -c "
import sys
t = sorted(float(x) * 1000 for x in sys.stdin)
p50 = t[len(t) // 2]
print(f'filter test over $DELIVERIES deliveries: p50 {p50:.1f} ms, max {t[-1]:.1f} ms ({len(t)} calls)')
sys.exit(1 if p50 > $LIMIT_MS else 0)
"
