#!/usr/bin/env bash
# run.sh - the local engine's speed: prompt and decode tokens/s of `seekd generate` on synthetic
# Qwen2-0.5B- and 1.5B-shaped GGUFs (Q8_0, Q4_K; random weights), with the roofline from the read
# bandwidth measured in the same run, and llama.cpp side by side when node-llama-cpp is installed
# (see README.md here). Not a test. usage: bench/engine/run.sh
# Environment: RUNS (3), THREADS (2), PROMPT (128 tokens), NGEN (64), SHAPES ("qwen05b qwen15b"),
# TYPES ("q8_0 q4_k"), LLAMACPP_DIR (default build-bench-engine/llamacpp when present).
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
build="$root/build-bench-engine"
mkdir -p "$build"
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release -DSEEKD_TESTS=OFF >/dev/null
cmake --build "$build" --target seekd -j"$(nproc)" >/dev/null
cc -O3 -march=native -pthread "$root/bench/engine/membw.c" -o "$build/membw"
lcpp="${LLAMACPP_DIR:-$build/llamacpp}"
if [ ! -d "$lcpp/node_modules/node-llama-cpp" ]; then
  echo "(llama.cpp column skipped: no node-llama-cpp under $lcpp; see bench/engine/README.md)"
  lcpp=""
fi
SEEKD="$build/seekd" WORK="$build" MEMBW="$build/membw" LLAMACPP_DIR="$lcpp" \
  /usr/bin/python3 "$root/bench/engine/bench.py"
