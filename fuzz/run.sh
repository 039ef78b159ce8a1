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
targets=(fuzz_tok_encode fuzz_tok_load_json fuzz_tok_load_gguf fuzz_tok_load_blob fuzz_request
  fuzz_upstream_stream fuzz_json_reader fuzz_http_head fuzz_http_response)
cmake --build "$build" --target "${targets[@]}" -j"$(nproc)" >/dev/null
work="$build/fuzz-work"
mkdir -p "$work"
shared="$root/../shared/assets"
status=0
for t in "${targets[@]}"; do
  corpus="$work/${t}.corpus"
  mkdir -p "$corpus"
  case "$t" in
    fuzz_tok_encode) cp -n "$root"/fuzz/seeds/encode/* "$corpus"/ 2>/dev/null || true ;;
    fuzz_tok_load_json) cp -n "$root"/fuzz/seeds/json/* "$corpus"/ 2>/dev/null || true ;;
    fuzz_tok_load_gguf)
      # the small GGUF vocabularies of the shared assets, when present, are good seeds
      for f in "$shared"/tokenizer-vectors/ggml-vocab-deepseek-coder.gguf \
               "$shared"/tokenizer-vectors/ggml-vocab-llama-spm.gguf; do
        [ -f "$f" ] && cp -n "$f" "$corpus"/ 2>/dev/null || true
      done ;;
    fuzz_request) cp -n "$root"/fuzz/seeds/request/* "$corpus"/ 2>/dev/null || true ;;
    fuzz_upstream_stream) cp -n "$root"/fuzz/seeds/upstream_stream/* "$corpus"/ 2>/dev/null || true ;;
    fuzz_json_reader) cp -n "$root"/fuzz/seeds/json_reader/* "$corpus"/ 2>/dev/null || true ;;
    fuzz_http_head) cp -n "$root"/fuzz/seeds/http_head/* "$corpus"/ 2>/dev/null || true ;;
    fuzz_http_response) cp -n "$root"/fuzz/seeds/http_response/* "$corpus"/ 2>/dev/null || true ;;
    fuzz_tok_load_blob)
      b="$build/generated/tokenizer/deepseek_v3.tokblob"
      [ -f "$b" ] && cp -n "$b" "$corpus"/ 2>/dev/null || true ;;
  esac
  echo "== $t: ${secs}s"
  if ! (cd "$work" && "$build/$t" -max_total_time="$secs" -max_len=1200000 -rss_limit_mb=4096 \
        -print_final_stats=0 "$corpus" 2>"$work/$t.log"); then
    echo "FAILED: $t (log: $work/$t.log)"; tail -40 "$work/$t.log"; status=1
  else
    grep -E "^#[0-9]+.*DONE|Done [0-9]+ runs" "$work/$t.log" | tail -1 || true
  fi
done
exit $status
