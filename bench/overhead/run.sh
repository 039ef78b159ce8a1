#!/usr/bin/env bash
# bench/overhead/run.sh - seekd proxy overhead vs nginx proxy_pass vs direct, one fake upstream.
#
# Builds seekd + fake_upstream (Release, in build-bench/) and bench/overhead/loadgen.c, starts
# every process on loopback, runs the tput/unpinned/stream/mem measurements REPS times
# (interleaving the three targets inside each repetition) and the fixed-rate measurement as RATE_SLICES short
# slices per placement (see below), and prints medians plus ratios. Everything it starts is
# stopped on exit. Needs: cmake, a C compiler, libevent/libcurl/jansson/pcre2 dev packages,
# wrk, nginx.
#
# Pinning (2-core box): seekd and nginx (master + its 1 worker) on core 1; the fake upstream,
# wrk and loadgen on core 0. "direct" therefore runs client + fake on core 0 only. Pinned so,
# the tput phase is capped by core 0 (wrk + fake) for both proxies alike once they are fast;
# the "unpinned" phase runs the same wrk load with nothing pinned (proxies, fake and wrk free
# on every core, moved back afterwards), where the proxies compete with the load for the cores
# and their own cost shows in the req/s.
#
# CPU per request, every phase: utime+stime of the proxy from /proc/PID/stat (all its threads;
# nginx: master + worker) read right before and after each measured run, divided by the
# requests that run completed (wrk's count; loadgen's n). Ticks are 1/CLK_TCK s, so the rate
# phase (few requests per slice) pools its slices: sum of ticks / sum of requests.
# The rate phase measures three placements: "split" (as above, proxies on CORE_PROXY),
# "shared" (seekd and nginx master + worker moved onto CORE_LOAD with `taskset -a -p`, so every
# process shares one core) and "free" (nothing pinned: proxies, fake and client on any core, as
# the scheduler likes); everything is moved back afterwards. On a VM a
# cross-core wake-up is an IPI plus a halt exit, which at 1k req/s costs more than the proxy's
# own work (~100 us even for nginx, and very noisy); on one core the wake-ups are plain context
# switches and the added latency is the proxy's own cost. Each slice runs direct -> nginx ->
# seekd for RATE_DURATION s after RATE_WARMUP s of warm-up, per placement; the report gives
# medians over slices and the median of the per-slice paired difference target - direct.
#
# Knobs (environment): REPS=3 BUILD=<root>/build-bench CONNS=32 DURATION=5 RATE=1000
#   RATE_CONNS=16 RATE_SLICES=10 RATE_DURATION=1.5 RATE_WARMUP=0.5
#   PLACEMENTS="split shared free"
#   STREAM_CONNS=20 STREAM_CHUNKS=20 STREAM_DELAY_MS=5 STREAM_DURATION=3 HOLD_1K=1000
#   HOLD_10K=9990 SKIP_BUILD=0 KEEP_TMP=0 ONLY="tput unpinned rate stream mem" (subset of phases)
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
BUILD=${BUILD:-$ROOT/build-bench}
REPS=${REPS:-3}
CONNS=${CONNS:-32}
DURATION=${DURATION:-5}
RATE=${RATE:-1000}
RATE_CONNS=${RATE_CONNS:-16}
RATE_SLICES=${RATE_SLICES:-10}
RATE_DURATION=${RATE_DURATION:-1.5}
RATE_WARMUP=${RATE_WARMUP:-0.5}
PLACEMENTS=${PLACEMENTS:-"split shared free"}
STREAM_CONNS=${STREAM_CONNS:-20}
STREAM_CHUNKS=${STREAM_CHUNKS:-20}
STREAM_DELAY_MS=${STREAM_DELAY_MS:-5}
STREAM_DURATION=${STREAM_DURATION:-3}
HOLD_1K=${HOLD_1K:-1000}
HOLD_10K=${HOLD_10K:-9990}
ONLY=${ONLY:-"tput unpinned rate stream mem"}
CORE_PROXY=${CORE_PROXY:-1}
CORE_LOAD=${CORE_LOAD:-0}
KEY=sk-bench-0001

