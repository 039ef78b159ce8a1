#!/usr/bin/env bash
# run.sh - settles per second of store_settle_many with batches of 1, 16 and 128, on SQLite
# (WAL, synchronous=NORMAL, a file in $TMPDIR) and on PostgreSQL (a throwaway server from
# tests/pg/pg_cluster.sh with fsync and synchronous_commit ON: every commit reaches the disk).
#   bench/ledger/run.sh [N] [RUNS]     defaults: 4096 settles a run, 5 runs (the median is shown)
set -euo pipefail
cd "$(dirname "$0")/../.."
n=${1:-4096}
runs=${2:-5}
cmake -S . -B build-bench -DCMAKE_BUILD_TYPE=Release -DSEEKD_TESTS=OFF > /dev/null
nice -n 10 cmake --build build-bench -j2 --target seekd-ledger-bench > /dev/null
bin=build-bench/seekd-ledger-bench

tmp=$(mktemp -d "${TMPDIR:-/tmp}/seekd-ledger-bench-XXXXXX")
pgdir=$(mktemp -d "${TMPDIR:-/tmp}/seekd-ledger-pg-XXXXXX") # its own: the server's user must reach it
trap 'tests/pg/pg_cluster.sh stop "$pgdir" 2>/dev/null || true; rm -rf "$tmp"' EXIT

echo "== SQLite"
"$bin" "sqlite:$tmp/ledger.db" "$n" "$runs"
echo "== PostgreSQL"
url=$(PG_FSYNC=on tests/pg/pg_cluster.sh start "$pgdir")
"$bin" "$url" "$n" "$runs"
