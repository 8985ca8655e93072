"""One structlog processor chain for gunicorn's events, the app's structlog calls and stdlib records.

Every event becomes a record of the chosen schema first (so a user processor
sees the same shape whatever emitted the event), then runs through the user's
processors (``GUNICORN_LOGGERS_PROCESSORS``), then through a renderer: our JSON
encoder, or structlog's ``ConsoleRenderer`` for people at a terminal.

The app's ``structlog.get_logger()`` calls reach the same chain through
structlog's stdlib integration: :func:`configure_structlog` routes them into
``logging`` with ``ProcessorFormatter.wrap_for_formatter``, and our handlers
format them with :class:`StructlogFormatter`, a ``ProcessorFormatter``.
"""

from __future__ import annotations

import importlib
import logging
import sys
import traceback
from collections.abc import Callable, Iterable
from types import TracebackType
from typing import Any

import structlog
from pythonjsonlogger.core import RESERVED_ATTRS, merge_record_extra

from .config import PREFIX, ConfigError
from .encoding import encode_line
from .formatter import RecordCapture, broken_record
from .pretty import concise_line
from .record_builder import DroppedRecord, RecordBuilder
from .schemas import Schema
from .sinks.logger import PREBUILT
from .text import text_of

Processor = Callable[[Any, str, dict[str, Any]], Any]

#: Keys structlog's own processors may add that the schema already carries.
STRUCTLOG_META = frozenset({"level", "logger", "timestamp", "positional_args", "_logger", "_name"})
RECORD_ATTRIBUTES = frozenset(RESERVED_ATTRS) | {"taskName", "color_message", PREBUILT, "_logger", "_name"}


def load_processors(paths: Iterable[str]) -> list[Processor]:
    """Import ``pkg.module.name`` (or ``pkg.module:name``); a class is instantiated without arguments."""
    processors = []
    for path in paths:
        module_name, _, name = path.replace(":", ".").rpartition(".")
        try:
            target = getattr(importlib.import_module(module_name), name)
        except (ImportError, AttributeError) as exc:
            raise ConfigError(f"{PREFIX}PROCESSORS: cannot import {path!r}: {type(exc).__name__}: {exc}") from None
        if isinstance(target, type):
            target = target()
        if not callable(target):
            raise ConfigError(f"{PREFIX}PROCESSORS: {path!r} is not callable")
        processors.append(target)
    return processors


def structlog_processors() -> list[Processor]:
    """The chain for an app that configures structlog itself and wants our output: end yours with these."""
    return [
        structlog.stdlib.filter_by_level,
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.PositionalArgumentsFormatter(),
        structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
    ]


def configure_structlog() -> None:
    """Route ``structlog.get_logger()`` calls into stdlib logging, where our handlers render them."""
    structlog.configure(
        processors=structlog_processors(),
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )


class ConsoleView:
    """Renders a schema record for people: the concise line of ``gunicorn-loggers pretty`` with the
    ``fields`` asked for, or, with ``fields`` ``None``, every field through structlog's ConsoleRenderer."""

    def __init__(self, schema: Schema, colors: bool, fields: tuple[str, ...] | None = ()) -> None:
        self.schema = schema
        self.colors = colors
        self.fields = fields
        self.renderer = structlog.dev.ConsoleRenderer(colors=colors, sort_keys=False) if fields is None else None

    def __call__(self, record: dict[str, Any]) -> bytes:
        view = self.schema.console_view(record)
        if self.renderer is None:
            text = concise_line(view, self.fields or (), self.colors)
        else:
            text = self.renderer(None, view.get("level", "info"), view)
        return text.encode("utf-8", "backslashreplace") + b"\n"


class Chain:
    """The user's processors, then a renderer; a failing processor is reported in the record.

    A processor may raise ``structlog.DropEvent`` to drop the event, as in structlog.
    """

    def __init__(
        self,
        processors: list[Processor],
        render: Callable[[dict[str, Any]], bytes],
        unshare: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
        dropped: Callable[[], Any] | None = None,
    ) -> None:
        self.processors = processors
        self.render = render
        self.unshare = unshare
        #: Called once for each event a processor dropped (``DropEvent``): the logger counts them.
        self.dropped = dropped

    def process(self, method_name: str, record: dict[str, Any]) -> dict[str, Any] | None:
        """The record after the processors; ``None`` when one dropped it."""
        if self.processors and self.unshare is not None:
            record = self.unshare(record)  # a processor changing record["service"] in place changes only this one
        for processor in self.processors:
            try:
                result = processor(None, method_name, record)
            except structlog.DropEvent:
                if self.dropped is not None:
                    self.dropped()
                return None
            except Exception as exc:
                _report_processor_error(record, f"{_name(processor)} raised {type(exc).__name__}: {exc}")
                continue
            if isinstance(result, dict):
                record = result
            else:
                _report_processor_error(record, f"{_name(processor)} returned {type(result).__name__}, not a dict")
        return record

    def __call__(self, method_name: str, record: dict[str, Any]) -> bytes:
        record = self.process(method_name, record)  # type: ignore[assignment]
        if record is None:
            return b""
        try:
            return self.render(record)
        except Exception as exc:  # a console renderer choking on a value: fall back to JSON
            record["render_error"] = f"{type(exc).__name__}: {exc}"
            return encode_line(record)


