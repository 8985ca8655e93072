"""The request path's end of delivery: sinks that hand records to a :class:`DeliveryEngine`.

A network sink takes a record as its schema built it, with its level and time, and
has its :mod:`~gunicorn_loggers.framing` encoder make the frame the engine queues.
It adds the local copy: records of the error log are also written to the local
error log while the endpoint is not taking them, so a dead collector never hides
why the server is unwell.
"""

from __future__ import annotations

from typing import Any

from ..encoding import encode_line
from ..framing import FrameEncoder
from ..sinks import Sink
from .engine import DeliveryEngine


class NetworkSink:
    """A record sink whose records go through ``engine`` as frames of ``kind``; ``local`` receives the local copy.

    ``local_copy`` is one of :data:`LOCAL_COPY_POLICIES`: ``down`` writes a record
    locally when the engine is not delivering (not yet connected in this process,
    reconnecting, stalled) or dropped it; ``always`` writes every record; ``off`` none.
    """

    def __init__(
        self,
        engine: DeliveryEngine,
        kind: str,
        encoder: FrameEncoder,
        local: Sink | None = None,
        local_copy: str = "down",
    ) -> None:
        self.engine = engine
        self.kind = kind
        self.encoder = encoder
        self.needs_record = encoder.needs_record
        self.local = local if local_copy != "off" else None
        self.local_always = local_copy == "always"

    def write_record(self, record: dict[str, Any] | None, line: bytes | None, level: str, time_ns: int) -> None:
        """One record: its dict, or its JSON line where the encoder takes one (``needs_record`` false)."""
        frame = self.encoder.encode(self.kind, level, time_ns, record, line)
        if frame is None:
            self.engine.drop_oversize()
            accepted = False
        else:
            accepted = self.engine.submit(frame)
        local = self.local
        if local is not None and (self.local_always or not accepted or not self.engine.delivering):
            local.write(encode_line(record) if line is None else line)

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
    """Every record to a network sink and to the ``--access-logfile`` the user asked for, as a JSON line."""

    def __init__(self, network: NetworkSink, local: Sink) -> None:
        self.network = network
        self.local = local
        self.sinks = (network, local)
        self.needs_record = network.needs_record

    def write_record(self, record: dict[str, Any] | None, line: bytes | None, level: str, time_ns: int) -> None:
        if line is None:
            line = encode_line(record)
        self.network.write_record(record, line, level, time_ns)
        self.local.write(line)

    def reopen(self) -> None:
        for sink in self.sinks:
            sink.reopen()

    def close_on_exec(self) -> None:
        for sink in self.sinks:
            sink.close_on_exec()

    def close(self) -> None:
        for sink in self.sinks:
            sink.close()
