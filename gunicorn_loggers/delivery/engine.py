"""How a record reaches a collector without a request ever waiting for the network.

One :class:`DeliveryEngine` per network sink per process. ``submit()`` runs on the
request path: it appends the framed record to a bounded queue (records *and*
bytes) and returns; when the queue is full the record is dropped and counted,
never waited for. A sender thread, started lazily by the first ``submit()`` in
each process, hands batches to a :class:`~gunicorn_loggers.transports.Transport`
(a socket, HTTP, Fluentd forward), reconnects with exponential backoff and jitter
(waiting at least as long as a collector's ``Retry-After``). A reporter thread,
started with it, tells trouble on the *local* error stream at most once per report
interval, whatever the sender is doing: a sender inside one send that a collector
answers slowly would otherwise hide every drop meanwhile. At exit the engine
flushes within the time gunicorn allows, but gives up once the receiver has taken
nothing for :data:`STALL_GIVE_UP` seconds: a collector that accepts connections
and never reads or answers would otherwise hold every deploy for the whole
graceful timeout.

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
report are the process's since it started: one :class:`_Lineage` sums the engines
a logger has had in this process, and a frame handed from one to the next counts
once.

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
"""

from __future__ import annotations

import collections
import contextlib
import os
import random
import time
import weakref
from collections.abc import Callable, Iterator
from typing import Any

from .. import _process_hooks
from .._unpatched import allocate_lock as _allocate_lock
from .._unpatched import start_new_thread as _start_new_thread
from ..frames import Frame
from ..process_id import current_pid
from ..transports import Outcome, Transport, describe_error
from ..transports.socket import SCHEMES, SOCKET_TIMEOUT, Endpoint, SocketTransport, open_connection, parse_endpoint

#: Reconnect delays: first, growth factor and ceiling (seconds); each is jittered to 50-100 %.
BACKOFF_FIRST, BACKOFF_FACTOR, BACKOFF_MAX = 0.1, 2.0, 5.0
#: The longest ``Retry-After`` honoured; a collector asking for more gets retried after this.
RETRY_AFTER_MAX = 60.0
#: The least time between two sends while batches are not full (``GUNICORN_LOGGERS_BATCH_WAIT``).
#: Every send wakes the sender, which then takes the GIL from the request threads: each wake-up
#: costs the worker a few hundred microseconds of thread switches and cold caches, whatever the
#: batch holds. Under load a send then carries hundreds of records instead of one. A sender that
#: sent less than this ago polls again at the end of it instead of waiting to be woken, so under
#: steady load no request pays for waking it. Measured with FluentLogger in one paired run:
#: 0.918 of no access log at 20 ms, 0.938 at 50 ms, 0.975 at 100 ms (sender 3.8, 2.1, 1.3 µs a
#: request). Collectors' own clients wait longer (Fluent Bit flushes every second, OpenTelemetry's
#: batch processor every second).
LINGER = 0.1
#: A connection whose ``send`` has not returned for this long is reported as not delivering.
STALL_AFTER = 1.0
#: The flush at exit is abandoned once the receiver has taken nothing (no byte, no batch) for this
#: long; while it keeps taking something it gets the whole flush timeout. Every network wait of the
#: flush is capped at this too.
STALL_GIVE_UP = 2.0
#: Most seconds an engine retired by a reload flushes to a collector the new one no longer sends to.
RELOAD_FLUSH = 5.0

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


# -- the engine ---------------------------------------------------------------------------------


class _Wakeup:
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


class _Lineage:
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

    def absorb(self, other: _Lineage) -> None:
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
        with _Lineage._locked(engine) as lineage:
            if engine in lineage._live:
                lineage._live.remove(engine)
                for name, value in engine._counts().items():
                    lineage._carried[name] += value

    @staticmethod
    def add_late_drop(engine: DeliveryEngine) -> None:
        """A record for ``engine`` after it was settled: produced and dropped, as a full buffer."""
        with _Lineage._locked(engine) as lineage:
            lineage._carried["produced"] += 1
            lineage._carried["dropped_full"] += 1

    @staticmethod
    @contextlib.contextmanager
    def _locked(engine: DeliveryEngine) -> Iterator[_Lineage]:
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


