"""The protocol every sink follows."""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable


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


class RecordSink(Protocol):
    """A sink that takes records as structure with their facts (the network sinks): it encodes them itself."""

    #: False when a JSON line will do instead of the record dict (``write_record(None, line, ...)``).
    needs_record: bool

    def write_record(self, record: dict[str, Any] | None, line: bytes | None, level: str, time_ns: int) -> None:
        """One record, its level (a name of ``levels.LEVELS``) and its time; must never raise into a request."""

    def reopen(self) -> None: ...

    def close_on_exec(self) -> None: ...

    def close(self) -> None: ...


def takes_records(sink: object) -> bool:
    """Does ``sink`` take records with their facts (:class:`RecordSink`) rather than lines?"""
    return hasattr(sink, "write_record")


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