BODY='{"model":"deepseek-chat","messages":[{"role":"user","content":"Hello"}]}'
SBODY='{"model":"deepseek-chat","messages":[{"role":"user","content":"Hello"}],"stream":true,"fake":{"chunks":'$STREAM_CHUNKS',"delay_ms":'$STREAM_DELAY_MS'}}'
HBODY='{"model":"deepseek-chat","messages":[{"role":"user","content":"Hello"}],"stream":true,"fake":{"chunks":2,"delay_ms":600000}}'

log() { printf '[%s] %s\n' "$(date +%T)" "$*" >&2; }
die() { log "error: $*"; exit 1; }
for t in wrk nginx taskset cmake; do command -v $t >/dev/null || die "$t not found"; done
for t in $PLACEMENTS; do
    case $t in split | shared | free) ;; *) die "PLACEMENTS: unknown placement '$t' (split, shared, free)" ;; esac
done
[ "$RATE_SLICES" -ge 1 ] 2>/dev/null || die "RATE_SLICES must be a positive integer"

TMP=$(mktemp -d /tmp/seekd-overhead.XXXXXX)
PIDS=()
cleanup() {
    local p
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    for p in "${PIDS[@]}"; do
        for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
        kill -9 "$p" 2>/dev/null || true
    done
    PIDS=()
}
trap 'cleanup; [ "${KEEP_TMP:-0}" = 1 ] || rm -rf "$TMP"' EXIT
T_START=$(date +%s)

# ---------------------------------------------------------------- build
if [ "${SKIP_BUILD:-0}" != 1 ]; then
    log "building seekd + fake_upstream (Release) in $BUILD"
    cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DSEEKD_WERROR=OFF -DSEEKD_TESTS=ON \
        >"$TMP/cmake.log" 2>&1 || { cat "$TMP/cmake.log"; die "cmake failed"; }
    make -C "$BUILD" -j2 seekd fake_upstream >"$TMP/make.log" 2>&1 ||
        { tail -30 "$TMP/make.log"; die "make failed"; }
fi
SEEKD=$BUILD/seekd
FAKE=$BUILD/tests/fake_upstream
[ -x "$SEEKD" ] || die "missing $SEEKD"
[ -x "$FAKE" ] || die "missing $FAKE"
LOADGEN=$TMP/loadgen
${CC:-cc} -O2 -Wall -o "$LOADGEN" "$HERE/loadgen.c" || die "loadgen build failed"

# ---------------------------------------------------------------- processes
wait_port_file() { # file pid
    for _ in $(seq 100); do
        [ -s "$1" ] && { cat "$1"; return 0; }
        kill -0 "$2" 2>/dev/null || return 1
        sleep 0.05
    done
    return 1
}

start_fake() { # -> FAKE_PORT FAKE_PID
    rm -f "$TMP/fake.port"
    taskset -c "$CORE_LOAD" "$FAKE" --listen 127.0.0.1:0 --port-file "$TMP/fake.port" --quiet \
        >/dev/null 2>"$TMP/fake.err" &
    FAKE_PID=$!
    PIDS+=("$FAKE_PID")
    FAKE_PORT=$(wait_port_file "$TMP/fake.port" "$FAKE_PID") || die "fake_upstream did not start"
}

start_seekd() { # -> SEEKD_PORT SEEKD_PID (bring-your-own-token mode: no DEEPSEEK_API_KEY)
    rm -f "$TMP/seekd.port"
    env -u DEEPSEEK_API_KEY taskset -c "$CORE_PROXY" "$SEEKD" serve --listen 127.0.0.1:0 \
        --port-file "$TMP/seekd.port" --upstream "http://127.0.0.1:$FAKE_PORT" --log-level warn \
        >/dev/null 2>"$TMP/seekd.err" &
    SEEKD_PID=$!
    PIDS+=("$SEEKD_PID")
    SEEKD_PORT=$(wait_port_file "$TMP/seekd.port" "$SEEKD_PID") || die "seekd did not start"
}

port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

