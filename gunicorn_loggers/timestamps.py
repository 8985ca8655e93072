"""RFC 3339 timestamps in UTC, fast enough for the access-log hot path.

Formatting the seconds once per second and appending the fraction is much
cheaper than ``datetime.isoformat`` on every record.
"""

from __future__ import annotations

import calendar
import time

_cached: tuple[int, str] = (-1, "")
_parsed: tuple[str, int] = ("", 0)
#: ``"000"`` to ``"999"``: a microsecond fraction is two lookups, faster than formatting a number.
_THREE_DIGITS = tuple(f"{number:03d}" for number in range(1000))


def rfc3339_utc(time_ns: int) -> str:
    """``2026-11-25T12:00:00.123456Z``: microseconds, which every schema we emit accepts."""
    global _cached
    seconds, nanos = divmod(time_ns, 1_000_000_000)
    cached_second, prefix = _cached  # one tuple: a thread never pairs a second with another's prefix
    if cached_second != seconds:
        prefix = time.strftime("%Y-%m-%dT%H:%M:%S.", time.gmtime(seconds))
        _cached = (seconds, prefix)
    return f"{prefix}{_THREE_DIGITS[nanos // 1_000_000]}{_THREE_DIGITS[nanos // 1000 % 1000]}Z"


def rfc3339_utc_ns(stamp: object) -> int | None:
    """Nanoseconds since the epoch of a timestamp :func:`rfc3339_utc` wrote; ``None`` for any other value.

    Fluentd wants each record's time beside it: reading it back from the record, with
    the seconds parsed once per second, keeps the two equal to the microsecond.
    """
    global _parsed
    if stamp.__class__ is not str or len(stamp) != 27 or stamp[19] != "." or stamp[26] != "Z":
        return None
    head, micros = stamp[:19], stamp[20:26]
    if not (micros.isascii() and micros.isdigit()):  # "²" passes isdigit() and int() refuses it
        return None
    cached_head, seconds = _parsed
    if head != cached_head:
        try:
            seconds = utc_seconds(head)
        except ValueError:
            return None
        _parsed = (head, seconds)
    return seconds * 1_000_000_000 + int(micros) * 1000


def utc_seconds(date_time: str) -> int:
    """Seconds since the epoch of ``YYYY-MM-DDTHH:MM:SS`` in UTC; ``ValueError`` when it is not numbers.

    No ``time.strptime``: its lazy import of ``_strptime`` races when threads call it first.
    """
    date, _, clock = date_time.partition("T")
    year, month, day = (int(part) for part in date.split("-"))
    hour, minute, second = (int(part) for part in clock.split(":"))
    return calendar.timegm((year, month, day, hour, minute, second, 0, 0, 0))
