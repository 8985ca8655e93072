"""Request ids and W3C trace context, read from headers the client controls.

Both values are attacker-controlled: they are validated before they reach a
record, so a crafted header cannot forge a trace id or smuggle a huge string.
"""

from __future__ import annotations

import re
from typing import NamedTuple

#: Longest request id we keep; Heroku's router caps at 200 as well.
MAX_REQUEST_ID = 200

_ZERO_TRACE = "0" * 32
_ZERO_SPAN = "0" * 16


class TraceContext(NamedTuple):
    trace_id: str
    parent_id: str
    flags: int

    @property
    def sampled(self) -> bool:
        return bool(self.flags & 0x01)


#: ``version-traceid-parentid-flags``, lower-case hex only, optional ``-more`` after
#: a future version; optional blanks around it (OWS in the header grammar).
_TRACEPARENT = re.compile(r"[ \t]*([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-[^\r\n]*?)?[ \t]*")
#: Version 00 exactly, all-zero ids refused by the look-aheads: one match does every check.
_match_version_00 = re.compile(r"00-(?!0{32})([0-9a-f]{32})-(?!0{16})([0-9a-f]{16})-([0-9a-f]{2})").fullmatch
_FLAGS = {f"{value:02x}": value for value in range(256)}
_new_trace = tuple.__new__

#: ``match_version_00(header)`` is not None when ``header`` is a valid version-00 ``traceparent``
#: as sent. Building the :class:`TraceContext` costs more than validating: the access log keeps
#: such a header and slices the trace id from it (``[3:35]``, lower-case hex, nothing to escape),
#: and builds the tuple (:func:`trace_of_version_00`) only for a schema that reads it.
#: The grammar of ``_match_version_00`` without its groups: ``parse_traceparent`` (the middleware's,
#: per request) keeps the groups, faster than this match and slices.
match_version_00 = re.compile(r"00-(?!0{32})[0-9a-f]{32}-(?!0{16})[0-9a-f]{16}-[0-9a-f]{2}").fullmatch


def trace_of_version_00(header: str) -> TraceContext:
    """The context of a header ``match_version_00`` accepted."""
    return _new_trace(TraceContext, (header[3:35], header[36:52], _FLAGS[header[53:]]))


def parse_traceparent(header: str | None) -> TraceContext | None:
    """Parse a ``traceparent`` header as W3C Trace Context says; None if invalid.

    Version ``ff``, all-zero ids and upper-case hex are invalid. A future version
    may append fields after a dash, which we ignore; version 00 must be exactly
    55 characters. One ``fullmatch`` with ``groups()`` and ``tuple.__new__`` (the NamedTuple's own
    constructor is Python code) keep this cheap: it runs on every traced request.
    """
    if not header:
        return None
    if len(header) == 55:  # the usual case: version 00 with no blanks
        match = _match_version_00(header)
        if match is not None:
            trace_id, parent_id, flags = match.groups()
            return _new_trace(TraceContext, (trace_id, parent_id, _FLAGS[flags]))
    match = _TRACEPARENT.fullmatch(header)
    if match is None:
        return None
    version, trace_id, parent_id, flags, more = match.groups()
    if version == "ff" or (more is not None and version == "00"):
        return None
    if trace_id == _ZERO_TRACE or parent_id == _ZERO_SPAN:
        return None
    return _new_trace(TraceContext, (trace_id, parent_id, int(flags, 16)))


def clean_request_id(value: str | None) -> str | None:
    """Keep a request id if it is printable ASCII without spaces, cut to 200 characters."""
    if not value:
        return None
    if value.isascii() and value.isprintable() and " " not in value:
        return value[:MAX_REQUEST_ID]  # the usual case: nothing to strip
    value = value.strip()
    if not value or not value.isascii() or not value.isprintable() or " " in value:
        return None
    return value[:MAX_REQUEST_ID]
