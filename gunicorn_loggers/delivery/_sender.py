"""The sender thread: batches from the engine's queue to its transport, with batching, connects and backoff.

A sender thread, started lazily by the first ``submit()`` in each process, hands
batches to a :class:`~gunicorn_loggers.transports.Transport` (a socket, HTTP, Fluentd
forward), reconnects with exponential backoff and jitter (waiting at least as long
as a collector's ``Retry-After``). It is a real OS thread even after gevent has
monkey-patched the worker, and a blocking ``send`` stalls only the sender.
"""

from __future__ import annotations

import random
import time
from typing import TYPE_CHECKING

from ..options import BATCH_WAIT
from ..transports import Outcome, describe_error
from ..transports.socket import SOCKET_TIMEOUT
from ._flush import STALL_GIVE_UP

if TYPE_CHECKING:
    from .engine import DeliveryEngine

#: Reconnect delays: first, growth factor and ceiling (seconds); each is jittered to 50-100 %.
BACKOFF_FIRST, BACKOFF_FACTOR, BACKOFF_MAX = 0.1, 2.0, 5.0
#: The longest ``Retry-After`` honoured; a collector asking for more gets retried after this.
RETRY_AFTER_MAX = 60.0
#: The least time between two sends while batches are not full (``GUNICORN_LOGGERS_BATCH_WAIT``).
#: Every send wakes the sender, which then takes the GIL from the request threads: each wake-up
#: costs the worker a few hundred microseconds of thread switches and cold caches, whatever the
#: batch holds. Under load a send then carries hundreds of records instead of one. A sender that
#: sent less than this ago polls again at the end of it instead of waiting to be woken, so under
#: steady load no request pays for waking it. Shorter waits cost the sender more CPU a request
#: (benchmarks/RESULTS.md, "The batch wait"). Collectors' own clients wait longer (Fluent Bit
#: flushes every second, OpenTelemetry's batch processor every second).
LINGER = BATCH_WAIT
#: A connection whose ``send`` has not returned for this long is reported as not delivering.
STALL_AFTER = 1.0


