"""What travels from the request path to a collector: a record's facts beside its encoded form.

A :class:`Frame` is made once, where the record is built; the delivery engine
queues it (it counts ``len(frame)`` bytes) and a transport reads its kind, level and
time as they were set, never by looking into the bytes.
"""

from __future__ import annotations

#: The two logs a record can come from: gunicorn's access log and its error log (with the app's records).
KINDS = ("access", "error")


class Frame:
    """One record on its way to a collector.

    ``kind`` is one of :data:`KINDS`; ``level`` a name of :data:`gunicorn_loggers.levels.LEVELS`;
    ``time_ns`` the record's own time; ``data`` the bytes a transport sends for it (a JSON line,
    a framed syslog message, a packed Fluentd entry, an OTLP ``LogRecord``); ``group`` what
    a transport batches it under besides its kind (OTLP: its resource and scope, encoded).
    """

    __slots__ = ("data", "group", "kind", "level", "time_ns")

    def __init__(self, kind: str, level: str, time_ns: int, data: bytes, group: tuple[bytes, bytes] | None = None):
        self.kind = kind
        self.level = level
        self.time_ns = time_ns
        self.data = data
        self.group = group

    def __len__(self) -> int:
        """The bytes it holds in a buffer: what the engine's byte bound counts."""
        return len(self.data)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Frame):
            return NotImplemented
        return (self.kind, self.level, self.time_ns, self.data, self.group) == (
            other.kind,
            other.level,
            other.time_ns,
            other.data,
            other.group,
        )

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"Frame({self.kind!r}, {self.level!r}, {self.time_ns}, {self.data[:60]!r}...)"


__all__ = ["KINDS", "Frame"]