#: ``report(level, message, stats)``: level is a ``logging`` level number.
Reporter = Callable[[int, str, dict], None]

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
    reachable but takes nothing for :data:`STALL_GIVE_UP` seconds ends the flush
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
        self._wakeup = _Wakeup()
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
        self._lineage = _Lineage(self)
        self._pid = 0
        self._started_at = 0.0
        self._closing = False
        self._closed = False
        self._retired = False
        #: After a reload that changed nothing the frames depend on: where what is left goes.
        self._frames_to: DeliveryEngine | None = None
        self._idle = False
        # sender-only state
        self.transport.close()  # in a child: only our copy of the parent's descriptor
        self._batch: list[bytes] = []
        self._batch_full = False
        self._sending = False  # a batch is in the transport's hands (set and read under the mutex)
        self._attempts = 0
        self._next_attempt = 0.0
        self._retry_now = False
        self._down_since: float | None = None
        self._down_reported = False
        self._last_error: str | None = None
        self._send_started: float | None = None
        self._last_send = 0.0
        self._connected = False
        self._rejecting = False
        self._deadline = 0.0
        self._progress_at = 0.0  # when the receiver last took something, or the flush began
        self._taken_at = 0.0  # when the receiver last took something
        self._abandoned: float | None = None  # seconds without progress when the flush gave up
        # reports: the sender records, the reporter thread (or close()) tells, both under _report_lock
        self._report_lock = _allocate_lock()
        self._report_wakeup = _Wakeup()
        self._events: list[tuple[int, str]] = []
        self._rejections: dict[str, int] = {}
        self._last_report = -1e9
        self._reported_drops = 0

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
        _Lineage.add_late_drop(self)
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
        started = self._send_started
        return (
            self._connected
            and self.delivered > 0
            and not self._rejecting
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
        self._retry_now = True
        self._wakeup.set()

    # -- lifecycle -----------------------------------------------------------------------------

    def _start(self) -> None:
        if self._pid not in (0, os.getpid()):
            self._reset()  # forked by something that skipped os.register_at_fork hooks
        with self._mutex:
            if self._pid == os.getpid():
                return
            self._pid = os.getpid()
            self._started_at = time.monotonic()
        self._finished.acquire()
        _start_new_thread(self._run, ())
        if self.report is not None:
            _start_new_thread(self._report_loop, ())

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
        now = time.monotonic()
        self._progress_at = now
        self._deadline = now + min(self.flush_timeout, RELOAD_FLUSH)
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
        self._report_wakeup.set()  # our reporter ends: heir reports for the whole process now
        if running:
            self.retry_now()  # one attempt at once, even in the middle of a backoff
        else:
            self._finish(None, "on reload", final_report=False)

    def _adopt(self, retired: DeliveryEngine) -> None:
        """Take over the lineage and the report state of ``retired``, which this engine replaces."""
        self._lineage.absorb(retired._lineage)
        with retired._report_lock, self._report_lock:
            self._events[:0] = retired._events
            retired._events = []
            for note, count in retired._rejections.items():
                self._rejections[note] = self._rejections.get(note, 0) + count
            retired._rejections = {}
            self._reported_drops += retired._reported_drops
            self._last_report = max(self._last_report, retired._last_report)
        self._report_wakeup.set()

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
        timeout = self.flush_timeout if timeout is None else timeout
        self._progress_at = time.monotonic()
        self._deadline = self._progress_at + timeout
        finished = not running
        if running:
            self.retry_now()  # one attempt at once, even in the middle of a backoff
            finished = self._await_sender()
        for retired in self._lineage.unsettled(self):
            retired._deadline = min(retired._deadline, self._deadline)
            if not retired._await_sender():
                retired._finish(None, "on reload", final_report=False)
        with self._report_lock:
            if self._events or self._rejections:
                self._report_if_due(force=True)  # what the rate limit held back, before the totals
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
        self._report_wakeup.set()  # the reporter ends
        if self._retired:
            stats = self.own_stats()
            _Lineage.settle(self)
            if stats["dropped"]:
                self._final_report(stats, "replaced on reload")
            return
        _Lineage.settle(self)
        stats = self.stats()
        if stats["produced"] and (final_report or stats["dropped"]):
            self._final_report(stats, when)

    def _final_report(self, stats: dict, when: str) -> None:
        level = 30 if stats["dropped"] else 20
        why = f"; last error: {self._last_error}" if stats["dropped"] and self._last_error else ""
        gave_up = ""
        if self._abandoned is not None and stats["dropped_at_exit"]:
            gave_up = f"flush abandoned: the receiver made no progress for {self._abandoned:.1f} s; "
        with self._report_lock:
            self._emit(level, f"gunicorn-loggers: {self.name} {when}: {gave_up}{self._summary(stats)}{why}", stats)

    def _await_sender(self) -> bool:
        """Wait for the sender to end the flush; ``False`` when close() stops waiting first.

        Until the deadline, or, for a transport that tells its ``progress_at``, until
        the receiver has taken nothing for :data:`STALL_GIVE_UP`: a send begun before
        the flush waits under the transport's own timeout (10 s for an HTTP answer),
        which the sender cannot cut short.
        """
        judged = hasattr(self.transport, "progress_at")
        while True:
            now = time.monotonic()
            until = self._deadline
            if judged:
                until = min(until, self._last_progress() + STALL_GIVE_UP)
            if self._finished.acquire(True, max(0.0, min(until - now, 0.25))):
                self._finished.release()
                return True
            now = time.monotonic()
            if now >= self._deadline:
                return False
            if judged and self._stalled(now):
                return False

    def _last_progress(self) -> float:
        return max(self._progress_at, getattr(self.transport, "progress_at", 0.0) or 0.0)

    def _stalled(self, now: float) -> bool:
        """While flushing: the receiver has taken nothing for :data:`STALL_GIVE_UP`; remembers for how long.

        The time told is since the receiver last took something, or since this
        process's first record if it never did: a send may have hung long before
        the flush began.
        """
        if now - self._last_progress() < STALL_GIVE_UP:
            return False
        if self._abandoned is None:
            taken = max(self._taken_at, getattr(self.transport, "progress_at", 0.0) or 0.0, self._started_at)
            self._abandoned = now - taken
        return True

    # -- the sender ----------------------------------------------------------------------------

    def _run(self) -> None:
        try:
            self._loop()
        except BaseException as exc:  # a bug here must not pass silently
            with self._report_lock:
                self._emit(40, f"gunicorn-loggers: sender for {self.name} stopped: {describe_error(exc)}", self.stats())
        finally:
            self.transport.close()
            self._connected = False
            if self._retired:  # nobody waits for a retired engine: it ends on its own
                self._finish(self._frames_to, "on reload", final_report=False)
            self._finished.release()

    def _loop(self) -> None:
        while True:
            with self._mutex:
                if self._closed or self._frames_to is not None:
                    return  # a retired engine hands what it still holds to its heir as it ends
                # Also tops up a batch handed back for a retry: records that came during the
                # outage go with it instead of waiting until it has been taken.
                self._take_batch()
                empty = not self._batch  # decided here: close() may clear the batch once we let go
                busy_until = self._last_send + self._linger
                idle = False
                if empty:
                    if self._closing:
                        return
                    idle = self._idle = busy_until <= time.monotonic()
            if empty:
                if not idle:
                    # Under load: poll once more a linger after the last send instead of idling, so
                    # the next record finds the sender awake and the request path never wakes it.
                    self._wakeup.wait(busy_until - time.monotonic())  # close() and retry_now() cut it short
                    continue
                self._wakeup.wait(None)
                with self._mutex:
                    self._idle = False
                if not self._closing:
                    self._wakeup.wait(self._linger)  # close() and retry_now() cut it short
                continue
            if self._closing and (time.monotonic() >= self._deadline or self._stalled(time.monotonic())):
                return
            self._gather()
            if not self._connected:
                connected = self._connect()
                if connected is None:
                    continue  # waited out (part of) the backoff; close() may have cut it short
                if not connected:
                    if self._closing:
                        return  # nobody to flush to: the rest is counted as dropped at exit
                    continue
            self._send_batch()

    def _gather(self) -> None:
        """Let the batch fill for up to the linger since the last send.

        Every send costs the sender the GIL and a system call, and an HTTP request or a
        Fluentd ack costs both ends far more than a socket write: under load, batches of
        tens (a socket) or hundreds (a request per batch) keep that cost small.
        """
        if self._closing or self._send_started is not None:
            return
        wait = self._last_send + self._linger - time.monotonic()
        if wait <= 0 or self._batch_full:  # full by records or by bytes: waiting cannot add to it
            return
        self._wakeup.wait(wait)  # close() and retry_now() cut it short
        with self._mutex:
            if not self._closed and self._frames_to is None:
                self._take_batch()

    def _take_batch(self) -> None:
        """Move frames from the queue into the batch, up to the transport's limits; caller holds the mutex."""
        queue, batch = self._queue, self._batch
        size = sum(map(len, batch))
        limit, byte_limit = self.transport.batch_records, self.transport.batch_bytes
        while queue and len(batch) < limit and (not batch or size + len(queue[0]) <= byte_limit):
            frame = queue.popleft()
            size += len(frame)
            batch.append(frame)
        self._batch_full = bool(queue)  # a limit, not an empty queue, ended the loop

    def _timeout(self) -> float | None:
        """The transport's own timeouts; when closing, at most the stall limit and what is left of the deadline."""
        if not self._closing:
            return None
        return max(0.05, min(SOCKET_TIMEOUT, STALL_GIVE_UP, self._deadline - time.monotonic()))

    def _connect(self) -> bool | None:
        """``True`` when connected, ``False`` when an attempt failed, ``None`` after waiting in the backoff.

        The flush at exit keeps the backoff too (after its first attempt): a collector
        answering 503 to every batch would otherwise get thousands of requests a second.
        It waits no later than the deadline or the stall limit, where the loop gives up.
        """
        now = time.monotonic()
        if not self._retry_now and now < self._next_attempt:
            if self._closing:
                until = min(self._next_attempt, self._deadline, self._last_progress() + STALL_GIVE_UP)
                self._wakeup.wait(until - now)
                return None
            self._wakeup.wait(self._next_attempt - now)
            return None
        self._retry_now = False
        try:
            self.transport.connect(self._timeout() or SOCKET_TIMEOUT)
        except Exception as exc:  # OSError, and name resolution failing in its own ways
            self._failed(f"cannot connect: {describe_error(exc)}")
            return False
        self._connected = True
        return True

    def _recovered(self, delivered: bool) -> None:
        """A batch went through: the outage, if any, is over and the backoff starts again from the bottom.

        Not at connect: a collector that accepts connections and then fails every
        batch (HTTP 503, no Fluentd ack) must see the backoff grow. A batch the
        collector answered and refused whole (HTTP 401) ends the outage too, but
        is not reported as delivering.
        """
        self._attempts = 0
        if self._down_since is not None and self._down_reported:
            dropped = self.stats()["dropped"]
            after = f"after {time.monotonic() - self._down_since:.1f} s"
            what = f"delivering again {after}" if delivered else f"the collector answers again {after}, refusing"
            self._event(20, f"{what}; {dropped} dropped")
        self._down_since = None
        self._down_reported = False

    def _failed(self, why: str, retry_after: float | None = None) -> None:
        """The connection is gone: close it, schedule the next attempt, tell the local log once per outage."""
        self.transport.close()
        self._connected = False
        self._send_started = None
        self._last_error = why
        delay = min(BACKOFF_MAX, BACKOFF_FIRST * BACKOFF_FACTOR**self._attempts)
        self._attempts = min(self._attempts + 1, 32)
        delay *= random.uniform(0.5, 1.0)
        if retry_after is not None:
            delay = max(delay, min(retry_after, RETRY_AFTER_MAX))
        self._next_attempt = time.monotonic() + delay
        if self._down_since is None:
            self._down_since = time.monotonic()
        if not self._down_reported:
            self._down_reported = True
            wait = f"; the collector asked to wait {retry_after:g} s" if retry_after else ""
            self._event(
                30,
                f"{why}; keeping up to {self.max_records} records / {self.max_bytes} bytes "
                f"and retrying with backoff up to {BACKOFF_MAX:g} s{wait}",
            )

    def _send_batch(self) -> None:
        with self._mutex:
            batch = self._batch
            if not batch or self._closed or self._frames_to is not None:  # handed over or counted meanwhile
                return
            self._sending = True
        started = self._send_started = self._last_send = time.monotonic()
        try:
            outcome = self.transport.send(batch, self._timeout())
        except Exception as exc:  # a transport must not raise; if it does, the batch is kept
            outcome = Outcome(retry=batch, error=f"sending failed: {describe_error(exc)}")
        finally:
            self._send_started = None
        self._settle(batch, outcome)
        if len(outcome.retry) < len(batch):
            # The receiver took (or refused for good) part of the batch. A send that then failed
            # may have waited out its whole timeout after that part: count from its start.
            now = started if outcome.error is not None else time.monotonic()
            self._progress_at = max(self._progress_at, now)
            self._taken_at = max(self._taken_at, now)
        if outcome.error is not None:
            self._failed(outcome.error, outcome.retry_after)
        else:
            self._recovered(outcome.delivered > 0 or not batch)

    def _settle(self, batch: list[bytes], outcome: Outcome) -> None:
        """Count what the transport did with ``batch``; what it hands back becomes the next batch.

        Whatever the transport says, the numbers add up: frames neither delivered,
        oversize nor handed back are counted as rejected.
        """
        retry = outcome.retry
        done = len(batch) - len(retry)
        if done < 0 or outcome.delivered < 0 or outcome.oversize < 0:
            with self._mutex:
                self._sending = False
            raise RuntimeError(f"{type(self.transport).__name__} returned an impossible outcome")
        size = sum(map(len, batch)) - sum(map(len, retry))
        delivered = min(outcome.delivered, done)
        oversize = min(outcome.oversize, done - delivered)
        rejected = done - delivered - oversize
        with self._mutex:
            self._sending = False
            if not self._closed:  # after close() these were already counted as dropped
                self.delivered += delivered
                self.dropped_oversize += oversize
                self.dropped_rejected += rejected
                self._pending_records -= done
                self._pending_bytes -= size
                self._batch = list(retry) if retry is not batch else batch
        if rejected:
            note = outcome.note or "refused by the collector"
            with self._report_lock:
                self._rejections[note] = self._rejections.get(note, 0) + rejected
            self._report_wakeup.set()
            self._last_error = f"the collector rejected records: {note}"  # what the exit report gives as the cause
        if delivered:
            self._rejecting = False
        elif rejected:
            self._rejecting = True

    # -- reports -------------------------------------------------------------------------------

    def _report_loop(self) -> None:
        """The reporter thread: tells what the sender recorded and what was dropped, once per interval at most.

        It wakes when the sender records something and once per interval otherwise, and
        reads the counters the request path keeps: no request ever waits for it, and a
        send that hangs cannot hold a report back.
        """
        try:
            while True:
                with self._report_lock:
                    if self._closed or self._retired:
                        return
                    self._report_if_due()
                    wait = self._until_report_check()
                self._report_wakeup.wait(wait)
        except BaseException as exc:  # a bug here must not pass silently
            self._emit(40, f"gunicorn-loggers: reporter for {self.name} stopped: {describe_error(exc)}", {})

    def _event(self, level: int, text: str) -> None:
        with self._report_lock:
            self._events.append((level, text))
        self._report_wakeup.set()

    def _until_report_check(self) -> float:
        """Seconds until the reporter looks again; caller holds the report lock."""
        if self._events or self._rejections or self.stats()["dropped"] != self._reported_drops:
            return max(0.0, self._last_report + self.report_interval - time.monotonic())
        return self.report_interval

    def _report_if_due(self, force: bool = False) -> None:
        """Caller holds the report lock: one report of events and new drops, unless one came within the interval."""
        stats = self.stats()
        dropped = stats["dropped"]
        new_drops = dropped - self._reported_drops
        if not self._events and not self._rejections and not new_drops:
            return
        now = time.monotonic()
        if now - self._last_report < self.report_interval and not force:
            return
        parts = [text for _, text in self._events]
        level = max([level for level, _ in self._events] or [30])
        rejections, self._rejections = self._rejections, {}
        parts += [f"the collector rejected {count} records: {note}" for note, count in rejections.items()]
        if new_drops:
            level = max(level, 30)
            since = "so far" if self._last_report < 0 else f"in the last {now - self._last_report:.1f} s"
            parts.append(f"{new_drops} records dropped {since} (buffer full, oversize or rejected)")
        started = self._send_started
        if started is not None and now - started >= STALL_AFTER:
            parts.append(f"the send under way has waited {now - started:.1f} s for the collector")
        self._events = []
        self._reported_drops = dropped
        self._last_report = now
        self._emit(level, f"gunicorn-loggers: {self.name}: {'; '.join(parts)}; {self._summary(stats)}", stats)

    @staticmethod
    def _summary(stats: dict) -> str:
        text = (
            f"{stats['produced']} produced, {stats['delivered']} delivered, {stats['dropped']} dropped, "
            f"{stats['pending']} pending"
        )
        if stats["scope"] == "set-up":
            return text + (f", {stats['handed_over']} handed to the reloaded logger" if stats["handed_over"] else "")
        if stats.get("reloads"):
            text += f" since the process started, across {stats['reloads']} reloads"
        return text

    def _emit(self, level: int, message: str, stats: dict) -> None:
        if self.report is None:
            return
        try:
            self.report(level, message, stats)
        except Exception:  # the local log itself is broken: nothing sensible is left to tell
            pass


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

__all__ = [
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
