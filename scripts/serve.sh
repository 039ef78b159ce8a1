#!/usr/bin/env bash
# One command for a newcomer: install what is missing (once), build, and start seekd.
# Arguments go to `seekd serve` (e.g. --listen 127.0.0.1:8000 --upstream URL --config FILE).
# A tree that is installed and built starts without the network.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! bash scripts/deps.sh --check 2>/dev/null; then
  if [ "$(id -u)" = 0 ]; then bash scripts/deps.sh; else sudo bash scripts/deps.sh; fi
fi
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j"$(nproc)" --target seekd
exec ./build/seekd serve "$@"
