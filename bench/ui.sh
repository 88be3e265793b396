#!/usr/bin/env bash
# Web UI benchmark: every page's server time with a full store.
#
#   bench/ui.sh [REPEATS=20] [ACCEPTED=10000] [REJECTED=1000]
#
# Starts hookflow (release, fresh SQLite data dir, or HOOKFLOW_DATABASE_URL=postgres://… for a
# PostgreSQL database that must be empty), creates 20 webhooks, 20 events and 5 workflows (the
# one under test: a condition, then set_variables + complete, or fail when the body says so), then
# fills the store through the webhook: ACCEPTED JSON requests (1 in 10 asks for a failing run)
# and REJECTED requests with a wrong Content-Type (415; the newest 1,000 rejections per webhook
# are kept), so ACCEPTED runs. Waits until every run has finished, signs in through the sign-in
# form (cookie jar), then requests every UI page REPEATS times with curl and reports per page
# the time to the first byte (`time_starttransfer`: server time on loopback) p50 and max, in ms.
# Exits 1 if any page answers other than 200 or its p50 is over 200 ms.
# HOOKFLOW_BIN=path uses that binary instead of building the release one. Needs curl, jq, python3.
. "$(dirname "${BASH_SOURCE[0]}")/lib/server.sh"
REPEATS="${1:-20}" ACCEPTED="${2:-10000}" REJECTED="${3:-1000}"
LIMIT_MS=200
PORT=18191
WORK="${BENCH_WORK:-/tmp/hookflow-bench}/ui"
JAR="$WORK/cookies.txt"
hf_build
hf_serve_work "$PORT" "$WORK"
BASE="http://127.0.0.1:$PORT"
A="Authorization: Bearer $TOKEN"
api() { curl -sf -H "$A" "$@"; }

# The store: other webhooks, events and workflows around the one under test.
for i in $(seq 1 19); do
  H=$(api -X POST "$B/webhooks" -d "{\"name\":\"other-$i\",\"content_type\":\"application/json\"}")
  api -X POST "$B/events" -d "{\"name\":\"other-event-$i\",\"webhook_id\":\"$(jq -r .id <<<"$H")\"}" >/dev/null
done
for i in $(seq 1 4); do
  hf_workflow >/dev/null <<YAML
name: other-$i
triggers: [{event: other-event-$i}]
steps:
  - {id: done, type: complete, outputs: {}}
YAML
done
hf_webhook bench
hf_event bench-event >/dev/null
WF=$(hf_workflow <<'YAML' | jq -r .id
name: ui-bench
variables: [{name: greeting, type: string}]
outputs: [{name: greeting, type: string}]
triggers: [{event: bench-event}]
steps:
  - id: check
    type: condition
    branches:
      - when: trigger.body.fail
        steps:
          - {id: refuse, type: fail, message: "asked to fail"}
    else: []
  - {id: greet, type: set_variables, values: {greeting: "hello {{ trigger.body.name }}"}}
  - {id: done, type: complete, outputs: {greeting: "{{ vars.greeting }}"}}
YAML
)

# The deliveries (and so the runs).
FAILING=$((ACCEPTED / 10))
post() { # COUNT CONTENT_TYPE BODY EXPECTED_STATUS
  local out
  out=$(python3 "$HERE/lib/post_many.py" "$URL" "$1" 8 "$2" "$3")
  echo "POST $2 x$1: $out"
  [[ "$out" == *"status_$4=$1 "* ]] || { echo "expected $1 answers $4" >&2; exit 1; }
}
# The accepted ones in two halves around the rejected ones: the list holds both kinds.
for half in 1 2; do
  OK=$(( (ACCEPTED - FAILING) / 2 + (half - 1) * ((ACCEPTED - FAILING) % 2) ))
  BAD=$(( FAILING / 2 + (half - 1) * (FAILING % 2) ))
  post "$OK" application/json '{"name":"bench","fail":false,"n":1,"tags":["a","b"]}' 202
  if [[ "$half" == 1 ]]; then post "$REJECTED" text/plain 'not json' 415; fi
  post "$BAD" application/json '{"name":"bench","fail":true}' 202
done
metric() { hf_metric "$BASE" "$1"; }
for _ in $(seq 1 1200); do
  DONE=$(metric 'hookflow_runs_finished_total')
  [[ "${DONE%.*}" -ge "$ACCEPTED" ]] && break
  sleep 0.5
done
echo "runs finished: $DONE of $ACCEPTED"
[[ "${DONE%.*}" -ge "$ACCEPTED" ]] || { echo "not every run finished" >&2; exit 1; }

# Ids the pages are about.
ACCEPTED_DELIVERY=$(api "$B/webhooks/$HOOK/deliveries?status=accepted&limit=1" | jq -r '.items[0].id')
REJECTED_DELIVERY=$(api "$B/webhooks/$HOOK/deliveries?status=rejected&limit=1" | jq -r '.items[0].id')
RUN=$(api "$B/runs?workflow_id=$WF&status=succeeded&limit=1" | jq -r '.items[0].id')
FAILED_RUN=$(api "$B/runs?workflow_id=$WF&status=failed&limit=1" | jq -r '.items[0].id')

