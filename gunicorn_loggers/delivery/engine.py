"""The delivery engine: a bounded queue per network sink per process, exact accounting, reloads and forks.

One :class:`DeliveryEngine` per network sink per process. ``submit()`` runs on the
request path: it appends the framed record to a bounded queue (records *and*
bytes) and returns; when the queue is full the record is dropped and counted,
never waited for. The first ``submit()`` in each process starts the sender thread
(:mod:`._sender`) and the reporter thread (:mod:`._reports`); ``close()`` flushes
within a deadline (:mod:`._flush`).

Accounting is exact: ``delivered + dropped == produced`` once the queue is empty,
and ``delivered + dropped + pending == produced`` at every moment. What
*delivered* means is the transport's to say: the kernel took the bytes (syslog,
NDJSON over a socket), the collector answered 2xx and listed no failure for the
record (HTTP), or acknowledged the chunk (Fluentd forward). *Dropped* is split by
cause: buffer full, oversize, rejected by the collector, left at exit.

Reloads: a SIGHUP builds a new engine and :meth:`DeliveryEngine.retire` the old one
into it, without waiting. When the new one sends the same frames the same way, what
the old one holds goes on in the new one (a batch being sent follows if the
collector does not take it); otherwise the old one flushes to its own collector in
the background, for at most :data:`RELOAD_FLUSH` seconds. The totals in every
report are the process's since it started: one :class:`~._lineage.Lineage` sums the
engines a logger has had in this process, and a frame handed from one to the next
counts once.

Fork and gevent: gunicorn builds the logger in the master and forks workers from
it; threads do not survive ``fork``. ``os.register_at_fork`` gives each child an
empty queue, zero counters and no connection, and ``submit()`` starts a sender in
any process whose pid differs from the one that started it (the pid is read from
:func:`~gunicorn_loggers.process_id.current_pid`, refreshed by the same hooks: a C
library that forks and goes on running Python must call ``PyOS_AfterFork_Child``,
which runs them). The sender and the reporter are always real OS threads with real
locks and real sockets, even after gevent has monkey-patched the worker: they then
never compete with request greenlets for the hub, and a blocking ``send`` stalls
only the sender.

Lock order, across the modules: an engine's report lock (:mod:`._reports`), then a
lineage's lock (:mod:`._lineage`), then an engine's mutex, which ``submit()`` holds
only for its few lines.
"""

from __future__ import annotations

import collections
import os
import time
import weakref
from typing import Any

from .. import _process_hooks
from .._unpatched import allocate_lock as _allocate_lock
from .._unpatched import start_new_thread as _start_new_thread
from ..frames import Frame
from ..process_id import current_pid
from ..transports import Transport
from ..transports.socket import Endpoint, SocketTransport
from ._flush import Flush
from ._lineage import Lineage
from ._reports import Reporter, Reports
from ._sender import LINGER, STALL_AFTER, Sender
from ._wakeup import Wakeup

#: Most seconds an engine retired by a reload flushes to a collector the new one no longer sends to.
RELOAD_FLUSH = 5.0

_ENGINES: weakref.WeakSet[DeliveryEngine] = weakref.WeakSet()


