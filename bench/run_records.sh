#!/usr/bin/env bash
# Run records under abusive workflows (issue 9, item 4): what one run costs in memory, on disk
# and in its API answer.
#
#   bench/run_records.sh [ITEMS=500] [VALUE_BYTES=900000]
#
# Starts hookflow (release, fresh SQLite data dir, default record limits) and runs, one after
# the other:
#   1. a for_each over ITEMS items whose step sets a VALUE_BYTES variable in each iteration;
#   2. a json_path `$..*` over a 900 KB value nested 100 levels deep (every level's subtree is a
#      result, so the whole result list would be about 45 MB).
# Reports for each: the run's time, the server's peak RSS (VmHWM) so far, the database size,
# the size of `GET /api/v1/runs/{id}`, and what the big step recorded.
# HOOKFLOW_BIN=path uses that binary instead of building the release one. Needs curl, jq,
# python3.
. "$(dirname "${BASH_SOURCE[0]}")/lib/server.sh"
ITEMS="${1:-500}" VALUE="${2:-900000}"
PORT=18191
DATA="${BENCH_WORK:-/tmp/hookflow-bench}/records-data"
hf_build
hf_serve_fresh "$PORT" "$DATA" /tmp/hookflow-records.log
A="Authorization: Bearer $TOKEN"
ITEM_LIST=$(python3 -c "print(list(range($ITEMS)))")

workflow() { # YAML on stdin → workflow id
  hf_workflow | jq -r .id
}

measure() { # NAME WORKFLOW_ID INPUTS_FILE STEP
  local start end run id
  start=$(date +%s.%N)
  run=$(curl -sf -X POST "$B/workflows/$2/runs?wait=600" -H "$A" --data-binary @"$3")
  end=$(date +%s.%N)
  id=$(jq -r .id <<<"$run")
  printf '%s: %s in %.1f s, peak RSS %s, database %s, GET /runs/{id} %s bytes, %s records %s\n' \
    "$1" "$(jq -r .status <<<"$run")" "$(echo "$end - $start" | bc)" \
    "$(awk '/VmHWM/ {printf "%.0f MB", $2/1024}' /proc/$PID/status)" \
    "$(du -cb "$DATA"/hookflow.db* | awk 'END {printf "%.1f MB", $1/1e6}')" \
    "$(curl -sf "$B/runs/$id" -H "$A" | wc -c)" "$4" \
    "$(curl -sf "$B/runs/$id?steps_limit=5000" -H "$A" \
       | jq -r "[.steps[] | select(.id == \"$4\") | .output | if .truncated then \"cut by \\(.limit)\" else \"whole\" end] | group_by(.) | map(\"\\(length) × \\(.[0])\") | join(\", \")")"
}

WF=$(workflow <<YAML
name: big-vars
variables: [{name: blob, type: string}]
outputs: [{name: len, type: integer}]
steps:
  - id: each
    type: for_each
    items: $ITEM_LIST
    steps:
      - {id: grow, type: set_variables, values: {blob: "{{ 'x' * $VALUE }}{{ item }}"}}
  - {id: done, type: complete, outputs: {len: "{{ vars.blob | length }}"}}
YAML
)
echo '{}' >/tmp/hookflow-records-empty.json
measure "for_each $ITEMS x set_variables $VALUE B" "$WF" /tmp/hookflow-records-empty.json grow

WF=$(workflow <<'YAML'
name: descend
inputs: [{name: doc, type: object}]
steps:
  - {id: all, type: json_path, input: "{{ inputs.doc }}", query: "$..*"}
YAML
)
python3 - >/tmp/hookflow-records-doc.json <<'PY'
import json
doc = {"leaf": "y"}
for i in range(100):
    doc = {"pad": "z" * 9000, "level": i, "next": doc}
print(json.dumps({"inputs": {"doc": doc}}))
PY
measure 'json_path $..* over 900 KB, 100 levels' "$WF" /tmp/hookflow-records-doc.json all
