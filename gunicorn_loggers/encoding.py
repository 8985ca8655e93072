"""Turning a record dict into one line of JSON bytes, whatever it holds.

orjson does the work (much faster than ``json``); values it cannot
encode go through :func:`fallback_value`. If orjson still refuses (a lone
surrogate, an integer wider than 64 bits, a cycle), the record is made safe by
:func:`make_serialisable` and encoded again: a record is never lost because a
caller logged something odd.
"""

from __future__ import annotations

import datetime
import json
from collections.abc import Mapping
from typing import Any

from .text import safe_text, text_of

try:
    import orjson
except ImportError:  # pragma: no cover - orjson is a dependency; PyPy users may lack a wheel
    orjson = None

MAX_DEPTH = 32


def fallback_value(value: Any) -> Any:
    """What to write for a value JSON has no type for."""
    if isinstance(value, (set, frozenset)):
        return list(value)
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value).decode("utf-8", "backslashreplace")
    if isinstance(value, (datetime.datetime, datetime.date, datetime.time)):
        return value.isoformat()
    try:
        return repr(value)
    except Exception as exc:
        return f"<repr() of {type(value).__qualname__} failed: {type(exc).__name__}>"


def mapping_pairs(value: Mapping) -> list[tuple[Any, Any]] | str:
    """The pairs of ``value``, or text naming the failure when its ``items()`` raises.

    A dict gives the pairs it holds, as orjson reads them, whatever its subclass's ``items()`` does.
    """
    if isinstance(value, dict):
        return list(dict.items(value))
    try:
        return list(value.items())
    except Exception as exc:
        return f"<items() of {type(value).__qualname__} failed: {type(exc).__name__}>"


def make_serialisable(value: Any, depth: int = 0, seen: frozenset[int] = frozenset()) -> Any:
    """A copy of ``value`` made of JSON types only: cycles cut, keys as text, text UTF-8 safe.

    A key whose ``str()`` raises, or a mapping whose ``items()`` does, is written as text
    naming the failure: the rest of the record is kept.
    """
    if value is None or isinstance(value, (bool, float)):
        return value
    if isinstance(value, int):
        return value if -(2**63) <= value < 2**64 else str(value)
    if isinstance(value, str):
        return safe_text(value)
    if depth >= MAX_DEPTH:
        return "<too deep>"
    if id(value) in seen:
        return "<cycle>"
    inner = seen | {id(value)}
    if isinstance(value, Mapping):
        pairs = mapping_pairs(value)
        if isinstance(pairs, str):
            return pairs
        return {safe_text(text_of(k)): make_serialisable(v, depth + 1, inner) for k, v in pairs}
    if isinstance(value, (list, tuple)):
        return [make_serialisable(v, depth + 1, inner) for v in value]
    converted = fallback_value(value)
    if isinstance(converted, str):
        return safe_text(converted)
    return make_serialisable(converted, depth + 1, inner)


if orjson is not None:
    # Not OPT_NON_STR_KEYS: it slows the encoding of every record,
    # and the rare dict with non-text keys takes the make_serialisable path instead.
    _OPTIONS = orjson.OPT_APPEND_NEWLINE
    _dumps = orjson.dumps

    def encode_line(record: Mapping[str, Any]) -> bytes:
        """``record`` as one line of UTF-8 JSON ending in ``\\n``."""
        try:
            return _dumps(record, fallback_value, _OPTIONS)  # positional: a little faster than keywords
        except (TypeError, ValueError):
            return _dumps(make_serialisable(record), default=fallback_value, option=_OPTIONS)

else:  # pragma: no cover

    def encode_line(record: Mapping[str, Any]) -> bytes:
        try:
            text = json.dumps(record, default=fallback_value, ensure_ascii=False, separators=(",", ":"))
        except (TypeError, ValueError, RecursionError):
            text = json.dumps(make_serialisable(record), ensure_ascii=False, separators=(",", ":"))
        return text.encode("utf-8", "backslashreplace") + b"\n"
