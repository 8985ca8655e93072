"""Where an HTTP transport sends, and what it must never show: the parsed URL and the :class:`Secrets`.

A URL's user info becomes a ``Basic`` ``Authorization``; it, the query string and
every header value are secrets, which no report or error message shows
(:meth:`Secrets.redact`).
"""

from __future__ import annotations

import base64
from collections.abc import Iterable
from dataclasses import dataclass, field
from urllib.parse import unquote, urlsplit


class Secrets:
    """Values that must never appear in a report or an error message.

    A header value ``Bearer abc...`` is looked for whole and by its credentials
    (``abc...``): a collector's error message quotes the token alone. Values and
    parts shorter than :attr:`SHORTEST` are not looked for: a header ``x-b=c``
    would turn every letter c of a report into ``***``.
    """

    SHORTEST = 3

    def __init__(self, values: Iterable[str] = ()) -> None:
        self.values: list[str] = []
        self.add(*values)

    def add(self, *values: str) -> None:
        for value in values:
            if not value:
                continue
            words = value.split()
            # "Bearer TOKEN", "Basic B64": the credentials follow the scheme's name
            for candidate in (value, *words[1:]):
                if len(candidate) >= self.SHORTEST and candidate not in self.values:
                    self.values.append(candidate)
        self.values.sort(key=len, reverse=True)  # longest first: a token inside a header value

    def redact(self, text: str) -> str:
        for value in self.values:
            if value in text:
                text = text.replace(value, "***")
        return text


@dataclass(frozen=True)
class HttpTarget:
    """A parsed ``http(s)://[USER[:PASSWORD]@]HOST[:PORT][/PATH][?QUERY]``."""

    scheme: str
    host: str
    port: int
    target: str  # path and query, as sent in the request line
    #: ``Authorization`` from the URL's user info, if any.
    authorization: str | None = field(default=None, repr=False)

    @property
    def display(self) -> str:
        """What reports show: no user info, no query (query strings carry tokens too)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.scheme}://{host}:{self.port}{self.target.partition('?')[0]}"

    @property
    def path(self) -> str:
        return self.target.partition("?")[0]


def shown_url(url: str) -> str:
    """``url`` with its user info and query replaced by ``***``: safe for an error message."""
    text = url.strip()
    scheme, sep, rest = text.partition("://")
    if sep:
        authority, slash, after = rest.partition("/")
        if "@" in authority:
            authority = "***@" + authority.rpartition("@")[2]
        rest = authority + slash + after
        text = scheme + sep + rest
    if "?" in text:
        text = text.partition("?")[0] + "?***"
    return text


def parse_http_url(url: str, secrets: Secrets | None = None) -> HttpTarget:
    """Parse an http or https URL; raise ``ValueError`` with a message that shows no credentials."""
    shown = repr(shown_url(url))
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError as exc:
        raise ValueError(f"{shown} is not a valid URL ({exc.args[0] if exc.args else 'bad port'})") from None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise ValueError(f"{shown} does not start with http:// or https://")
    if not parts.hostname:
        raise ValueError(f"{shown} has no host (http://HOST[:PORT]/PATH)")
    if any(c.isspace() for c in url.strip()):
        raise ValueError(f"{shown} contains white space")
    authorization = None
    if parts.username is not None or parts.password is not None:
        user, password = unquote(parts.username or ""), unquote(parts.password or "")
        token = base64.b64encode(f"{user}:{password}".encode()).decode("ascii")
        authorization = f"Basic {token}"
        if secrets is not None:
            secrets.add(user, parts.username or "", password, parts.password or "", token)  # short ones skipped
    if secrets is not None and parts.query:
        secrets.add(parts.query)
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    default = 443 if scheme == "https" else 80
    return HttpTarget(scheme, parts.hostname.lower(), port or default, target, authorization)


__all__ = ["HttpTarget", "Secrets", "parse_http_url", "shown_url"]
