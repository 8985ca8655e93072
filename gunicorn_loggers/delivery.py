"""How a record reaches a collector without a request ever waiting for the network.

One :class:`DeliveryEngine` per network sink per process. ``submit()`` runs on the
request path: it appends the framed record to a bounded queue (records *and*
bytes) and returns; when the queue is full the record is dropped and counted,
never waited for. A sender thread, started lazily by the first ``submit()`` in
each process, hands batches to a :class:`~gunicorn_loggers.transports.Transport`
(a socket, HTTP, Fluentd forward), reconnects with exponential backoff and jitter
(waiting at least as long as a collector's ``Retry-After``), and reports trouble
on the *local* error stream at most once per report interval. At exit it flushes
within the time gunicorn allows, but gives up once the receiver has taken nothing
for :data:`STALL_GIVE_UP` seconds: a collector that accepts connections and never
reads or answers would otherwise hold every deploy for the whole graceful timeout.

Accounting is exact: ``delivered + dropped == produced`` once the queue is empty,
and ``delivered + dropped + pending == produced`` at every moment. What
*delivered* means is the transport's to say: the kernel took the bytes (syslog,
NDJSON over a socket), the collector answered 2xx and listed no failure for the
record (HTTP), or acknowledged the chunk (Fluentd forward). *Dropped* is split by
cause: buffer full, oversize, rejected by the collector, left at exit.

Fork and gevent: gunicorn builds the logger in the master and forks workers from
it; threads do not survive ``fork``. ``os.register_at_fork`` gives each child an
empty queue, zero counters and no connection, and ``submit()`` starts a sender in
any process whose pid differs from the one that started it (the pid is read from
:func:`~gunicorn_loggers.process_id.current_pid`, refreshed by the same hooks: a C
library that forks and goes on running Python must call ``PyOS_AfterFork_Child``,
which runs them). The sender is always a real OS thread with real locks and real
sockets, even after gevent has monkey-patched the worker: it then never competes
with request greenlets for the hub, and a blocking ``send`` stalls only the sender.
"""

from __future__ import annotations

import atexit
import collections
import os
import random
import time
import weakref
from collections.abc import Callable
from typing import Any

from .process_id import current_pid
from .transports import Outcome, Transport, describe_error
from .transports._unpatched import allocate_lock as _allocate_lock
from .transports._unpatched import start_new_thread as _start_new_thread
from .transports.socket import SCHEMES, SOCKET_TIMEOUT, Endpoint, SocketTransport, open_connection, parse_endpoint

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


#: ``report(level, message, stats)``: level is a ``logging`` level number.
Reporter = Callable[[int, str, dict], None]

_ENGINES: weakref.WeakSet[DeliveryEngine] = weakref.WeakSet()


