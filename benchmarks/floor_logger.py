"""The least any JSON access log can cost: one small dict, one ``orjson.dumps``, one ``os.write``.

``floor_record`` is shared by ``bench_access_record.py`` (in-process, per call)
and ``FloorLogger`` (``bench_wrk.py`` configuration ``f``, end to end), so both
benchmarks compare our loggers with the same lower bound. It is not a usable
logger: no redaction, no validation, no schema, no error log.
"""

from __future__ import annotations

import os
import time
from typing import Any

import orjson
from gunicorn.glogging import Logger

_OPTION = orjson.OPT_APPEND_NEWLINE


def floor_record(resp: Any, environ: dict, request_time: Any, pid: int) -> bytes:
    """A dict of the facts an access record needs, read straight from ``environ``, as a JSON line."""
    get = environ.get
    record = {
        "@timestamp": time.time_ns(),
        "log.level": "info",
        "message": "GET /api/items 200",
        "event": {"duration": request_time.microseconds * 1000},
        "http": {
            "request": {"method": get("REQUEST_METHOD"), "id": get("HTTP_X_REQUEST_ID")},
            "response": {"status_code": 200, "body": {"bytes": resp.sent}},
            "version": get("SERVER_PROTOCOL"),
        },
        "url": {"original": get("RAW_URI"), "path": get("PATH_INFO"), "query": get("QUERY_STRING")},
        "source": {"address": get("REMOTE_ADDR")},
        "user_agent": {"original": get("HTTP_USER_AGENT")},
        "process": {"pid": pid},
    }
    return orjson.dumps(record, option=_OPTION)


class FloorLogger(Logger):
    """gunicorn's Logger with ``floor_record`` written to ``--access-logfile`` instead of its text line."""

    def setup(self, cfg: Any) -> None:
        super().setup(cfg)
        self._floor_fd = -1
        if cfg.accesslog and cfg.accesslog != "-":
            self._floor_fd = os.open(cfg.accesslog, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)

    def access(self, resp: Any, req: Any, environ: dict, request_time: Any) -> None:
        if self._floor_fd >= 0:
            os.write(self._floor_fd, floor_record(resp, environ, request_time, os.getpid()))
