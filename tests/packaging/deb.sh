#!/usr/bin/env bash
# deb.sh BUILD_DIR - `cpack -G DEB` builds a package; `dpkg -i` installs it (the binary runs from
# /usr/bin, the unit passes `systemd-analyze verify`), and `dpkg -r` leaves none of its files
# behind. Needs root and dpkg; exit 77 (skipped) without them, or when a seekd package is
# already installed (it is not ours to remove).
set -euo pipefail
build=$1
[ "$(id -u)" = 0 ] || { echo "SKIP: needs root (dpkg -i)"; exit 77; }
for c in dpkg dpkg-deb cpack systemd-analyze; do
  command -v "$c" >/dev/null || { echo "SKIP: $c not installed"; exit 77; }
done
if dpkg-query -W -f='${Status}' seekd 2>/dev/null | grep 'ok installed' >/dev/null; then
  echo "SKIP: a seekd package is already installed"; exit 77
fi
t=$(mktemp -d)
installed=0
cleanup() {
  if [ "$installed" = 1 ]; then dpkg -r seekd >/dev/null 2>&1 || true; fi
  rm -rf "$t"
}
trap cleanup EXIT
fail() { echo "FAIL: $*"; exit 1; }

(cd "$build" && cpack -G DEB -B "$t" >"$t/cpack.log" 2>&1) || { cat "$t/cpack.log"; fail "cpack"; }
deb=$(ls "$t"/seekd_*.deb)
dpkg-deb -I "$deb" | grep '^ Depends: .*libevent' >/dev/null || fail "no shared-library Depends: $(dpkg-deb -I "$deb")"
dpkg-deb -c "$deb" | awk '{print $6}' | sed 's|^\./|/|' | grep -v '/$' >"$t/files"
grep -qx /usr/bin/seekd "$t/files" || fail "no /usr/bin/seekd in the package"
grep -qx /usr/lib/systemd/system/seekd.service "$t/files" || fail "no systemd unit in the package"

dpkg -i "$deb" >"$t/dpkg.log" 2>&1 || { cat "$t/dpkg.log"; fail "dpkg -i"; }
installed=1
/usr/bin/seekd --version | grep -x "seekd [0-9.]*" >/dev/null || fail "installed /usr/bin/seekd --version"
out=$(systemd-analyze verify /usr/lib/systemd/system/seekd.service 2>&1) || fail "verify: $out"
[ -z "$out" ] || fail "systemd-analyze verify complains: $out"

dpkg -r seekd >"$t/dpkg.log" 2>&1 || { cat "$t/dpkg.log"; fail "dpkg -r"; }
installed=0
left=$(while read -r f; do if [ -e "$f" ]; then echo "$f"; fi; done <"$t/files")
[ -z "$left" ] || fail "left behind after dpkg -r: $left"
[ ! -e /usr/share/doc/seekd ] || fail "left behind: /usr/share/doc/seekd"
if dpkg-query -W -f='${Status}' seekd 2>/dev/null | grep 'config-files' >/dev/null; then
  fail "dpkg -r kept configuration files"
fi
echo "ok: $(basename "$deb") installs, runs, verifies and removes cleanly"
