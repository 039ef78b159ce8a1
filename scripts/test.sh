#!/usr/bin/env bash
# The whole test suite: dependencies, the suite under ASan+UBSan (built with clang), fuzzers for
# a bounded time, then gcc's optimized build's suite (whose ctest summary is the last line
# printed). Both compilers build with -Werror.
set -uo pipefail
cd "$(dirname "$0")/.."
if ! bash scripts/deps.sh --check 2>/dev/null; then
  if [ "$(id -u)" = 0 ]; then bash scripts/deps.sh; else sudo bash scripts/deps.sh; fi || exit 1
fi
jobs=$(nproc)
status=0

echo "== ASan+UBSan build (clang) and suite"
# max_free_fill_size: a freed block is overwritten whole, so a read after free (even one an
# interceptor does not check, such as vsnprintf's) shows up as garbage the tests see.
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:max_free_fill_size=4096
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
CC=clang cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DSEEKD_SANITIZE=ON >/dev/null &&
  cmake --build build-asan -j"$jobs" >/dev/null &&
  (cd build-asan && ctest -j"$jobs" --output-on-failure --timeout 300) || status=1

if [ -x fuzz/run.sh ]; then
  echo "== fuzzers (bounded)"
  bash fuzz/run.sh || status=1
fi

echo "== optimized build (gcc) and suite"
CC=gcc cmake -S . -B build-test -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null &&
  cmake --build build-test -j"$jobs" >/dev/null || status=1
# glibc fills freed (and new) blocks with this byte: the same class of bug, without ASan.
(cd build-test && MALLOC_PERTURB_=165 ctest -j"$jobs" --output-on-failure --timeout 300) || status=1
exit $status
