"""Sinks that hand records to a :class:`~gunicorn_loggers.delivery.DeliveryEngine`.

A network sink is two small pieces: a *framer* that turns one encoded JSON line
into the bytes of one frame (NDJSON here, RFC 5424 in :mod:`.syslog`), and the
engine that moves frames to the endpoint. The sink adds the local copy: records
of the error log are also written to the local error log while the endpoint is
not taking them, so a dead collector never hides why the server is unwell.
"""

from __future__ import annotations

from typing import Protocol

import orjson

from ..delivery import DeliveryEngine
from ._base import Sink

TRUNCATED = "...[truncated]"
#: Fewest characters a cut string keeps.
MIN_KEPT = 32

#: When the error log keeps a local copy: while the endpoint is not delivering, always, or never.
LOCAL_COPY_POLICIES = ("down", "always", "off")


class Framer(Protocol):
    def frame(self, line: bytes) -> bytes | None:
        """The frame for one encoded record (ending in ``\\n``), or ``None`` when no frame can hold it."""


def fit_json_line(line: bytes, limit: int) -> bytes | None:
    """``line`` (one JSON object) shrunk to at most ``limit`` bytes by cutting its long strings.

    Every string longer than a common cap keeps its first ``cap`` characters and ends
    in ``...[truncated]``; the cap is the largest that fits, so each long field keeps
    as much as it can. Keys, numbers and short strings (timestamps, levels) are never
    touched. ``None`` when the record does not fit even with a cap of
    :data:`MIN_KEPT` characters.
    """
    if len(line) <= limit:
        return line
    try:
        record = orjson.loads(line)
    except orjson.JSONDecodeError:
        return None
    option = orjson.OPT_APPEND_NEWLINE if line.endswith(b"\n") else 0

    def cut(node: object, cap: int) -> object:
        if isinstance(node, str):
            return node[:cap] + TRUNCATED if len(node) > cap + len(TRUNCATED) else node
        if isinstance(node, dict):
            return {key: cut(value, cap) for key, value in node.items()}
        if isinstance(node, list):
            return [cut(value, cap) for value in node]
        return node

    low, high = MIN_KEPT, len(line)
    best = orjson.dumps(cut(record, low), option=option)
    if len(best) > limit:
        return None
    while low < high:  # the largest cap that still fits
        middle = (low + high + 1) // 2
        encoded = orjson.dumps(cut(record, middle), option=option)
        if len(encoded) <= limit:
            low, best = middle, encoded
        else:
            high = middle - 1
    return best


class NdjsonStreamFramer:
    """One JSON object per line: the encoded line is already the frame."""

    def frame(self, line: bytes) -> bytes | None:
        return line


class NdjsonDatagramFramer:
    """One JSON object per datagram, never larger than ``max_datagram`` bytes."""

    def __init__(self, max_datagram: int) -> None:
        self.max_datagram = max_datagram

    def frame(self, line: bytes) -> bytes | None:
        return fit_json_line(line, self.max_datagram)


class NetworkSink:
    """A :class:`Sink` whose records go through ``engine``; ``local`` receives the local copy.

    ``local_copy`` is one of :data:`LOCAL_COPY_POLICIES`: ``down`` writes a record
    locally when the engine is not delivering (not yet connected in this process,
    reconnecting, stalled) or dropped it; ``always`` writes every record; ``off`` none.
    """

    def __init__(
        self, engine: DeliveryEngine, framer: Framer, local: Sink | None = None, local_copy: str = "down"
    ) -> None:
        self.engine = engine
        self.framer = framer
        self.local = local if local_copy != "off" else None
        self.local_always = local_copy == "always"

    def write(self, line: bytes) -> None:
        frame = self.framer.frame(line)
        if frame is None:
            self.engine.drop_oversize()
            accepted = False
        else:
            accepted = self.engine.submit(frame)
        local = self.local
        if local is not None and (self.local_always or not accepted or not self.engine.delivering):
            local.write(line)

    def reopen(self) -> None:
        if self.local is not None:
            self.local.reopen()
        self.engine.retry_now()

    def close_on_exec(self) -> None:
        if self.local is not None:
            self.local.close_on_exec()  # our sockets are created non-inheritable

    def close(self) -> None:
        self.engine.close(min(self.engine.flush_timeout, 5.0), final_report=False, when="on reload")
        if self.local is not None:
            self.local.close()


class TeeSink:
    """Every record to each sink: a network sink plus the ``--access-logfile`` the user asked for."""

    def __init__(self, *sinks: Sink) -> None:
        self.sinks = sinks

    def write(self, line: bytes) -> None:
        for sink in self.sinks:
            sink.write(line)

    def reopen(self) -> None:
        for sink in self.sinks:
            sink.reopen()

    def close_on_exec(self) -> None:
        for sink in self.sinks:
            sink.close_on_exec()

    def close(self) -> None:
        for sink in self.sinks:
            sink.close()
