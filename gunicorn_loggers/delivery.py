"""How a record reaches a network sink without a request ever waiting for the network.

One :class:`DeliveryEngine` per network sink per process. ``submit()`` runs on the
request path: it appends the framed record to a bounded queue (records *and*
bytes) and returns; when the queue is full the record is dropped and counted,
never waited for. A sender thread, started lazily by the first ``submit()`` in
each process, batches the queue onto a socket, reconnects with exponential
backoff and jitter, and reports trouble on the *local* error stream at most once
per report interval. At exit it flushes within the time gunicorn allows.

Accounting is exact: ``delivered + dropped == produced`` once the queue is empty,
and ``delivered + dropped + pending == produced`` at every moment. *Delivered*
means the kernel accepted the bytes on an open connection: without an
application-level acknowledgement (which syslog and NDJSON do not have) that is
the last point a sender can know about.

Fork and gevent: gunicorn builds the logger in the master and forks workers from
it; threads do not survive ``fork``. ``os.register_at_fork`` gives each child an
empty queue, zero counters and no socket, and ``submit()`` starts a sender in any
process whose pid differs from the one that started it. The sender is always a
real OS thread with real locks and a real socket, even after gevent has
monkey-patched the worker: it then never competes with request greenlets for the
hub, and a blocking ``send`` stalls only the sender.
"""

from __future__ import annotations

import atexit
import collections
import encodings.idna  # noqa: F401  getaddrinfo needs it; importing it first in the sender thread can fail
import errno
import os
import random
import select
import socket
import sys
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

SCHEMES = ("tcp", "udp", "unix")

#: How long one connect or one ``send`` may take before the connection counts as failed.
SOCKET_TIMEOUT = 5.0
#: Reconnect delays: first, growth factor and ceiling (seconds); each is jittered to 50-100 %.
BACKOFF_FIRST, BACKOFF_FACTOR, BACKOFF_MAX = 0.1, 2.0, 5.0
#: Most a stream batch holds (records, bytes); batching is what makes the sender cheap under load.
BATCH_RECORDS, BATCH_BYTES = 512, 256 * 1024
#: After a record wakes an idle sender, it waits this long for more before sending: under load
#: one ``send`` then carries tens of records instead of one, and the sender thread takes the GIL
#: from request threads a few hundred times a second instead of once per request.
LINGER = 0.005
#: A connection whose ``send`` has not returned for this long is reported as not delivering.
STALL_AFTER = 1.0


def _original(module: str, name: str) -> Any:
    """The unpatched object even when gevent has monkey-patched ``module``."""
    if "gevent.monkey" in sys.modules:
        from gevent import monkey

        return monkey.get_original(module, name)
    return getattr(__import__(module), name)


_allocate_lock = _original("_thread", "allocate_lock")
_start_new_thread = _original("_thread", "start_new_thread")
_socket_class = _original("socket", "socket")
_getaddrinfo = _original("socket", "getaddrinfo")
_poll = _original("select", "poll")


# -- where to send ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Endpoint:
    """A parsed ``tcp://HOST:PORT``, ``udp://HOST:PORT`` or ``unix:///PATH[#dgram|#stream]``."""

    scheme: str
    host: str = ""
    port: int = 0
    path: str = ""
    #: ``SOCK_STREAM`` or ``SOCK_DGRAM``; ``None`` for a unix socket of either kind (datagram tried first).
    socktype: int | None = socket.SOCK_STREAM

    def __str__(self) -> str:
        if self.scheme == "unix":
            suffix = {socket.SOCK_DGRAM: "#dgram", socket.SOCK_STREAM: "#stream"}.get(self.socktype, "")
            return f"unix://{self.path}{suffix}"
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.scheme}://{host}:{self.port}"


