"""The totals of a report across reloads: the engines one logger has had in this process.

The totals in every report are the process's since it started: one :class:`Lineage`
sums the engines a logger has had in this process, and a frame handed from one to
the next counts once.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import TYPE_CHECKING

from .._unpatched import allocate_lock as _allocate_lock

if TYPE_CHECKING:
    from .engine import DeliveryEngine

#: An engine's own counters, in the order reports give them.
_COUNTERS = (
    "produced",
    "delivered",
    "dropped_full",
    "dropped_oversize",
    "dropped_rejected",
    "dropped_at_exit",
    "handed_over",
    "pending",
    "pending_bytes",
)


class Lineage:
    """The engines one logger has had in this process, across reloads: what the totals of a report sum.

    An engine retired by a reload may still be finishing a send; its counters are read
    live until it ends (:meth:`settle`), then kept as numbers, so a process that reloads
    a thousand times keeps no thousand engines. ``produced`` counts a frame handed from
    one engine to the next once. Lock order: the lineage's lock, then an engine's mutex.
    """

    def __init__(self, first: DeliveryEngine) -> None:
        self._lock = _allocate_lock()
        self._live = [first]
        self._carried = dict.fromkeys(_COUNTERS, 0)
        self.reloads = 0

    def absorb(self, other: Lineage) -> None:
        """Take in ``other``'s engines and numbers, one more reload (only the reloading thread calls this)."""
        with other._lock, self._lock:
            for engine in other._live:
                engine._lineage = self
            self._live += other._live
            other._live = []
            for name, value in other._carried.items():
                self._carried[name] += value
            self.reloads += other.reloads + 1

    @staticmethod
    def settle(engine: DeliveryEngine) -> None:
        """``engine`` has ended: its counters are final."""
        with Lineage._locked(engine) as lineage:
            if engine in lineage._live:
                lineage._live.remove(engine)
                for name, value in engine._counts().items():
                    lineage._carried[name] += value

    @staticmethod
    def add_late_drop(engine: DeliveryEngine) -> None:
        """A record for ``engine`` after it was settled: produced and dropped, as a full buffer."""
        with Lineage._locked(engine) as lineage:
            lineage._carried["produced"] += 1
            lineage._carried["dropped_full"] += 1

    @staticmethod
    @contextlib.contextmanager
    def _locked(engine: DeliveryEngine) -> Iterator[Lineage]:
        """``engine``'s lineage, locked: a reload may move the engine to another while we wait for the lock."""
        while True:
            lineage = engine._lineage
            with lineage._lock:
                if engine._lineage is lineage:
                    yield lineage
                    return

    def unsettled(self, current: DeliveryEngine) -> list[DeliveryEngine]:
        with self._lock:
            return [engine for engine in self._live if engine is not current]

    def totals(self) -> dict[str, int]:
        with self._lock:
            totals = dict(self._carried)
            for engine in self._live:
                for name, value in engine._counts().items():
                    totals[name] += value
        totals["produced"] -= totals["handed_over"]  # counted again by the engine they went to
        return totals
