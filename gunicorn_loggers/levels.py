"""The one table of levels: what each level is called in every schema and on every wire.

A record's level is set once, from its facts (a LogRecord's level, or an access
record's status and duration), as one of :data:`NAMES`. Schemas and wire formats
translate it with this table; none of them reads a level back out of a record.
"""

from __future__ import annotations

import logging
from typing import NamedTuple


class Level(NamedTuple):
    """One level, as every consumer names it."""

    #: ``logging``'s number: ordering, and what structlog's method names stand for.
    number: int
    #: RFC 5424 severity.
    syslog: int
    #: OpenTelemetry log data model: SeverityNumber and SeverityText.
    otlp_number: int
    otlp_text: str
    #: Google Cloud Logging's LogSeverity name.
    gcp: str
    #: Grafana Loki's ``level`` label (Loki's own detection reads these names).
    loki: str


#: Level name (lower case, as ``LogRecord.levelname.lower()`` gives it) -> how each consumer names it.
LEVELS: dict[str, Level] = {
    "debug": Level(logging.DEBUG, 7, 5, "DEBUG", "DEBUG", "debug"),
    "info": Level(logging.INFO, 6, 9, "INFO", "INFO", "info"),
    "warning": Level(logging.WARNING, 4, 13, "WARN", "WARNING", "warning"),
    "error": Level(logging.ERROR, 3, 17, "ERROR", "ERROR", "error"),
    "critical": Level(logging.CRITICAL, 2, 21, "FATAL", "CRITICAL", "critical"),
}
NAMES = tuple(LEVELS)

#: From this status on, an access record is an error unless ACCESS_LEVELS says otherwise.
ERROR_STATUS = 500

_BY_NUMBER = sorted((entry.number, name) for name, entry in LEVELS.items())


def canonical(name: str, number: int = logging.INFO) -> str:
    """``name`` when the table has it; else the table's level at or below ``number`` (a custom
    ``logging.addLevelName`` level such as TRACE at 5 is debug on the wire, NOTICE at 25 info)."""
    if name in LEVELS:
        return name
    chosen = "debug"
    for at, known in _BY_NUMBER:
        if number >= at:
            chosen = known
    return chosen


def access_level(status: int | None) -> str:
    """The default level of an access record: an error from :data:`ERROR_STATUS` on, else info.

    A request no response was sent for (``None``, a worker aborted) is an error.
    """
    return "error" if status is None or status >= ERROR_STATUS else "info"


__all__ = ["ERROR_STATUS", "LEVELS", "NAMES", "Level", "access_level", "canonical"]
