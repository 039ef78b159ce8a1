#!/usr/bin/env bash
# One command for a newcomer: install dependencies, build, and start seekd.
# Arguments go to `seekd serve` (e.g. --listen 127.0.0.1:8000 --upstream URL --config FILE).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$(id -u)" = 0 ]; then bash scripts/deps.sh; else sudo bash scripts/deps.sh; fi
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j"$(nproc)" --target seekd
exec ./build/seekd serve "$@"
