#!/usr/bin/env bash
# run.sh - what metering costs: one seekd binary relaying closed-loop requests (loadgen, CONNS
# connections, 4 s after a 1 s warm-up) to the fake upstream with accounts off (a plain relay
# with a server key) and on (SQLite, one metered key with a large balance: every request is
# authorized, held, relayed and settled into the ledger). The two are interleaved ROUNDS times,
# alternating which goes first; each line gives req/s and seekd's CPU per request
# (utime+stime from /proc). The summary prints the medians and on/off ratios.
# usage: [ROUNDS=5] [CONNS=8] [SEEKD=build-bench/seekd] bench/accounts/run.sh
# Needs build-bench/ (cmake -S . -B build-bench -DCMAKE_BUILD_TYPE=Release) and bc.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
ROUNDS=${ROUNDS:-5}
CONNS=${CONNS:-8}
SEEKD=${SEEKD:-$ROOT/build-bench/seekd}
tmp=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null; rm -rf "$tmp"' EXIT
cc -O2 -o "$tmp/loadgen" "$ROOT/bench/overhead/loadgen.c"
BODY='{"model":"deepseek-flash","messages":[{"role":"user","content":"Hello"}]}'
"$ROOT/build-bench/tests/fake_upstream" --listen 127.0.0.1:0 --port-file "$tmp/f.port" --quiet &
while [ ! -s "$tmp/f.port" ]; do sleep 0.05; done
F=$(cat "$tmp/f.port")
DB="$tmp/bench.db"
KEY=$("$SEEKD" keys create --name bench --balance 1000000 --db "$DB" | head -1)
hz=$(getconf CLK_TCK)
: >"$tmp/results"
for round in $(seq "$ROUNDS"); do
  order="off on"
  [ $((round % 2)) = 0 ] && order="on off"
  for v in $order; do
    rm -f "$tmp/s.port"
    if [ "$v" = on ]; then
      DEEPSEEK_API_KEY=sk-bench-00000000000000000000000000 "$SEEKD" serve --listen 127.0.0.1:0 \
        --port-file "$tmp/s.port" --upstream "http://127.0.0.1:$F" --log-level warn --db "$DB" &
      key=$KEY
    else
      DEEPSEEK_API_KEY=sk-bench-00000000000000000000000000 "$SEEKD" serve --listen 127.0.0.1:0 \
        --port-file "$tmp/s.port" --upstream "http://127.0.0.1:$F" --log-level warn &
      key=sk-client-unused
    fi
    sp=$!
    while [ ! -s "$tmp/s.port" ]; do sleep 0.05; done
    P=$(cat "$tmp/s.port")
    "$tmp/loadgen" --port "$P" --mode closed --conns "$CONNS" --duration 1 --key "$key" --body "$BODY" >/dev/null
    t0=$(awk '{print $14+$15}' "/proc/$sp/stat")
    out=$("$tmp/loadgen" --port "$P" --mode closed --conns "$CONNS" --duration 4 --key "$key" --body "$BODY")
    t1=$(awk '{print $14+$15}' "/proc/$sp/stat")
    n=$(echo "$out" | grep -o " n=[0-9]*" | cut -d= -f2)
    if [ "${n:-0}" = 0 ] || ! echo "$out" | grep -q " errors=0 "; then
      echo "$v round=$round: requests failed: $out" >&2
      exit 1
    fi
    rps=$(echo "$out" | grep -o "rps=[0-9.]*" | cut -d= -f2)
    cpu=$(echo "scale=2; ($t1-$t0)*1000000/$hz/$n" | bc)
    echo "$v round=$round rps=$rps cpu_us_per_req=$cpu"
    echo "$v $rps $cpu" >>"$tmp/results"
    kill "$sp"
    wait "$sp" 2>/dev/null || true
  done
done
median() { sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
for v in off on; do
  r=$(awk -v v=$v '$1==v {print $2}' "$tmp/results" | median)
  c=$(awk -v v=$v '$1==v {print $3}' "$tmp/results" | median)
  echo "median $v: rps=$r cpu_us_per_req=$c"
  eval "rps_$v=$r cpu_$v=$c"
done
echo "ratio on/off: rps=$(echo "scale=3; $rps_on/$rps_off" | bc) cpu_per_req=$(echo "scale=3; $cpu_on/$cpu_off" | bc)"
# the ledger must hold every request the metered runs made, and verify
rows=$("$SEEKD" ledger export --format csv --db "$DB" | tail -n +2 | wc -l)
"$SEEKD" ledger verify --db "$DB" >/dev/null && echo "ledger: $rows rows, verify ok"
