"""Turning WSGI strings into text that survives JSON without losing a byte.

WSGI hands header values and ``PATH_INFO`` over as "bytes in a str": every byte
decoded as latin-1. Valid UTF-8 is decoded back to the characters the client
meant; bytes that are not UTF-8 are kept as ``\\xNN`` escapes instead of being
dropped or replaced, so a record shows exactly what arrived.
"""

from __future__ import annotations

import re
from typing import Any


def wsgi_to_text(value: str) -> str:
    """Re-decode a latin-1 WSGI string as UTF-8, escaping bytes that are not UTF-8."""
    if value.isascii():
        return value
    try:
        raw = value.encode("latin-1")
    except UnicodeEncodeError:
        return safe_text(value)
    return raw.decode("utf-8", "backslashreplace")


def safe_text(value: str) -> str:
    """Escape lone surrogates, which no JSON encoder accepts, as ``\\udcNN``."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return value.encode("utf-8", "backslashreplace").decode("utf-8")
    return value


#: In ``repr()`` of text decoded with ``surrogateescape``: an escaped backslash, or a byte that was not UTF-8.
_REPR_ESCAPE = re.compile(r"\\(\\|udc[89a-f][0-9a-f])")


def wsgi_repr(value: str) -> str:
    """``repr()`` of a latin-1 WSGI string as it reads in UTF-8: ``'/café'``, not ``'/cafÃ©'``.

    Bytes that are not UTF-8 are shown as ``\\xNN``, as :func:`wsgi_to_text` keeps them,
    and the rest is escaped as ``repr()`` escapes it, so the quote still reads as Python.
    """
    try:
        text = value.encode("latin-1").decode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        return repr(value)
    quoted = repr(text)
    if "\\udc" not in quoted:
        return quoted
    return _REPR_ESCAPE.sub(_byte_escape, quoted)


def _byte_escape(match: re.Match[str]) -> str:
    escape = match.group(1)
    return "\\\\" if escape == "\\" else "\\x" + escape[3:]


def text_of(value: Any) -> str:
    """``str(value)``, or text naming its type and the error when its ``__str__`` raises."""
    try:
        return str(value)
    except Exception as exc:
        return f"<str() of {type(value).__qualname__} failed: {type(exc).__name__}>"
