"""Records a sink could not write: counted, and told at most once per interval.

A full disk or a reader that went away makes every write fail. Raising into the
request would fail the request for a log line, and logging each failure would
multiply the flood (a traceback per record went to stderr: 78 lines a request).
Instead the sink counts what it lost and one line says so, with the last error,
at most every ``REPORT_INTERVAL`` seconds and once more at exit, so no loss is silent.
"""

from __future__ import annotations

import os
import time
import weakref
from collections.abc import Callable

from .. import _process_hooks, process_id
from ..encoding import encode_line

REPORT_INTERVAL = 10.0

_COUNTERS: weakref.WeakSet[WriteFailures] = weakref.WeakSet()


def write_to_stderr(message: str) -> None:
    """The report of last resort: one minimal JSON line on the process's own descriptor 2."""
    line = encode_line({"message": message, "level": "error", "logger": "gunicorn_loggers.sink", "pid": process_id.pid})
    try:
        os.write(2, line)
    except OSError:
        pass  # stderr is gone too: nothing is left to tell


class WriteFailures:
    """What one sink lost; ``report`` is where the line goes (the logger points it at its error log)."""

    def __init__(self, target: str, report: Callable[[str], None] = write_to_stderr) -> None:
        self.target = target
        self.report = report
        self.lost = 0  # records, since the start
        self._unreported = 0
        self._last_error = ""
        self._last_report = -REPORT_INTERVAL
        _COUNTERS.add(self)

    def add(self, records: int, error: OSError) -> None:
        self.lost += records
        self._unreported += records
        self._last_error = f"[Errno {error.errno}] {error.strerror}" if error.strerror else str(error)
        if time.monotonic() - self._last_report >= REPORT_INTERVAL:
            self.flush_report()

    def flush_report(self, when: str = "") -> None:
        """Tell what was lost since the last report, if anything."""
        count, self._unreported = self._unreported, 0
        if not count:
            return
        self._last_report = time.monotonic()
        since = f" {when}" if when else ""
        message = (
            f"gunicorn-loggers: {count} records could not be written to {self.target}{since}"
            f" ({self.lost} since start): {self._last_error}"
        )
        try:
            self.report(message)
        except Exception:
            write_to_stderr(message)


def _report_at_exit() -> None:
    for counter in list(_COUNTERS):
        counter.flush_report("before exit")


def _reset_after_fork() -> None:
    for counter in list(_COUNTERS):  # the parent's losses are the parent's to tell
        counter.lost = counter._unreported = 0


_process_hooks.in_child(_process_hooks.CHILD_STATE, _reset_after_fork)
_process_hooks.at_exit(_process_hooks.EXIT_FAILURES, _report_at_exit)
