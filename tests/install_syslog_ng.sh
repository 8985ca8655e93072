#!/usr/bin/env bash
# syslog-ng for tests/test_syslog_ng.py, beside rsyslog: Debian's packages conflict, so the
# syslog-ng-core package is unpacked under .receivers/syslog-ng instead of installed.
# Idempotent; starts nothing.
set -euo pipefail
cd "$(dirname "$0")/.."
DEST=.receivers/syslog-ng
if [ -x "$DEST/usr/sbin/syslog-ng" ]; then
    exit 0
fi
SUDO=""
if [ "$(id -u)" != "0" ]; then SUDO="sudo"; fi
$SUDO apt-get update -q
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
chmod 777 "$WORK"  # apt's download user must be able to write there
(cd "$WORK" && apt-get download syslog-ng-core)
# Its libraries, as the package declares them; --no-upgrade leaves installed ones alone.
DEPENDS=$(dpkg-deb -f "$WORK"/syslog-ng-core_*.deb Depends | tr ',' '\n' | sed 's/[|(].*//; s/ //g' | grep -v '^$')
# shellcheck disable=SC2086
$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends --no-upgrade $DEPENDS
mkdir -p "$DEST"
dpkg-deb -x "$WORK"/syslog-ng-core_*.deb "$DEST"
"$DEST/usr/sbin/syslog-ng" --version >/dev/null 2>&1 || \
    LD_LIBRARY_PATH="$DEST/usr/lib/syslog-ng" "$DEST/usr/sbin/syslog-ng" --version | head -1
