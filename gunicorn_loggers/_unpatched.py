"""The real threading, socket and TLS primitives, even after gevent has monkey-patched them.

The sender is an OS thread with blocking sockets of its own: if it used gevent's
patched objects it would need a hub in a thread that has none, and would compete
with request greenlets.
"""

from __future__ import annotations

import sys
from typing import Any


def original(module: str, name: str) -> Any:
    """The unpatched object even when gevent has monkey-patched ``module``."""
    if "gevent.monkey" in sys.modules:
        from gevent import monkey

        return monkey.get_original(module, name)
    return getattr(__import__(module), name)


allocate_lock = original("_thread", "allocate_lock")
start_new_thread = original("_thread", "start_new_thread")
socket_class = original("socket", "socket")
getaddrinfo = original("socket", "getaddrinfo")
poll = original("select", "poll")


def ssl_context_class() -> Any:
    """``ssl.SSLContext`` as the standard library defines it (gevent replaces it when patching ``ssl``)."""
    return original("ssl", "SSLContext")
