"""Sinks: where encoded lines go. A sink knows bytes, not schemas or records.

Every sink provides ``write(line)``, ``reopen()``, ``close_on_exec()`` and
``close()``; the delivery engine of the network sinks slots in behind the same
four methods, so loggers never know which kind they hold.
"""

from __future__ import annotations

from ._base import Sink
from .logger import LoggerSink
from .stream import FileSink, StreamSink

__all__ = ["FileSink", "LoggerSink", "Sink", "StreamSink"]
