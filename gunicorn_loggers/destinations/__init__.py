"""Where a network logger's records go: one module per kind of collector.

A destination is built once per set-up from gunicorn's configuration and our options;
a bad one raises :class:`~gunicorn_loggers.ConfigError` before anything changes. It
gives the logger the two parts that differ between collectors: the
:class:`~gunicorn_loggers.transports.Transport` that carries batches, and the
:mod:`~gunicorn_loggers.framing` encoder that turns each record into a frame.
Everything else (the engine, the local copy, the reports, reloads) is
:class:`~gunicorn_loggers.network_loggers.NetworkLogger`'s.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Protocol

from ..framing import FrameEncoder
from ..transports import Transport

if TYPE_CHECKING:
    from ..config import Settings


class Destination(Protocol):
    """What a network logger asks of its destination."""

    #: The schema the wire format is made of (OTLP: ``otel``); ``None`` leaves it to the options.
    schema: str | None

    def __init__(self, cfg: Any, settings: Settings, env: Mapping[str, str], network: Any, logger: type) -> None:
        """Read and check what this destination needs (``settings``: the logger's, already checked);
        raise ConfigError naming the bad setting."""

    def transport(self) -> Transport:
        """A new transport to the collector (one per set-up)."""

    def encoder(self, kind: str) -> FrameEncoder:
        """How a record of ``kind`` (``access`` or ``error``) becomes a frame of this wire format."""

    def sends_access_log(self) -> bool:
        """Whether access records go to the collector at all."""


__all__ = ["Destination"]
