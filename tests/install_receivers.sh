#!/usr/bin/env bash
# The log receivers the network-logger tests start themselves (in the foreground, on
# loopback ports of their own). Idempotent: installs only what is missing, starts nothing.
set -euo pipefail
if command -v rsyslogd >/dev/null 2>&1 || [ -x /usr/sbin/rsyslogd ]; then
    exit 0
fi
SUDO=""
if [ "$(id -u)" != "0" ]; then SUDO="sudo"; fi
# A policy-rc.d that answers 101 keeps the package scripts from starting the system
# rsyslog service (invoke-rc.d and deb-systemd-invoke both ask it). Only ours is removed.
POLICY=/usr/sbin/policy-rc.d
OURS=""
if [ ! -e "$POLICY" ]; then
    printf '#!/bin/sh\nexit 101\n' | $SUDO tee "$POLICY" >/dev/null
    $SUDO chmod 755 "$POLICY"
    OURS=1
fi
cleanup() { if [ -n "$OURS" ]; then $SUDO rm -f "$POLICY"; fi; }
trap cleanup EXIT
$SUDO apt-get update -q
$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends rsyslog
