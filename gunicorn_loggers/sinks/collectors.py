"""Framers for collectors whose transport builds the request body from a whole batch.

The NDJSON, ``_bulk`` and OTLP transports need nothing but the encoded line
(:class:`~gunicorn_loggers.sinks.socket.NdjsonStreamFramer`). Loki and Fluentd
also need to know which log a record came from — it becomes a label or the tag —
so :class:`KindFramer` puts the log's kind in front of the line, and the transport
splits it off in the sender thread, off the request path.
"""

from __future__ import annotations

KINDS = ("access", "error")


class KindFramer:
    """``KIND \\0 LINE``: the log a record came from, then the encoded record."""

    def __init__(self, kind: str) -> None:
        if kind not in KINDS:
            raise ValueError(f"kind {kind!r} is not one of {KINDS}")
        self.prefix = kind.encode("ascii") + b"\0"

    def frame(self, line: bytes) -> bytes | None:
        return self.prefix + line
