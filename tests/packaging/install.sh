#!/usr/bin/env bash
# install.sh BUILD_DIR - `cmake --install` into a scratch prefix puts the binary, the example
# config and the systemd unit where they belong; the unit names that binary, passes
# `systemd-analyze verify` without a word, and is hardened (`systemd-analyze security` exposure
# at most 2.5); the example config is one `seekd check` accepts.
# Exit 77 (skipped) when systemd-analyze is missing.
set -euo pipefail
build=$1
command -v systemd-analyze >/dev/null || { echo "SKIP: systemd-analyze not installed (package systemd)"; exit 77; }
t=$(mktemp -d)
trap 'rm -rf "$t"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

cmake --install "$build" --prefix "$t/usr" >/dev/null
bin=$t/usr/bin/seekd
unit=$t/usr/lib/systemd/system/seekd.service
conf=$t/usr/share/doc/seekd/examples/seekd.conf
for f in "$bin" "$unit" "$conf" "$t/usr/share/doc/seekd/config.md"; do
  [ -f "$f" ] || fail "not installed: ${f#$t}"
done
"$bin" --version | grep '^seekd ' >/dev/null || fail "the installed binary does not run"
grep -qx "ExecStart=$bin serve --config \${CREDENTIALS_DIRECTORY}/seekd.conf" "$unit" ||
  fail "the unit does not start the installed binary: $(grep ExecStart "$unit")"
for want in DynamicUser=yes ProtectSystem=strict ProtectHome=yes NoNewPrivileges=yes \
            CapabilityBoundingSet= 'RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX' \
            SystemCallFilter=@system-service LoadCredential=seekd.conf:/etc/seekd/seekd.conf; do
  grep -qx "$want" "$unit" || fail "the unit lacks $want"
done
out=$(systemd-analyze verify "$unit" 2>&1) || fail "systemd-analyze verify: $out"
[ -z "$out" ] || fail "systemd-analyze verify complains: $out"
if systemd-analyze security --help 2>/dev/null | grep -- --offline >/dev/null; then
  systemd-analyze security --offline=true --threshold=25 "$unit" >"$t/security" 2>&1 ||
    fail "exposure above 2.5: $(tail -1 "$t/security")"
fi
"$bin" check --config "$conf" >/dev/null || fail "seekd check refuses the example config"
echo "ok: installed under a prefix, unit verified, example config checks"