class DeliveryEngine:
    """A bounded queue of frames and the thread that hands them to one transport.

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
        #: The engine that replaces this one after a SIGHUP, if it sends the same frames the
        #: same way: what this one still holds when it closes goes on in it, not to the floor.
        self.successor: DeliveryEngine | None = None
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
        self._pid = 0
        self._closing = False
        self._closed = False
        self._idle = False
        # sender-only state
        self.transport.close()  # in a child: only our copy of the parent's descriptor
        self._batch: list[bytes] = []
        self._batch_full = False
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
        self._events: list[tuple[int, str]] = []
        self._rejections: dict[str, int] = {}
        self._last_report = -1e9
        self._reported_drops = 0
        self._deadline = 0.0
        self._progress_at = 0.0  # when the receiver last took something, or the flush began
        self._abandoned: float | None = None  # seconds without progress when the flush gave up

    # -- request path --------------------------------------------------------------------------

    def submit(self, frame: bytes) -> bool:
        """Queue one frame; ``False`` when it was dropped because the buffer is full. Never blocks on I/O."""
        if self._pid != current_pid():  # a fresh fork, or the first record
            self._start()
        size = len(frame)
        with self._mutex:
            self.produced += 1
            if self._closed or self._pending_records >= self.max_records or self._pending_bytes + size > self.max_bytes:
                self.dropped_full += 1
                return False
            # orjson's bytes keep an allocation of about 8 KiB whatever their length; a queued
            # copy of exact size keeps resident memory near max_bytes instead of 6-8x over it.
            self._queue.append(bytes(memoryview(frame)))
            self._pending_records += 1
            self._pending_bytes += size
            idle = self._idle
        if idle:
            self._wakeup.set()
        return True

    def drop_oversize(self) -> None:
        """Count a record that no frame could hold (bigger than a datagram even when truncated)."""
        if self._pid != current_pid():  # a fresh fork, or the first record
            self._start()
        with self._mutex:
            self.produced += 1
            self.dropped_oversize += 1

    @property
    def delivering(self) -> bool:
        """Connected, the collector took the last batch, and no send has been stuck for long."""
        started = self._send_started
        return self._connected and not self._rejecting and (started is None or time.monotonic() - started < STALL_AFTER)

    @property
    def dropped(self) -> int:
        return self.dropped_full + self.dropped_oversize + self.dropped_rejected + self.dropped_at_exit

    def stats(self) -> dict[str, Any]:
        with self._mutex:
            return {
                "endpoint": self.name,
                "produced": self.produced,
                "delivered": self.delivered,
                "dropped": self.dropped,
                "dropped_buffer_full": self.dropped_full,
                "dropped_oversize": self.dropped_oversize,
                "dropped_rejected": self.dropped_rejected,
                "dropped_at_exit": self.dropped_at_exit,
                "handed_over": self.handed_over,
                "pending": self._pending_records,
                "pending_bytes": self._pending_bytes,
            }

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
        self._finished.acquire()
        _start_new_thread(self._run, ())

    def close(self, timeout: float | None = None, final_report: bool = True, when: str = "at exit") -> None:
        """Flush for at most ``timeout`` (default ``flush_timeout``), then count what is left as dropped.

        The totals go to the report (``when`` says why it closed); with ``final_report``
        false, only when something was dropped.
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
        if self._events or self._rejections:
            self._report_if_due(force=True)  # what the rate limit held back, before the totals
        successor = self.successor if finished else None  # a send still under way may yet deliver its batch
        with self._mutex:
            self._closed = True
            handed = [*self._batch, *self._queue] if successor is not None else []
            self.handed_over += len(handed)
            self.dropped_at_exit += self._pending_records - len(handed)
            self._pending_records = self._pending_bytes = 0
            self._queue.clear()
            self._batch = []
        for frame in handed:  # counted as produced there; a full buffer there drops and counts them
            successor.submit(frame)  # type: ignore[union-attr]
        stats = self.stats()
        if self.report is not None and stats["produced"] and (final_report or stats["dropped"]):
            level = 30 if stats["dropped"] else 20
            why = f"; last error: {self._last_error}" if stats["dropped"] and self._last_error else ""
            gave_up = ""
            if self._abandoned is not None and stats["dropped_at_exit"]:
                gave_up = f"flush abandoned: the receiver made no progress for {self._abandoned:.1f} s; "
            message = f"gunicorn-loggers: {self.name} {when}: {gave_up}{self._summary(stats)}{why}"
            self._emit(level, message, stats)
        if finished:  # a sender still stuck in a send closes the transport itself when it returns
            self.transport.close()

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
        """While flushing: the receiver has taken nothing for :data:`STALL_GIVE_UP`; remembers for how long."""
        idle = now - self._last_progress()
        if idle < STALL_GIVE_UP:
            return False
        if self._abandoned is None:
            self._abandoned = idle
        return True

    # -- the sender ----------------------------------------------------------------------------

    def _run(self) -> None:
        try:
            self._loop()
        except BaseException as exc:  # a bug here must not pass silently
            self._emit(40, f"gunicorn-loggers: sender for {self.name} stopped: {describe_error(exc)}", self.stats())
        finally:
            self.transport.close()
            self._connected = False
            self._finished.release()

    def _loop(self) -> None:
        while True:
            self._report_if_due()
            with self._mutex:
                if self._closed:
                    return
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
                self._wakeup.wait(self._until_report_due())
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
            if not self._closed:
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
            due = self._until_report_due()
            self._wakeup.wait(min(self._next_attempt - now, BACKOFF_MAX if due is None else due))
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
            with self._mutex:
                dropped = self.dropped
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
        batch = self._batch
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
            raise RuntimeError(f"{type(self.transport).__name__} returned an impossible outcome")
        size = sum(map(len, batch)) - sum(map(len, retry))
        delivered = min(outcome.delivered, done)
        oversize = min(outcome.oversize, done - delivered)
        rejected = done - delivered - oversize
        with self._mutex:
            if not self._closed:  # after close() these were already counted as dropped
                self.delivered += delivered
                self.dropped_oversize += oversize
                self.dropped_rejected += rejected
                self._pending_records -= done
                self._pending_bytes -= size
            self._batch = list(retry) if retry is not batch else batch
        if rejected:
            note = outcome.note or "refused by the collector"
            self._rejections[note] = self._rejections.get(note, 0) + rejected
            self._last_error = f"the collector rejected records: {note}"  # what the exit report gives as the cause
        if delivered:
            self._rejecting = False
        elif rejected:
            self._rejecting = True

    # -- reports -------------------------------------------------------------------------------

    def _event(self, level: int, text: str) -> None:
        self._events.append((level, text))

    def _until_report_due(self) -> float | None:
        if not self._events and self.dropped == self._reported_drops:
            return None
        return max(0.0, self._last_report + self.report_interval - time.monotonic())

    def _report_if_due(self, force: bool = False) -> None:
        with self._mutex:
            dropped = self.dropped
        new_drops = dropped - self._reported_drops
        if not self._events and not new_drops:
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
        self._events = []
        self._reported_drops = dropped
        self._last_report = now
        stats = self.stats()
        self._emit(level, f"gunicorn-loggers: {self.name}: {'; '.join(parts)}; {self._summary(stats)}", stats)

    @staticmethod
    def _summary(stats: dict) -> str:
        handed = f", {stats['handed_over']} handed to the reloaded logger" if stats.get("handed_over") else ""
        return (
            f"{stats['produced']} produced, {stats['delivered']} delivered, {stats['dropped']} dropped, "
            f"{stats['pending']} pending{handed}"
        )

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
    for engine in list(_ENGINES):
        if engine._pid == os.getpid():
            engine.close()


os.register_at_fork(after_in_child=_reset_after_fork)
atexit.register(_flush_at_exit)

__all__ = [
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
