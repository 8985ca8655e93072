"""How a record reaches a collector without a request ever waiting for the network.

One :class:`DeliveryEngine` per network sink per process. ``submit()`` runs on the
request path: it appends the framed record to a bounded queue (records *and*
bytes) and returns; when the queue is full the record is dropped and counted,
never waited for. A sender thread hands batches to a
:class:`~gunicorn_loggers.transports.Transport` (a socket, HTTP, Fluentd forward)
and reconnects with backoff; a reporter thread tells trouble on the *local* error
stream; at exit the engine flushes within the time gunicorn allows. One job a module:

* :mod:`.engine`: the queue, ``submit()``, the accounting, ``retire()`` on reload and
  ``close()``, the fork reset and the flush of every engine at exit;
* :mod:`._sender`: the sender thread: batches, connects, backoff;
* :mod:`._flush`: the deadline of a flush and when the receiver counts as stalled;
* :mod:`._reports`: the reporter thread and the texts of the reports;
* :mod:`._lineage`: the totals across reloads;
* :mod:`._wakeup`: the one-bit event the threads wait on.
"""

from __future__ import annotations

from ..transports import Outcome, Transport, describe_error
from ..transports.socket import SCHEMES, Endpoint, open_connection, parse_endpoint
from ._flush import STALL_GIVE_UP
from ._reports import Reporter
from ._sender import LINGER
from .engine import RELOAD_FLUSH, DeliveryEngine

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
