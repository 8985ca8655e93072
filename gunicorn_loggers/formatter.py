"""A python-json-logger formatter that renders any LogRecord in our schemas.

python-json-logger does the LogRecord work (message formatting, ``extra``
fields, dict messages, exception text); our schema names the fields and our
encoder writes them. Use it in ``logconfig_dict`` as
``{"()": "gunicorn_loggers.JsonFormatter"}``: without arguments it follows the
running logger's options, so app records match gunicorn's.
"""

from __future__ import annotations

import logging
from typing import Any

from pythonjsonlogger.core import BaseJsonFormatter, merge_record_extra

from .config import Settings, active_settings, load_settings
from .encoding import encode_line
from .levels import canonical
from .log_facts import collect_log_facts
from .record_builder import DroppedRecord, RecordBuilder, builder_for
from .sinks.logger import PREBUILT

#: Attributes gunicorn-loggers sets on records for its own use; never logged as extras.
INTERNAL_ATTRIBUTES = frozenset({PREBUILT, "color_message"})
_TRACEBACK_KEYS = ("exc_info", "stack_info")
_ABSENT = object()


#: A record for a sink that encodes it itself: its dict (or its line), its level and its time in ns.
RecordEvent = tuple[dict[str, Any] | None, bytes | None, str, int]


def line_event(record: logging.LogRecord, text: str) -> RecordEvent:
    """A line made elsewhere (by another logger of ours, a user's formatter), with its record's level and time."""
    line = text.encode("utf-8", "backslashreplace") + b"\n"
    return None, line, canonical(record.levelname.lower(), record.levelno), int(record.created * 1e9)


class RecordCapture:
    """``record_of``: the formatter builds the record as ``format`` would, and keeps it instead of encoding it.

    A handler formats one record at a time, under its lock, so one slot per formatter will do. The
    formatter's last step stores ``(dict, None, level, time_ns)`` in ``_captured`` while ``_capturing``.
    """

    _capturing = False
    _captured: RecordEvent | None = None

    def record_of(self, record: logging.LogRecord) -> RecordEvent | None:
        """The record, its level and time for a sink that encodes records itself; ``None``: nothing to write."""
        if getattr(record, PREBUILT, False):  # a line another logger of ours made: it travels as it is
            return line_event(record, record.getMessage())
        self._capturing, self._captured = True, None
        try:
            self.format(record)  # type: ignore[attr-defined]
        finally:
            self._capturing = False
        captured, self._captured = self._captured, None
        return captured


class JsonFormatter(RecordCapture, BaseJsonFormatter):
    """Formats records as one JSON object in the chosen schema.

    ``schema`` (``ecs``, ``otel``, ``gcp``, ``flat``) overrides the running
    logger's ``GUNICORN_LOGGERS_SCHEMA`` for this formatter only.
    """

    def __init__(self, *args: Any, schema: str | None = None, settings: Settings | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if settings is None and schema is not None:
            settings = load_settings(env={"GUNICORN_LOGGERS_SCHEMA": schema})
        self._fixed_settings = settings
        self._skip_fields.update(INTERNAL_ATTRIBUTES)
        # A subclass can change the record in place (``process_log_record``): it gets private
        # copies of the parts records share, or its change would reach later records.
        self._unshare = type(self) is not JsonFormatter
        #: The level and time of the record being formatted, for ``record_of``.
        self._meta: tuple[str, int] = ("info", 0)

    @property
    def builder(self) -> RecordBuilder:
        return builder_for(self._fixed_settings or active_settings())

    def serialize_log_record(self, log_data: dict[str, Any]) -> str:
        if self._capturing:
            self._captured = (log_data, None, *self._meta)
            return ""
        return super().serialize_log_record(log_data)

    def format(self, record: logging.LogRecord) -> str:
        if getattr(record, PREBUILT, False):
            return record.getMessage()
        try:
            return super().format(record)
        except DroppedRecord:  # the access-log policy's: an empty line is not written
            return ""
        except Exception as exc:  # msg % args mismatch, a failing __str__: still one JSON line
            return self._format_broken(record, exc)

    def _format_broken(self, record: logging.LogRecord, exc: Exception) -> str:
        built, *meta = broken_record(self.builder, record, exc, dict(self.static_fields), self._skip_fields)
        self._meta = tuple(meta)  # type: ignore[assignment]
        return self.serialize_log_record(built)

    def add_fields(self, log_data: dict[str, Any], record: logging.LogRecord, message_dict: dict[str, Any]) -> None:
        extras: dict[str, Any] = dict(self.static_fields)
        stack = stack_info = None
        if message_dict:  # most records: no traceback, and a message that is no dict
            extras.update(message_dict)
            stack = extras.pop("exc_info", None)
            stack_info = extras.pop("stack_info", None)
        message = record.msg
        if message.__class__ is not str and isinstance(message, dict):
            # A dict message's keys are the app's fields, ``exc_info`` and ``stack_info`` too: python-json-logger
            # lets them stand in for the traceback, but error.* only ever holds the record's own.
            for key in _TRACEBACK_KEYS:
                value = dict.get(message, key, _ABSENT)
                if value is not _ABSENT:
                    extras[key] = value
            stack = self.formatException(record.exc_info) if record.exc_info else record.exc_text
            stack_info = self.formatStack(record.stack_info) if record.stack_info else None
        if isinstance(stack, list):
            stack = "\n".join(stack)
        if stack_info:
            stack_info = "\n".join(stack_info) if isinstance(stack_info, list) else stack_info
            stack = f"{stack}\n{stack_info}" if stack else stack_info
        merge_record_extra(record, extras, reserved=self._skip_fields)
        builder = self.builder
        built, level, time_ns = builder.log_event(record, record.message, stack, extras)
        self._meta = (level, time_ns)
        log_data.update(builder.schema.unshare(built) if self._unshare else built)

    def jsonify_log_record(self, log_data: dict[str, Any]) -> str:
        return encode_line(log_data)[:-1].decode("utf-8")


def broken_message(record: logging.LogRecord) -> str:
    """The message of a record whose formatting failed: itself when it can be made (something else
    failed), else its template and arguments, else what can be said of it."""
    try:
        return record.getMessage()
    except Exception:
        try:
            return f"{record.msg!r} % {record.args!r}"
        except Exception:
            try:
                return f"{record.msg!r} % <arguments whose repr() failed>"
            except Exception:
                return f"<unprintable {type(record.msg).__qualname__}>"


def broken_record(
    builder: RecordBuilder, record: logging.LogRecord, exc: Exception, extras: dict[str, Any], reserved: Any
) -> tuple[dict[str, Any], str, int]:
    """Still a whole record of the schema, with ``format_error``, the message as :func:`broken_message`
    makes it, and the extras when they can be read; its level and time. error.* is left out: the
    record's own exception may be what failed."""
    text = builder.safe_message(record, broken_message(record))
    error = {"format_error": f"{type(exc).__name__}: {exc}"}
    try:
        fields = {**merge_record_extra(record, extras, reserved=reserved), **error}
    except Exception:
        fields = error
    facts = collect_log_facts(record, text, None, fields)
    facts.error_type = facts.error_message = None
    return builder.schema.log(facts), canonical(facts.level, facts.levelno), builder.schema.shown_time(facts.time_ns)
