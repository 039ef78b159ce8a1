#!/usr/bin/env bash
# run.sh - seekd's DeepSeek-V3 tokenizer vs HuggingFace tokenizers, single thread, same corpus.
# usage: bench/tokenizer/run.sh [megabytes=12] [runs=5]      (from anywhere; needs npm ci)
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
mb="${1:-12}"
runs="${2:-5}"
build="$root/build-bench"
cd "$root"
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release -DSEEKD_TESTS=OFF >/dev/null
cmake --build "$build" --target seekd-tok-bench -j"$(nproc)" >/dev/null
corpus="$build/tokenizer-corpus-${mb}mb.txt"
[ -f "$corpus" ] || node bench/tokenizer/gen_corpus.js "$corpus" "$mb" >/dev/null
export RAYON_NUM_THREADS=1 TOKENIZERS_PARALLELISM=false

field() { sed -n "s/.*\<$1=\([^ ]*\).*/\1/p" <<<"$2"; }
printf '%-6s %-22s %10s %12s %10s %10s %10s %s\n' mode tokenizer tokens tokens/s MB/s load_ms rss_MB ids
for mode in whole docs; do
  s=$("$build/seekd-tok-bench" "$corpus" "$runs" "$mode")
  h=$(node bench/tokenizer/bench_hf.js "$corpus" "$runs" "$mode")
  for row in "seekd:$s" "hf-tokenizers(rust):$h"; do
    name="${row%%:*}"; line="${row#*:}"
    rss=$(field rss_after_load_kb "$line"); [ -n "$rss" ] || rss=$(field rss_kb "$line")
    printf '%-6s %-22s %10s %12s %10s %10s %10s %s\n' "$mode" "$name" "$(field tokens "$line")" \
      "$(field tokens_per_s "$line")" "$(field mb_per_s "$line")" "$(field load_ms "$line")" \
      "$((rss / 1024))" "$(field ids_fnv "$line")"
  done
  a=$(field tokens_per_s "$s"); b=$(field tokens_per_s "$h")
  same=$([ "$(field ids_fnv "$s")" = "$(field ids_fnv "$h")" ] && echo identical || echo DIFFERENT)
  echo "$mode: seekd/hf speed = $(awk -v a="$a" -v b="$b" 'BEGIN{printf "%.1fx", a/b}'), ids $same"
done
# load time and memory of the built-in vocabulary alone, median of 5 fresh processes
loads=$(for i in 1 2 3 4 5; do "$build/seekd-tok-bench" --load; done)
echo "v3 load (5 fresh processes): load_ms median $(field load_ms "$loads" | sort -n | sed -n 3p)," \
  "rss after load $(( $(field rss_kb "$loads" | sort -n | sed -n 3p) / 1024 )) MB (whole process)"
