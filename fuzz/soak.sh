#!/usr/bin/env bash
# soak.sh - long fuzz runs, two targets at a time (one per core of a two-core machine), each
# continuing from its committed corpus; afterwards each corpus is minimized (libFuzzer's
# -merge=1) into fuzz/corpus/<target>/ for CI's short runs to start from. Inputs over 64 KiB
# are not kept there (the repo stays small; the seeds that large come from data files).
# usage: fuzz/soak.sh [seconds_per_target=600] [target ...]   (default: every target)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
build="$root/build-fuzz"
secs="${1:-600}"
shift || true
CC=clang cmake -S "$root" -B "$build" -DSEEKD_FUZZ=ON -DSEEKD_TESTS=OFF \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
source "$root/fuzz/targets.sh"
[ $# -gt 0 ] && targets=("$@")
cmake --build "$build" --target "${targets[@]}" -j"$(nproc)" >/dev/null
work="$build/soak"
mkdir -p "$work"

soak_one() {
  local t=$1 corpus="$work/$1.corpus"
  fill_corpus "$t" "$corpus"
  (cd "$work" && "$build/$t" -max_total_time="$secs" -max_len=1200000 -rss_limit_mb=4096 \
    -print_final_stats=1 "$corpus" >"$work/$t.log" 2>&1)
}

status=0
for ((i = 0; i < ${#targets[@]}; i += 2)); do
  pids=()
  for t in "${targets[@]:i:2}"; do
    soak_one "$t" & pids+=($!)
  done
  for p in "${pids[@]}"; do wait "$p" || status=1; done
done

for t in "${targets[@]}"; do
  out="$root/fuzz/corpus/$t"
  rm -rf "$out.new" && mkdir -p "$out.new"
  small="$work/$t.small" && rm -rf "$small" && mkdir -p "$small"
  find "$work/$t.corpus" -type f -size -65k -exec cp -t "$small" {} +
  "$build/$t" -merge=1 -max_len=65536 "$out.new" "$small" >"$work/$t.merge.log" 2>&1 || status=1
  rm -rf "$out" && mv "$out.new" "$out"
  printf '%-22s %s | kept %s inputs (%s)\n' "$t" "$(last_stats "$work/$t.log" | sed 's/  */ /g')" \
    "$(ls "$out" | wc -l)" "$(du -sh "$out" | cut -f1)"
  grep -E "^(==|SUMMARY|Slowest|stat::)" "$work/$t.log" | head -8 || true
done
exit $status
