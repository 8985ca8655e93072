"""An opt-in write-behind buffer for the access log (``GUNICORN_LOGGERS_ACCESS_FLUSH_INTERVAL``).

By default every record is one ``write`` system call: nothing can be lost, but
the call is a quarter of a record's cost. With an interval set, records gather
in memory and a flusher thread writes them every interval (or when 64 KiB are
waiting), as nginx's ``access_log ... buffer= flush=`` does. Nothing is lost on
a graceful stop, a reload, a rotation or a fork: the buffer is flushed at exit
(``atexit``, which gunicorn's workers run, timeouts included) and before every
fork. A worker killed with SIGKILL (the OOM killer) loses at most one interval.

Writes to a pipe (stdout in a container) are cut at line boundaries into pieces
of at most ``PIPE_BUF`` bytes, which the kernel keeps whole even when several
processes write to the same pipe.
"""

from __future__ import annotations

import os
import select
import stat
import weakref

from .. import _process_hooks, process_id
from .._unpatched import allocate_lock, start_new_thread
from ._base import Sink

MAX_PENDING_BYTES = 64 * 1024

_SINKS: weakref.WeakSet[BufferedSink] = weakref.WeakSet()


class BufferedSink:
    """Wraps a descriptor sink (``FileSink``, ``StreamSink``); same interface."""

    def __init__(self, inner: Sink, interval: float) -> None:
        self.inner = inner
        self.interval = interval
        self.fd: int = inner.fd  # type: ignore[attr-defined]
        self.failures = inner.failures  # type: ignore[attr-defined]  # what the inner sink could not write
        self._reset()
        _SINKS.add(self)

    def _reset(self) -> None:
        self._lock = allocate_lock()  # the list of pending lines: held for an append or a swap only
        self._write_lock = allocate_lock()  # one writer at a time, so lines leave in order
        self._stop = allocate_lock()
        self._stop.acquire()
        self._pending: list[bytes] = []
        self._pending_bytes = 0
        self._flusher_pid = 0

    def _is_pipe(self) -> bool:
        try:
            return stat.S_ISFIFO(os.fstat(self.inner.fd).st_mode)  # type: ignore[attr-defined]
        except OSError:
            return False

    def write(self, line: bytes) -> None:
        """Append; a request waits for the disk only when 64 KiB are already waiting."""
        if self._flusher_pid != process_id.pid:  # the first record in this process
            self._start_flusher()
        with self._lock:
            self._pending.append(line)
            self._pending_bytes += len(line)
            full = self._pending_bytes >= MAX_PENDING_BYTES
        if full:
            self.flush()

    def flush(self) -> None:
        with self._write_lock:
            with self._lock:
                lines, self._pending, self._pending_bytes = self._pending, [], 0
            if lines:
                self._write_lines(lines)

    def _write_lines(self, lines: list[bytes]) -> None:
        if not self._is_pipe():
            self.inner.write(b"".join(lines))
            return
        chunk: list[bytes] = []
        size = 0
        for line in lines:
            if chunk and size + len(line) > select.PIPE_BUF:
                self.inner.write(b"".join(chunk))
                chunk, size = [], 0
            chunk.append(line)
            size += len(line)
        self.inner.write(b"".join(chunk))

    def _start_flusher(self) -> None:
        with self._lock:
            if self._flusher_pid == process_id.pid:
                return
            self._flusher_pid = process_id.pid
        start_new_thread(self._flush_periodically, ())

    def _flush_periodically(self) -> None:
        pid = process_id.pid
        while not self._stop.acquire(True, self.interval):
            if self._flusher_pid != pid:
                return
            try:
                self.flush()
            except OSError:
                pass  # the next flush, or the exit flush, tries again

    def reopen(self) -> None:
        # Runs in a signal handler, maybe while this thread holds the lock: no flush here.
        # Lines still pending go to the new file, which is where logrotate expects new lines.
        self.inner.reopen()

    def close_on_exec(self) -> None:
        self.inner.close_on_exec()

    def close(self) -> None:
        try:
            self.flush()
        finally:
            if self._stop.locked():
                self._stop.release()  # the flusher thread ends
            self.inner.close()


def _flush_all() -> None:
    for sink in list(_SINKS):
        try:
            sink.flush()
        except OSError:
            pass


def _reset_all() -> None:
    for sink in list(_SINKS):
        sink._reset()


_process_hooks.before_fork(_flush_all)
_process_hooks.in_child(_process_hooks.CHILD_STATE, _reset_all)
_process_hooks.at_exit(_process_hooks.EXIT_BUFFERS, _flush_all)
