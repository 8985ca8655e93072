"""Stdout, stderr and files: one ``os.write`` per record, no buffer to lose.

Writing the encoded line straight to the descriptor means a record is in the
kernel when ``access()`` returns: nothing is lost on a graceful stop, a crash
of the worker, or a fork, and lines from threads of a gthread worker never
interleave (a single ``write`` to a file opened with ``O_APPEND`` is atomic).
"""

from __future__ import annotations

import errno
import fcntl
import os
import sys
from typing import TextIO

from ._base import BorrowedSink


def _write_all(fd: int, line: bytes) -> None:
    """One ``write`` in the usual case; a short write (a pipe, a signal) continues where it stopped."""
    written = os.write(fd, line)
    if written != len(line):
        _write_rest(fd, line, written)


def _write_rest(fd: int, line: bytes, written: int) -> None:
    view = memoryview(line)
    while written < len(line):
        try:
            step = os.write(fd, view[written:])
        except InterruptedError:
            continue
        if step == 0:
            raise OSError(errno.EIO, "the log descriptor accepted no bytes")
        written += step


class StreamSink(BorrowedSink):
    """An inherited descriptor such as stdout or stderr, which we never close."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.fd = stream.fileno()
        self.failures = 0

    def write(self, line: bytes) -> None:
        try:
            self.stream.flush()  # whatever the app printed before us comes first
        except (OSError, ValueError):
            pass
        try:
            _write_all(self.fd, line)
        except OSError as exc:
            self.failures += 1
            if exc.errno not in (errno.EPIPE, errno.EBADF):
                raise


class FileSink:
    """A log file opened with ``O_APPEND``; ``reopen`` follows a rename by logrotate.

    ``reopen`` opens the path again and ``dup2``\\ s the new descriptor over the old
    one: a thread in the middle of ``write`` keeps a valid descriptor, so there is
    no lock to take inside the SIGUSR1 handler.
    """

    def __init__(self, path: str, uid: int | None = None, gid: int | None = None) -> None:
        self.path = os.path.abspath(path)
        self.uid, self.gid = uid, gid
        self.fd = self._open()
        self.failures = 0

    def _open(self) -> int:
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        if self.uid is not None and self.gid is not None:
            try:
                os.fchown(fd, self.uid, self.gid)  # so workers that drop privileges can reopen it
            except OSError:
                pass
        return fd

    def write(self, line: bytes) -> None:
        try:
            written = os.write(self.fd, line)  # _write_all, inlined: this runs once per request
            if written != len(line):
                _write_rest(self.fd, line, written)
        except OSError:
            self.failures += 1
            raise

    def reopen(self) -> None:
        fresh = self._open()
        try:
            os.dup2(fresh, self.fd, inheritable=False)
        finally:
            os.close(fresh)

    def close_on_exec(self) -> None:
        flags = fcntl.fcntl(self.fd, fcntl.F_GETFD)
        fcntl.fcntl(self.fd, fcntl.F_SETFD, flags | fcntl.FD_CLOEXEC)

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


def open_sink(output: str, stream: TextIO | None = None, uid: int | None = None, gid: int | None = None):
    """gunicorn's convention: ``-`` is the given stream (stdout or stderr), anything else a path."""
    if output == "-":
        return StreamSink(stream if stream is not None else sys.stderr)
    return FileSink(output, uid, gid)
