"""OTLP/JSON encoding of log records, shared by the ``otel`` schema and OTLP sinks.

The OTLP/JSON mapping differs from stock proto3 JSON: trace and span ids are
hex strings, enums are integers, 64-bit integers are decimal strings, and keys
are lowerCamelCase. ``google.protobuf.json_format`` gets the ids wrong, so we
build the dicts by hand.
"""

from __future__ import annotations

import base64
import math
from collections.abc import Mapping
from typing import Any

from ..encoding import fallback_value, mapping_pairs
from ..levels import LEVELS
from ..text import safe_text, text_of

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
MAX_DEPTH = 16

#: Level name -> (SeverityNumber, SeverityText) of the log data model, from the one table of levels.
SEVERITY = {name: (entry.otlp_number, entry.otlp_text) for name, entry in LEVELS.items()}


def any_value(value: Any, depth: int = 0, seen: frozenset[int] = frozenset()) -> dict[str, Any]:
    """A Python value as an OTLP ``AnyValue``, always one the OTLP/JSON mapping accepts.

    Text is made encodable here (lone surrogates as ``\\udcNN``): a record the JSON
    encoder refused would be repaired by the generic fallback, which knows nothing of
    OTLP's nesting. Values JSON has no type for follow the same rules as the other
    schemas (:func:`~gunicorn_loggers.encoding.fallback_value`: dates in ISO 8601, a
    failing ``repr()``, ``str()`` of a key or ``items()`` named); a cycle becomes ``<cycle>``,
    depth past 16 ``<too deep>``.
    """
    if value is None:
        return {}
    if isinstance(value, bool):
        return {"boolValue": value}
    if isinstance(value, int):
        return {"intValue": str(value)} if INT64_MIN <= value <= INT64_MAX else {"stringValue": str(value)}
    if isinstance(value, float):
        return {"doubleValue": value} if math.isfinite(value) else {"stringValue": str(value)}
    if isinstance(value, str):
        return {"stringValue": safe_text(value)}
    if depth >= MAX_DEPTH:
        return {"stringValue": "<too deep>"}
    if isinstance(value, (bytes, bytearray)):
        return {"bytesValue": base64.b64encode(bytes(value)).decode("ascii")}
    if id(value) in seen:
        return {"stringValue": "<cycle>"}
    if isinstance(value, Mapping):
        mapping = value
        if value.__class__ is not dict:  # a subclass's or another mapping's items() may raise
            pairs = mapping_pairs(value)
            if isinstance(pairs, str):
                return {"stringValue": pairs}
            mapping = dict(pairs)
        return {"kvlistValue": {"values": key_values(mapping, depth + 1, seen | {id(value)})}}
    if isinstance(value, (list, tuple, set, frozenset)):
        inner = seen | {id(value)}
        return {"arrayValue": {"values": [any_value(item, depth + 1, inner) for item in value]}}
    return any_value(fallback_value(value), depth + 1, seen)


def plain_value(value: dict[str, Any]) -> Any:
    """The Python value of an ``AnyValue``, for people reading a console."""
    if not value:
        return None
    kind, inner = next(iter(value.items()))
    if kind == "arrayValue":
        return [plain_value(item) for item in inner.get("values", [])]
    if kind == "kvlistValue":
        return {kv["key"]: plain_value(kv["value"]) for kv in inner.get("values", [])}
    if kind == "intValue":
        return int(inner)
    return inner


def key_values(
    attributes: Mapping[Any, Any], depth: int = 0, seen: frozenset[int] = frozenset()
) -> list[dict[str, Any]]:
    """``[{"key": ..., "value": AnyValue}]``.

    Text, 64-bit integers and lists of text (header values) are most attributes of
    every access record: they skip ``any_value``'s chain of type tests.
    """
    pairs = []
    for key, value in attributes.items():
        kind = value.__class__
        if kind is str:
            converted = {"stringValue": safe_text(value)}
        elif kind is int and INT64_MIN <= value <= INT64_MAX:
            converted = {"intValue": str(value)}
        elif kind is list and all(item.__class__ is str for item in value):
            converted = {"arrayValue": {"values": [{"stringValue": safe_text(item)} for item in value]}}
        else:
            converted = any_value(value, depth, seen)
        pairs.append({"key": safe_text(key if key.__class__ is str else text_of(key)), "value": converted})
    return pairs


def text_values(values: list[str]) -> dict[str, Any]:
    """A list of text (header values) as an ``AnyValue``."""
    return {"arrayValue": {"values": [{"stringValue": value} for value in values]}}


def log_record(
    time_ns: int,
    level: str,
    body: str,
    attributes: Mapping[str, Any],
    trace_id: str | None = None,
    span_id: str | None = None,
    flags: int | None = None,
) -> dict[str, Any]:
    """One OTLP/JSON ``LogRecord``."""
    return log_record_of(time_ns, level, body, key_values(attributes), trace_id, span_id, flags)


def log_record_of(
    time_ns: int,
    level: str,
    body: str,
    attributes: list[dict[str, Any]],
    trace_id: str | None = None,
    span_id: str | None = None,
    flags: int | None = None,
) -> dict[str, Any]:
    """As :func:`log_record`, with the attributes already key-values (the access path builds them so)."""
    number, text = SEVERITY.get(level, (0, level.upper()))
    time_text = str(time_ns)
    record: dict[str, Any] = {
        "timeUnixNano": time_text,
        "observedTimeUnixNano": time_text,
        "severityNumber": number,
        "severityText": text,
        "body": {"stringValue": body},
        "attributes": attributes,
    }
    if trace_id:
        record["traceId"] = trace_id
    if span_id:
        record["spanId"] = span_id
    if flags is not None:
        record["flags"] = flags
    return record


def logs_request(resource: Mapping[str, Any], scope: str, records: list[dict[str, Any]]) -> dict[str, Any]:
    """An ``ExportLogsServiceRequest`` holding ``records`` of one resource and scope."""
    return logs_request_of(key_values(resource), scope, records)


def logs_request_of(resource: list[dict[str, Any]], scope: str, records: list[dict[str, Any]]) -> dict[str, Any]:
    """As :func:`logs_request`, with the resource's attributes already converted (and shared between records)."""
    return {
        "resourceLogs": [
            {
                "resource": {"attributes": resource},
                "scopeLogs": [{"scope": {"name": scope}, "logRecords": records}],
            }
        ]
    }