start_nginx() { # -> NGINX_PORT NGINX_PID (master; its one worker is NGINX_WORKER)
    local np=$TMP/nginx
    mkdir -p "$np/logs" "$np/tmp"
    for _ in $(seq 20); do
        NGINX_PORT=$((20000 + (RANDOM % 10000)))
        port_free "$NGINX_PORT" && break
    done
    cat >"$np/nginx.conf" <<EOF
daemon off;
worker_processes 1;
worker_rlimit_nofile 20000;
pid $np/nginx.pid;
error_log $np/logs/error.log warn;
events { worker_connections 20000; multi_accept on; }
http {
    access_log off;
    client_body_temp_path $np/tmp/body;
    proxy_temp_path $np/tmp/proxy;
    fastcgi_temp_path $np/tmp/fastcgi;
    uwsgi_temp_path $np/tmp/uwsgi;
    scgi_temp_path $np/tmp/scgi;
    keepalive_requests 1000000;
    upstream fake { server 127.0.0.1:$FAKE_PORT; keepalive 256; keepalive_requests 1000000; }
    server {
        listen 127.0.0.1:$NGINX_PORT backlog=4096;
        location / {
            proxy_pass http://fake;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_buffering off;
            proxy_request_buffering off;
            proxy_read_timeout 3600s;
        }
    }
}
EOF
    taskset -c "$CORE_PROXY" nginx -p "$np" -e "$np/logs/error.log" -c "$np/nginx.conf" \
        >/dev/null 2>"$TMP/nginx.err" &
    NGINX_PID=$!
    PIDS+=("$NGINX_PID")
    for _ in $(seq 100); do
        port_free "$NGINX_PORT" || break
        kill -0 "$NGINX_PID" 2>/dev/null || { cat "$TMP/nginx.err" "$np/logs/error.log" >&2; die "nginx did not start"; }
        sleep 0.05
    done
    NGINX_WORKER=$(pgrep -P "$NGINX_PID" | head -1)
    [ -n "$NGINX_WORKER" ] || die "no nginx worker"
}

stop_all() { cleanup; }

rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }

# CPU ticks (utime + stime, every thread) of a target's processes; the fields are counted after
# the ")" that closes comm. direct has no proxy: empty.
HZ=$(getconf CLK_TCK)
cpu_ticks() { # target
    local p s=0 f
    case $1 in seekd) set -- "$SEEKD_PID" ;; nginx) set -- "$NGINX_PID" "$NGINX_WORKER" ;; *) return 0 ;; esac
    for p in "$@"; do
        f=$(sed 's/.*) //' "/proc/$p/stat") || return 0
        s=$((s + $(awk '{print $12 + $13}' <<<"$f")))
    done
    echo "$s"
}
# µs of CPU per request from a tick delta and a request count, or nothing
cpu_us() { awk -v a="$1" -v b="$2" -v n="$3" -v hz="$HZ" 'BEGIN { if (a!="" && b!="" && n>0) printf "%.2f", (b-a)*1e6/hz/n }'; }

port_of() { case $1 in direct) echo "$FAKE_PORT" ;; nginx) echo "$NGINX_PORT" ;; seekd) echo "$SEEKD_PORT" ;; esac; }

# ---------------------------------------------------------------- results store
RES=$TMP/results
mkdir -p "$RES"
rec() { echo "$3" >>"$RES/$1.$2"; } # metric target value
med() { # metric target -> median or "-"
    [ -s "$RES/$1.$2" ] || { echo "-"; return; }
    sort -g "$RES/$1.$2" | awk '{a[NR]=$1} END {if (NR%2) print a[(NR+1)/2]; else print (a[NR/2]+a[NR/2+1])/2}'
}
kv() { sed -n "s/.*[[:space:]]$1=\([^[:space:]]*\).*/\1/p; s/^$1=\([^[:space:]]*\).*/\1/p" <<<"$2" | head -1; }

# wrk latency "1.23ms" -> microseconds
to_us() { awk -v v="$1" 'BEGIN { n=v+0; if (v ~ /us$/) print n; else if (v ~ /ms$/) print n*1000; else if (v ~ /m$/) print n*60e6; else if (v ~ /s$/) print n*1e6; else print n }'; }

cat >"$TMP/post.lua" <<EOF
wrk.method = "POST"
wrk.body = '$BODY'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer $KEY"
EOF

RAW=$TMP/raw.log
: >"$RAW"

TARGETS="direct nginx seekd"

