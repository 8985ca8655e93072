"""How a batch of frames crosses the wire: the seam between the delivery engine and a protocol.

The :class:`~gunicorn_loggers.delivery.DeliveryEngine` owns everything that is the
same for every collector: the bounded queue, exact accounting, the sender thread,
backoff, reports and the flush at exit. A :class:`Transport` owns one connection
and says, for each batch it was handed, what became of every frame in an
:class:`Outcome`. A frame (:class:`~gunicorn_loggers.frames.Frame`) carries its
record's kind, level and time beside the bytes its encoder made; a transport reads
those, never the bytes. Transports: :mod:`.socket` (NDJSON and syslog over tcp, udp and
unix sockets), :mod:`.http` (NDJSON, Loki, ``_bulk`` and OTLP/HTTP JSON over
http and https, with the URL in :mod:`.http_target` and the bodies in
:mod:`.http_bodies`) and :mod:`.fluent` (Fluentd forward with acks).

A transport runs only in the sender thread, which is a real OS thread even under
gevent: it must use the unpatched primitives of :mod:`gunicorn_loggers._unpatched`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from ..frames import Frame


@dataclass
class Outcome:
    """What became of one batch.

    ``delivered`` frames are counted delivered, ``oversize`` ones dropped as too big
    for any frame, and every other frame not in ``retry`` dropped as *rejected* by
    the collector (a permanent refusal: retrying cannot help). ``retry`` becomes
    the next batch. ``error`` says the connection or the endpoint failed: the engine
    closes the transport and reconnects with backoff, waiting at least
    ``retry_after`` seconds when the collector asked for it. ``note`` explains
    rejections in the next report, aggregated over the report interval.
    """

    delivered: int = 0
    rejected: int = 0
    retry: list[Frame] = field(default_factory=list)
    error: str | None = None
    retry_after: float | None = None
    oversize: int = 0
    note: str | None = None


class Transport(Protocol):
    """One connection to one collector, used by one sender thread at a time.

    ``name`` appears in reports and never holds credentials. ``connect`` raises an
    exception whose text holds no credentials either. ``send`` never raises for a
    network problem: it reports it in :attr:`Outcome.error`. ``close`` does no I/O
    beyond closing descriptors, so it is also safe in a forked child that inherited
    the parent's connection.
    """

    name: str

    @property
    def batch_records(self) -> int:
        """Most frames one batch may hold."""

    @property
    def batch_bytes(self) -> int:
        """Most bytes one batch may hold (a single larger frame still goes alone)."""

    def connect(self, timeout: float) -> None: ...

    def send(self, batch: list[Frame], timeout: float | None) -> Outcome:
        """Send ``batch``; ``timeout`` (seconds) caps each network wait, ``None`` means the transport's own."""

    def close(self) -> None: ...


class TransportError(OSError):
    """A failure a transport has already described (and cleaned of credentials): shown as it is."""


def describe_error(exc: BaseException) -> str:
    """``ConnectionRefusedError: Connection refused``: the type and the text, never a traceback."""
    if isinstance(exc, TransportError):
        return str(exc)
    text = os.strerror(exc.errno) if isinstance(exc, OSError) and exc.errno and not exc.strerror else str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


__all__ = ["Outcome", "Transport", "TransportError", "describe_error"]
