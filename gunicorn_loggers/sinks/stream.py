"""Stdout, stderr and files: one ``os.write`` per record, no buffer to lose.

Writing the encoded line straight to the descriptor means a record is in the
kernel when ``access()`` returns: nothing is lost on a graceful stop, a crash
of the worker, or a fork. A single ``write`` to a file opened with ``O_APPEND``
is atomic, so lines from threads and workers never interleave there.

A pipe or a socket (stdout in a container, journald) keeps a write whole only up
to ``PIPE_BUF`` (4096 bytes): a longer record meeting a full pipe is written in
pieces, and another thread's record could land between them. Writes to those
are serialised within the process; across worker processes nothing short of a
lock per record would do it, which docs/operations.md lists as a known limit.

A write that fails (a full disk, a reader that went away) never raises into the
request: the record is counted as lost and reported (``failures.WriteFailures``).
A record cut short by the failure would have the next one glued to it, so the
next write starts on a new line.
"""

from __future__ import annotations

import errno
import fcntl
import os
import stat
import sys
import weakref
from typing import TextIO

from .. import _process_hooks
from .._unpatched import original
from ._base import BorrowedSink
from .failures import WriteFailures

_RLock = original("_thread", "RLock")  # reentrant: a signal handler may log while its thread writes
#: Sinks that hold a lock: a child forked while another thread wrote gets a fresh one.
_LOCKED: weakref.WeakSet[_DescriptorSink] = weakref.WeakSet()


def _is_regular_file(fd: int) -> bool:
    try:
        return stat.S_ISREG(os.fstat(fd).st_mode)
    except OSError:
        return False


class _TornWrite(OSError):
    """A write that failed after part of the record was written."""


def _write_rest(fd: int, line: bytes, written: int) -> None:
    view = memoryview(line)
    while written < len(line):
        try:
            step = os.write(fd, view[written:])
        except InterruptedError:
            continue
        except OSError as exc:
            raise _TornWrite(exc.errno, exc.strerror) from exc
        if step == 0:
            raise _TornWrite(errno.EIO, "the log descriptor accepted no bytes")
        written += step


class _DescriptorSink:
    """What stdout, stderr and files share: the write, its lock on pipes, and what a failure leaves."""

    fd: int
    failures: WriteFailures

    def _prepare(self) -> None:
        """After the descriptor is opened (or reopened): a lock only where writes can be cut."""
        self._lock = None if _is_regular_file(self.fd) else _RLock()
        if self._lock is not None:
            _LOCKED.add(self)
        self._torn = False  # our last write stopped inside a record
        self._suspect = False  # a write failed: the end of a file may be a cut record, ours or another worker's

    def _write_line(self, line: bytes) -> None:
        data = self._mended(line) if self._suspect else line
        try:
            written = os.write(self.fd, data)
            if written != len(data):
                _write_rest(self.fd, data, written)
        except OSError as exc:
            self._failed(line, exc)
        else:
            if self._suspect:
                self._suspect = self._torn = False

    def _failed(self, line: bytes, exc: OSError) -> None:
        self._suspect = True
        self._torn = self._torn or isinstance(exc, _TornWrite)
        self.failures.add(line.count(b"\n") or 1, exc)

    def _mended(self, line: bytes) -> bytes:
        """``line`` on a line of its own, after a failed write that may have left half a record."""
        if self._torn:
            return b"\n" + line
        return b"\n" + line if self._ends_mid_line() else line

    def _ends_mid_line(self) -> bool:
        return False


class StreamSink(_DescriptorSink, BorrowedSink):
    """An inherited descriptor such as stdout or stderr, which we never close."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.fd = stream.fileno()
        name = getattr(stream, "name", None)
        self.failures = WriteFailures(name if isinstance(name, str) else f"descriptor {self.fd}")
        self._prepare()

    def write(self, line: bytes) -> None:
        try:
            self.stream.flush()  # whatever the app printed before us comes first
        except (OSError, ValueError):
            pass
        if self._lock is None:
            self._write_line(line)
        else:
            with self._lock:
                self._write_line(line)


class FileSink(_DescriptorSink):
    """A log file opened with ``O_APPEND``; ``reopen`` follows a rename by logrotate.

    ``reopen`` opens the path again and ``dup2``\\ s the new descriptor over the old
    one: a thread in the middle of ``write`` keeps a valid descriptor, so there is
    no lock to take inside the SIGUSR1 handler.
    """

    def __init__(self, path: str, uid: int | None = None, gid: int | None = None) -> None:
        self.path = os.path.abspath(path)
        self.uid, self.gid = uid, gid
        self.fd = self._open()
        self.failures = WriteFailures(self.path)
        self._prepare()

    def _open(self) -> int:
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        if self.uid is not None and self.gid is not None:
            try:
                os.fchown(fd, self.uid, self.gid)  # so workers that drop privileges can reopen it
            except OSError:
                pass
        return fd

    def _prepare(self) -> None:
        super()._prepare()
        # ``write`` is the bound method itself: no extra call on a path that runs once per request.
        self.write = self._write_line if self._lock is None else self._write_locked

    def write(self, line: bytes) -> None:  # replaced per instance by _prepare()
        self._write_line(line)

    def _write_locked(self, line: bytes) -> None:  # a FIFO given as the log file
        with self._lock:
            self._write_line(line)

    def _ends_mid_line(self) -> bool:
        """Does the file end inside a record? Another worker's failed write may have cut one too."""
        try:
            fd = os.open(self.path, os.O_RDONLY)
        except OSError:
            return False
        try:
            size = os.fstat(fd).st_size
            return size > 0 and os.pread(fd, 1, size - 1) != b"\n"
        except OSError:
            return False
        finally:
            os.close(fd)

    def reopen(self) -> None:
        fresh = self._open()
        try:
            os.dup2(fresh, self.fd, inheritable=False)
        finally:
            os.close(fresh)
        if self._lock is None and not _is_regular_file(self.fd):  # the path is a FIFO now
            self._lock = _RLock()
            _LOCKED.add(self)
            self.write = self._write_locked

    def close_on_exec(self) -> None:
        flags = fcntl.fcntl(self.fd, fcntl.F_GETFD)
        fcntl.fcntl(self.fd, fcntl.F_SETFD, flags | fcntl.FD_CLOEXEC)

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


def _fresh_locks_after_fork() -> None:
    """The child has one thread: a lock another thread of the parent held while writing (a master's sender or
    reporter telling a delivery report, as gunicorn forks a worker) would stop its first write for ever."""
    for sink in list(_LOCKED):
        if sink._lock is not None:
            sink._lock = _RLock()


_process_hooks.in_child(_process_hooks.CHILD_LOCKS, _fresh_locks_after_fork)


def open_sink(output: str, stream: TextIO | None = None, uid: int | None = None, gid: int | None = None):
    """gunicorn's convention: ``-`` is the given stream (stdout or stderr), anything else a path."""
    if output == "-":
        return StreamSink(stream if stream is not None else sys.stderr)
    return FileSink(output, uid, gid)
