"""What importing the package costs: a JsonLogger pulls in no optional part."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.gunicorn_process import REPO

#: Modules a JsonLogger writing to a file must not import: structlog, msgpack and the network path.
OPTIONAL = (
    "structlog",
    "msgpack",
    "ormsgpack",
    "gunicorn_loggers.delivery",
    "gunicorn_loggers.transports",
    "gunicorn_loggers.network_loggers",
    "gunicorn_loggers.framing",
    "gunicorn_loggers.delivery.network_sink",
    "gunicorn_loggers.structlog_chain",
)

PROBE = """
import json, logging, sys
import gunicorn_loggers
from gunicorn.config import Config
cfg = Config()
cfg.set("accesslog", sys.argv[2])
cfg.set("errorlog", sys.argv[2])
logger = getattr(gunicorn_loggers, sys.argv[1])(cfg)
logger.error("an error record")
logging.getLogger("app").warning("an app record")
optional = {optional!r}
print(json.dumps(sorted(m for m in sys.modules if m.startswith(optional))))
"""


def imported_by(logger: str, tmp_path) -> list[str]:
    out = subprocess.run(
        [sys.executable, "-c", PROBE.format(optional=OPTIONAL), logger, str(tmp_path / "log")],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={"PYTHONPATH": str(REPO)},
        timeout=60,
        check=True,
    )
    assert "an app record" in (tmp_path / "log").read_text()
    return json.loads(out.stdout.splitlines()[-1])


def test_a_json_logger_imports_neither_structlog_nor_msgpack_nor_the_network_path(tmp_path):
    assert imported_by("JsonLogger", tmp_path) == []


def test_the_probe_sees_what_a_structlog_logger_imports(tmp_path):
    """The same probe on StructlogLogger: structlog is found, so an empty list above means something."""
    assert "structlog" in imported_by("StructlogLogger", tmp_path)


@pytest.mark.parametrize("name", __import__("gunicorn_loggers").__all__)
def test_every_public_name_resolves(name):
    import gunicorn_loggers

    assert getattr(gunicorn_loggers, name) is not None
    assert name in dir(gunicorn_loggers)
