"""A one-bit event on a real lock: how the request path and ``close()`` wake the engine's threads."""

from __future__ import annotations

from .._unpatched import allocate_lock as _allocate_lock


class Wakeup:
    """A one-bit event on a real lock: ``set`` from any thread (or a signal handler), ``wait`` consumes it."""

    def __init__(self) -> None:
        self._lock = _allocate_lock()
        self._lock.acquire()

    def set(self) -> None:
        try:
            self._lock.release()
        except RuntimeError:  # already set
            pass

    def wait(self, timeout: float | None) -> bool:
        if timeout is None:
            return self._lock.acquire()
        return self._lock.acquire(True, max(0.0, timeout))
