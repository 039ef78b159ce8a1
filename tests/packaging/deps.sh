#!/usr/bin/env bash
# deps.sh SOURCE_DIR - scripts/serve.sh installs once: in a copy of the scripts with stand-ins
# for apt-get, npm, cmake and the binary (none reach the network), the first start runs
# `npm ci`, the next ones run neither npm nor apt-get, and a missing npm package or a changed
# package-lock.json reinstalls once.
set -euo pipefail
src=$1
t=$(mktemp -d)
trap 'rm -rf "$t"' EXIT
fail() { echo "FAIL: $*"; echo "calls:"; cat "$t/calls" 2>/dev/null; exit 1; }

mkdir -p "$t/tree/scripts" "$t/tree/build" "$t/bin"
cp "$src/scripts/deps.sh" "$src/scripts/serve.sh" "$t/tree/scripts/"
cp "$src/package.json" "$src/package-lock.json" "$t/tree/"
: >"$t/calls"
stub() { printf '#!/bin/sh\n%s\n' "$2" >"$t/bin/$1"; chmod +x "$t/bin/$1"; }
stub dpkg-query 'printf "install ok installed"'
stub apt-get "echo \"apt-get \$*\" >>$t/calls; exit 100"
stub sudo 'exec "$@"'
stub node 'exit 0'
stub cmake "echo cmake >>$t/calls"
# npm ci installs every devDependency of package.json
stub npm "echo \"npm \$*\" >>$t/calls
for d in \$(sed -n '/\"devDependencies\"/,/}/{/\"devDependencies\"/d;s/^ *\"\\([^\"]*\\)\": .*/\\1/p}' package.json); do
  mkdir -p node_modules/\$d && echo '{}' >node_modules/\$d/package.json
done"
stub seekd-binary "echo \"seekd \$*\" >>$t/calls"
cp "$t/bin/seekd-binary" "$t/tree/build/seekd"
export PATH="$t/bin:$PATH"

start() { bash "$t/tree/scripts/serve.sh" --listen 127.0.0.1:0 >/dev/null 2>&1 || fail "serve.sh failed"; }
npm_calls() { grep -c '^npm ' "$t/calls" || true; }

start
[ "$(npm_calls)" = 1 ] || fail "the first start should run npm ci once"
grep -q '^seekd serve --listen 127.0.0.1:0$' "$t/calls" || fail "serve.sh did not start seekd serve"
start
start
[ "$(npm_calls)" = 1 ] || fail "a start with everything installed ran npm again"
! grep -q '^apt-get' "$t/calls" || fail "apt-get ran with every package installed"
bash "$t/tree/scripts/deps.sh" --check || fail "deps.sh --check: not in place after install"

rm -rf "$t/tree/node_modules/openai"
start
[ "$(npm_calls)" = 2 ] || fail "a missing npm package was not reinstalled"
echo ' ' >>"$t/tree/package-lock.json"
start
[ "$(npm_calls)" = 3 ] || fail "a changed package-lock.json was not reinstalled"
start
[ "$(npm_calls)" = 3 ] || fail "npm ran again after reinstalling"
echo "ok: installs once, reinstalls only when something is missing or the lock file changed"
