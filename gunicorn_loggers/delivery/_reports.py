"""The reporter thread and the texts of delivery reports: trouble as it happens, the totals at the end.

A reporter thread, started with the sender, tells trouble on the *local* error
stream at most once per report interval, whatever the sender is doing: a sender
inside one send that a collector answers slowly would otherwise hide every drop
meanwhile.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from .._unpatched import allocate_lock as _allocate_lock
from ..transports import describe_error
from ._sender import STALL_AFTER
from ._wakeup import Wakeup

if TYPE_CHECKING:
    from .engine import DeliveryEngine

#: ``report(level, message, stats)``: level is a ``logging`` level number.
Reporter = Callable[[int, str, dict], None]


class Reports:
    """What one engine has to tell, and the reporter thread that tells it.

    The sender records events and rejections (:meth:`event`, :meth:`rejected`), the
    reporter thread (or ``close()``) tells them, both under :attr:`lock`; setting
    :attr:`wakeup` has the reporter look again (and, once the engine is closed or
    retired, end).
    """

    def __init__(self, engine: DeliveryEngine) -> None:
        self._engine = engine
        self.lock = _allocate_lock()
        self.wakeup = Wakeup()
        self._events: list[tuple[int, str]] = []
        self._rejections: dict[str, int] = {}
        self._last_report = -1e9
        self._reported_drops = 0

    def run(self) -> None:
        """The reporter thread: tells what the sender recorded and what was dropped, once per interval at most.

        It wakes when the sender records something and once per interval otherwise, and
        reads the counters the request path keeps: no request ever waits for it, and a
        send that hangs cannot hold a report back.
        """
        engine = self._engine
        try:
            while True:
                with self.lock:
                    if engine._closed or engine._retired:
                        return
                    self._report_if_due()
                    wait = self._until_report_check()
                self.wakeup.wait(wait)
        except BaseException as exc:  # a bug here must not pass silently
            self.emit(40, f"gunicorn-loggers: reporter for {engine.name} stopped: {describe_error(exc)}", {})

    def event(self, level: int, text: str) -> None:
        with self.lock:
            self._events.append((level, text))
        self.wakeup.set()

    def rejected(self, note: str, count: int) -> None:
        """The collector rejected ``count`` records, for the reason ``note``: told in the next report."""
        with self.lock:
            self._rejections[note] = self._rejections.get(note, 0) + count
        self.wakeup.set()

    def adopt(self, retired: Reports) -> None:
        """Take over what ``retired`` has not told yet, and when it last told something."""
        with retired.lock, self.lock:
            self._events[:0] = retired._events
            retired._events = []
            for note, count in retired._rejections.items():
                self._rejections[note] = self._rejections.get(note, 0) + count
            retired._rejections = {}
            self._reported_drops += retired._reported_drops
            self._last_report = max(self._last_report, retired._last_report)
        self.wakeup.set()

    def tell_held_back(self) -> None:
        """What the rate limit held back, at once (``close()``, before the totals)."""
        with self.lock:
            if self._events or self._rejections:
                self._report_if_due(force=True)

    def _until_report_check(self) -> float:
        """Seconds until the reporter looks again; caller holds the report lock."""
        if self._events or self._rejections or self._engine.stats()["dropped"] != self._reported_drops:
            return max(0.0, self._last_report + self._engine.report_interval - time.monotonic())
        return self._engine.report_interval

    def _report_if_due(self, force: bool = False) -> None:
        """Caller holds the report lock: one report of events and new drops, unless one came within the interval."""
        engine = self._engine
        stats = engine.stats()
        dropped = stats["dropped"]
        new_drops = dropped - self._reported_drops
        if not self._events and not self._rejections and not new_drops:
            return
        now = time.monotonic()
        if now - self._last_report < engine.report_interval and not force:
            return
        parts = [text for _, text in self._events]
        level = max([level for level, _ in self._events] or [30])
        rejections, self._rejections = self._rejections, {}
        parts += [f"the collector rejected {count} records: {note}" for note, count in rejections.items()]
        if new_drops:
            level = max(level, 30)
            since = "so far" if self._last_report < 0 else f"in the last {now - self._last_report:.1f} s"
            parts.append(f"{new_drops} records dropped {since} (buffer full, oversize or rejected)")
        started = engine._sender.send_started
        if started is not None and now - started >= STALL_AFTER:
            parts.append(f"the send under way has waited {now - started:.1f} s for the collector")
        self._events = []
        self._reported_drops = dropped
        self._last_report = now
        self.emit(level, f"gunicorn-loggers: {engine.name}: {'; '.join(parts)}; {self.summary(stats)}", stats)

    def final(self, stats: dict, when: str, last_error: str | None, abandoned: float | None) -> None:
        """The totals as the engine ends: ``when`` says why, ``last_error`` and ``abandoned`` why records were lost."""
        level = 30 if stats["dropped"] else 20
        why = f"; last error: {last_error}" if stats["dropped"] and last_error else ""
        gave_up = ""
        if abandoned is not None and stats["dropped_at_exit"]:
            gave_up = f"flush abandoned: the receiver made no progress for {abandoned:.1f} s; "
        name = self._engine.name
        with self.lock:
            self.emit(level, f"gunicorn-loggers: {name} {when}: {gave_up}{self.summary(stats)}{why}", stats)

    @staticmethod
    def summary(stats: dict) -> str:
        text = (
            f"{stats['produced']} produced, {stats['delivered']} delivered, {stats['dropped']} dropped, "
            f"{stats['pending']} pending"
        )
        if stats["scope"] == "set-up":
            return text + (f", {stats['handed_over']} handed to the reloaded logger" if stats["handed_over"] else "")
        if stats.get("reloads"):
            text += f" since the process started, across {stats['reloads']} reloads"
        return text

    def emit(self, level: int, message: str, stats: dict) -> None:
        report = self._engine.report
        if report is None:
            return
        try:
            report(level, message, stats)
        except Exception:  # the local log itself is broken: nothing sensible is left to tell
            pass
