#!/usr/bin/env bash
# The whole test run on a fresh machine: a venv of its own (.venv-test, apart from the demo's
# .venv), the package with its test extras, the log receivers the sink tests talk to (Debian's
# rsyslog and syslog-ng: root or sudo, and Debian's package mirror), a lint, then pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=.venv-test
python3 -m venv "$VENV"
"$VENV"/bin/python -m pip install -q --disable-pip-version-check --upgrade pip
"$VENV"/bin/python -m pip install -q --disable-pip-version-check -e '.[test]'
if [ -f tests/install_receivers.sh ]; then bash tests/install_receivers.sh; fi
bash tests/install_syslog_ng.sh
"$VENV"/bin/ruff check .
exec "$VENV"/bin/python -m pytest -q -p no:cacheprovider -o faulthandler_timeout=120 "$@"
