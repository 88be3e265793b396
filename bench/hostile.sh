#!/usr/bin/env bash
# Hostile-traffic benchmark (issue 9): a valid sender posts webhooks at full speed while an
# attacker without a key runs each probe; reports the valid sender's accepted rate and p99 during
# each attack against its rate alone, the server's peak RSS, and whether every 202 is stored.
# Each phase also reports the CPU the server and the attacker used (cores, averaged over the phase).
#
#   bench/hostile.sh [DURATION_S=10]
#
# Phases, each DURATION_S of load after a 3 s head start for the attack (bench/attack, a
# one-threaded Rust attacker; ATTACKER=python uses the older bench/lib/attack.py):
#   baseline     no attack
#   headers      4,000 sockets send a 400,000-byte X-Pad header and never finish (probe 1)
#   idle         20,400 connections: silent, half a header, half a body (probe 2)
#   wrongkey     300 connections POST with a wrong key and Content-Length 1 MiB, send one byte,
#                stall (probe 3)
#   idle-spread  probe 2 again from 100 client addresses (204 each, under the per-client limit),
#                so that the global connection limit is what holds
#   wrongkey-flood  probe 3 with no pause before reconnecting: a flood of wrong-key requests on
#                new connections
# An attack connection the server closes is opened again after 1 s (wrongkey-flood: at once), so
# each attack lasts the whole phase. The attacker runs on the same 2 cores: part of any drop is
# its own CPU use, shown in the attacker_cores column (a remote attacker would use its own).
# The attacker connects from 127.0.0.2 (idle-spread: 127.0.0.2–101), the valid sender (wrk via
# ../shared/bench/load.sh, 64 connections) from 127.0.0.1. Release build, fresh SQLite data dir,
# default settings (HOOKFLOW_BIN=path uses that binary instead of building the release one).
# Needs wrk, python3, curl. Loopback only; every process stops by itself.
. "$(dirname "${BASH_SOURCE[0]}")/lib/server.sh"
DUR="${1:-10}"
WORK="${BENCH_WORK:-/tmp/hookflow-hostile}"
PORT=18191
mkdir -p "$WORK"
command -v wrk >/dev/null || { echo "wrk missing: apt-get install -y wrk" >&2; exit 2; }
hf_build
cargo build --release -q --manifest-path "$HERE/attack/Cargo.toml"
ATTACK_BIN="$HERE/attack/target/release/hookflow-attack"
attack() { # MODE ADDR N SECONDS [options...]
  if [[ "${ATTACKER:-rust}" == python ]]; then python3 "$HERE/lib/attack.py" "$@"; else "$ATTACK_BIN" "$@"; fi
}
ulimit -n "$(ulimit -Hn)"

field() { sed -n "s/.* $1=\([^ ]*\).*/\1/p"; }

DATA="$WORK/data"; rm -rf "$DATA" "$WORK"/attack-*.log
hf_serve "$PORT" "$DATA" "$WORK/hookflow.log"
HF_PID=$PID
hf_webhook hostile
HOOK_ID=$HOOK
count() { python3 -c "import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute(\"select count(*) from deliveries where status='accepted'\").fetchone()[0])" "$DATA/hookflow.db"; }
"$SHARED/load.sh" "$URL" 2 >/dev/null 2>&1 || true   # warm-up

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
printf 'phase\trps\tp99_ms\tnon2xx\tconnect_err\tof_baseline\trss_now_mb\tserver_cores\tattacker_cores\tattack\n'
BASE_RPS=""
ANSWERED=0
run_phase() { # NAME [PROCS MODE N [attack options...]]
  local name="$1"; shift
  local apids=()
  if [[ $# -gt 0 ]]; then
    # Split over PROCS attacker processes: one process may hold at most the hard open-files
    # limit of sockets (20,000 here).
    local procs="$1" mode="$2" n="$3"; shift 3
    local i
    for i in $(seq 1 "$procs"); do
      attack "$mode" "127.0.0.1:$PORT" $((n / procs)) "$ATTACK_S" "$@" \
        --webhook "$HOOK_ID" >"$WORK/attack-$name.$i.log" 2>&1 &
      apids+=($!)
    done
    sleep 3
  fi
  local r t0 t1 c0 c1
  c0=$(cpu_ticks "$HF_PID"); t0=$(date +%s.%N)
  r=$("$SHARED/load.sh" "$URL" "$DUR" 2>/dev/null | grep '^RESULT')
  c1=$(cpu_ticks "$HF_PID"); t1=$(date +%s.%N)
  local server_cores
  server_cores=$(python3 -c "import sys; print(f'{(int(sys.argv[2])-int(sys.argv[1]))/100/(float(sys.argv[4])-float(sys.argv[3])):.2f}')" "$c0" "$c1" "$t0" "$t1")
  local rss
  rss=$(awk '/VmRSS/ {printf "%.0f", $2/1024}' "/proc/$HF_PID/status")
  local attack="-" attacker_cores="-"
  if [[ ${#apids[@]} -gt 0 ]]; then
    wait "${apids[@]}" || true
    attack=$(cat "$WORK"/attack-"$name".*.log | python3 -c '
import collections, sys
c = collections.Counter()
for line in sys.stdin:
    for kv in line.split()[3:]:
        k, _, v = kv.partition("=")
        if v.isdigit():
            c[k] += int(v)
print(" ".join(f"{k}={v}" for k, v in sorted(c.items())))')
    # The attacker ran ATTACK_S seconds: its CPU over that time, in cores.
    local cpu_ms
    cpu_ms=$(grep -o 'cpu_ms=[0-9]*' <<<"$attack" | cut -d= -f2 || true)
    attacker_cores="?" # the python attacker does not report its CPU
    [[ -n $cpu_ms ]] && attacker_cores=$(awk -v ms="$cpu_ms" -v s="$ATTACK_S" 'BEGIN { printf "%.2f", ms / 1000 / s }')
  fi
  local rps non conn
  rps=$(field rps <<<"$r"); non=$(field non2xx <<<"$r"); conn=$(field connect_err <<<"$r")
  ANSWERED=$((ANSWERED + $(field requests <<<"$r") - non))
  [[ -n "$BASE_RPS" ]] || BASE_RPS="$rps"
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$name" "$rps" "$(field p99_ms <<<"$r")" "$non" "$conn" \
    "$(python3 -c "import sys; print(f'{float(sys.argv[1])/float(sys.argv[2]):.2f}')" "$rps" "$BASE_RPS")" \
    "$rss" "$server_cores" "$attacker_cores" "$attack"
}

ATTACK_S=$((DUR + 6))
run_phase baseline
run_phase headers 1 headers 4000
run_phase idle 2 idle 20400
run_phase wrongkey 1 wrongkey 300
run_phase idle-spread 2 idle 20400 --from-ips 100
run_phase wrongkey-flood 1 wrongkey 300 --reconnect-delay 0
run_phase after
PEAK=$(awk '/VmHWM/ {printf "%.0f", $2/1024}' "/proc/$HF_PID/status")
kill "$HF_PID"; wait "$HF_PID" 2>/dev/null || true
STORED=$(count)
echo "peak_rss_mb=$PEAK answered_202=$ANSWERED stored_accepted=$STORED"
[[ "$STORED" -ge "$ANSWERED" ]] && echo "every 202 is stored" || { echo "LOST: $((ANSWERED - STORED))"; exit 1; }
