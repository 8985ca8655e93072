"""Request ids and W3C trace context, read from headers the client controls.

Both values are attacker-controlled: they are validated before they reach a
record, so a crafted header cannot forge a trace id or smuggle a huge string.
"""

from __future__ import annotations

import re
from typing import NamedTuple

#: Longest request id we keep; Heroku's router caps at 200 as well.
MAX_REQUEST_ID = 200

_TRACEPARENT = re.compile(r"([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?\Z")


class TraceContext(NamedTuple):
    trace_id: str
    parent_id: str
    flags: int

    @property
    def sampled(self) -> bool:
        return bool(self.flags & 0x01)


def parse_traceparent(header: str | None) -> TraceContext | None:
    """Parse a ``traceparent`` header as W3C Trace Context says; None if invalid.

    Version ``ff``, all-zero ids and upper-case hex are invalid. A future version
    may append fields after a dash, which we ignore; version 00 must be exactly
    55 characters.
    """
    if not header or len(header) < 55:
        return None
    header = header.strip(" \t")
    match = _TRACEPARENT.match(header)
    if match is None:
        return None
    version, trace_id, parent_id, flags, rest = match.groups()
    if version == "ff" or (version == "00" and rest is not None):
        return None
    if trace_id == "0" * 32 or parent_id == "0" * 16:
        return None
    return TraceContext(trace_id, parent_id, int(flags, 16))


def clean_request_id(value: str | None) -> str | None:
    """Keep a request id if it is printable ASCII without spaces, cut to 200 characters."""
    if not value:
        return None
    value = value.strip()
    if not value or not value.isascii() or not value.isprintable() or " " in value:
        return None
    return value[:MAX_REQUEST_ID]
