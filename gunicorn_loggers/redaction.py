"""Keeping secrets out of records: credentials in headers and in query strings.

Redaction happens while the record is built, before any encoder or sink sees
it, so no sink can leak what the schema never received.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from urllib.parse import unquote_plus

REDACTED = "REDACTED"


class QueryRedactor:
    """Replaces the values of sensitive query parameters with ``REDACTED``.

    Parameter names are compared case-insensitively after percent-decoding, so
    ``?Access%5FToken=x`` is caught too. A cheap regular expression decides first
    whether a query can contain a listed name at all; most queries skip the split.
    """

    def __init__(self, names: Iterable[str]) -> None:
        self.names = frozenset(name.lower() for name in names)
        alternatives = "|".join(sorted((re.escape(n) for n in self.names), key=len, reverse=True))
        self._maybe = re.compile(rf"(?:^|[&;])(?:{alternatives})=|%|\+", re.IGNORECASE) if self.names else None

    def __call__(self, query: str) -> str:
        if not query or self._maybe is None or self._maybe.search(query) is None:
            return query
        parts = query.split("&")
        changed = False
        for index, part in enumerate(parts):
            name, sep, _ = part.partition("=")
            if not sep:
                continue
            if "%" in name or "+" in name:
                name = unquote_plus(name, errors="replace")
            if name.lower() in self.names:
                parts[index] = part[: part.index("=") + 1] + REDACTED
                changed = True
        return "&".join(parts) if changed else query


def redact_target(target: str, redact_query: QueryRedactor) -> str:
    """The request target (``RAW_URI``) with its query redacted."""
    path, sep, query = target.partition("?")
    if not sep:
        return target
    return f"{path}?{redact_query(query)}"
