"""The protocol every sink follows."""

from __future__ import annotations

from typing import Protocol, runtime_checkable


@runtime_checkable
class Sink(Protocol):
    def write(self, line: bytes) -> None:
        """Deliver one encoded record (ending in ``\\n``); must never raise into a request."""

    def reopen(self) -> None:
        """Called on SIGUSR1 (logrotate) and SIGHUP; runs inside a signal handler."""

    def close_on_exec(self) -> None:
        """Keep our descriptors out of processes the app may exec."""

    def close(self) -> None:
        """Flush and release; called when the logger is set up again or exits."""


class BorrowedSink:
    """Base of sinks that write through something they do not own (an inherited stream, a logger).

    There is no file of theirs to reopen, protect from exec or close.
    """

    def reopen(self) -> None:
        pass

    def close_on_exec(self) -> None:
        pass

    def close(self) -> None:
        pass
