"""What one ``logging.LogRecord`` says, in neutral terms, before any schema names it.

gunicorn's own messages, tracebacks of app exceptions and the application's
records all pass through here, so every schema renders them the same way.
"""

from __future__ import annotations

import logging
from typing import Any

from .correlation import TraceContext
from .request_context import current_request, failed_request
from .text import safe_text


class LogFacts:
    """One log event; ``extras`` holds the caller's ``extra={...}`` fields."""

    __slots__ = (
        "error_message",
        "error_type",
        "extras",
        "file",
        "function",
        "level",
        "levelno",
        "line",
        "logger",
        "message",
        "pid",
        "request_id",
        "stack_trace",
        "thread_name",
        "time_ns",
        "trace",
    )

    time_ns: int
    level: str
    levelno: int
    message: str
    logger: str
    pid: int | None
    thread_name: str | None
    file: str | None
    line: int | None
    function: str | None
    error_type: str | None
    error_message: str | None
    stack_trace: str | None
    extras: dict[str, Any]
    request_id: str | None
    trace: TraceContext | None


def collect_log_facts(
    record: logging.LogRecord, message: str, stack_trace: str | None, extras: dict[str, Any]
) -> LogFacts:
    """Read a LogRecord; ``message`` and ``stack_trace`` come already formatted by the caller."""
    facts = LogFacts()
    created_ns = getattr(record, "created_ns", None)  # Python 3.13 sets it; before, only an ``extra`` can
    facts.time_ns = created_ns if created_ns.__class__ is int else int(record.created * 1_000_000_000)
    facts.levelno = record.levelno
    facts.level = record.levelname.lower()
    facts.message = safe_text(message)
    facts.logger = record.name
    facts.pid = record.process
    facts.thread_name = record.threadName
    facts.file = record.pathname
    facts.line = record.lineno
    facts.function = record.funcName
    facts.error_type = facts.error_message = None
    if record.exc_info and isinstance(record.exc_info[0], type):  # not None, nor a tuple some code made up
        exc_type, exc_value = record.exc_info[0], record.exc_info[1]
        module = exc_type.__module__
        facts.error_type = exc_type.__qualname__ if module == "builtins" else f"{module}.{exc_type.__qualname__}"
        try:
            facts.error_message = safe_text(str(exc_value))
        except Exception as exc:  # an exception whose __str__ raises
            facts.error_message = f"<str() failed: {type(exc).__name__}>"
    facts.stack_trace = safe_text(stack_trace) if stack_trace else None
    facts.extras = extras
    request = current_request()
    if request is None and record.exc_info:  # gunicorn logging the app's exception, after the middleware
        request = failed_request(record.exc_info[1])
    facts.request_id, facts.trace = (request.request_id, request.trace) if request is not None else (None, None)
    return facts