class Sender:
    """The loop of one engine's sender thread in this process, and the state only that thread writes.

    The queue, the batch being sent and the counters are the engine's, read and
    written under its mutex; ``send_started``, ``connected``, ``rejecting`` and
    ``last_error`` are read by the engine and its reports without a lock;
    ``skip_backoff`` is set by ``retry_now()``.
    """

    def __init__(self, engine: DeliveryEngine) -> None:
        self._engine = engine
        self._transport = engine.transport
        self._batch_full = False
        self._attempts = 0
        self._next_attempt = 0.0
        self.skip_backoff = False
        self._down_since: float | None = None
        self._down_reported = False
        self.last_error: str | None = None
        self.send_started: float | None = None
        self._last_send = 0.0
        self.connected = False
        self.rejecting = False

    def run(self) -> None:
        """The sender thread."""
        engine = self._engine
        try:
            self._loop()
        except BaseException as exc:  # a bug here must not pass silently
            with engine._reports.lock:
                engine._reports.emit(
                    40, f"gunicorn-loggers: sender for {engine.name} stopped: {describe_error(exc)}", engine.stats()
                )
        finally:
            self._transport.close()
            self.connected = False
            if engine._retired:  # nobody waits for a retired engine: it ends on its own
                engine._finish(engine._frames_to, "on reload", final_report=False)
            engine._finished.release()

    def _loop(self) -> None:
        engine = self._engine
        flush = engine._flush
        while True:
            with engine._mutex:
                if engine._closed or engine._frames_to is not None:
                    return  # a retired engine hands what it still holds to its heir as it ends
                # Also tops up a batch handed back for a retry: records that came during the
                # outage go with it instead of waiting until it has been taken.
                self._take_batch()
                empty = not engine._batch  # decided here: close() may clear the batch once we let go
                busy_until = self._last_send + engine._linger
                idle = False
                if empty:
                    if engine._closing:
                        return
                    idle = engine._idle = busy_until <= time.monotonic()
            if empty:
                if not idle:
                    # Under load: poll once more a linger after the last send instead of idling, so
                    # the next record finds the sender awake and the request path never wakes it.
                    engine._wakeup.wait(busy_until - time.monotonic())  # close() and retry_now() cut it short
                    continue
                engine._wakeup.wait(None)
                with engine._mutex:
                    engine._idle = False
                if not engine._closing:
                    engine._wakeup.wait(engine._linger)  # close() and retry_now() cut it short
                continue
            if engine._closing and (time.monotonic() >= flush.deadline or flush.stalled(time.monotonic())):
                return
            self._gather()
            if not self.connected:
                connected = self._connect()
                if connected is None:
                    continue  # waited out (part of) the backoff; close() may have cut it short
                if not connected:
                    if engine._closing:
                        return  # nobody to flush to: the rest is counted as dropped at exit
                    continue
            self._send_batch()

    def _gather(self) -> None:
        """Let the batch fill for up to the linger since the last send.

        Every send costs the sender the GIL and a system call, and an HTTP request or a
        Fluentd ack costs both ends far more than a socket write: under load, batches of
        tens (a socket) or hundreds (a request per batch) keep that cost small.
        """
        engine = self._engine
        if engine._closing or self.send_started is not None:
            return
        wait = self._last_send + engine._linger - time.monotonic()
        if wait <= 0 or self._batch_full:  # full by records or by bytes: waiting cannot add to it
            return
        engine._wakeup.wait(wait)  # close() and retry_now() cut it short
        with engine._mutex:
            if not engine._closed and engine._frames_to is None:
                self._take_batch()

    def _take_batch(self) -> None:
        """Move frames from the engine's queue into its batch, up to the transport's limits; caller holds the mutex."""
        engine = self._engine
        queue, batch = engine._queue, engine._batch
        size = sum(map(len, batch))
        limit, byte_limit = self._transport.batch_records, self._transport.batch_bytes
        while queue and len(batch) < limit and (not batch or size + len(queue[0]) <= byte_limit):
            frame = queue.popleft()
            size += len(frame)
            batch.append(frame)
        self._batch_full = bool(queue)  # a limit, not an empty queue, ended the loop

    def _timeout(self) -> float | None:
        """The transport's own timeouts; when closing, at most the stall limit and what is left of the deadline."""
        engine = self._engine
        if not engine._closing:
            return None
        return max(0.05, min(SOCKET_TIMEOUT, STALL_GIVE_UP, engine._flush.deadline - time.monotonic()))

    def _connect(self) -> bool | None:
        """``True`` when connected, ``False`` when an attempt failed, ``None`` after waiting in the backoff.

        The flush at exit keeps the backoff too (after its first attempt): a collector
        answering 503 to every batch would otherwise get thousands of requests a second.
        It waits no later than the deadline or the stall limit, where the loop gives up.
        """
        engine = self._engine
        now = time.monotonic()
        if not self.skip_backoff and now < self._next_attempt:
            if engine._closing:
                flush = engine._flush
                until = min(self._next_attempt, flush.deadline, flush.last_progress() + STALL_GIVE_UP)
                engine._wakeup.wait(until - now)
                return None
            engine._wakeup.wait(self._next_attempt - now)
            return None
        self.skip_backoff = False
        try:
            self._transport.connect(self._timeout() or SOCKET_TIMEOUT)
        except Exception as exc:  # OSError, and name resolution failing in its own ways
            self._failed(f"cannot connect: {describe_error(exc)}")
            return False
        self.connected = True
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
            dropped = self._engine.stats()["dropped"]
            after = f"after {time.monotonic() - self._down_since:.1f} s"
            what = f"delivering again {after}" if delivered else f"the collector answers again {after}, refusing"
            self._engine._reports.event(20, f"{what}; {dropped} dropped")
        self._down_since = None
        self._down_reported = False

    def _failed(self, why: str, retry_after: float | None = None) -> None:
        """The connection is gone: close it, schedule the next attempt, tell the local log once per outage."""
        self._transport.close()
        self.connected = False
        self.send_started = None
        self.last_error = why
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
            engine = self._engine
            engine._reports.event(
                30,
                f"{why}; keeping up to {engine.max_records} records / {engine.max_bytes} bytes "
                f"and retrying with backoff up to {BACKOFF_MAX:g} s{wait}",
            )

    def _send_batch(self) -> None:
        engine = self._engine
        with engine._mutex:
            batch = engine._batch
            if not batch or engine._closed or engine._frames_to is not None:  # handed over or counted meanwhile
                return
            engine._sending = True
        started = self.send_started = self._last_send = time.monotonic()
        try:
            outcome = self._transport.send(batch, self._timeout())
        except Exception as exc:  # a transport must not raise; if it does, the batch is kept
            outcome = Outcome(retry=batch, error=f"sending failed: {describe_error(exc)}")
        finally:
            self.send_started = None
        self._settle(batch, outcome)
        if len(outcome.retry) < len(batch):
            # The receiver took (or refused for good) part of the batch. A send that then failed
            # may have waited out its whole timeout after that part: count from its start.
            engine._flush.took(started if outcome.error is not None else time.monotonic())
        if outcome.error is not None:
            self._failed(outcome.error, outcome.retry_after)
        else:
            self._recovered(outcome.delivered > 0 or not batch)

    def _settle(self, batch: list[bytes], outcome: Outcome) -> None:
        """Count what the transport did with ``batch``; what it hands back becomes the next batch.

        Whatever the transport says, the numbers add up: frames neither delivered,
        oversize nor handed back are counted as rejected.
        """
        engine = self._engine
        retry = outcome.retry
        done = len(batch) - len(retry)
        if done < 0 or outcome.delivered < 0 or outcome.oversize < 0:
            with engine._mutex:
                engine._sending = False
            raise RuntimeError(f"{type(self._transport).__name__} returned an impossible outcome")
        size = sum(map(len, batch)) - sum(map(len, retry))
        delivered = min(outcome.delivered, done)
        oversize = min(outcome.oversize, done - delivered)
        rejected = done - delivered - oversize
        with engine._mutex:
            engine._sending = False
            if not engine._closed:  # after close() these were already counted as dropped
                engine.delivered += delivered
                engine.dropped_oversize += oversize
                engine.dropped_rejected += rejected
                engine._pending_records -= done
                engine._pending_bytes -= size
                engine._batch = list(retry) if retry is not batch else batch
        if rejected:
            note = outcome.note or "refused by the collector"
            engine._reports.rejected(note, rejected)
            self.last_error = f"the collector rejected records: {note}"  # what the exit report gives as the cause
        if delivered:
            self.rejecting = False
        elif rejected:
            self.rejecting = True
