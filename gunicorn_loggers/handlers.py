"""stdlib logging handlers that put formatted records into our sinks."""

from __future__ import annotations

import logging
import time

from .encoding import encode_line
from .formatter import line_event
from .levels import canonical
from .sinks import RecordSink, Sink, takes_records


class SinkHandler(logging.Handler):
    """Writes each formatted record to a sink as one line.

    ``close()`` leaves the sink open: ``logconfig_dict`` makes ``dictConfig`` close
    every handler in the process, and the sink belongs to the logger, which
    reuses it after that.
    """

    def __init__(self, sink: Sink, formatter: logging.Formatter, level: int = logging.NOTSET) -> None:
        super().__init__(level)
        self.sink = sink
        self.setFormatter(formatter)

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.deliver(record)
        except RecursionError:
            raise
        except Exception as exc:
            self.write_last_resort(record, exc)

    def deliver(self, record: logging.LogRecord) -> None:
        """Format ``record`` and write it; ``emit`` turns a failure into the last-resort record."""
        text = self.format(record)
        if text:  # empty: a structlog processor dropped the event
            self.sink.write(text.encode("utf-8", "backslashreplace") + b"\n")

    def write_last_resort(self, record: logging.LogRecord, exc: Exception) -> None:
        """A bug of ours must not put a traceback into the JSON stream: one minimal record instead."""
        try:
            self.sink.write(encode_line(last_resort_fields(record, exc)))
        except Exception:
            self.handleError(record)

    @property
    def stream(self) -> WsgiErrorsStream:
        """What gunicorn's ``wsgi.errors`` writes to: text becomes records, not raw lines."""
        return WsgiErrorsStream(self)


class RecordHandler(SinkHandler):
    """Hands each record to a :class:`~gunicorn_loggers.sinks.RecordSink` as structure, with its level and time.

    The formatter (``JsonFormatter`` or ``StructlogFormatter``) builds the record as it would for a
    line, through ``record_of``; the sink's encoder makes its wire form from it.
    """

    sink: RecordSink  # type: ignore[assignment]

    def deliver(self, record: logging.LogRecord) -> None:
        record_of = getattr(self.formatter, "record_of", None)
        if record_of is not None:
            built = record_of(record)
            if built is not None:  # None: dropped by a processor or by the access-log policy
                self.sink.write_record(*built)
            return
        text = self.format(record)  # a formatter of the user's own: its line, as it made it
        if text:
            self.sink.write_record(*line_event(record, text))

    def write_last_resort(self, record: logging.LogRecord, exc: Exception) -> None:
        try:
            level = canonical(record.levelname.lower(), record.levelno)
            self.sink.write_record(last_resort_fields(record, exc), None, level, time.time_ns())
        except Exception:
            self.handleError(record)


def last_resort_fields(record: logging.LogRecord, exc: Exception) -> dict[str, str]:
    """The few fields of a record whose formatting failed in our code: its message, level, logger, the error."""
    try:
        message = record.getMessage()
    except Exception:
        message = repr(record.msg)
    return {
        "message": message,
        "level": record.levelname.lower(),
        "logger": record.name,
        "logging_error": f"{type(exc).__name__}: {exc}",
    }


def handler_for(sink: Sink | RecordSink, formatter: logging.Formatter) -> SinkHandler:
    """The handler that writes to ``sink``: records as lines, or as structure for a network sink."""
    return RecordHandler(sink, formatter) if takes_records(sink) else SinkHandler(sink, formatter)  # type: ignore[arg-type]


class WsgiErrorsStream:
    """A file-like front for a handler: each ``write`` becomes one error record."""

    logger_name = "wsgi.errors"

    def __init__(self, handler: logging.Handler) -> None:
        self.handler = handler

    def write(self, data: str | bytes) -> int:
        text = data.decode("utf-8", "backslashreplace") if isinstance(data, bytes) else data
        message = text.rstrip("\r\n")
        if message:
            record = logging.makeLogRecord(
                {"name": self.logger_name, "levelno": logging.ERROR, "levelname": "ERROR", "msg": message, "args": None}
            )
            self.handler.handle(record)
        return len(data)

    def flush(self) -> None:
        pass


class GunicornErrorLogHandler(logging.Handler):
    """Sends a record wherever gunicorn's error log goes, in the same JSON.

    Put it on the root logger in ``logconfig_dict`` so the application's records
    follow ``--error-logfile`` and the schema of the running logger class.
    """

    def emit(self, record: logging.LogRecord) -> None:
        target = logging.getLogger("gunicorn.error")
        if record.name == target.name:
            return  # already handled by gunicorn.error itself; never loop
        for handler in target.handlers:
            if record.levelno >= handler.level:
                handler.handle(record)