# ---------------------------------------------------------------- throughput + latency (wrk)
# One wrk measurement of every target, REPS times: metric prefix, then the taskset prefix for
# wrk ("" runs it unpinned).
wrk_phase() { # prefix wrk_pin...
    local pfx=$1 rep t out rps p50 p99 non2xx sockerr n c0 c1 cpu
    shift
    for rep in $(seq "$REPS"); do
        for t in $TARGETS; do
            # short warm-up so keep-alive pools are open
            "$@" wrk -t1 -c"$CONNS" -d1s -s "$TMP/post.lua" "http://127.0.0.1:$(port_of "$t")/chat/completions" >/dev/null 2>&1 || true
            c0=$(cpu_ticks "$t")
            out=$("$@" wrk -t1 -c"$CONNS" -d"${DURATION}s" --latency -s "$TMP/post.lua" \
                "http://127.0.0.1:$(port_of "$t")/chat/completions" 2>&1)
            c1=$(cpu_ticks "$t")
            echo "== $pfx $t rep $rep cpu_ticks $c0 -> $c1"$'\n'"$out" >>"$RAW"
            rps=$(awk '/^Requests\/sec:/ {print $2}' <<<"$out")
            n=$(awk '/requests in/ {print $1}' <<<"$out")
            p50=$(to_us "$(awk '$1=="50%" {print $2}' <<<"$out")")
            p99=$(to_us "$(awk '$1=="99%" {print $2}' <<<"$out")")
            non2xx=$(awk '/Non-2xx/ {print $NF}' <<<"$out"); non2xx=${non2xx:-0}
            sockerr=$(awk '/Socket errors/ {gsub(",",""); print $4+$6+$8+$10}' <<<"$out"); sockerr=${sockerr:-0}
            cpu=$(cpu_us "$c0" "$c1" "${n:-0}")
            rec "${pfx}_rps" "$t" "$rps"; rec "${pfx}_p50" "$t" "$p50"; rec "${pfx}_p99" "$t" "$p99"
            [ -n "$cpu" ] && rec "${pfx}_cpu" "$t" "$cpu"
            rec errors "$t" $((non2xx + sockerr))
            log "$pfx rep $rep $t: ${rps} req/s p50 ${p50}us p99 ${p99}us cpu ${cpu:--}us/req errors $((non2xx + sockerr))"
        done
    done
}

phase_tput() { wrk_phase tput taskset -c "$CORE_LOAD"; }

# Nothing pinned: proxies, fake and wrk on any core; the split pinning is restored afterwards.
phase_unpinned() {
    pin_proxies "$ALL_CPUS"
    taskset -a -p -c "$ALL_CPUS" "$FAKE_PID" >/dev/null || die "cannot unpin the fake"
    log "unpinned: seekd on cpus $(cpus_of "$SEEKD_PID"), nginx master/worker on cpus $(cpus_of "$NGINX_PID")/$(cpus_of "$NGINX_WORKER"), fake on cpus $(cpus_of "$FAKE_PID"), wrk unpinned"
    wrk_phase free env
    pin_proxies "$CORE_PROXY"
    taskset -a -p -c "$CORE_LOAD" "$FAKE_PID" >/dev/null || die "cannot pin the fake"
}

# ---------------------------------------------------------------- fixed rate (loadgen)
# Placements: "split" (proxies on CORE_PROXY, where they were started), "shared" (moved onto
# CORE_LOAD, next to the fake and the client), "free" (nothing pinned). RATE_SLICES short slices; inside each
# slice every placement runs direct -> nginx -> seekd, so slow drifts of the machine hit all of
# them alike. Per slice it also records the paired difference target - direct (same slice, same
# placement); the report shows medians over slices.
pin_proxies() { # core: every thread of seekd, nginx master and nginx worker
    local p
    for p in "$SEEKD_PID" "$NGINX_PID" "$NGINX_WORKER"; do
        taskset -a -p -c "$1" "$p" >/dev/null || die "taskset -a -p -c $1 $p failed"
    done
}
cpus_of() { awk '/^Cpus_allowed_list:/ {print $2}' "/proc/$1/status"; }
ALL_CPUS="0-$(($(nproc) - 1))"
core_of_placement() { case $1 in split) echo "$CORE_PROXY" ;; shared) echo "$CORE_LOAD" ;; free) echo "$ALL_CPUS" ;; esac; }
# the fake and the client stay on CORE_LOAD, except in "free" where nothing is pinned
load_cpus() { if [ "$1" = free ]; then echo "$ALL_CPUS"; else echo "$CORE_LOAD"; fi; }
isnum() { [[ $1 =~ ^-?[0-9]+(\.[0-9]+)?$ ]]; }

