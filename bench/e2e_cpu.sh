#!/usr/bin/env bash
# End to end with its costs: bench/e2e.sh 10 64 on binary BIN, and per run finished the CPU time
# of each thread kind (/proc/PID/task/*/stat utime+stime, summed by thread name, read every 0.2 s
# until the server stops) and the bytes the server wrote to disk (/proc/PID/io write_bytes: WAL
# frames and checkpoints). Bytes per run are steady on this machine; runs/s and CPU move by tens
# of percent between runs, so compare binaries alternately.
#
#   bench/e2e_cpu.sh BIN
cd "$(dirname "${BASH_SOURCE[0]}")/.."
HOOKFLOW_BIN=$1 bench/e2e.sh 10 64 > /tmp/hookflow-e2e-cpu.out 2>&1 &
E=$!
P=; for i in $(seq 1 200); do P=$(pgrep -f "serve --listen 127.0.0.1:18190" | head -1); [[ -n "$P" ]] && break; sleep 0.05; done
last=""; lastio=""
while kill -0 $P 2>/dev/null; do
  grep -q "^State:.*[RS]" /proc/$P/status 2>/dev/null || break
  io=$(awk '/^write_bytes/{print $2}' /proc/$P/io 2>/dev/null)
  s=$(for t in /proc/$P/task/*; do echo "$(tr ' ' _ <$t/comm 2>/dev/null) $(awk '{print $14+$15}' $t/stat 2>/dev/null)"; done 2>/dev/null | awk 'NF==2{s[$1]+=$2} END{for(k in s) printf "%s=%s ", k, s[k]}')
  n=$(echo "$s" | wc -w)
  [[ -n "$io" && $n -ge ${maxn:-0} ]] && { last=$s; lastio=$io; maxn=$n; }
  sleep 0.2
done
wait $E
runs=$(sed -n 's/.*runs_finished=\([0-9]*\).*/\1/p' /tmp/hookflow-e2e-cpu.out)
rps=$(sed -n 's/.*runs_per_s=\([0-9]*\).*/\1/p' /tmp/hookflow-e2e-cpu.out)
echo "$last" | tr ' ' '\n' | awk -v r="$runs" -v io="$lastio" -v rps="$rps" -v us=$((1000000 / $(getconf CLK_TCK))) -F= 'NF==2{t+=$2; if ($2*us/r >= 1) out=out sprintf("%s %.1f ", $1, $2*us/r)} END{printf "runs/s %s  runs %d  cpu/run %.1f us (%s) written/run %d B\n", rps, r, t*us/r, out, io/r}'
