"""Fluentd forward entries: ``[EventTime, record]``, packed as msgpack where the record is built.

EventTime is Fluentd's extension type 0: uint32 seconds and uint32 nanoseconds,
big-endian. The transport (:mod:`gunicorn_loggers.transports.fluent`) joins the
entries of one tag into a PackedForward message.
"""

from __future__ import annotations

import functools
import struct
from typing import Any

import msgpack

try:
    import ormsgpack
except ImportError:  # pragma: no cover - no wheel for PyPy: msgpack packs, slower
    ormsgpack = None

from ..encoding import make_serialisable
from ..frames import Frame

#: The first bytes of an entry: a msgpack array of two, then EventTime's header, fixext 8 (``0xd7``) of type 0.
_ENTRY_HEAD = b"\x92\xd7\x00"
_EVENT_TIME = struct.Struct(">II").pack
_packb = ormsgpack.packb if ormsgpack is not None else functools.partial(msgpack.packb, use_bin_type=True)


def entry_of(record: dict, time_ns: int) -> bytes:
    """One msgpack ``[EventTime, record]`` entry packed straight from a record dict.

    ormsgpack packs the record (faster than msgpack); the array and
    EventTime headers are written by hand. A value msgpack has no type for is made safe
    first, as the JSON encoder does, so a record is never lost to an odd value.
    """
    seconds, nanos = divmod(time_ns, 1_000_000_000)
    head = _ENTRY_HEAD + _EVENT_TIME(seconds & 0xFFFFFFFF, nanos)
    try:
        return head + _packb(record)
    except (TypeError, ValueError, OverflowError):  # a lone surrogate, an integer over 64 bits, an odd type
        return head + _packb(make_serialisable(record))


class FluentEntryEncoder:
    """A record -> its packed entry; the frame's kind picks the tag in the transport."""

    needs_record = True

    def encode(self, kind: str, level: str, time_ns: int, record: dict[str, Any] | None, line: bytes | None) -> Frame:
        return Frame(kind, level, time_ns, entry_of(record if record is not None else {}, time_ns))


__all__ = ["FluentEntryEncoder", "entry_of"]
