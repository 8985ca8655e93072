"""RFC 3339 timestamps in UTC, fast enough for the access-log hot path.

``datetime.isoformat`` costs about a microsecond a call; formatting the seconds
once per second and appending the fraction is several times cheaper.
"""

from __future__ import annotations

import time

_cached: tuple[int, str] = (-1, "")


def rfc3339_utc(time_ns: int) -> str:
    """``2026-11-25T12:00:00.123456Z``: microseconds, which every schema we emit accepts."""
    global _cached
    seconds, nanos = divmod(time_ns, 1_000_000_000)
    cached_second, prefix = _cached
    if cached_second != seconds:
        prefix = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds))
        _cached = (seconds, prefix)
    return f"{prefix}.{nanos // 1000:06d}Z"
