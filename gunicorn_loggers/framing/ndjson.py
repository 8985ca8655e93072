"""One JSON object per line (streams, HTTP bodies) or per datagram, as its frame."""

from __future__ import annotations

from typing import Any

import orjson

from ..encoding import encode_line
from ..frames import Frame

TRUNCATED = "...[truncated]"
#: Fewest characters a cut string keeps.
MIN_KEPT = 32


def fit_json_line(line: bytes, limit: int, record: Any = None) -> bytes | None:
    """``line`` (one JSON object, ``record`` encoded) shrunk to at most ``limit`` bytes by cutting its long strings.

    Every string longer than a common cap keeps its first ``cap`` characters and ends
    in ``...[truncated]``; the cap is the largest that fits, so each long field keeps
    as much as it can. Keys, numbers and short strings (timestamps, levels) are never
    touched. ``None`` when the record does not fit even with a cap of
    :data:`MIN_KEPT` characters. The strings are cut in ``record`` itself; only a
    line made elsewhere, without its record, is read back.
    """
    if len(line) <= limit:
        return line
    if record is None:
        try:
            record = orjson.loads(line)
        except orjson.JSONDecodeError:
            return None
    newline = line.endswith(b"\n")

    def cut(node: object, cap: int) -> object:
        if isinstance(node, str):
            return node[:cap] + TRUNCATED if len(node) > cap + len(TRUNCATED) else node
        if isinstance(node, dict):
            return {key: cut(value, cap) for key, value in node.items()}
        if isinstance(node, (list, tuple)):
            return [cut(value, cap) for value in node]
        return node

    def encoded(cap: int) -> bytes:
        text = encode_line(cut(record, cap))
        return text if newline else text[:-1]

    low, high = MIN_KEPT, len(line)
    best = encoded(low)
    if len(best) > limit:
        return None
    while low < high:  # the largest cap that still fits
        middle = (low + high + 1) // 2
        attempt = encoded(middle)
        if len(attempt) <= limit:
            low, best = middle, attempt
        else:
            high = middle - 1
    return best


def compact(line: bytes) -> bytes:
    """An exact-size copy: orjson's bytes keep the allocation of its output buffer, much larger than a
    line, and a queue of them would hold far more memory than the bytes it counts."""
    return bytes(memoryview(line))


class JsonLineEncoder:
    """The JSON line is the frame (NDJSON streams, and the lines HTTP bodies are made of)."""

    needs_record = False

    def encode(self, kind: str, level: str, time_ns: int, record: dict[str, Any] | None, line: bytes | None) -> Frame:
        return Frame(kind, level, time_ns, compact(encode_line(record) if line is None else line))


class JsonDatagramEncoder:
    """One JSON object per datagram, never larger than ``max_datagram`` bytes (long strings are cut, in the
    record: so it takes the record, not a line the template wrote)."""

    needs_record = True

    def __init__(self, max_datagram: int) -> None:
        self.max_datagram = max_datagram

    def encode(
        self, kind: str, level: str, time_ns: int, record: dict[str, Any] | None, line: bytes | None
    ) -> Frame | None:
        fitted = fit_json_line(encode_line(record) if line is None else line, self.max_datagram, record)
        return None if fitted is None else Frame(kind, level, time_ns, compact(fitted))


__all__ = ["MIN_KEPT", "TRUNCATED", "JsonDatagramEncoder", "JsonLineEncoder", "fit_json_line"]
