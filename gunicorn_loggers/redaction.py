"""Keeping secrets out of records: credentials in headers and in query strings.

Redaction happens while the record is built, before any encoder or sink sees
it, so no sink can leak what the schema never received.
"""

from __future__ import annotations

from collections.abc import Iterable
from urllib.parse import unquote_plus

REDACTED = "REDACTED"


class QueryRedactor:
    """Replaces the values of sensitive query parameters with ``REDACTED``.

    Names are compared case-insensitively; a name written with percent-escapes or
    ``+`` (``?acc%65ss_token=x``) is decoded first, so it cannot slip through.
    A split on ``&`` and a set lookup per parameter measured several times faster
    than one regular expression over the names.
    """

    def __init__(self, names: Iterable[str]) -> None:
        self.names = frozenset(name.lower() for name in names)

    def __call__(self, query: str) -> str:
        if not query or not self.names:
            return query
        names = self.names
        if "%" not in query and "+" not in query:
            # Most queries hold no secret at all: a substring test per name on the
            # lowered query rules that out in a third of the time of the loop below.
            lowered = query.lower()
            for name in names:
                if name in lowered:
                    break
            else:
                return query
        parts = query.split("&")
        changed = False
        for index, part in enumerate(parts):
            name, sep, _ = part.partition("=")
            if not sep:
                continue
            if name.lower() in names or (
                ("%" in name or "+" in name) and unquote_plus(name, errors="replace").lower() in names
            ):
                parts[index] = f"{name}={REDACTED}"
                changed = True
        return "&".join(parts) if changed else query


def redact_target(target: str, redact_query: QueryRedactor) -> str:
    """A request target or URL with its query redacted."""
    path, sep, query = target.partition("?")
    if not sep:
        return target
    return f"{path}?{redact_query(query)}"
