"""How one record becomes the frame of one wire format, on the request path.

An encoder is given the record as its schema built it (the dict, or for JSON-line
formats the encoded line when the ECS template wrote it without a dict) together
with the facts set once where the record was built: its kind, level and time. It
returns the :class:`~gunicorn_loggers.frames.Frame` a transport sends, or ``None``
when no frame of its format can hold the record (counted as oversize).

* :mod:`.ndjson`: one JSON object per line or per datagram (sockets, HTTP NDJSON,
  Loki and ``_bulk`` bodies, which the HTTP transport assembles from these lines);
* :mod:`.syslog`: RFC 5424 messages with the JSON record as MSG;
* :mod:`.fluent`: Fluentd forward ``[EventTime, record]`` entries, packed as msgpack;
* :mod:`.otlp`: OTLP/JSON ``LogRecord`` objects, with their resource and scope beside them.
"""

from __future__ import annotations

from typing import Any, Protocol

from ..frames import Frame


class FrameEncoder(Protocol):
    #: True when :meth:`encode` needs the record dict; False when the encoded JSON line will do.
    needs_record: bool

    def encode(
        self, kind: str, level: str, time_ns: int, record: dict[str, Any] | None, line: bytes | None
    ) -> Frame | None:
        """The frame of one record; ``line`` is its JSON line (ending in ``\\n``) when already encoded."""


__all__ = ["FrameEncoder"]
