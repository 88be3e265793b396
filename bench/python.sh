#!/usr/bin/env bash
# Python steps: the cost of one step and python steps per second (issue 10).
#
#   bench/python.sh [COUNT=1000] [CONNS=8] [WORKERS=64]
#
# Starts hookflow (release, fresh SQLite data dir, --python /usr/bin/python3, the default
# sandbox), creates a webhook (limits 0), an event and a 2-step workflow (python + complete: the
# script parses the webhook body from sys.argv[1] and sets two typed variables).
# 1. Cost of one step, the server idle: 50 manual runs one after the other; the python step's
#    recorded duration (started → finished), median and p90; next to it the bare start of the
#    same interpreter (`python3 -I -c pass`, no sandbox) measured 50 times from Python.
# 2. Throughput: COUNT webhook requests over CONNS connections (bench/lib/post_many.py), then
#    waits until every run has finished; python steps/s = runs ÷ (first request → last run).
# HOOKFLOW_BIN=path uses that binary instead of building the release one. Needs curl, jq,
# python3.
. "$(dirname "${BASH_SOURCE[0]}")/lib/server.sh"
COUNT="${1:-1000}" CONNS="${2:-8}" WORKERS="${3:-64}"
PORT=18191
DATA="${BENCH_WORK:-/tmp/hookflow-bench}/python-data"
hf_build
hf_serve_fresh "$PORT" "$DATA" /tmp/hookflow-python-bench.log --python /usr/bin/python3 --workers "$WORKERS"
A="Authorization: Bearer $TOKEN"
hf_webhook bench
hf_event py-event >/dev/null
WF=$(hf_workflow <<'YAML'
name: python-two-steps
outputs: [{name: summary, type: string}]
triggers: [{event: py-event}]
steps:
  - id: summarise
    type: python
    script: |
      import sys, json
      alert = json.loads(sys.argv[1]) or {"title": "manual", "hosts": ["a"]}
      summary = str(alert.get("title", "")).upper()
      count = len(alert.get("hosts", []))
      print("formatted", count)
    args: ["{{ trigger.body | tojson }}"]
    variables:
      - {name: summary, type: string}
      - {name: count, type: integer}
  - id: done
    type: complete
    outputs: {summary: "{{ steps.summarise.output.variables.summary }}"}
YAML
)
WF_ID=$(jq -r .id <<<"$WF")
[[ "$(jq -r .validation.status <<<"$WF")" == valid ]] || { echo "workflow invalid: $WF"; exit 1; }

# 1. One step at a time.
for _ in $(seq 1 50); do
  curl -sf -X POST "$B/workflows/$WF_ID/runs?wait=30" -H "$A" -d '{"inputs":{}}' | jq -r .id
done >/tmp/hookflow-python-bench.runs
python3 - "$B" "$TOKEN" /tmp/hookflow-python-bench.runs <<'PY'
import json, subprocess, sys, time, urllib.request
from datetime import datetime
base, token, ids = sys.argv[1], sys.argv[2], open(sys.argv[3]).read().split()
ms = []
for i in ids:
    req = urllib.request.Request(f"{base}/runs/{i}", headers={"Authorization": f"Bearer {token}"})
    run = json.load(urllib.request.urlopen(req))
    assert run["status"] == "succeeded", run
    s = [x for x in run["steps"] if x["id"] == "summarise"][0]
    t = lambda v: datetime.fromisoformat(v.replace("Z", "+00:00")).timestamp()
    ms.append((t(s["finished_at"]) - t(s["started_at"])) * 1000)
ms.sort()
bare = []
for _ in range(50):
    t0 = time.perf_counter()
    subprocess.run(["/usr/bin/python3", "-I", "-c", "pass"], check=True)
    bare.append((time.perf_counter() - t0) * 1000)
bare.sort()
print(f"one step (idle server, {len(ms)} runs): median={ms[len(ms)//2]:.1f} ms p90={ms[int(len(ms)*0.9)]:.1f} ms; "
      f"bare interpreter start: median={bare[len(bare)//2]:.1f} ms p90={bare[int(len(bare)*0.9)]:.1f} ms")
PY

# 2. Fed by webhooks.
metric() { hf_metric "http://127.0.0.1:$PORT" "$1"; }
BASE=$(metric 'hookflow_runs_finished_total')
START=$(date +%s.%N)
R=$(python3 "$HERE/lib/post_many.py" "$URL" "$COUNT" "$CONNS" application/json \
  '{"title":"disk full","hosts":["a","b","c"],"severity":"high"}')
while :; do
  DONE=$(metric 'hookflow_runs_finished_total')
  [[ $(( ${DONE%.*} - ${BASE%.*} )) -ge "$COUNT" ]] && break
  sleep 0.2
done
END=$(date +%s.%N)
FAILED=$(curl -s "$B/runs?status=failed&limit=1" -H "$A" | jq '.items | length')
python3 - "$START" "$END" "$COUNT" "$FAILED" "$R" <<'PY'
import sys
s, e, n, failed, r = float(sys.argv[1]), float(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5]
print(r)
print(f"runs={n} failed_runs_seen={failed} elapsed_s={e-s:.2f} python_steps_per_s={n/(e-s):.1f}")
PY
