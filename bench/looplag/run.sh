#!/usr/bin/env bash
# bench/looplag/run.sh - how long seekd's event loop stalls while it does heavy work for other
# requests: /ping latency on a kept-alive connection, sampled back to back, while the upstream
# answers without usage (so seekd counts tokens itself) for long prompts. Builds seekd and
# fake_upstream (Release, in build-bench/) unless SEEKD_BIN/FAKE_BIN are given.
# Knobs (environment): BUILD=<root>/build-bench SEEKD_BIN FAKE_BIN ROUNDS=3
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=${BUILD:-$ROOT/build-bench}
if [ -z "${SEEKD_BIN:-}" ] || [ -z "${FAKE_BIN:-}" ]; then
  cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DSEEKD_TESTS=ON >/dev/null
  cmake --build "$BUILD" -j"$(nproc)" --target seekd fake_upstream >/dev/null
  SEEKD_BIN=${SEEKD_BIN:-$BUILD/seekd}
  FAKE_BIN=${FAKE_BIN:-$BUILD/tests/fake_upstream}
fi
export SEEKD_BIN FAKE_BIN ROUNDS=${ROUNDS:-3}
exec node "$ROOT/bench/looplag/looplag.mjs"