class DeliveryEngine:
    """A bounded queue of frames, the thread that hands them to one transport, and the one that reports.

    ``transport`` is a :class:`~gunicorn_loggers.transports.Transport`, or an
    :class:`Endpoint` for a socket. ``max_records`` / ``max_bytes`` bound
    everything not yet delivered, including the batch being sent. ``report``
    receives the delivery reports (the network loggers write them to the local
    error log). ``flush_timeout`` bounds the flush at exit; when the collector
    cannot be reached at that point, the engine makes one immediate attempt and
    then counts the rest as dropped instead of waiting. A collector that is
    reachable but takes nothing for :data:`~._flush.STALL_GIVE_UP` seconds ends the flush
    early too.

    A transport may expose ``progress_at``: the ``time.monotonic()`` at which the
    receiver last took something (an HTTP answer, a Fluentd ack). Then the flush
    can also give up on a send that began before it and is still waiting under
    the transport's own, longer timeout.
    """

    def __init__(
        self,
        transport: Transport | Endpoint,
        *,
        max_records: int = 10_000,
        max_bytes: int = 8 * 1024 * 1024,
        report: Reporter | None = None,
        report_interval: float = 5.0,
        flush_timeout: float = 10.0,
        name: str = "",
        linger: float = LINGER,
    ) -> None:
        if isinstance(transport, Endpoint):
            transport = SocketTransport(transport)
        self.transport: Transport = transport
        self.endpoint: Endpoint | None = getattr(transport, "endpoint", None)
        self.max_records = max_records
        self.max_bytes = max_bytes
        self.report = report
        self.report_interval = report_interval
        self.flush_timeout = flush_timeout
        self.name = name or transport.name
        self._linger = linger
        self._reset()
        _ENGINES.add(self)

    def _reset(self) -> None:
        """Fresh state for this process: the parent's queue, counters and connection are the parent's."""
        self._mutex = _allocate_lock()
        self._wakeup = Wakeup()
        self._finished = _allocate_lock()
        self._queue: collections.deque[bytes] = collections.deque()
        self._pending_records = 0
        self._pending_bytes = 0
        self.produced = 0
        self.delivered = 0
        self.dropped_full = 0
        self.dropped_oversize = 0
        self.dropped_rejected = 0
        self.dropped_at_exit = 0
        self.handed_over = 0
        self._lineage = Lineage(self)
        self._pid = 0
        self._closing = False
        self._closed = False
        self._retired = False
        #: After a reload that changed nothing the frames depend on: where what is left goes.
        self._frames_to: DeliveryEngine | None = None
        self._idle = False
        self.transport.close()  # in a child: only our copy of the parent's descriptor
        # the batch the sender took from the queue, still pending (both under the mutex)
        self._batch: list[bytes] = []
        self._sending = False  # a batch is in the transport's hands (set and read under the mutex)
        self._sender = Sender(self)
        self._flush = Flush(self.transport, self._finished)
        self._reports = Reports(self)

    # -- request path --------------------------------------------------------------------------

    def submit(self, frame: Frame | bytes) -> bool:
        """Queue one frame; ``False`` when it was dropped because the buffer is full. Never blocks on I/O."""
        if self._pid != current_pid():  # a fresh fork, or the first record
            self._start()
        size = len(frame)
        with self._mutex:
            if self._closed:
                closed = True
            elif self._pending_records >= self.max_records or self._pending_bytes + size > self.max_bytes:
                self.produced += 1
                self.dropped_full += 1
                return False
            else:
                closed = False
                self.produced += 1
                # orjson's bytes keep an allocation of about 8 KiB whatever their length; a queued
                # copy of exact size keeps resident memory near max_bytes instead of 6-8x over it
                # (a Frame's encoder made its data so).
                self._queue.append(bytes(memoryview(frame)) if frame.__class__ is bytes else frame)
                self._pending_records += 1
                self._pending_bytes += size
                idle = self._idle
        if closed:
            return self._submit_late(frame)
        if idle:
            self._wakeup.set()
        return True

    def _submit_late(self, frame: bytes) -> bool:
        """A record for a closed engine (a request thread still held the sink a reload replaced)."""
        heir = self._frames_to
        if heir is not None:
            return heir.submit(frame)
        Lineage.add_late_drop(self)
        return False

    def drop_oversize(self) -> None:
        """Count a record that no frame could hold (bigger than a datagram even when truncated)."""
        if self._pid != current_pid():  # a fresh fork, or the first record
            self._start()
        with self._mutex:
            self.produced += 1
            self.dropped_oversize += 1

    @property
    def delivering(self) -> bool:
        """Connected, the collector has taken records from this engine and took the last batch, and no send has
        been stuck for long.

        Not merely connected: the records a process logs between its connect and the
        first answer (the master's "Listening at") were copied nowhere when that answer
        was a refusal (a 401) that then dropped them.
        """
        sender = self._sender
        started = sender.send_started
        return (
            sender.connected
            and self.delivered > 0
            and not sender.rejecting
            and (started is None or time.monotonic() - started < STALL_AFTER)
        )

    @property
    def dropped(self) -> int:
        """What this engine dropped (:meth:`stats` gives the process's totals)."""
        return self.dropped_full + self.dropped_oversize + self.dropped_rejected + self.dropped_at_exit

    def _counts(self) -> dict[str, int]:
        with self._mutex:
            return {
                "produced": self.produced,
                "delivered": self.delivered,
                "dropped_full": self.dropped_full,
                "dropped_oversize": self.dropped_oversize,
                "dropped_rejected": self.dropped_rejected,
                "dropped_at_exit": self.dropped_at_exit,
                "handed_over": self.handed_over,
                "pending": self._pending_records,
                "pending_bytes": self._pending_bytes,
            }

    def stats(self) -> dict[str, Any]:
        """The totals of this process since it started, across reloads; ``reloads`` says how many engines before
        this one they include. ``delivered + dropped + pending == produced``."""
        return self._stats(self._lineage.totals(), "process", self._lineage.reloads)

    def own_stats(self) -> dict[str, Any]:
        """This engine's own numbers: ``delivered + dropped + handed_over + pending == produced``."""
        return self._stats(self._counts(), "set-up", None)

    def _stats(self, counts: dict[str, int], scope: str, reloads: int | None) -> dict[str, Any]:
        stats: dict[str, Any] = {
            "endpoint": self.name,
            "scope": scope,
            "produced": counts["produced"],
            "delivered": counts["delivered"],
            "dropped": counts["dropped_full"]
            + counts["dropped_oversize"]
            + counts["dropped_rejected"]
            + counts["dropped_at_exit"],
            "dropped_buffer_full": counts["dropped_full"],
            "dropped_oversize": counts["dropped_oversize"],
            "dropped_rejected": counts["dropped_rejected"],
            "dropped_at_exit": counts["dropped_at_exit"],
            "handed_over": counts["handed_over"],
            "pending": counts["pending"],
            "pending_bytes": counts["pending_bytes"],
        }
        if reloads is not None:
            stats["reloads"] = reloads
        return stats

    def retry_now(self) -> None:
        """Skip the current backoff (SIGUSR1, SIGHUP). Safe inside a signal handler: takes no lock."""
        self._sender.skip_backoff = True
        self._wakeup.set()

    # -- lifecycle -----------------------------------------------------------------------------

    def _start(self) -> None:
        if self._pid not in (0, os.getpid()):
            self._reset()  # forked by something that skipped os.register_at_fork hooks
        with self._mutex:
            if self._pid == os.getpid():
                return
            self._pid = os.getpid()
            self._flush.started_at = time.monotonic()
        self._finished.acquire()
        _start_new_thread(self._sender.run, ())
        if self.report is not None:
            _start_new_thread(self._reports.run, ())

    def retire(self, heir: DeliveryEngine, hand_over: bool) -> None:
        """``heir`` replaces this engine (a SIGHUP); returns at once, whatever the collector does.

        From now on the reports of ``heir`` give this process's totals, this engine's
        included. With ``hand_over`` (``heir`` sends the same frames the same way),
        what this engine holds goes on in ``heir`` now, but for a batch in the middle
        of a send: that one follows if the collector does not take it. Without, this
        engine's sender flushes to its own collector in the background, for at most
        :data:`RELOAD_FLUSH` seconds and no longer than the stall limit. Either way
        the flush at exit of ``heir`` waits for what is left of it, within its own
        deadline. A report comes from this engine only when it dropped records.
        """
        with self._mutex:
            if self._closing or self._closed:
                return
            self._closing = self._retired = True
            running = self._pid == os.getpid()
        self._flush.begin(min(self.flush_timeout, RELOAD_FLUSH))
        heir._adopt(self)
        if hand_over:
            with self._mutex:
                self._frames_to = heir
                handed = [*self._queue]
                if not self._sending:
                    handed[:0] = self._batch
                    self._batch = []
                self._queue.clear()
                self._pending_records -= len(handed)
                self._pending_bytes -= sum(map(len, handed))
                self.handed_over += len(handed)
            for frame in handed:  # counted as produced there; a full buffer there drops and counts them
                heir.submit(frame)
        self._reports.wakeup.set()  # our reporter ends: heir reports for the whole process now
        if running:
            self.retry_now()  # one attempt at once, even in the middle of a backoff
        else:
            self._finish(None, "on reload", final_report=False)

    def _adopt(self, retired: DeliveryEngine) -> None:
        """Take over the lineage and the report state of ``retired``, which this engine replaces."""
        self._lineage.absorb(retired._lineage)
        self._reports.adopt(retired._reports)

    def close(self, timeout: float | None = None, final_report: bool = True, when: str = "at exit") -> None:
        """Flush for at most ``timeout`` (default ``flush_timeout``), then count what is left as dropped.

        Engines this one replaced on a reload and that are still sending get what is
        left of the same time. The totals go to the report (``when`` says why it
        closed); with ``final_report`` false, only when something was dropped. Does
        nothing for an engine already retired or closed.
        """
        with self._mutex:
            if self._closing or self._closed:
                return
            self._closing = True
            running = self._pid == os.getpid()
        self._flush.begin(self.flush_timeout if timeout is None else timeout)
        finished = not running
        if running:
            self.retry_now()  # one attempt at once, even in the middle of a backoff
            finished = self._flush.wait_for_sender()
        for retired in self._lineage.unsettled(self):
            retired._flush.deadline = min(retired._flush.deadline, self._flush.deadline)
            if not retired._flush.wait_for_sender():
                retired._finish(None, "on reload", final_report=False)
        self._reports.tell_held_back()
        self._finish(None, when, final_report)
        if finished:  # a sender still stuck in a send closes the transport itself when it returns
            self.transport.close()

    def _finish(self, hand_to: DeliveryEngine | None, when: str, final_report: bool) -> None:
        """Once: what is left goes to ``hand_to``, or is counted as dropped at exit; the final numbers."""
        with self._mutex:
            if self._closed:
                return
            self._closed = True
            handed = [*self._batch, *self._queue] if hand_to is not None else []
            self.handed_over += len(handed)
            self.dropped_at_exit += self._pending_records - len(handed)
            self._pending_records = self._pending_bytes = 0
            self._queue.clear()
            self._batch = []
        if hand_to is not None:
            for frame in handed:
                hand_to.submit(frame)
        self._reports.wakeup.set()  # the reporter ends
        if self._retired:
            stats = self.own_stats()
            Lineage.settle(self)
            if stats["dropped"]:
                self._final_report(stats, "replaced on reload")
            return
        Lineage.settle(self)
        stats = self.stats()
        if stats["produced"] and (final_report or stats["dropped"]):
            self._final_report(stats, when)

    def _final_report(self, stats: dict, when: str) -> None:
        self._reports.final(stats, when, self._sender.last_error, self._flush.abandoned)


def _reset_after_fork() -> None:
    for engine in list(_ENGINES):
        engine._reset()


def _flush_at_exit() -> None:
    """Close every engine of this process; one that never sent here reports only if its lineage did."""
    for engine in list(_ENGINES):
        if engine._pid in (0, os.getpid()):
            engine.close()


_process_hooks.in_child(_process_hooks.CHILD_STATE, _reset_after_fork)
_process_hooks.at_exit(_process_hooks.EXIT_DELIVERY, _flush_at_exit)

__all__ = ["RELOAD_FLUSH", "DeliveryEngine"]
