"""What a transport reads back from an encoded record: its time and level, in any of our schemas.

Records are encoded once on the request path; collectors that want the time or the
level outside the record (Loki's entry timestamp and ``level`` label, Fluentd's
EventTime) get them here, in the sender thread, without decoding the whole line.
"""

from __future__ import annotations

import re

from ..timestamps import utc_seconds

_TIME = re.compile(
    rb'"(?:@timestamp|time|timestamp)":"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d{1,9}))?(Z|[+-]\d\d:\d\d)"'
    rb'|"timeUnixNano":"(\d{1,20})"'
)
_LEVEL = re.compile(rb'"(?:log\.level|level|severity|severityText)":"([A-Za-z]{1,12})"')

#: Level names of every schema -> the five buckets used as a Loki label.
LEVEL_BUCKETS = {
    "trace": "debug",
    "debug": "debug",
    "info": "info",
    "default": "info",
    "notice": "info",
    "warn": "warning",
    "warning": "warning",
    "error": "error",
    "critical": "critical",
    "fatal": "critical",
    "alert": "critical",
    "emergency": "critical",
}

_seconds_cache: dict[bytes, int] = {}


def record_time_ns(line: bytes) -> int | None:
    """Nanoseconds since the epoch of the record's own timestamp; ``None`` when it has none we know."""
    match = _TIME.search(line)
    if match is None:
        return None
    stamp, fraction, zone, unix_nano = match.groups()
    if unix_nano is not None:
        return int(unix_nano)
    seconds = _seconds_cache.get(stamp)
    if seconds is None:
        seconds = utc_seconds(stamp.decode("ascii"))  # the pattern matched ASCII digits only
        if len(_seconds_cache) > 64:
            _seconds_cache.clear()
        _seconds_cache[stamp] = seconds
    if zone != b"Z":
        sign = -1 if zone[:1] == b"+" else 1
        seconds += sign * (int(zone[1:3]) * 3600 + int(zone[4:6]) * 60)
    nanos = int(fraction.ljust(9, b"0")) if fraction else 0
    return seconds * 1_000_000_000 + nanos


def level_name(line: bytes) -> bytes | None:
    """The value of the record's first level field as written (``info``, ``INFO``...), in any of our schemas."""
    match = _LEVEL.search(line)
    return None if match is None else match.group(1)


def record_level(line: bytes) -> str:
    """The record's level as one of debug, info, warning, error, critical (info when it has none)."""
    name = level_name(line)
    if name is None:
        return "info"
    return LEVEL_BUCKETS.get(name.decode("ascii").lower(), "info")