phase_rate() {
    local slice pl t out p50 p99 d50 d99 e c0 c1
    for slice in $(seq "$RATE_SLICES"); do
        for pl in $PLACEMENTS; do
            pin_proxies "$(core_of_placement "$pl")"
            taskset -a -p -c "$(load_cpus "$pl")" "$FAKE_PID" >/dev/null || die "cannot pin the fake"
            if [ "$slice" = 1 ]; then
                log "rate $pl: seekd on cpus $(cpus_of "$SEEKD_PID"), nginx master/worker on cpus $(cpus_of "$NGINX_PID")/$(cpus_of "$NGINX_WORKER"), fake + client on cpus $CORE_LOAD"
            fi
            d50=; d99=
            for t in $TARGETS; do
                c0=$(cpu_ticks "$t")
                out=$(taskset -c "$(load_cpus "$pl")" "$LOADGEN" --port "$(port_of "$t")" --mode rate --rate "$RATE" \
                    --conns "$RATE_CONNS" --duration "$RATE_DURATION" --warmup "$RATE_WARMUP" \
                    --body "$BODY" --key "$KEY" 2>&1) || true
                c1=$(cpu_ticks "$t")
                echo "== rate $pl $t slice $slice cpu_ticks $c0 -> $c1: $out" >>"$RAW"
                # loadgen's n counts the measured requests only, the warm-up's are not in it:
                # scale the ticks by the measured share of the run's time
                if [ -n "$c0" ]; then
                    rec "rate_ticks_$pl" "$t" "$(awk -v a="$c0" -v b="$c1" -v d="$RATE_DURATION" -v w="$RATE_WARMUP" 'BEGIN {printf "%.3f", (b-a)*d/(d+w)}')"
                    rec "rate_n_$pl" "$t" "$(kv n "$out")"
                fi
                p50=$(kv p50 "$out"); p99=$(kv p99 "$out")
                rec "rate_p50_$pl" "$t" "$p50"; rec "rate_p99_$pl" "$t" "$p99"
                rec "rate_sp99_$pl" "$t" "$(kv sched_p99 "$out")"; rec "rate_rps_$pl" "$t" "$(kv rps "$out")"
                e=$(kv errors "$out"); rec errors "$t" "${e:-1}" # no report line: count it as an error
                if [ "$t" = direct ]; then
                    d50=$p50; d99=$p99
                elif isnum "$p50" && isnum "$p99" && isnum "$d50" && isnum "$d99"; then
                    rec "rate_add50_$pl" "$t" "$(awk -v a="$p50" -v b="$d50" 'BEGIN {printf "%.1f", a-b}')"
                    rec "rate_add99_$pl" "$t" "$(awk -v a="$p99" -v b="$d99" 'BEGIN {printf "%.1f", a-b}')"
                fi
                log "rate slice $slice/$RATE_SLICES $pl $t: $(kv rps "$out") req/s p50 ${p50}us p99 ${p99}us (sched p99 $(kv sched_p99 "$out")) errors $(kv errors "$out")"
            done
        done
    done
    pin_proxies "$CORE_PROXY"
    taskset -a -p -c "$CORE_LOAD" "$FAKE_PID" >/dev/null || die "cannot pin the fake"
    log "rate: proxies back on core $CORE_PROXY (seekd cpus $(cpus_of "$SEEKD_PID"), nginx worker cpus $(cpus_of "$NGINX_WORKER"))"
}

# ---------------------------------------------------------------- streaming TTFB / gaps
phase_stream() {
    local rep t out c0 c1
    for rep in $(seq "$REPS"); do
        for t in $TARGETS; do
            c0=$(cpu_ticks "$t")
            out=$(taskset -c "$CORE_LOAD" "$LOADGEN" --port "$(port_of "$t")" --mode stream \
                --conns "$STREAM_CONNS" --duration "$STREAM_DURATION" --warmup 0.5 --body "$SBODY" --key "$KEY" 2>&1) || true
            c1=$(cpu_ticks "$t")
            echo "== stream $t rep $rep cpu_ticks $c0 -> $c1: $out" >>"$RAW"
            [ -n "$c0" ] && rec stream_cpu "$t" "$(awk -v a="$c0" -v b="$c1" -v d="$STREAM_DURATION" -v n="$(kv n "$out")" -v hz="$HZ" 'BEGIN { if (n>0) printf "%.2f", (b-a)*d/(d+0.5)*1e6/hz/n }')"
            rec ttfb_p50 "$t" "$(kv ttfb_p50 "$out")"; rec ttfb_p99 "$t" "$(kv ttfb_p99 "$out")"
            rec gap_p50 "$t" "$(kv gap_p50 "$out")"; rec gap_p99 "$t" "$(kv gap_p99 "$out")"
            rec errors "$t" "$(kv errors "$out")"
            log "stream rep $rep $t: ttfb p50 $(kv ttfb_p50 "$out")us p99 $(kv ttfb_p99 "$out")us gap p50 $(kv gap_p50 "$out")us p99 $(kv gap_p99 "$out")us errors $(kv errors "$out")"
        done
    done
}

