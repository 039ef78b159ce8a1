#!/usr/bin/env bash
# run.sh - builds the fuzzers (tokenizer, request validation, upstream stream parsing, HTTP heads,
# HTTP responses and chunked bodies)
# with clang + libFuzzer (ASan, UBSan) and runs each for a bounded time. usage: fuzz/run.sh [seconds_per_target=30]    Exit 0 when no target crashed.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
secs="${1:-30}"
build="$root/build-fuzz"
CC=clang cmake -S "$root" -B "$build" -DSEEKD_FUZZ=ON -DSEEKD_TESTS=OFF \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
source "$root/fuzz/targets.sh"
cmake --build "$build" --target "${targets[@]}" -j"$(nproc)" >/dev/null
work="$build/fuzz-work"
mkdir -p "$work"
status=0
for t in "${targets[@]}"; do
  corpus="$work/${t}.corpus"
  fill_corpus "$t" "$corpus"
  echo "== $t: ${secs}s"
  if ! (cd "$work" && "$build/$t" -max_total_time="$secs" -max_len=1200000 -rss_limit_mb=4096 \
        -print_final_stats=0 "$corpus" 2>"$work/$t.log"); then
    echo "FAILED: $t (log: $work/$t.log)"; tail -40 "$work/$t.log"; status=1
  else
    last_stats "$work/$t.log" || true
  fi
done
exit $status
