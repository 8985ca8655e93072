"""Turning WSGI strings into text that survives JSON without losing a byte.

WSGI hands header values and ``PATH_INFO`` over as "bytes in a str": every byte
decoded as latin-1. Valid UTF-8 is decoded back to the characters the client
meant; bytes that are not UTF-8 are kept as ``\\xNN`` escapes instead of being
dropped or replaced, so a record shows exactly what arrived.
"""

from __future__ import annotations

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


def text_of(value: Any) -> str:
    """``str(value)``, or text naming its type and the error when its ``__str__`` raises."""
    try:
        return str(value)
    except Exception as exc:
        return f"<str() of {type(value).__qualname__} failed: {type(exc).__name__}>"