# ---------------------------------------------------------------- memory per open stream
# Fresh fake + proxy per measurement: warm up with 200 plain requests, read VmRSS, open N
# streams (fake sends the role chunk at once, then waits 600 s), read VmRSS again once every
# stream got its first event. nginx: the worker's RSS.
phase_mem() {
    local rep t n pid before after out
    for n in "$HOLD_1K" "$HOLD_10K"; do
        for rep in $(seq "$REPS"); do
            for t in nginx seekd; do
                start_fake
                if [ $t = seekd ]; then start_seekd; pid=$SEEKD_PID; else start_nginx; pid=$NGINX_WORKER; fi
                taskset -c "$CORE_LOAD" "$LOADGEN" --port "$(port_of "$t")" --mode closed --conns 4 \
                    --duration 0.2 --warmup 0 --body "$BODY" --key "$KEY" >/dev/null 2>&1 || true
                sleep 0.2
                before=$(rss_kb "$pid")
                rm -f "$TMP/ready"
                taskset -c "$CORE_LOAD" "$LOADGEN" --port "$(port_of "$t")" --mode hold --streams "$n" \
                    --ramp 256 --hold-s 1.5 --ready-file "$TMP/ready" --body "$HBODY" --key "$KEY" \
                    >"$TMP/hold.out" 2>&1 &
                local lp=$!
                for _ in $(seq 600); do [ -s "$TMP/ready" ] && break; kill -0 $lp 2>/dev/null || break; sleep 0.1; done
                sleep 0.5
                after=$(rss_kb "$pid")
                local fds; fds=$(find "/proc/$pid/fd" -mindepth 1 -maxdepth 1 2>/dev/null | wc -l)
                wait $lp || true
                out=$(cat "$TMP/hold.out")
                local ready; ready=$(kv ready "$out")
                echo "== mem $t n=$n rep $rep before=${before}kB after=${after}kB fds=$fds: $out" >>"$RAW"
                if [ "${ready:-0}" -gt 0 ]; then
                    rec "mem_per_stream_$n" $t "$(awk -v a="$after" -v b="$before" -v r="$ready" 'BEGIN {printf "%.2f", (a-b)/r}')"
                fi
                rec "mem_ready_$n" $t "${ready:-0}"
                rec "mem_base_$n" $t "$before"
                # streams the proxy could not hold are counted here, not in "errors": nginx
                # runs out of worker_connections (capped by the 20000 fd limit) near 9.4k streams
                rec "mem_fail_$n" $t "$(kv errors "$out")"
                log "mem n=$n rep $rep $t: RSS ${before} -> ${after} kB, ${ready} streams open, fds $fds, $(awk -v a="$after" -v b="$before" -v r="${ready:-1}" 'BEGIN {printf "%.2f", (a-b)/r}') kB/stream, errors $(kv errors "$out")"
                stop_all
            done
        done
    done
}

# ---------------------------------------------------------------- run
if grep -qE 'tput|unpinned|rate|stream' <<<"$ONLY"; then
    start_fake; start_seekd; start_nginx
    log "fake :$FAKE_PORT (pid $FAKE_PID, core $CORE_LOAD)  nginx :$NGINX_PORT (worker $NGINX_WORKER, core $CORE_PROXY)  seekd :$SEEKD_PORT (pid $SEEKD_PID, core $CORE_PROXY, BYOT)"
    for ph in tput unpinned rate stream; do
        grep -qw $ph <<<"$ONLY" && phase_$ph
    done
    stop_all
fi
grep -qw mem <<<"$ONLY" && phase_mem

