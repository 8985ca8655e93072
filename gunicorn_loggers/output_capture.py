"""``--capture-output``: what the app prints becomes records, not raw lines in the JSON stream.

gunicorn's own ``capture_output`` only redirects file descriptors 1 and 2 into
the error log file, so every ``print()`` lands there as raw text (and with
``--error-logfile -`` it does nothing at all). We replace ``sys.stdout`` and
``sys.stderr`` with writers that cut the text into lines and hand each line to
gunicorn's error log handlers as a record (``log.logger`` ``stdout`` or
``stderr``, ``stream`` field), in the schema of every other record.

What a C extension or a child process writes to the descriptors directly is
not seen by Python and is not converted.
"""

from __future__ import annotations

import logging
import threading
from typing import Any, TextIO

LEVELS = {"stdout": logging.INFO, "stderr": logging.WARNING}


class OutputCapture:
    """A text stream whose lines become log records; partial lines wait for their newline."""

    def __init__(self, name: str, original: TextIO) -> None:
        self.name = name
        self.original = original
        self.level = LEVELS[name]
        self._local = threading.local()  # per thread, per greenlet once gevent has patched threading

    # -- what print() and sys.stdout users call ------------------------------------------------

    def write(self, text: Any) -> int:
        if isinstance(text, bytes):
            text = text.decode("utf-8", "backslashreplace")
        local = self._local
        if getattr(local, "emitting", False):  # a handler writing to stderr while we emit: no loop
            return self.original.write(text)
        pending = getattr(local, "pending", "") + text
        *lines, local.pending = pending.split("\n")
        for line in lines:
            self._emit(line)
        return len(text)

    def writelines(self, lines: Any) -> None:
        for line in lines:
            self.write(line)

    def flush(self) -> None:
        pending = getattr(self._local, "pending", "")
        if pending:
            self._local.pending = ""
            self._emit(pending)

    def fileno(self) -> int:
        return self.original.fileno()

    def isatty(self) -> bool:
        return False

    def writable(self) -> bool:
        return True

    @property
    def encoding(self) -> str:
        return getattr(self.original, "encoding", "utf-8")

    def __getattr__(self, name: str) -> Any:
        return getattr(self.original, name)

    # -- where lines go ----------------------------------------------------------------------------

    def _emit(self, line: str) -> None:
        line = line.rstrip("\r")
        if not line:
            return
        local = self._local
        local.emitting = True
        try:
            record = logging.LogRecord(self.name, self.level, "", 0, line, None, None)
            record.stream = self.name
            for handler in logging.getLogger("gunicorn.error").handlers:
                if record.levelno >= handler.level:
                    handler.handle(record)
        finally:
            local.emitting = False


def install(sys_module: Any) -> None:
    """Replace ``sys.stdout`` and ``sys.stderr``; safe to call again on SIGHUP."""
    for name in ("stdout", "stderr"):
        current = getattr(sys_module, name)
        if not isinstance(current, OutputCapture):
            setattr(sys_module, name, OutputCapture(name, current))


def uninstall(sys_module: Any) -> None:
    for name in ("stdout", "stderr"):
        current = getattr(sys_module, name)
        if isinstance(current, OutputCapture):
            current.flush()
            setattr(sys_module, name, current.original)


def unwrap(stream: Any) -> Any:
    """The real stream behind a capture, for sinks that write to the descriptor."""
    return stream.original if isinstance(stream, OutputCapture) else stream
