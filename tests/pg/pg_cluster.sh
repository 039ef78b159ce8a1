#!/usr/bin/env bash
# pg_cluster.sh - a throwaway PostgreSQL server for the tests and the bench, from Debian's
# postgresql package, run as a user that is not root (postgres refuses root): `nobody` when
# this script runs as root, the caller otherwise. Data, socket and log live in one directory
# owned by that user; it listens on 127.0.0.1 on a free port with password (SCRAM) auth, so
# wrong credentials are refused as they would be in production.
#
#   pg_cluster.sh start DIR      make and start a cluster in DIR (new or empty); prints its URL,
#                                also written to DIR/url: postgresql://seekd:PW@127.0.0.1:PORT/postgres
#   pg_cluster.sh stop DIR       stop it and remove DIR
#   pg_cluster.sh run CMD ARGS   start one in a temp dir, run CMD with SEEKD_TEST_PG_URL set,
#                                stop it, exit with CMD's status. Without PostgreSQL installed,
#                                CMD runs without SEEKD_TEST_PG_URL (its PostgreSQL tests skip).
#
# PG_FSYNC=on keeps fsync and synchronous_commit on (the bench); the tests turn them off.
set -euo pipefail

bindir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
have_pg() { [ -n "$bindir" ] && [ -x "$bindir/initdb" ] && [ -x "$bindir/pg_ctl" ]; }

as_owner() {
  if [ "$(id -u)" = 0 ]; then runuser -u nobody -- "$@"; else "$@"; fi
}

free_port() {
  local p
  for p in $(shuf -i 20000-60000 -n 50); do
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then echo "$p"; return 0; fi
  done
  return 1
}

start() {
  local dir=$1
  mkdir -p "$dir"
  dir=$(cd "$dir" && pwd)
  [ -z "$(ls -A "$dir")" ] || { echo "pg_cluster: $dir is not empty" >&2; return 1; }
  [ "$(id -u)" = 0 ] && chown nobody "$dir"
  chmod 700 "$dir"
  local pw
  pw=$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')
  as_owner sh -c "umask 077; printf '%s\n' '$pw' > '$dir/pw'"
  as_owner "$bindir/initdb" -D "$dir/data" -U seekd --pwfile="$dir/pw" --auth-local=trust \
    --auth-host=scram-sha-256 -E UTF8 --no-locale --no-sync > "$dir/initdb.log" 2>&1 ||
    { cat "$dir/initdb.log" >&2; return 1; }
  local fsync=off
  [ "${PG_FSYNC:-off}" = on ] && fsync=on
  as_owner mkdir -p "$dir/sock"
  local tries port
  for tries in 1 2 3 4 5; do
    port=$(free_port)
    as_owner sh -c "cat >> '$dir/data/postgresql.conf'" <<CONF
port = $port
listen_addresses = '127.0.0.1'
unix_socket_directories = '$dir/sock'
fsync = $fsync
synchronous_commit = $fsync
full_page_writes = $fsync
max_connections = 200
CONF
    if as_owner "$bindir/pg_ctl" -D "$dir/data" -l "$dir/log" -w -t 60 start > /dev/null; then
      local url="postgresql://seekd:$pw@127.0.0.1:$port/postgres"
      as_owner sh -c "printf '%s\n' '$url' > '$dir/url'"
      echo "$url"
      return 0
    fi
  done
  echo "pg_cluster: the server did not start:" >&2
  tail -n 20 "$dir/log" >&2
  return 1
}

stop() {
  local dir=$1
  [ -d "$dir/data" ] && as_owner "$bindir/pg_ctl" -D "$dir/data" -m fast -w stop > /dev/null 2>&1
  rm -rf "$dir"
}

case "${1:-}" in
start)
  have_pg || { echo "pg_cluster: PostgreSQL is not installed (Debian: postgresql)" >&2; exit 1; }
  start "$2"
  ;;
stop)
  stop "$2"
  ;;
run)
  shift
  [ "${1:-}" = -- ] && shift
  if ! have_pg; then
    echo "pg_cluster: PostgreSQL is not installed (Debian: postgresql): its tests skip" >&2
    exec "$@"
  fi
  dir=$(mktemp -d "${TMPDIR:-/tmp}/seekd-pg-XXXXXX")
  # whatever ends this script (a ctest timeout kills it), the server goes with it
  me=$$
  setsid bash -c "while kill -0 $me 2>/dev/null; do sleep 1; done; \
    '$0' stop '$dir'" > /dev/null 2>&1 < /dev/null &
  trap 'stop "$dir"' EXIT
  url=$(start "$dir")
  rc=0
  SEEKD_TEST_PG_URL=$url SEEKD_TEST_PG_BIN=$bindir "$@" || rc=$?
  exit $rc
  ;;
*)
  echo "usage: pg_cluster.sh start DIR | stop DIR | run CMD [ARGS...]" >&2
  exit 2
  ;;
esac
