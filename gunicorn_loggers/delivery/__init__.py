"""How a record reaches a collector without a request ever waiting for the network: see :mod:`.engine`."""

from __future__ import annotations

from .engine import (
    LINGER,
    RELOAD_FLUSH,
    SCHEMES,
    STALL_GIVE_UP,
    DeliveryEngine,
    Endpoint,
    Outcome,
    Reporter,
    Transport,
    describe_error,
    open_connection,
    parse_endpoint,
)

__all__ = [
    "LINGER",
    "RELOAD_FLUSH",
    "SCHEMES",
    "STALL_GIVE_UP",
    "DeliveryEngine",
    "Endpoint",
    "Outcome",
    "Reporter",
    "Transport",
    "describe_error",
    "open_connection",
    "parse_endpoint",
]
