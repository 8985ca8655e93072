"""Building a record dict from either kind of event, for one set of settings.

The access path (``Logger.access``) and the LogRecord path (gunicorn's messages,
the app's records, uvicorn's access lines) meet here, so every renderer — our
JSON formatter and the structlog chain — produces the same records.
"""

from __future__ import annotations

import logging
from typing import Any

from .access_policy import AccessSelector
from .config import Settings
from .gunicorn_messages import GunicornMessageRedactor
from .levels import canonical
from .log_facts import collect_log_facts
from .redaction import RequestTextRedactor
from .request_facts import AccessFactsCollector
from .schemas import Schema, build_schema

GUNICORN_ERROR_LOGGER = "gunicorn.error"


class DroppedRecord(Exception):
    """The access-log policy skipped or sampled out a uvicorn access line: the formatter writes nothing."""


class RecordBuilder:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.schema: Schema = build_schema(settings)
        self.collector = AccessFactsCollector(settings)
        policy = settings.access_policy
        #: The access-log policy's decisions and counts, shared by the logger's access() and uvicorn's lines.
        self.selector = AccessSelector(policy, settings.request_id_environ_key) if policy is not None else None
        self.redact_gunicorn_message = GunicornMessageRedactor(
            RequestTextRedactor(self.collector.redact_query, settings.redact_headers)
        )

    def access(self, resp: Any, req: Any, environ: dict, request_time: Any) -> dict[str, Any]:
        return self.schema.access(self.collector.collect(resp, req, environ, request_time))

    def log(self, record: logging.LogRecord, message: str, stack: str | None, extras: dict[str, Any]) -> dict[str, Any]:
        """A LogRecord as a schema record; uvicorn's access lines become access records."""
        return self.log_event(record, message, stack, extras)[0]

    def log_event(
        self, record: logging.LogRecord, message: str, stack: str | None, extras: dict[str, Any]
    ) -> tuple[dict[str, Any], str, int]:
        """The schema record of a LogRecord, with the level (a name of ``levels.LEVELS``) and the time in ns
        its facts give: what a network sink frames it with."""
        if record.name == "uvicorn.access":
            facts = self.collector.from_uvicorn_record(record)
            if facts is not None:
                if self.selector is not None:
                    kept = self.selector.of_facts(facts)
                    if kept.__class__ is str:
                        raise DroppedRecord(kept)
                    facts.kept = kept
                return self.schema.access(facts), facts.level, self.schema.shown_time(facts.time_ns)
        log_facts = collect_log_facts(record, self.safe_message(record, message), stack, extras)
        level = canonical(log_facts.level, log_facts.levelno)
        return self.schema.log(log_facts), level, self.schema.shown_time(log_facts.time_ns)

    def safe_message(self, record: logging.LogRecord, message: str) -> str:
        """``message`` of ``record``, with the secrets gunicorn's own messages quote from a request redacted."""
        if record.name == GUNICORN_ERROR_LOGGER:  # "Error handling request GET /x?token=...", refused lines
            return self.redact_gunicorn_message(record, message)
        return message


_cached: tuple[Settings, RecordBuilder] | None = None


def builder_for(settings: Settings) -> RecordBuilder:
    """The builder of ``settings``, built once (formatters ask on every record)."""
    global _cached
    cached = _cached
    if cached is not None and cached[0] is settings:
        return cached[1]
    builder = RecordBuilder(settings)
    _cached = (settings, builder)
    return builder
