#!/usr/bin/env bash
# run.sh - what sharing the per-key limits through Redis adds to a metered request: latency
# (median and p99 over N requests at a fixed rate on one connection, from loadgen) and CPU per
# request of seekd and of redis-server, in-process limits vs Redis on loopback. The two modes
# alternate REPS times on the same fake upstream and the same accounts database; the key has an
# rpm, a tpm and a concurrency limit (all far above the load), so every admission runs the whole
# script and every end frees a lease.
#   bench/limits/run.sh                      # builds build-bench/ (Release); ~1 minute
#   N=2000 RATE=200 REPS=3 SKIP_BUILD=1 BUILD=build-test bench/limits/run.sh
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
BUILD=${BUILD:-$ROOT/build-bench}
N=${N:-2000}
RATE=${RATE:-200}
REPS=${REPS:-3}

log() { printf '[%s] %s\n' "$(date +%T)" "$*" >&2; }
die() { log "error: $*"; exit 1; }
command -v redis-server >/dev/null || die "redis-server not found (apt-get install redis-server)"

TMP=$(mktemp -d /tmp/seekd-limits.XXXXXX)
PIDS=()
cleanup() {
    local p
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    for p in "${PIDS[@]}"; do
        for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
        kill -9 "$p" 2>/dev/null || true
    done
}
trap 'cleanup; rm -rf "$TMP"' EXIT

if [ "${SKIP_BUILD:-0}" != 1 ]; then
    log "building seekd + fake_upstream (Release) in $BUILD"
    cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release >"$TMP/cmake.log" 2>&1 ||
        { cat "$TMP/cmake.log"; die "cmake failed"; }
    cmake --build "$BUILD" -j2 --target seekd fake_upstream >"$TMP/make.log" 2>&1 ||
        { tail -30 "$TMP/make.log"; die "build failed"; }
fi
SEEKD=$BUILD/seekd
FAKE=$BUILD/tests/fake_upstream
LOADGEN=$TMP/loadgen
${CC:-cc} -O2 -Wall -o "$LOADGEN" "$ROOT/bench/overhead/loadgen.c" || die "loadgen build failed"

wait_port_file() { # file pid
    for _ in $(seq 100); do
        [ -s "$1" ] && { cat "$1"; return 0; }
        kill -0 "$2" 2>/dev/null || return 1
        sleep 0.05
    done
    return 1
}
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

REDIS_PORT=$(free_port)
redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save '' --appendonly no >"$TMP/redis.log" 2>&1 &
REDIS_PID=$!
PIDS+=("$REDIS_PID")
"$FAKE" --listen 127.0.0.1:0 --port-file "$TMP/fake.port" --quiet >/dev/null 2>&1 &
PIDS+=("$!")
FAKE_PORT=$(wait_port_file "$TMP/fake.port" "$!") || die "fake_upstream did not start"
DB=$TMP/accounts.db
KEY=$("$SEEKD" keys create --name bench --balance 100000 --rpm 10000000 --tpm 1000000000 \
    --concurrency 10000 --db "$DB" 2>/dev/null | head -1)
printf 'price = deepseek-chat USD hit=0.1 miss=1 output=2 offpeak=none\nredis_timeout_ms = 1000\n' \
    >"$TMP/seekd.conf"
BODY='{"model":"deepseek-chat","messages":[{"role":"user","content":"Hello"}]}'
TICK=$(getconf CLK_TCK)
DUR=$(awk -v n="$N" -v r="$RATE" 'BEGIN { printf "%.3f", n / r }')

run_mode() { # mode -> one line of results
    local mode=$1 extra=()
    [ "$mode" = redis ] && extra=(--redis "redis://127.0.0.1:$REDIS_PORT")
    rm -f "$TMP/seekd.port"
    DEEPSEEK_API_KEY=sk-bench-server "$SEEKD" serve --listen 127.0.0.1:0 --port-file "$TMP/seekd.port" \
        --upstream "http://127.0.0.1:$FAKE_PORT" --log-level warn --db "$DB" --config "$TMP/seekd.conf" \
        "${extra[@]}" >/dev/null 2>"$TMP/seekd.$mode.err" &
    local pid=$!
    PIDS+=("$pid")
    local port
    port=$(wait_port_file "$TMP/seekd.port" "$pid") || die "seekd did not start: $(cat "$TMP/seekd.$mode.err")"
    sleep 0.3 # connected to Redis
    # warm-up (connections, the script cached in Redis, SQLite pages), then the measured run
    "$LOADGEN" --port "$port" --mode rate --rate "$RATE" --conns 1 --duration 1 --warmup 0 \
        --key "$KEY" --body "$BODY" >/dev/null
    local s0 r0 s1 r1 out
    s0=$(cpu_ticks "$pid")
    r0=$(cpu_ticks "$REDIS_PID")
    out=$("$LOADGEN" --port "$port" --mode rate --rate "$RATE" --conns 1 --duration "$DUR" --warmup 0 \
        --key "$KEY" --body "$BODY")
    s1=$(cpu_ticks "$pid")
    r1=$(cpu_ticks "$REDIS_PID")
    kill "$pid"
    wait "$pid" 2>/dev/null || true
    local n
    n=$(sed -n 's/.* n=\([0-9]*\).*/\1/p' <<<"$out")
    local non200
    non200=$(sed -n 's/.*non200=\([0-9]*\).*/\1/p' <<<"$out")
    [ "${non200:-0}" = 0 ] || die "$mode: $non200 answers were not 200: $out"
    python3 - "$mode" "$n" "$TICK" $((s1 - s0)) $((r1 - r0)) "$out" <<'PY'
import re, sys
mode, n, tick, s, r, out = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]), sys.argv[6]
f = dict(kv.split('=') for kv in out.split())
print(f"{mode} n={n} p50_us={f['p50']} p99_us={f['p99']} "
      f"seekd_cpu_us_per_req={s * 1e6 / tick / n:.1f} redis_cpu_us_per_req={r * 1e6 / tick / n:.1f}")
PY
}

for rep in $(seq "$REPS"); do
    for mode in local redis; do
        line=$(run_mode $mode)
        log "rep $rep: $line"
        echo "$line" >>"$TMP/results"
    done
done
# what the scripts cost inside Redis (its own count, all runs together)
redis-cli -p "$REDIS_PORT" info commandstats | tr -d '\r' |
    sed -n 's/^cmdstat_\(evalsha\|eval\):calls=\([0-9]*\),usec=[0-9]*,usec_per_call=\([0-9.]*\).*/redis-server: \1 calls=\2 usec_per_call=\3/p'
echo "medians over $REPS runs of $N requests at $RATE/s on one connection (latency from loadgen's send):"
python3 - "$TMP/results" <<'PY'
import statistics, sys
rows = {}
for line in open(sys.argv[1]):
    mode, *kvs = line.split()
    for kv in kvs:
        k, v = kv.split('=')
        rows.setdefault(mode, {}).setdefault(k, []).append(float(v))
med = {m: {k: statistics.median(v) for k, v in d.items()} for m, d in rows.items()}
for m in ('local', 'redis'):
    print(m.ljust(6), ' '.join(f"{k}={v:g}" for k, v in med[m].items()))
print('added by redis: p50 %+.1f us, seekd cpu %+.1f us/req, redis-server cpu %.1f us/req' % (
    med['redis']['p50_us'] - med['local']['p50_us'],
    med['redis']['seekd_cpu_us_per_req'] - med['local']['seekd_cpu_us_per_req'],
    med['redis']['redis_cpu_us_per_req']))
PY
