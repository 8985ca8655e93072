"""Keeping secrets out of records: credentials in headers and in query strings.

Redaction happens while the record is built, before any encoder or sink sees
it, so no sink can leak what the schema never received.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from urllib.parse import unquote_plus

REDACTED = "REDACTED"
_BRACKETS = re.compile(r"[\[\]]")


class QueryRedactor:
    """Replaces the values of sensitive query parameters with ``REDACTED``.

    Names are compared case-insensitively; a name written with percent-escapes or
    ``+`` (``?acc%65ss_token=x``) is decoded first, so it cannot slip through.
    The decision for each raw name is cached: an app's parameter names are a small
    set that repeats (``page``, ``q``, ``token``), so the per-request work is a
    split and a dict lookup per parameter, whatever the values: faster, with a
    secret in the query or without, than a substring test per secret name, than a
    regular expression over the names and than ``functools.lru_cache``.
    """

    #: Names remembered; later new names are still checked, uncached.
    CACHE_SIZE = 1024

    def __init__(self, names: Iterable[str]) -> None:
        self.names = frozenset(name.lower() for name in names)
        # Without escapes no name longer than the longest secret's can be one (lower() never
        # shortens). One decoded character can take up to twelve escaped ones (a four-byte
        # UTF-8 character, or the three-byte Kelvin sign whose lower case is "k"), so only
        # names up to twelve times as long are cached: a client cannot fill the cache with
        # long names, and a longer escaped name is still decoded, uncached.
        self.longest = max(map(len, self.names), default=0)
        self.cache_limit = 12 * self.longest
        # A plain dict, filled up to CACHE_SIZE and never evicted: a lookup is cheaper than an
        # lru_cache call, and the names an app uses arrive early and stay.
        self.known: dict[str, bool] = {}

    def is_secret(self, name: str) -> bool:
        """``name`` is a secret's, or holds one in brackets (``token[]``, ``user[password]``, as PHP
        and Rails name arrays and nested fields), written plainly or percent-encoded."""
        candidates = [name.lower()]
        if "%" in name or "+" in name:
            candidates.append(unquote_plus(name, errors="replace").lower())
        names = self.names
        for candidate in candidates:
            if candidate in names:
                return True
            if "[" in candidate and any(part in names for part in _BRACKETS.split(candidate)):
                return True
        return False

    def __call__(self, query: str) -> str:
        if not query or not self.names:
            return query
        known = self.known
        parts = query.split("&")
        changed = False
        index = -1
        for part in parts:
            index += 1
            name, sep, _ = part.partition("=")
            if not sep:
                continue
            secret = known.get(name)
            if secret is None:
                secret = self.is_secret(name)
                if len(name) <= self.cache_limit and len(known) < self.CACHE_SIZE:
                    known[name] = secret
            if secret:
                parts[index] = name + "=" + REDACTED
                changed = True
        return "&".join(parts) if changed else query


#: ``scheme://user:password@``: the user info runs to the last ``@`` before the path or the query, as the
#: host is read (``request_facts.authority_of``): ``http://u:p#@host/`` names ``host`` and hides ``u:p#``.
_USER_INFO = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*://)([^/?]*)@")


def redact_user_info(url: str) -> str:
    """``url`` with its user name and password each replaced by ``REDACTED``.

    A proxy's request (absolute-form) can name credentials in its request line. ECS
    (``shared/specs/ecs/url.yml``) has no rule for them in ``url.original``;
    OpenTelemetry's ``url.full``, which ECS's url fields match, asks for
    ``https://REDACTED:REDACTED@www.example.com/``, and every schema gets that. The
    user goes too: some clients put a token there. A user alone becomes ``REDACTED@``.
    """
    match = _USER_INFO.match(url)
    if match is None or not match.group(2):
        return url
    user_info = f"{REDACTED}:{REDACTED}" if ":" in match.group(2) else REDACTED
    return f"{match.group(1)}{user_info}@{url[match.end() :]}"


def redact_fragment(target: str, redact_query: Callable[[str], str]) -> str:
    """``target`` with the parameters of its fragment redacted as a query's are.

    Browsers never send a fragment, but a ``Referer`` or a hostile request line can
    carry one, and OAuth's implicit flow hands its token over in it
    (``#access_token=...``).
    """
    before, sep, fragment = target.partition("#")
    if not sep or "=" not in fragment:
        return target
    return f"{before}#{redact_query(fragment)}"


def redact_target(target: str, redact_query: Callable[[str], str]) -> str:
    """A request target or URL with its user info, its query and its fragment's parameters redacted.

    As in the access record's fields, everything after the first ``?`` is the
    query, a fragment included: the fragment's parameters are redacted before the query's.
    """
    if "@" in target:
        target = redact_user_info(target)
    if "#" in target:
        target = redact_fragment(target, redact_query)
    path, sep, query = target.partition("?")
    if not sep:
        return target
    return f"{path}?{redact_query(query)}"


#: A word of free text that may be or hold a URL: it has a query, a fragment or user info.
#: (Anchored at a word's start, so that a long word without them is scanned once, not once a character.)
_WORD_WITH_URL_PARTS = re.compile(r"(?<!\S)[^\s?#@]*[?#@]\S*")
#: What opens a word before its URL (quotes of a repr, brackets) and what closes it after: a closing
#: quote, and the punctuation a repr of a list or tuple puts after it (``'/a?token=x',``).
_AROUND_WORD = re.compile(r"((?:b?['\"]|[(\[{<])*)(.*?)((?:['\"]+[,;:.)\]}>]*)?)", re.DOTALL)


def redact_urls_in_text(text: str, redact_query: Callable[[str], str]) -> str:
    """``text`` with every word in it redacted as a request target.

    For text whose shape we do not know: a query then runs to the next blank,
    whatever quotes, ``<`` or ``#`` it holds, and the quotes around a word (a repr's)
    stay where they were.
    """
    if "?" not in text and "#" not in text and "@" not in text:
        return text
    return _WORD_WITH_URL_PARTS.sub(lambda match: _redact_word(match.group(), redact_query), text)


def _redact_word(word: str, redact_query: Callable[[str], str]) -> str:
    opening, inner, closing = _AROUND_WORD.fullmatch(word).groups()  # always matches: every group can be empty
    return opening + redact_target(inner, redact_query) + closing


#: A header line as gunicorn quotes one it refused: a name, then a colon or blanks, then the value.
_HEADER_LINE = re.compile(r"([^\s:]+)([\s:]*)(.*)", re.DOTALL)
#: A request method: an RFC 9110 token.
_METHOD = re.compile(r"[-!#$%&'*+.^_`|~0-9A-Za-z]+")


class RequestTextRedactor:
    """Redacts what a client sent, as text: a request line, header lines, or a target alone.

    gunicorn quotes these when it refuses a request (``Invalid HTTP Header:
    'Authorization Bearer ...'``), and a premature disconnection quotes the bytes
    read so far. A secret header's value becomes ``REDACTED`` (the name stays),
    whether a colon or a blank follows the name; so do the lines folded into it. In
    a request line the target runs to the blank before its last ``HTTP/`` (a query
    value can hold blanks there), or to the next blank when there is no version.
    """

    def __init__(self, redact_query: Callable[[str], str], secret_headers: Iterable[str]) -> None:
        self.redact_query = redact_query
        self.secret_headers = frozenset(name.lower() for name in secret_headers)

    def __call__(self, text: str) -> str:
        lines = text.split("\n")
        folded_into_secret = False
        for index, line in enumerate(lines):
            body = line.removesuffix("\r")
            if folded_into_secret and body[:1] in (" ", "\t"):
                redacted = body[: len(body) - len(body.lstrip())] + REDACTED
            else:
                redacted = self.redact_header_line(body)
                folded_into_secret = redacted is not None
                if redacted is None:
                    redacted = self.redact_request_line(body)
            lines[index] = redacted + line[len(body) :]
        return "\n".join(lines)

    def redact_header_line(self, line: str) -> str | None:
        """``Name: REDACTED`` for a line that names a secret header; None for any other line."""
        match = _HEADER_LINE.fullmatch(line)
        if match is None or match.group(1).lower() not in self.secret_headers:
            return None
        name, separator, value = match.groups()
        return f"{name}{separator}{REDACTED}" if value else line

    def redact_request_line(self, line: str) -> str:
        """``METHOD TARGET HTTP/x.y`` with its target redacted; any other line with each of its words redacted."""
        method, space, rest = line.partition(" ")
        if not space or not _METHOD.fullmatch(method):
            return redact_urls_in_text(line, self.redact_query)
        target, version_space, version = rest.rpartition(" HTTP/")
        if version_space:
            redact_query = self.redact_query
            return f"{method} {redact_target(target, redact_query)} HTTP/{redact_urls_in_text(version, redact_query)}"
        return f"{method} {redact_urls_in_text(rest, self.redact_query)}"