# ---------------------------------------------------------------- report
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a=="-"||b=="-"||b==0) print "-"; else printf "%.2f", a/b }'; }
diff_() { awk -v a="$1" -v b="$2" 'BEGIN { if (a=="-"||b=="-") print "-"; else printf "%+.0f", a-b }'; }
pool_cpu() { # placement: sum of ticks / sum of requests over its slices, as one value
    local t
    for t in nginx seekd; do
        [ -s "$RES/rate_ticks_$1.$t" ] || continue
        paste "$RES/rate_ticks_$1.$t" "$RES/rate_n_$1.$t" |
            awk -v hz="$HZ" '{a+=$1; n+=$2} END { if (n>0) printf "%.2f\n", a*1e6/hz/n }' >"$RES/rate_cpu_$1.$t"
    done
}
sumerr() { [ -s "$RES/errors.$1" ] && awk '{s+=$1} END {print s+0}' "$RES/errors.$1" || echo "-"; }

row() { # label metric unit
    local d n s
    d=$(med "$2" direct); n=$(med "$2" nginx); s=$(med "$2" seekd)
    printf '| %-34s | %10s | %10s | %10s | %9s | %9s | %10s | %10s |\n' "$1" "$d" "$n" "$s" \
        "$(ratio "$s" "$n")" "$(ratio "$s" "$d")" "$(diff_ "$n" "$d")" "$(diff_ "$s" "$d")"
}
echo
RATE_NOTE=""; grep -qw rate <<<"$ONLY" && RATE_NOTE=", rate phase: medians of $RATE_SLICES slices"
echo "seekd overhead benchmark - medians of $REPS runs$RATE_NOTE ($(date -u +%FT%TZ), $(nproc) cores, $(uname -r))"
echo "seekd in bring-your-own-key mode; pinning: proxies core $CORE_PROXY, fake + clients core $CORE_LOAD (unpinned phase: nothing pinned)"
echo "CPU us/req: utime+stime from /proc/PID/stat (all threads; nginx master + worker) over the measured run / requests completed"
grep -qw rate <<<"$ONLY" && echo "rate placements ($PLACEMENTS): split = proxies on core $CORE_PROXY; shared = proxies moved to core $CORE_LOAD (everything on one core); free = nothing pinned"
echo "wrk -t1 -c$CONNS -d${DURATION}s; rate $RATE req/s over $RATE_CONNS conns, slices of ${RATE_DURATION}s after ${RATE_WARMUP}s warm-up; stream chunks=$STREAM_CHUNKS delay_ms=$STREAM_DELAY_MS x $STREAM_CONNS conns; times in us"
echo
printf '| %-34s | %10s | %10s | %10s | %9s | %9s | %10s | %10s |\n' metric direct nginx seekd seekd/ngx seekd/dir "ngx-dir" "seekd-dir"
printf '|%s|%s|%s|%s|%s|%s|%s|%s|\n' "$(printf -- '-%.0s' {1..36})" ------------ ------------ ------------ ----------- ----------- ------------ ------------
if grep -qw tput <<<"$ONLY"; then
    row "closed-loop req/s (c=$CONNS)" tput_rps
    row "closed-loop p50 us" tput_p50
    row "closed-loop p99 us" tput_p99
    row "CPU us/req, pinned (c=$CONNS)" tput_cpu
fi
if grep -qw unpinned <<<"$ONLY"; then
    row "unpinned req/s (c=$CONNS)" free_rps
    row "unpinned p50 us" free_p50
    row "unpinned p99 us" free_p99
    row "CPU us/req, unpinned (c=$CONNS)" free_cpu
fi
if grep -qw rate <<<"$ONLY"; then
    for pl in $PLACEMENTS; do
        row "req/s achieved @ $RATE ($pl)" "rate_rps_$pl"
        row "p50 us @ $RATE req/s ($pl)" "rate_p50_$pl"
        row "p99 us @ $RATE req/s ($pl)" "rate_p99_$pl"
        row "p99 from schedule @ $RATE ($pl)" "rate_sp99_$pl"
        row "added p50 ($pl, paired median)" "rate_add50_$pl"
        row "added p99 ($pl, paired median)" "rate_add99_$pl"
        pool_cpu "$pl"
        row "CPU us/req @ $RATE ($pl, pooled)" "rate_cpu_$pl"
    done
