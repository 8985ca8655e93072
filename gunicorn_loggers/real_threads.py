"""Threads and locks that stay real OS primitives after gevent has monkey-patched the worker.

A background writer must not become a greenlet: it would then run only when a
request greenlet yields, and a blocking write would stall the hub. gunicorn
imports the logger in the master, before the gevent worker patches anything,
so taking the originals at import time is enough; ``get_original`` covers a
process that imported gevent's monkey module first.
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
