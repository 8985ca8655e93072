#!/usr/bin/env bash
# The whole test run on a fresh machine: a venv, the package with its test extras,
# the log receivers the sink tests talk to, a lint, then pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m venv .venv
.venv/bin/python -m pip install -q --disable-pip-version-check --upgrade pip
.venv/bin/python -m pip install -q --disable-pip-version-check -e '.[test]'
if [ -f tests/install_receivers.sh ]; then bash tests/install_receivers.sh; fi
bash tests/install_syslog_ng.sh
.venv/bin/ruff check .
exec .venv/bin/python -m pytest -q -p no:cacheprovider -o faulthandler_timeout=120 "$@"
