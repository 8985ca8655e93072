"""What each collector's request body looks like, and what its 2xx answer says about the records.

NDJSON (Vector, Fluent Bit, Logstash), Grafana Loki push, Elasticsearch / OpenSearch
``_bulk`` and OTLP/HTTP JSON: a :class:`BodyFormat` joins the frames of a batch into
one body and reads the answer of a 2xx for records that failed anyway (``_bulk``
items with an error, an OTLP partial success). It also says which statuses are
retried. The :class:`~gunicorn_loggers.transports.http.HttpTransport` does the rest.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import orjson

from ..levels import LEVELS
from . import Outcome

if TYPE_CHECKING:
    from ..frames import Frame
    from .http_target import Secrets

#: How much of a collector's error answer a report quotes.
EXCERPT = 200


class BodyFormat:
    """How frames become one request body, and what a 2xx answer says about them."""

    content_type = "application/x-ndjson"
    #: Statuses after which the batch is sent again (the rest, apart from 413, is rejected).
    retry_statuses: frozenset[int] = frozenset({408, 425, 429, 500, 502, 503, 504})
    #: Any other 5xx is retried too unless a format says otherwise.
    retry_any_5xx = True

    def body(self, frames: list[Frame]) -> bytes:
        return b"".join([frame.data for frame in frames])

    def accepted(self, frames: list[Frame], answer: bytes, secrets: Secrets) -> Outcome:
        """The outcome of a 2xx answer."""
        return Outcome(delivered=len(frames))


class NdjsonFormat(BodyFormat):
    """One JSON record per line: Vector's and Fluent Bit's ``http`` inputs, Logstash ``http`` with ``json_lines``."""


class LokiFormat(BodyFormat):
    """Grafana Loki's push API (``POST /loki/api/v1/push``, JSON).

    Each record becomes one entry ``["<unix ns as a string>", "<the JSON record>"]``
    of the stream of its labels: ``service_name``, ``level`` (debug, info, warning,
    error, critical) and ``kind`` (access or error) — few values each, so few
    streams. Everything else stays in the line, where LogQL's ``| json`` finds it.
    The time, level and kind are the frame's, as the record's facts set them.
    """

    content_type = "application/json"

    def __init__(self, service_name: str) -> None:
        self.service_name = service_name
        self._labels: dict[tuple[str, str], bytes] = {}

    def _stream(self, kind: str, level: str) -> bytes:
        key = (kind, level)
        labels = self._labels.get(key)
        if labels is None:
            loki_level = LEVELS[level].loki if level in LEVELS else "info"
            labels = orjson.dumps({"service_name": self.service_name, "level": loki_level, "kind": kind})
            self._labels[key] = labels
        return labels

    def body(self, frames: list[Frame]) -> bytes:
        """Entries grouped by stream; each line is written once, by the one ``join`` of the body."""
        streams: dict[bytes, list[bytes]] = {}
        for frame in frames:
            line = frame.data.rstrip(b"\n")
            labels = self._stream(frame.kind, frame.level)
            values = streams.get(labels)
            if values is None:
                values = streams[labels] = []
            # formatted at once: orjson's result holds an allocation far larger than its length
            values += (b'["%d",%s]' % (frame.time_ns, orjson.dumps(line.decode("utf-8", "replace"))), b",")
        pieces = [b'{"streams":[']
        for labels, values in streams.items():
            pieces += (b'{"stream":', labels, b',"values":[')
            pieces += values
            pieces[-1] = b"]},"
        pieces[-1] = b"]}]}" if len(pieces) > 1 else b'{"streams":[]}'
        return b"".join(pieces)


class BulkFormat(BodyFormat):
    """Elasticsearch / OpenSearch ``_bulk``: a ``create`` action before each record (data streams accept no other).

    The answer is 200 even when items failed: ``errors: true`` and each item's
    ``status`` tell which. 429 and 5xx items are sent again; the rest (a mapping
    error, a missing ``@timestamp``) are rejected and the first reason reported.
    """

    def __init__(self, index: str | None = None) -> None:
        action = {"create": {"_index": index}} if index else {"create": {}}
        self.action = orjson.dumps(action) + b"\n"

    def body(self, frames: list[Frame]) -> bytes:
        action = self.action
        return b"".join([action + frame.data for frame in frames])

    def accepted(self, frames: list[Frame], answer: bytes, secrets: Secrets) -> Outcome:
        try:
            result = orjson.loads(answer)
        except orjson.JSONDecodeError:
            return Outcome(delivered=len(frames))  # 2xx without a bulk answer: nothing says otherwise
        if not isinstance(result, dict) or not result.get("errors"):
            return Outcome(delivered=len(frames))
        items = result.get("items") or []
        delivered = 0
        retry: list[Frame] = []
        reasons: dict[str, int] = {}
        retry_reasons: dict[str, int] = {}
        for index, frame in enumerate(frames):
            item = items[index] if index < len(items) and isinstance(items[index], dict) else {}
            outcome = next(iter(item.values()), {}) if item else {}
            status = outcome.get("status", 200) if isinstance(outcome, dict) else 200
            if not isinstance(status, int) or status < 300:
                delivered += 1
                continue
            error = outcome.get("error") or {}
            reason = (
                f"{status} {error.get('type', '')}: {error.get('reason', '')}"
                if isinstance(error, dict)
                else str(status)
            )
            reason = secrets.redact(reason[:EXCERPT])
            if status == 429 or status >= 500:
                retry.append(frame)
                retry_reasons[reason] = retry_reasons.get(reason, 0) + 1
            else:
                reasons[reason] = reasons.get(reason, 0) + 1
        note = "; ".join(f"_bulk item {reason} (x{count})" for reason, count in reasons.items()) or None
        error_text = None
        if retry:
            first = next(iter(retry_reasons))
            error_text = f"_bulk: {len(retry)} items answered {first}; sending them again"
        return Outcome(delivered=delivered, retry=retry, error=error_text, note=note)


class OtlpFormat(BodyFormat):
    """OTLP/HTTP with the JSON encoding: one ``ExportLogsServiceRequest`` per batch.

    Each frame is an ``ExportLogsServiceRequest`` holding one record (the
    ``otel`` schema's line); the batch merges them, grouping log records by
    resource and by scope. ``resource_defaults`` are added to every resource
    that lacks them (``OTEL_RESOURCE_ATTRIBUTES``), ``resource_overrides``
    replace what it has. Per the OTLP specification only 429, 502, 503 and 504
    are retried; a partial success is counted as rejected and never sent again.
    """

    content_type = "application/json"
    retry_statuses = frozenset({429, 502, 503, 504})
    retry_any_5xx = False

    def __init__(
        self, resource_defaults: Mapping[str, Any] | None = None, resource_overrides: Mapping[str, Any] | None = None
    ) -> None:
        from ..schemas.otlp_json import key_values

        self._defaults = key_values(resource_defaults or {})
        self._overrides = key_values(resource_overrides or {})
        self._resources: dict[bytes, bytes] = {}

    def _resource(self, resource: dict[str, Any]) -> dict[str, Any]:
        if not self._defaults and not self._overrides:
            return resource
        attributes = [
            kv for kv in resource.get("attributes", []) if kv.get("key") not in {o["key"] for o in self._overrides}
        ]
        present = {kv.get("key") for kv in attributes}
        attributes += [kv for kv in self._defaults if kv["key"] not in present] + self._overrides
        return {**resource, "attributes": attributes}

    def body(self, frames: list[Frame]) -> bytes:
        """One request for the whole batch: the records grouped by resource and scope, as their
        frames carry them encoded. One ``join`` writes the body."""
        groups: dict[bytes, dict[bytes, list[bytes]]] = {}
        for frame in frames:
            resource, scope = frame.group or (b"{}", b"{}")
            resource = self._resource_bytes(resource)
            scopes = groups.get(resource)
            if scopes is None:
                scopes = groups[resource] = {}
            records = scopes.get(scope)
            if records is None:
                records = scopes[scope] = []
            records.append(frame.data)
        pieces: list[bytes] = [b'{"resourceLogs":[']
        for resource, scopes in groups.items():
            pieces += (b'{"resource":', resource, b',"scopeLogs":[')
            for scope, records in scopes.items():
                pieces += (b'{"scope":', scope, b',"logRecords":[')
                for record in records:
                    pieces += (record, b",")
                pieces[-1] = b"]},"
            pieces[-1] = b"]}]},"
        pieces[-1] = b"]}]}]}" if len(pieces) > 1 else b'{"resourceLogs":[]}'
        return b"".join(pieces)

    def _resource_bytes(self, resource: bytes) -> bytes:
        cached = self._resources.get(resource)
        if cached is None:
            cached = resource
            if self._defaults or self._overrides:
                cached = orjson.dumps(self._resource(orjson.loads(resource)))
            if len(self._resources) > 256:
                self._resources.clear()
            self._resources[resource] = cached
        return cached

    def accepted(self, frames: list[Frame], answer: bytes, secrets: Secrets) -> Outcome:
        try:
            result = orjson.loads(answer) if answer.strip() else {}
        except orjson.JSONDecodeError:
            return Outcome(delivered=len(frames))
        partial = result.get("partialSuccess") if isinstance(result, dict) else None
        if not isinstance(partial, dict):
            return Outcome(delivered=len(frames))
        try:
            rejected = min(len(frames), max(0, int(partial.get("rejectedLogRecords") or 0)))
        except (TypeError, ValueError):
            rejected = 0
        if not rejected:
            return Outcome(delivered=len(frames))
        message = secrets.redact(str(partial.get("errorMessage") or "")[:EXCERPT])
        note = f"OTLP partial success{': ' + message if message else ''}"
        return Outcome(delivered=len(frames) - rejected, rejected=rejected, note=note)


__all__ = ["EXCERPT", "BodyFormat", "BulkFormat", "LokiFormat", "NdjsonFormat", "OtlpFormat"]
