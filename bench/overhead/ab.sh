#!/usr/bin/env bash
# ab.sh - paired A/B of two seekd binaries: seekd's CPU per relayed request (utime+stime from
# /proc, over a 4 s closed-loop run of loadgen with 8 connections after a 1 s warm-up) and
# req/s, the two binaries interleaved ROUNDS times (alternating which goes first) against one
# fake upstream.
# usage: A=path/to/seekd B=path/to/other-seekd [ROUNDS=5] bench/overhead/ab.sh
# Needs build-bench/ (bench/overhead/run.sh or bench/looplag/run.sh build it) and bc.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
ROUNDS=${ROUNDS:-5}
tmp=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null; rm -rf "$tmp"' EXIT
cc -O2 -o "$tmp/loadgen" "$ROOT/bench/overhead/loadgen.c"
BODY='{"model":"deepseek-chat","messages":[{"role":"user","content":"Hello"}]}'
"$ROOT/build-bench/tests/fake_upstream" --listen 127.0.0.1:0 --port-file "$tmp/f.port" --quiet &
while [ ! -s "$tmp/f.port" ]; do sleep 0.05; done
F=$(cat "$tmp/f.port")
for round in $(seq "$ROUNDS"); do
  order="A B"
  [ $((round % 2)) = 0 ] && order="B A" # alternate, so neither always runs first
  for v in $order; do
    bin=${!v}
    rm -f "$tmp/s.port"
    "$bin" serve --listen 127.0.0.1:0 --port-file "$tmp/s.port" --upstream "http://127.0.0.1:$F" \
      --log-level warn &
    sp=$!
    while [ ! -s "$tmp/s.port" ]; do sleep 0.05; done
    P=$(cat "$tmp/s.port")
    "$tmp/loadgen" --port "$P" --mode closed --conns 8 --duration 1 --body "$BODY" >/dev/null
    t0=$(awk '{print $14+$15}' "/proc/$sp/stat")
    out=$("$tmp/loadgen" --port "$P" --mode closed --conns 8 --duration 4 --body "$BODY")
    t1=$(awk '{print $14+$15}' "/proc/$sp/stat")
    n=$(echo "$out" | grep -o " n=[0-9]*" | cut -d= -f2)
    hz=$(getconf CLK_TCK)
    echo "$v round=$round $(echo "$out" | grep -o "rps=[0-9.]*") cpu_us_per_req=$(echo "scale=2; ($t1-$t0)*1000000/$hz/$n" | bc)"
    kill "$sp"
    wait "$sp" 2>/dev/null || true
  done
done