def _report_processor_error(record: dict[str, Any], error: str) -> None:
    """``processor_error`` names every processor that failed on this record, in order, joined by ``; ``."""
    earlier = record.get("processor_error")
    record["processor_error"] = f"{earlier}; {error}" if isinstance(earlier, str) and earlier else error


def _added_by_structlog(key: str, value: Any, record: logging.LogRecord) -> bool:
    """Is this key one structlog's own processors add (``add_log_level``, ``add_logger_name``,
    ``TimeStamper``), which the schema already carries? A ``level`` or ``logger`` the app passed
    itself, with another value, is the app's field: it is kept (under ``extra`` if it clashes)."""
    if key not in STRUCTLOG_META:
        return False
    if key == "level":
        return isinstance(value, str) and value.lower() in (record.levelname.lower(), "warn", "exception")
    if key == "logger":
        return value == record.name
    return True


def _name(processor: Any) -> str:
    return getattr(processor, "__qualname__", None) or type(processor).__qualname__


def _exc_info(value: Any) -> tuple | None:
    """The exception ``exc_info`` names, as structlog reads it: an exception, an ``exc_info`` tuple,
    or any other true value for the one being handled. A tuple of another shape names none."""
    if not value:
        return None
    if isinstance(value, BaseException):
        return (type(value), value, value.__traceback__)
    if isinstance(value, tuple):
        return value if _is_exc_info(value) else None
    info = sys.exc_info()
    return info if info[0] is not None else None


def _is_exc_info(value: tuple) -> bool:
    return (
        len(value) == 3
        and isinstance(value[0], type)
        and isinstance(value[1], BaseException)
        and (value[2] is None or isinstance(value[2], TracebackType))
    )


class StructlogFormatter(RecordCapture, structlog.stdlib.ProcessorFormatter):
    """Formats stdlib records and structlog events alike through :class:`Chain`."""

    def __init__(self, builder: Callable[[], RecordBuilder], chain: Chain) -> None:
        super().__init__(processors=[self._render], use_get_message=True, pass_foreign_args=True)
        self._builder = builder
        self._chain = chain

    def format(self, record: logging.LogRecord) -> str:
        if getattr(record, PREBUILT, False):
            return record.getMessage()
        try:
            return super().format(record)
        except DroppedRecord:  # the access-log policy's: an empty line is not written
            return ""
        except Exception as exc:  # msg % args mismatch, a failing __str__: still a record of the schema
            return self._format_broken(record, exc)

    def _format_broken(self, record: logging.LogRecord, exc: Exception) -> str:
        built, level, time_ns = broken_record(self._builder(), record, exc, {}, RECORD_ATTRIBUTES)
        return self._finish(record.levelname.lower(), built, level, time_ns)

    def _finish(self, method_name: str, built: dict[str, Any], level: str, time_ns: int) -> str:
        """The record through the chain: rendered as a line, or, for ``record_of``, kept as a dict."""
        if self._capturing:
            processed = self._chain.process(method_name, built)
            self._captured = None if processed is None else (processed, None, level, time_ns)
            return ""
        return self._chain(method_name, built).decode("utf-8", "backslashreplace").rstrip("\n")

    def _render(self, logger: Any, method_name: str, event: dict[str, Any]) -> str:
        record: logging.LogRecord = event.pop("_record")
        from_structlog = event.pop("_from_structlog", False)
        message = event.pop("event", "")
        info = _exc_info(event.pop("exc_info", None))
        stack_info = event.pop("stack_info", None)
        if from_structlog and isinstance(stack_info, str):
            # The app's key-value, not a stack logging captured: error.* holds only what the record's own
            # exc_info and stack_info say, so the text stays the app's field.
            event["stack_info"], stack_info = stack_info, None
        positional = event.pop("positional_args", None)
        if positional and record.name == "uvicorn.access":
            record.args = positional  # uvicorn's access line is read from its args
        record.exc_info = info
        stack = "".join(traceback.format_exception(*info)).rstrip("\n") if info else None
        if isinstance(stack_info, str):
            stack = f"{stack}\n{stack_info}" if stack else stack_info
        if from_structlog:
            extras = {key: value for key, value in event.items() if not _added_by_structlog(key, value, record)}
        else:
            extras = merge_record_extra(record, {}, reserved=RECORD_ATTRIBUTES)
        if not isinstance(message, str):
            message = text_of(message)
        built, level, time_ns = self._builder().log_event(record, message, stack, extras)
        record.exc_info = record.exc_text = None  # else logging.Formatter appends the traceback as text
        record.args = ()
        record.stack_info = None
        return self._finish(method_name, built, level, time_ns)
