"""Records handed to a stdlib logger, for set-ups that route access lines themselves.

gunicorn enables the access log when ``logconfig``, ``logconfig_dict`` or
``--log-syslog`` is set even without ``--access-logfile``; the lines then belong
to whatever handlers that configuration put on ``gunicorn.access``.
"""

from __future__ import annotations

import logging

from ._base import BorrowedSink

PREBUILT = "_gunicorn_loggers_prebuilt"


class LoggerSink(BorrowedSink):
    def __init__(self, logger: logging.Logger) -> None:
        self.logger = logger

    def write(self, line: bytes) -> None:
        text = line.decode("utf-8").rstrip("\n")
        self.logger.info(text, extra={PREBUILT: True})
