"""The flush at exit (or of an engine a reload retired): its deadline, and when the receiver counts as stalled.

At exit the engine flushes within the time gunicorn allows, but gives up once the
receiver has taken nothing for :data:`STALL_GIVE_UP` seconds: a collector that
accepts connections and never reads or answers would otherwise hold every deploy
for the whole graceful timeout.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from _thread import LockType

    from ..transports import Transport

#: The flush at exit is abandoned once the receiver has taken nothing (no byte, no batch) for this
#: long; while it keeps taking something it gets the whole flush timeout. Every network wait of the
#: flush is capped at this too.
STALL_GIVE_UP = 2.0


class Flush:
    """The time one engine's flush has, and how long its receiver has taken nothing.

    The engine begins it (:meth:`begin`) from ``close()`` or ``retire()``; the sender
    reads ``deadline`` and :meth:`stalled` to end its loop and records each batch the
    receiver took (:meth:`took`), and ``close()`` waits in :meth:`wait_for_sender`.
    ``finished`` is the engine's lock that its sender thread holds while it runs.
    """

    def __init__(self, transport: Transport, finished: LockType) -> None:
        self._transport = transport
        self._finished = finished
        self.started_at = 0.0  # this process's first record
        self.deadline = 0.0
        self.progress_at = 0.0  # when the receiver last took something, or the flush began
        self.taken_at = 0.0  # when the receiver last took something
        self.abandoned: float | None = None  # seconds without progress when the flush gave up

    def begin(self, seconds: float) -> None:
        """The flush starts now and ends ``seconds`` from now at the latest."""
        now = time.monotonic()
        self.progress_at = now
        self.deadline = now + seconds

    def took(self, now: float) -> None:
        """The receiver took (or refused for good) part of a batch at ``now``."""
        self.progress_at = max(self.progress_at, now)
        self.taken_at = max(self.taken_at, now)

    def wait_for_sender(self) -> bool:
        """Wait for the sender to end the flush; ``False`` when close() stops waiting first.

        Until the deadline, or, for a transport that tells its ``progress_at``, until
        the receiver has taken nothing for :data:`STALL_GIVE_UP`: a send begun before
        the flush waits under the transport's own timeout (10 s for an HTTP answer),
        which the sender cannot cut short.
        """
        judged = hasattr(self._transport, "progress_at")
        while True:
            now = time.monotonic()
            until = self.deadline
            if judged:
                until = min(until, self.last_progress() + STALL_GIVE_UP)
            if self._finished.acquire(True, max(0.0, min(until - now, 0.25))):
                self._finished.release()
                return True
            now = time.monotonic()
            if now >= self.deadline:
                return False
            if judged and self.stalled(now):
                return False

    def last_progress(self) -> float:
        return max(self.progress_at, getattr(self._transport, "progress_at", 0.0) or 0.0)

    def stalled(self, now: float) -> bool:
        """While flushing: the receiver has taken nothing for :data:`STALL_GIVE_UP`; remembers for how long.

        The time told is since the receiver last took something, or since this
        process's first record if it never did: a send may have hung long before
        the flush began.
        """
        if now - self.last_progress() < STALL_GIVE_UP:
            return False
        if self.abandoned is None:
            taken = max(self.taken_at, getattr(self._transport, "progress_at", 0.0) or 0.0, self.started_at)
            self.abandoned = now - taken
        return True