fi
if grep -qw stream <<<"$ONLY"; then
    row "stream TTFB p50 us" ttfb_p50
    row "stream TTFB p99 us" ttfb_p99
    row "inter-chunk gap p50 us" gap_p50
    row "inter-chunk gap p99 us" gap_p99
    row "CPU us/stream (stream phase)" stream_cpu
fi
if grep -qw mem <<<"$ONLY"; then
    row "RSS kB/stream @ $HOLD_1K streams" "mem_per_stream_$HOLD_1K"
    row "RSS kB/stream @ $HOLD_10K streams" "mem_per_stream_$HOLD_10K"
    row "streams actually open (of $HOLD_10K)" "mem_ready_$HOLD_10K"
    row "streams refused/dropped (of $HOLD_10K)" "mem_fail_$HOLD_10K"
    row "baseline RSS kB" "mem_base_$HOLD_1K"
fi
printf '| %-34s | %10s | %10s | %10s | %9s | %9s | %10s | %10s |\n' "errors (sum over all runs)" "$(sumerr direct)" "$(sumerr nginx)" "$(sumerr seekd)" "" "" "" ""

# targets
echo
TR=$(ratio "$(med tput_rps seekd)" "$(med tput_rps nginx)")
M1=$(med "mem_per_stream_$HOLD_1K" seekd); M10=$(med "mem_per_stream_$HOLD_10K" seekd)
verdict() { awk -v v="$1" -v lim="$2" -v op="$3" 'BEGIN { if (v=="-") print "n/a"; else if ((op=="le" && v+0<=lim) || (op=="ge" && v+0>=lim)) print "MET"; else print "MISSED" }'; }
echo "targets:"
signed() { awk -v a="$1" 'BEGIN { if (a=="-") print "-"; else printf "%+.0f", a }'; }
# added = median over slices of (seekd - direct in the same slice), one verdict per placement
grep -qw rate <<<"$ONLY" && for pl in $PLACEMENTS; do
    S50=$(signed "$(med "rate_add50_$pl" seekd)"); S99=$(signed "$(med "rate_add99_$pl" seekd)")
    printf '  %-46s %5s us  (<= 50 us)   %s\n' "seekd added p50 @ $RATE req/s ($pl, paired)" "$S50" "$(verdict "$S50" 50 le)"
    printf '  %-46s %5s us  (<= 500 us)  %s\n' "seekd added p99 @ $RATE req/s ($pl, paired)" "$S99" "$(verdict "$S99" 500 le)"
done
echo "  seekd/nginx closed-loop req/s    ${TR}      (>= 0.80)    $(verdict "$TR" 0.80 ge)"
if grep -qw unpinned <<<"$ONLY"; then
    UR=$(ratio "$(med free_rps seekd)" "$(med free_rps nginx)")
    UC=$(ratio "$(med free_cpu seekd)" "$(med free_cpu nginx)")
    echo "  seekd/nginx unpinned req/s       ${UR}      (>= 0.80)    $(verdict "$UR" 0.80 ge)"
    echo "  seekd/nginx CPU/req unpinned     ${UC}      (<= 1.25)    $(verdict "$UC" 1.25 le)"
fi
if grep -qw tput <<<"$ONLY"; then
    PC=$(ratio "$(med tput_cpu seekd)" "$(med tput_cpu nginx)")
    echo "  seekd/nginx CPU/req pinned       ${PC}      (<= 1.25)    $(verdict "$PC" 1.25 le)"
fi
echo "  seekd RSS per stream @ $HOLD_1K      ${M1} kB (<= 64 kB)   $(verdict "$M1" 64 le)"
echo "  seekd RSS per stream @ $HOLD_10K     ${M10} kB (<= 64 kB)   $(verdict "$M10" 64 le)"
echo "  seekd errors                     $(sumerr seekd)         (0)          $([ "$(sumerr seekd)" = 0 ] && echo MET || echo MISSED)"
echo "  seekd streams held of $HOLD_10K       $(med "mem_ready_$HOLD_10K" seekd)      (10k; 2 fds per stream under a 20000 fd limit caps it near 9990)"
echo
echo "total wall time $(( $(date +%s) - T_START )) s"
if [ "${KEEP_TMP:-0}" = 1 ]; then echo "raw tool output: $RAW"; else echo "(KEEP_TMP=1 keeps the raw tool output)"; fi