def parse_endpoint(url: str, default_port: int | None = None) -> Endpoint:
    """Parse an address; raise ``ValueError`` with a message a user can act on."""
    text = url.strip()
    scheme, sep, rest = text.partition("://")
    scheme = scheme.lower()
    if not sep or scheme not in SCHEMES:
        raise ValueError(f"{url!r} does not start with tcp://, udp:// or unix://")
    if scheme == "unix":
        path, _, kind = rest.partition("#")
        socktypes = {"": None, "dgram": socket.SOCK_DGRAM, "stream": socket.SOCK_STREAM}
        if not path or kind not in socktypes:
            raise ValueError(f"{url!r} is not unix:///PATH, unix:///PATH#dgram or unix:///PATH#stream")
        return Endpoint("unix", path=unquote(path), socktype=socktypes[kind])
    if rest.startswith("["):
        host, _, after = rest[1:].partition("]")
        port_text = after[1:] if after.startswith(":") else after
    else:
        host, _, port_text = rest.rpartition(":") if ":" in rest else (rest, "", "")
    host = host.strip().rstrip("/") or "localhost"
    port_text = port_text.rstrip("/")
    if not port_text:
        if default_port is None:
            raise ValueError(f"{url!r} has no port ({scheme}://HOST:PORT)")
        port = default_port
    elif port_text.isdigit() and 0 < int(port_text) < 65536:
        port = int(port_text)
    else:
        raise ValueError(f"{url!r}: {port_text!r} is not a port number")
    socktype = socket.SOCK_STREAM if scheme == "tcp" else socket.SOCK_DGRAM
    return Endpoint(scheme, host=host.lower(), port=port, socktype=socktype)


def open_connection(endpoint: Endpoint, timeout: float) -> tuple[socket.socket, bool]:
    """A connected socket and whether it is a stream; raises ``OSError``."""
    if endpoint.scheme == "unix":
        kinds = [endpoint.socktype] if endpoint.socktype is not None else [socket.SOCK_DGRAM, socket.SOCK_STREAM]
        error: OSError | None = None
        for kind in kinds:
            sock = _socket_class(socket.AF_UNIX, kind)
            try:
                sock.settimeout(timeout)
                sock.connect(endpoint.path)
                return sock, kind == socket.SOCK_STREAM
            except OSError as exc:
                sock.close()
                error = exc
        assert error is not None
        raise error
    error = None
    for family, kind, proto, _, address in _getaddrinfo(endpoint.host, endpoint.port, 0, endpoint.socktype):
        sock = _socket_class(family, kind, proto)
        try:
            sock.settimeout(timeout)
            sock.connect(address)
            if kind == socket.SOCK_STREAM:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            return sock, kind == socket.SOCK_STREAM
        except OSError as exc:
            sock.close()
            error = exc
    raise error or OSError(f"no address for {endpoint}")


def _peer_has_closed(sock: socket.socket) -> bool:
    """Log receivers never talk back: a readable stream socket means EOF or a reset."""
    poller = _poll()
    poller.register(sock.fileno(), select.POLLIN)
    if not poller.poll(0):
        return False
    try:
        data = sock.recv(1, socket.MSG_PEEK)  # readable, so this returns at once
    except OSError:
        return True
    return data == b""


