#!/usr/bin/env bash
# What one webhook request costs hookflow, per request, with or without duplicate detection:
# CPU of the whole process and of the journal's writer thread (/proc ticks), bytes written to
# disk (/proc/PID/io write_bytes: WAL frames and checkpoints), and the journal's mean commit time
# and batch size (its own metrics). Less sensitive to a busy machine than req/s alone.
#
#   bench/ingest_cost.sh [dedup|nodedup|neither] [DURATION_S=10]
#
# One fresh release server (SQLite), a webhook verifying `github` signatures (as bench/ingest.sh
# DEDUP=1 does), with `dedup: {key: github}` or without (`neither`: no verification either, the
# same requests); wrk (64 connections, 2 threads) sends
# the shared 320-byte body with a valid signature and a unique X-GitHub-Delivery per request.
# HOOKFLOW_BIN=path uses that binary instead of building the release one.
. "$(dirname "${BASH_SOURCE[0]}")/lib/server.sh"
MODE="${1:-dedup}" DUR="${2:-10}"
PORT=18190
DATA="${BENCH_WORK:-/tmp/hookflow-bench-cost}"
TOKEN=t
hf_build
BODY_FILE="$SHARED/lib/body.json"
SECRET=bench-signing-secret
SIG="sha256=$(python3 -c 'import hmac,hashlib,sys; print(hmac.new(sys.argv[1].encode(), open(sys.argv[2],"rb").read(), hashlib.sha256).hexdigest())' "$SECRET" "$BODY_FILE")"
dedup='null'; [[ $MODE == dedup ]] && dedup='{"key":"github"}'
verification="{\"scheme\":\"github\",\"secret\":\"$SECRET\"}"; [[ $MODE == neither ]] && verification=null
hf_serve_fresh "$PORT" "$DATA" "$DATA.log"
hf_webhook bench "\"verification\":$verification,\"dedup\":$dedup"
TID=$(grep -l hookflow-journa /proc/$PID/task/*/comm | head -1 | cut -d/ -f5)
ticks() { awk '{print $14+$15}' "$1"; }
wbytes() { awk '/^write_bytes/ {print $2}' /proc/$PID/io; }
P0=$(ticks /proc/$PID/stat); W0=$(ticks /proc/$PID/task/$TID/stat); B0=$(wbytes)
OUT=$(WRK_BODY_FILE="$BODY_FILE" WRK_SIG_HEADER=X-Hub-Signature-256 WRK_SIG_VALUE="$SIG" \
  WRK_UNIQUE_HEADER=X-GitHub-Delivery wrk -t2 -c64 -d"${DUR}s" --latency \
  -s "$HERE/lib/post_signed.lua" "$URL")
P1=$(ticks /proc/$PID/stat); W1=$(ticks /proc/$PID/task/$TID/stat); B1=$(wbytes)
M=$(curl -s "http://127.0.0.1:$PORT/metrics")
python3 - "$MODE" "$OUT" "$M" "$((P1 - P0))" "$((W1 - W0))" "$((B1 - B0))" "$(getconf CLK_TCK)" <<'PY'
import re, sys
mode, out, m, proc, writer, wbytes, hz = sys.argv[1:]
req = int(re.search(r'(\d+) requests in', out).group(1))
rps = float(re.search(r'Requests/sec:\s+([\d.]+)', out).group(1))
p99 = re.search(r'99%\s+(\S+)', out).group(1)
def metric(name):
    return float(re.search(rf'^{name} ([\d.e+-]+)$', m, re.M).group(1))
commit = metric('hookflow_journal_commit_seconds_sum') / metric('hookflow_journal_commit_seconds_count')
batch = metric('hookflow_journal_batch_size_sum') / metric('hookflow_journal_batch_size_count')
us = 1e6 / int(hz) / req
print(f"{mode}\treq/s {rps:.0f}\tp99 {p99}\tcpu/req {int(proc) * us:.1f} us\twriter cpu/req {int(writer) * us:.1f} us"
      f"\twritten/req {int(wbytes) / req:.0f} B\tcommit {commit * 1e3:.2f} ms\tbatch {batch:.1f}")
PY
