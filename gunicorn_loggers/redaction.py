"""Keeping secrets out of records: credentials in headers and in query strings.

Redaction happens while the record is built, before any encoder or sink sees
it, so no sink can leak what the schema never received.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import lru_cache
from urllib.parse import unquote_plus

REDACTED = "REDACTED"


class QueryRedactor:
    """Replaces the values of sensitive query parameters with ``REDACTED``.

    Names are compared case-insensitively; a name written with percent-escapes or
    ``+`` (``?acc%65ss_token=x``) is decoded first, so it cannot slip through.
    The decision for each raw name is cached: an app's parameter names are a small
    set that repeats (``page``, ``q``, ``token``), so the per-request work is a
    split and a cache lookup per parameter, whatever the values. That measured
    faster than a substring test per secret name (0.73 against 1.06 µs for
    ``page=2&token=abc``) and than a regular expression over the names once a
    secret is present (1.2 to 2.9 µs).
    """

    def __init__(self, names: Iterable[str]) -> None:
        self.names = frozenset(name.lower() for name in names)
        # Without escapes no name longer than the longest secret's can be one (lower() never
        # shortens). One decoded character can take up to twelve escaped ones (a four-byte
        # UTF-8 character, or the three-byte Kelvin sign whose lower case is "k"), so only
        # names up to twelve times as long are cached: a client cannot fill the cache with
        # long names, and a longer escaped name is still decoded, uncached.
        self.longest = max(map(len, self.names), default=0)
        self.cache_limit = 12 * self.longest
        self.is_secret = lru_cache(maxsize=1024)(self._is_secret)

    def _is_secret(self, name: str) -> bool:
        names = self.names
        return name.lower() in names or (
            ("%" in name or "+" in name) and unquote_plus(name, errors="replace").lower() in names
        )

    def __call__(self, query: str) -> str:
        if not query or not self.names:
            return query
        is_secret, cache_limit = self.is_secret, self.cache_limit
        parts = query.split("&")
        changed = False
        for index, part in enumerate(parts):
            name, sep, _ = part.partition("=")
            if not sep:
                continue
            if len(name) <= cache_limit:
                secret = is_secret(name)
            else:
                secret = "%" in name and self._is_secret(name)
            if secret:
                parts[index] = name + "=" + REDACTED
                changed = True
        return "&".join(parts) if changed else query


def redact_target(target: str, redact_query: QueryRedactor) -> str:
    """A request target or URL with its query redacted."""
    path, sep, query = target.partition("?")
    if not sep:
        return target
    return f"{path}?{redact_query(query)}"
