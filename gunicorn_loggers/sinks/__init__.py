"""Sinks: where records go. A local sink knows bytes, not schemas or records.

Every local sink provides ``write(line)``, ``reopen()``, ``close_on_exec()`` and
``close()``. The network sinks (:mod:`gunicorn_loggers.delivery.network_sink`) take ``write_record(record, line,
level, time_ns)`` instead: they encode a record for their wire from its structure
and facts, never from bytes.
"""

from __future__ import annotations

from ._base import RecordSink, Sink, takes_records
from .logger import LoggerSink
from .stream import FileSink, StreamSink

__all__ = ["FileSink", "LoggerSink", "RecordSink", "Sink", "StreamSink", "takes_records"]