def describe_error(exc: BaseException) -> str:
    text = os.strerror(exc.errno) if isinstance(exc, OSError) and exc.errno and not exc.strerror else str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


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
    """A bounded queue of frames and the thread that sends them to one endpoint.

    ``max_records`` / ``max_bytes`` bound everything not yet delivered, including
    the batch being sent. ``report`` receives the delivery reports (the network
    loggers write them to the local error log). ``flush_timeout`` bounds the flush
    at exit; when the endpoint cannot be reached at that point, the engine makes
    one immediate attempt and then counts the rest as dropped instead of waiting.
    """

    def __init__(
        self,
        endpoint: Endpoint,
        *,
        max_records: int = 10_000,
        max_bytes: int = 8 * 1024 * 1024,
        report: Reporter | None = None,
        report_interval: float = 5.0,
        flush_timeout: float = 10.0,
        name: str = "",
    ) -> None:
        self.endpoint = endpoint
        self.max_records = max_records
        self.max_bytes = max_bytes
        self.report = report
        self.report_interval = report_interval
        self.flush_timeout = flush_timeout
        self.name = name or str(endpoint)
        self._reset()
        _ENGINES.add(self)

    def _reset(self) -> None:
        """Fresh state for this process: the parent's queue, counters and socket are the parent's."""
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
        self.dropped_at_exit = 0
        self._pid = 0
        self._closing = False
        self._closed = False
        self._idle = False
        # sender-only state
        self._sock: socket.socket | None = None
        self._stream = True
        self._batch: list[bytes] = []
        self._attempts = 0
        self._next_attempt = 0.0
        self._retry_now = False
        self._down_since: float | None = None
        self._down_reported = False
        self._last_error: str | None = None
        self._send_started: float | None = None
        self._connected = False
        self._events: list[tuple[int, str]] = []
        self._last_report = -1e9
        self._reported_drops = 0
        self._deadline = 0.0

    # -- request path --------------------------------------------------------------------------

    def submit(self, frame: bytes) -> bool:
        """Queue one frame; ``False`` when it was dropped because the buffer is full. Never blocks on I/O."""
        if self._pid != os.getpid():
            self._start()
        size = len(frame)
        with self._mutex:
            self.produced += 1
            if self._closed or self._pending_records >= self.max_records or self._pending_bytes + size > self.max_bytes:
                self.dropped_full += 1
                return False
            self._queue.append(frame)
            self._pending_records += 1
            self._pending_bytes += size
            idle = self._idle
        if idle:
            self._wakeup.set()
        return True

    def drop_oversize(self) -> None:
        """Count a record that no frame could hold (bigger than a datagram even when truncated)."""
        if self._pid != os.getpid():
            self._start()
        with self._mutex:
            self.produced += 1
            self.dropped_oversize += 1

    @property
    def delivering(self) -> bool:
        """Connected, and the last send neither failed nor has been stuck for long."""
        started = self._send_started
        return self._connected and (started is None or time.monotonic() - started < STALL_AFTER)

    @property
    def dropped(self) -> int:
        return self.dropped_full + self.dropped_oversize + self.dropped_at_exit

    def stats(self) -> dict[str, Any]:
        with self._mutex:
            return {
                "endpoint": self.name,
                "produced": self.produced,
                "delivered": self.delivered,
                "dropped": self.dropped_full + self.dropped_oversize + self.dropped_at_exit,
                "dropped_buffer_full": self.dropped_full,
                "dropped_oversize": self.dropped_oversize,
                "dropped_at_exit": self.dropped_at_exit,
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
        self._deadline = time.monotonic() + timeout
        if running:
            self._wakeup.set()
            if self._finished.acquire(True, max(0.0, timeout)):
                self._finished.release()
        if self._events:
            self._report_if_due(force=True)  # what the rate limit held back, before the totals
        with self._mutex:
            self._closed = True
            self.dropped_at_exit += self._pending_records
            self._pending_records = self._pending_bytes = 0
            self._queue.clear()
            self._batch = []
        stats = self.stats()
        if self.report is not None and stats["produced"] and (final_report or stats["dropped"]):
            level = 30 if stats["dropped"] else 20
            why = f"; last error: {self._last_error}" if stats["dropped"] and self._last_error else ""
            self._emit(level, f"gunicorn-loggers: {self.name} {when}: {self._summary(stats)}{why}", stats)
        sock, self._sock = self._sock, None
        if sock is not None and not running:
            sock.close()

    # -- the sender ----------------------------------------------------------------------------

    def _run(self) -> None:
        try:
            self._loop()
        except BaseException as exc:  # a bug here must not pass silently
            self._emit(40, f"gunicorn-loggers: sender for {self.name} stopped: {describe_error(exc)}", self.stats())
        finally:
            if self._sock is not None:
                self._sock.close()
                self._sock = None
            self._connected = False
            self._finished.release()

    def _loop(self) -> None:
        while True:
            self._report_if_due()
            with self._mutex:
                if self._closed:
                    return
                if not self._batch:
                    self._take_batch()
                if not self._batch:
                    if self._closing:
                        return
                    self._idle = True
            if not self._batch:
                self._wakeup.wait(self._until_report_due())
                with self._mutex:
                    self._idle = False
                if not self._closing:
                    self._wakeup.wait(LINGER)  # close() and retry_now() cut it short
                continue
            if self._closing and time.monotonic() >= self._deadline:
                return
            if self._sock is None and not self._connect():
                if self._closing:
                    return  # nobody to flush to: the rest is counted as dropped at exit
                continue
            self._send_batch()

    def _take_batch(self) -> None:
        """Move frames from the queue into the batch; caller holds the mutex."""
        queue, batch = self._queue, self._batch
        size = 0
        limit = BATCH_RECORDS if self._stream else 64
        while queue and len(batch) < limit and (not batch or size + len(queue[0]) <= BATCH_BYTES):
            frame = queue.popleft()
            size += len(frame)
            batch.append(frame)

    def _connect(self) -> bool:
        now = time.monotonic()
        if not self._closing and not self._retry_now and now < self._next_attempt:
            due = self._until_report_due()
            self._wakeup.wait(min(self._next_attempt - now, BACKOFF_MAX if due is None else due))
            return False
        self._retry_now = False
        try:
            timeout = SOCKET_TIMEOUT
            if self._closing:
                timeout = max(0.05, min(timeout, self._deadline - time.monotonic()))
            self._sock, self._stream = open_connection(self.endpoint, timeout)
        except Exception as exc:  # OSError, and name resolution failing in its own ways
            self._failed(f"cannot connect: {describe_error(exc)}")
            return False
        self._attempts = 0
        self._connected = True
        if self._down_since is not None and self._down_reported:
            with self._mutex:
                dropped = self.dropped
            self._event(20, f"delivering again after {time.monotonic() - self._down_since:.1f} s; {dropped} dropped")
        self._down_since = None
        self._down_reported = False
        return True

    def _failed(self, why: str) -> None:
        """The connection is gone: close it, schedule the next attempt, tell the local log once per outage."""
        if self._sock is not None:
            self._sock.close()
            self._sock = None
        self._connected = False
        self._send_started = None
        self._last_error = why
        delay = min(BACKOFF_MAX, BACKOFF_FIRST * BACKOFF_FACTOR**self._attempts)
        self._attempts = min(self._attempts + 1, 32)
        self._next_attempt = time.monotonic() + delay * random.uniform(0.5, 1.0)
        if self._down_since is None:
            self._down_since = time.monotonic()
        if not self._down_reported:
            self._down_reported = True
            self._event(
                30,
                f"{why}; keeping up to {self.max_records} records / {self.max_bytes} bytes "
                f"and retrying with backoff up to {BACKOFF_MAX:g} s",
            )

    def _send_batch(self) -> None:
        sock = self._sock
        assert sock is not None
        batch = self._batch
        if self._closing:
            sock.settimeout(max(0.05, min(SOCKET_TIMEOUT, self._deadline - time.monotonic())))
        if not self._stream:
            self._send_datagrams(sock, batch)
            return
        if _peer_has_closed(sock):
            self._failed("the receiver closed the connection")
            return
        data = b"".join(batch)
        view = memoryview(data)
        sent = 0
        self._send_started = time.monotonic()
        try:
            while sent < len(data):
                sent += sock.send(view[sent:])
        except OSError as exc:
            self._mark_delivered(self._whole_frames(batch, sent))
            self._failed(f"sending failed: {describe_error(exc)}")
            return
        finally:
            self._send_started = None
        self._mark_delivered(len(batch))

    def _send_datagrams(self, sock: socket.socket, batch: list[bytes]) -> None:
        done = 0
        try:
            while done < len(batch):
                frame = batch[done]
                try:
                    sock.send(frame)
                except OSError as exc:
                    if exc.errno != errno.EMSGSIZE:
                        raise
                    with self._mutex:  # the kernel refused this size: no retry can help
                        if not self._closed:
                            self.dropped_oversize += 1
                            self._pending_records -= 1
                            self._pending_bytes -= len(frame)
                    del batch[done]
                    continue
                done += 1
        except OSError as exc:
            self._mark_delivered(done)
            self._failed(f"sending failed: {describe_error(exc)}")
            return
        self._mark_delivered(done)

    @staticmethod
    def _whole_frames(batch: list[bytes], sent: int) -> int:
        count = 0
        for frame in batch:
            if sent < len(frame):
                break
            sent -= len(frame)
            count += 1
        return count

    def _mark_delivered(self, count: int) -> None:
        if not count:
            return
        size = sum(len(frame) for frame in self._batch[:count])
        with self._mutex:
            if not self._closed:  # after close() these were already counted as dropped
                self.delivered += count
                self._pending_records -= count
                self._pending_bytes -= size
            del self._batch[:count]

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
        if new_drops:
            level = max(level, 30)
            since = "so far" if self._last_report < 0 else f"in the last {now - self._last_report:.1f} s"
            parts.append(f"{new_drops} records dropped {since} (buffer full or oversize)")
        self._events = []
        self._reported_drops = dropped
        self._last_report = now
        stats = self.stats()
        self._emit(level, f"gunicorn-loggers: {self.name}: {'; '.join(parts)}; {self._summary(stats)}", stats)

    @staticmethod
    def _summary(stats: dict) -> str:
        return (
            f"{stats['produced']} produced, {stats['delivered']} delivered, {stats['dropped']} dropped, "
            f"{stats['pending']} pending"
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
