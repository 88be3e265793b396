# Sourced by the bench scripts: the hookflow binary, one `serve` process on 127.0.0.1 with its
# health waited for, and the objects most benchmarks start from (a webhook without rate limits,
# an event on it, a workflow). A script starts with `. "$(dirname "${BASH_SOURCE[0]}")/lib/server.sh"`,
# which turns on `set -euo pipefail` and sets HERE (bench/), ROOT (the checkout), SHARED
# (../shared/bench unless set) and TOKEN, the admin token `hf_serve` gives the server and the API
# helpers use (a script may set another before `hf_serve`). Parsing uses python3 only, which
# every script needs anyway.

set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
SHARED="${SHARED:-$ROOT/../shared/bench}"
TOKEN=bench-token

# hf_build: BIN is $HOOKFLOW_BIN when set, else the release binary, built first.
hf_build() {
  BIN="${HOOKFLOW_BIN:-$ROOT/target/release/hookflow}"
  [[ -n "${HOOKFLOW_BIN:-}" ]] || (cd "$ROOT" && cargo build --release -p hookflow -q)
}

# ref_build WORK: REF is the reference server of ../shared/bench (limit-server), copied into WORK
# and built there once (shared/ is read-only); needs wrk for the load, so checks it is there.
ref_build() {
  mkdir -p "$1"
  command -v wrk >/dev/null || { echo "wrk missing: apt-get install -y wrk" >&2; exit 2; }
  if [[ ! -x "$1/limit-server/target/release/limit-server" ]]; then
    rm -rf "$1/limit-server" && cp -r "$SHARED/limit-server" "$1/limit-server"
    (cd "$1/limit-server" && cargo build --release -q)
  fi
  REF="$1/limit-server/target/release/limit-server"
}

# hf_wait URL [TRIES=200]: waits until URL answers at all (any status), 50 ms apart; fails,
# saying so, if it never does.
hf_wait() {
  for _ in $(seq 1 "${2:-200}"); do curl -s -o /dev/null "$1" && return 0; sleep 0.05; done
  echo "server at $1 did not come up" >&2
  return 1
}

# hf_metric BASE NAME: the sum of the samples in BASE/metrics whose name (with its labels, as
# printed, e.g. 'hookflow_webhook_requests_total{status="202"}') starts with NAME; a plain
# prefix, not a pattern.
hf_metric() {
  curl -s "$1/metrics" | awk -v m="$2" 'index($1, m) == 1 {s+=$2} END {print s+0}'
}

# hf_serve PORT DATA LOG [serve args...]: starts `serve` on 127.0.0.1:PORT with the data dir DATA,
# the admin token TOKEN and warning-level logs (stdout and stderr to LOG), in the background;
# PID is its process id, killed when the script exits. Waits for /healthz (HF_WAIT_TRIES times,
# 200 unless set); sets B to the API base.
hf_serve() {
  local port=$1 data=$2 log=$3
  shift 3
  HOOKFLOW_ADMIN_TOKEN=$TOKEN HOOKFLOW_LOG=warn "$BIN" serve --listen "127.0.0.1:$port" \
    --data-dir "$data" "$@" >"$log" 2>&1 &
  PID=$!
  trap 'kill $PID 2>/dev/null || true' EXIT
  hf_wait "http://127.0.0.1:$port/healthz" "${HF_WAIT_TRIES:-200}"
  B="http://127.0.0.1:$port/api/v1"
}

# hf_serve_fresh PORT DATA LOG [serve args...]: `hf_serve` on an emptied DATA.
hf_serve_fresh() {
  rm -rf "$2"
  hf_serve "$@"
}

# hf_serve_work PORT WORK: `hf_serve` on an emptied WORK directory (the data dir WORK/data, the
# log WORK/server.log), on the PostgreSQL database HOOKFLOW_DATABASE_URL when it is set.
hf_serve_work() {
  local db_args=()
  [[ -n "${HOOKFLOW_DATABASE_URL:-}" ]] && db_args=(--database "$HOOKFLOW_DATABASE_URL")
  rm -rf "$2"
  mkdir -p "$2"
  hf_serve "$1" "$2/data" "$2/server.log" "${db_args[@]}"
}

# hf_webhook NAME [FIELDS]: creates webhook NAME through B (JSON, no rate limits; FIELDS: more
# members of the request, as `"key":value,...`); sets W (the answer), HOOK (its id) and URL.
hf_webhook() {
  W=$(curl -sf -X POST "$B/webhooks" -H "Authorization: Bearer $TOKEN" \
    -d "{\"name\":\"$1\",\"content_type\":\"application/json\",\"rate_limit_per_minute\":0,\"rate_limit_per_day\":0${2:+,$2}}")
  HOOK=$(python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])' <<<"$W")
  URL=$(python3 -c 'import json,sys; print(json.load(sys.stdin)["url"])' <<<"$W")
}

# hf_event NAME: creates event NAME of webhook HOOK through B; prints the answer.
hf_event() {
  curl -sf -X POST "$B/events" -H "Authorization: Bearer $TOKEN" \
    -d "{\"name\":\"$1\",\"webhook_id\":\"$HOOK\"}"
}

# hf_workflow: creates the workflow whose YAML is on stdin through B; prints the answer.
hf_workflow() {
  curl -sf -X POST "$B/workflows" -H "Authorization: Bearer $TOKEN" \
    -H 'Content-Type: application/yaml' --data-binary @-
}