# Sign in through the form: the sign-in page's hidden fields (CSRF) and the token.
curl -sf -c "$JAR" -b "$JAR" "$BASE/ui/sign-in" -o "$WORK/sign-in.html"
FORM=$(python3 "$HERE/lib/form_fields.py" "$WORK/sign-in.html" token="$TOKEN")
curl -sf -c "$JAR" -b "$JAR" -o /dev/null -X POST "$BASE/ui/sign-in" --data "$FORM"
grep -q hookflow_session "$JAR" || { echo "sign-in set no hookflow_session cookie" >&2; exit 1; }

# A later page of a list: the link to the next page, followed PAGE-1 times from the first.
later_page() { # PATH PAGE
  local path="$1" n="$2"
  for _ in $(seq 2 "$n"); do
    path=$(curl -sf -b "$JAR" "$BASE$path" | python3 "$HERE/lib/next_link.py" "$path")
    [[ -n "$path" ]] || { echo "no next page after $1" >&2; exit 1; }
  done
  echo "$path"
}

DELIVERIES="$((ACCEPTED + REJECTED)) deliveries"
# The deep page: the 50th, or the last full one of the shortest list (the succeeded runs, 9 in
# 10 of ACCEPTED; the UI shows 50 rows a page) when the store is smaller.
DEEP=$((ACCEPTED * 9 / 10 / 50))
((DEEP > 50)) && DEEP=50
((DEEP < 2)) && DEEP=2
HOOK_PAGE_2=$(later_page "/ui/webhooks/$HOOK" 2)
HOOK_PAGE_DEEP=$(later_page "/ui/webhooks/$HOOK" "$DEEP")
RUNS_PAGE_DEEP=$(later_page /ui/runs "$DEEP")
SUCCEEDED_PAGE_DEEP=$(later_page "/ui/runs?status=succeeded" "$DEEP")
WORKFLOW_PAGE_DEEP=$(later_page "/ui/workflows/$WF" "$DEEP")
PAGES=(
  "sign-in|/ui/sign-in"
  "events & webhooks: webhooks tab|/ui/events-webhooks"
  "events & webhooks: events tab|/ui/events-webhooks?tab=events"
  "new webhook form|/ui/webhooks/new"
  "new event form|/ui/events/new"
  "webhook details ($DELIVERIES)|/ui/webhooks/$HOOK"
  "webhook details, page 2|$HOOK_PAGE_2"
  "webhook details, page $DEEP|$HOOK_PAGE_DEEP"
  "delivery (accepted, with run)|/ui/deliveries/$ACCEPTED_DELIVERY"
  "delivery (rejected)|/ui/deliveries/$REJECTED_DELIVERY"
  "workflows|/ui/workflows"
  "workflow ($ACCEPTED runs)|/ui/workflows/$WF"
  "workflow, runs page $DEEP|$WORKFLOW_PAGE_DEEP"
  "new workflow form|/ui/workflows/new"
  "runs|/ui/runs"
  "runs, page $DEEP|$RUNS_PAGE_DEEP"
  "runs by status (failed)|/ui/runs?status=failed"
  "runs by workflow and status|/ui/runs?workflow_id=$WF&status=succeeded"
  "runs by status, page $DEEP|$SUCCEEDED_PAGE_DEEP"
  "runs by workflow|/ui/runs?workflow_id=$WF"
  "run details (succeeded)|/ui/runs/$RUN"
  "run details (failed)|/ui/runs/$FAILED_RUN"
)
: >"$WORK/times.tsv"
for entry in "${PAGES[@]}"; do
  name="${entry%%|*}"
  path="${entry#*|}"
  for i in $(seq 0 "$REPEATS"); do
    # Request 0 warms up and is not counted.
    line=$(curl -s -o /dev/null -b "$JAR" -w '%{http_code} %{time_starttransfer}' "$BASE$path")
    [[ "$i" -gt 0 ]] && printf '%s\t%s\t%s\n' "$name" "$path" "$line" >>"$WORK/times.tsv"
  done
done
echo "store: $ACCEPTED accepted + $REJECTED rejected requests to one webhook, $ACCEPTED runs ($FAILING failed)"
python3 - "$WORK/times.tsv" "$LIMIT_MS" <<'PY'
import collections, sys
rows = collections.OrderedDict()
bad = []
for line in open(sys.argv[1]):
    name, path, result = line.rstrip("\n").split("\t")
    code, secs = result.split()
    rows.setdefault(name, []).append(float(secs) * 1000)
    if code != "200":
        bad.append(f"{name} ({path}) answered {code}")
limit = float(sys.argv[2])
print(f"| page | p50 ms | max ms |")
print(f"|---|---:|---:|")
slow = []
for name, ms in rows.items():
    ms.sort()
    p50 = ms[len(ms) // 2]
    print(f"| {name} | {p50:.1f} | {ms[-1]:.1f} |")
    if p50 > limit:
        slow.append(f"{name}: p50 {p50:.1f} ms > {limit:.0f} ms")
for b in sorted(set(bad)):
    print("FAIL:", b)
for s in slow:
    print("FAIL:", s)
sys.exit(1 if bad or slow else 0)
PY
