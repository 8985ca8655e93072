"""OTLP/JSON log records, each beside the resource and scope it is sent under.

The ``otel`` schema builds every record as a one-record ``ExportLogsServiceRequest``
(so a file line is a valid OTLP request on its own). Here it is taken apart as a
structure: the ``LogRecord`` is encoded, and its resource and scope, which are the
same objects for every record of a process, are encoded once and kept. The HTTP
transport groups records by them into one request per batch.
"""

from __future__ import annotations

from typing import Any

from ..encoding import encode_line
from ..frames import Frame
from ..schemas.otlp_json import key_values, log_record

#: Encoded resources and scopes kept, by the identity of the dict they were encoded from.
_KEPT = 64


class _EncodedOnce:
    """The encoding of dicts that are shared by every record (a process's resource, the logger's scope).

    Keyed by identity, with the dict kept alive so its id is not reused; a processor that copies
    them is encoded per record.
    """

    def __init__(self) -> None:
        self._kept: dict[int, tuple[Any, bytes]] = {}

    def __call__(self, value: Any) -> bytes:
        kept = self._kept.get(id(value))
        if kept is not None and kept[0] is value:
            return kept[1]
        encoded = encode_line(value)[:-1]
        if len(self._kept) >= _KEPT:
            self._kept.clear()
        self._kept[id(value)] = (value, encoded)
        return encoded


def _first(value: Any, key: str) -> Any:
    items = value.get(key) if isinstance(value, dict) else None
    return items[0] if isinstance(items, list) and items else None


class OtlpRecordEncoder:
    """A record of the ``otel`` schema -> a frame of its ``LogRecord``, grouped by resource and scope.

    A processor may change the record: fields it adds beside ``resourceLogs`` become attributes of
    the record's ``LogRecord`` (as they would be of a LogRecord in the OpenTelemetry SDK); any
    ``LogRecord`` under the first resource and scope is sent (several are joined, as the request
    body lists them); and a record with none becomes one ``LogRecord`` whose attributes are its fields.
    """

    needs_record = True

    def __init__(self) -> None:
        self._encoded = _EncodedOnce()

    def encode(self, kind: str, level: str, time_ns: int, record: dict[str, Any] | None, line: bytes | None) -> Frame:
        resource_logs = _first(record, "resourceLogs")
        scope_logs = _first(resource_logs, "scopeLogs")
        records = scope_logs.get("logRecords") if isinstance(scope_logs, dict) else None
        if not isinstance(records, list) or not records:
            fields = record if isinstance(record, dict) else {}
            data = encode_line(log_record(time_ns, level, "", fields))[:-1]
            return Frame(kind, level, time_ns, data, (b"{}", b"{}"))
        resource = resource_logs.get("resource", {})
        scope = scope_logs.get("scope", {})
        if len(record) > 1:  # type: ignore[arg-type]
            added = key_values({key: value for key, value in record.items() if key != "resourceLogs"})  # type: ignore[union-attr]
            records = [{**log, "attributes": [*log.get("attributes", ()), *added]} for log in records]
        data = b",".join([encode_line(log)[:-1] for log in records])
        return Frame(kind, level, time_ns, data, (self._encoded(resource), self._encoded(scope)))


__all__ = ["OtlpRecordEncoder"]
