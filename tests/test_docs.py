"""The docs say what the code says: the options tables, the site's pages and links, the rsyslog config.

* ``docs/options-generated.md`` is what ``docs/gen_options.py`` makes of the code's one option
  table today: a new, renamed or reworded option, a changed default, bound or logger fails
  here until the file is regenerated.
* Every ``GUNICORN_LOGGERS_*`` name in README.md and docs/ is an option, and docs/options.md
  includes the generated table.
* ``mkdocs build --strict`` passes: a broken link or anchor, a missing snippet file, or a
  page left out of the nav fails it.
* The rsyslog configuration the docs show writes every record, as it was sent, to its
  file (tests/test_syslog_ng.py checks the same for syslog-ng).
"""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys

import pytest

from tests.gunicorn_process import REPO
from tests.receivers import RSYSLOGD, Rsyslog, wait_until

OPTION_NAME = re.compile(r"GUNICORN_LOGGERS_([A-Z][A-Z0-9_]*[A-Z0-9])")


def _generator():
    spec = importlib.util.spec_from_file_location("gen_options", REPO / "docs" / "gen_options.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _all_options() -> set[str]:
    from gunicorn_loggers.options import OPTIONS

    return set(OPTIONS)


def test_the_generated_options_tables_are_what_the_code_gives():
    generator = _generator()
    committed = generator.OUTPUT.read_text(encoding="utf-8")
    assert committed == generator.render(), "docs/options-generated.md is stale: run python docs/gen_options.py"


def test_every_option_named_in_the_docs_exists_and_the_options_page_has_the_generated_table():
    options = _all_options()
    for path in [REPO / "README.md", REPO / "benchmarks" / "RESULTS.md", *sorted((REPO / "docs").rglob("*.md"))]:
        unknown = set(OPTION_NAME.findall(path.read_text(encoding="utf-8"))) - options
        assert not unknown, f"{path.relative_to(REPO)} names options the code does not have: {sorted(unknown)}"
    page = (REPO / "docs" / "options.md").read_text(encoding="utf-8")
    assert '--8<-- "docs/options-generated.md"' in page
    rows = set(re.findall(r"^\| `GUNICORN_LOGGERS_([A-Z0-9_]+)` \|", _generator().render(), re.MULTILINE))
    assert rows == options


def test_the_site_builds_strictly(tmp_path):
    if importlib.util.find_spec("mkdocs") is None:
        pytest.skip("mkdocs is not installed (it is in the test extras)")
    build = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path / "site")],
        cwd=REPO,  # the snippets' base path
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert build.returncode == 0, build.stdout + build.stderr
    syslog_page = (tmp_path / "site" / "sinks" / "syslog" / "index.html").read_text(encoding="utf-8")
    assert "mmjsonparse" in syslog_page and "--8&lt;--" not in syslog_page  # the snippets were included


@pytest.mark.skipif(not os.path.exists(RSYSLOGD), reason="no rsyslogd")
def test_the_documented_rsyslog_config_writes_every_record_as_sent(tmp_path, network_gunicorn):
    with Rsyslog(tmp_path / "rsyslog") as daemon:
        gunicorn = network_gunicorn(
            "--log-syslog-to", f"tcp://127.0.0.1:{daemon.port}",
            receiver=daemon, logger_class="gunicorn_loggers.SyslogLogger",
        )  # fmt: skip
        for n in range(5):
            gunicorn.request(f"/docs/{n}")
        gunicorn.stop()
        wait_until(lambda: "Shutting down: Master" in daemon.text(), what="the master's last line")
        sent = [message["record"] for message in daemon.received()]
        wait_until(lambda: len(daemon.documented()) == len(sent), what="the records in the docs' gunicorn.json")
    assert daemon.documented() == sent
    assert {f"/docs/{n}" for n in range(5)} <= {r.get("url", {}).get("path") for r in sent}
