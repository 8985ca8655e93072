"""OpenTelemetry: the log data model with HTTP semantic-convention attributes.

Each line is one OTLP/JSON ``ExportLogsServiceRequest`` holding one record, the
form the OpenTelemetry Collector's ``otlpjsonfile`` receiver reads as it is;
attribute names follow semantic conventions 1.44 (``http.request.method``,
``url.path``, ``client.address``...). Resource attributes carry the service.
"""

from __future__ import annotations

from typing import Any

from ..levels import ERROR_STATUS
from ..log_facts import LogFacts
from ..request_facts import AccessFacts
from ..timestamps import rfc3339_utc
from . import otlp_json
from ._base import (
    ACCESS_LOGGER,
    HOSTS,
    Schema,
    access_message,
    move_stack_trace,
    private_copy,
)
from .otlp_json import text_values

#: Methods semantic conventions know; anything else is reported as ``_OTHER``.
KNOWN_METHODS = frozenset({"CONNECT", "DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT", "QUERY", "TRACE"})


_NONE: dict[str, list[str]] = {}
#: ``WARN`` -> ``warning``...: the inverse of the severity texts records are written with.
_LEVEL_OF_SEVERITY_TEXT = {text: level for level, (_, text) in otlp_json.SEVERITY.items()}


class OtelSchema(Schema):
    name = "otel"
    time_resolution_ns = 1  # timeUnixNano

    def __init__(self, settings) -> None:
        super().__init__(settings)
        self.request_id_header = settings.request_id_header
        self.header_attribute = f"http.request.header.{settings.request_id_header}"
        self._resource: tuple[int | None, list[dict[str, Any]]] | None = None

    def resource_attributes(self, pid: int | None) -> list[dict[str, Any]]:
        """The resource as OTLP key-values, built once per process: only the pid differs."""
        cached = self._resource
        if cached is None or cached[0] != pid:
            cached = self._resource = (pid, otlp_json.key_values(self.resource(pid)))
        return cached[1]

    def unshare(self, record: dict[str, Any]) -> dict[str, Any]:
        """Only the resource's key-values are shared (see :meth:`resource_attributes`)."""
        for resource_logs in record.get("resourceLogs") or ():
            if isinstance(resource_logs, dict) and isinstance(resource_logs.get("resource"), dict):
                resource_logs["resource"] = private_copy(resource_logs["resource"])
        return record

    def log_field_paths(self) -> list[str]:
        """The attribute names of a log record, and the resource's: an app's ``service.name``
        attribute would stand beside the resource's for a backend that merges the two."""
        resource_logs = self.fullest_log_record()["resourceLogs"][0]
        record = resource_logs["scopeLogs"][0]["logRecords"][0]
        return [kv["key"] for kv in (*resource_logs["resource"]["attributes"], *record["attributes"])]

    def resource(self, pid: int | None) -> dict[str, Any]:
        resource: dict[str, Any] = {"service.name": self.settings.service_name}
        if self.settings.service_version:
            resource["service.version"] = self.settings.service_version
        if self.settings.service_environment:
            resource["deployment.environment.name"] = self.settings.service_environment
        if pid is not None:
            resource["process.pid"] = pid
        return resource

    def access(self, facts: AccessFacts) -> dict[str, Any]:
        # The key-values are written out here rather than built as a dict for key_values():
        # this runs on every request, and the types of the access fields are known.
        level = facts.level
        method = facts.method
        known = method in KNOWN_METHODS
        attributes: list[dict[str, Any]] = [
            {"key": "http.request.method", "value": {"stringValue": method if known else "_OTHER"}},
            {"key": "url.path", "value": {"stringValue": facts.path}},
            {"key": "url.scheme", "value": {"stringValue": facts.scheme or "http"}},
            {"key": "url.original", "value": {"stringValue": facts.target}},
            {"key": "http.response.status_code", "value": {"intValue": str(facts.status)}},
            {"key": "network.protocol.name", "value": {"stringValue": "http"}},
            {"key": "network.protocol.version", "value": {"stringValue": facts.http_version}},
        ]
        if facts.status is None:  # no response: the worker was aborted
            del attributes[4]
        add = attributes.append
        if facts.duration_ns is not None:
            add({"key": "http.server.request.duration", "value": {"doubleValue": facts.duration_ns / 1e9}})
        if not known:
            add({"key": "http.request.method_original", "value": {"stringValue": method}})
        if facts.query is not None:
            add({"key": "url.query", "value": {"stringValue": facts.query}})
        if facts.host:
            name, port = HOSTS[facts.host]
            add({"key": "server.address", "value": {"stringValue": name}})
            if port is not None:
                add({"key": "server.port", "value": {"intValue": str(port)}})
        if facts.client_address:
            add({"key": "client.address", "value": {"stringValue": facts.client_address}})
        if facts.peer_address:
            add({"key": "network.peer.address", "value": {"stringValue": facts.peer_address}})
        if facts.peer_port is not None:
            add({"key": "network.peer.port", "value": {"intValue": str(facts.peer_port)}})
        if facts.user_agent is not None:
            add({"key": "user_agent.original", "value": {"stringValue": facts.user_agent}})
        if facts.body_bytes is not None:
            add({"key": "http.response.body.size", "value": {"intValue": str(facts.body_bytes)}})
        # A captured request header of the same name gives its values, once (keys are unique in OTLP).
        captured = facts.request_headers or _NONE
        if facts.referer is not None:
            values = captured.get("referer") or [facts.referer]
            add({"key": "http.request.header.referer", "value": text_values(values)})
        if facts.request_id is not None:
            values = captured.get(self.request_id_header) or [facts.request_id]
            add({"key": self.header_attribute, "value": text_values(values)})
        if facts.user_name is not None:
            add({"key": "user.name", "value": {"stringValue": facts.user_name}})
        if facts.timed_out:  # semantic conventions' own example for error.type
            add({"key": "error.type", "value": {"stringValue": "timeout"}})
        elif facts.status >= ERROR_STATUS:
            add({"key": "error.type", "value": {"stringValue": str(facts.status)}})
        for name, values in captured.items():
            if (name == "referer" and facts.referer is not None) or (
                name == self.request_id_header and facts.request_id is not None
            ):
                continue  # given above, in the place it had
            add({"key": f"http.request.header.{name}", "value": text_values(values)})
        for name, values in (facts.response_headers or {}).items():
            add({"key": f"http.response.header.{name}", "value": text_values(values)})
        kept = facts.kept
        if kept is not None:
            add({"key": "gunicorn.access.sample_rate", "value": {"doubleValue": kept.rate}})
            add({"key": "gunicorn.access.kept", "value": {"stringValue": kept.reason}})
        trace = facts.trace
        record = otlp_json.log_record_of(
            facts.time_ns,
            level,
            access_message(facts),
            attributes,
            trace_id=trace.trace_id if trace else None,
            flags=trace.flags if trace else None,
        )
        return otlp_json.logs_request_of(self.resource_attributes(facts.pid), ACCESS_LOGGER, [record])

    def level_of(self, record: dict[str, Any]) -> str:
        try:
            text = record["resourceLogs"][0]["scopeLogs"][0]["logRecords"][0]["severityText"]
        except (KeyError, IndexError, TypeError):
            return "info"
        return _LEVEL_OF_SEVERITY_TEXT.get(text, str(text).lower())

    def console_view(self, record: dict[str, Any]) -> dict[str, Any]:
        resource_logs = record["resourceLogs"][0]
        scope_logs = resource_logs["scopeLogs"][0]
        log = scope_logs["logRecords"][0]
        view: dict[str, Any] = {
            "timestamp": rfc3339_utc(int(log["timeUnixNano"])),
            "level": log["severityText"].lower(),
            "event": log["body"].get("stringValue", ""),
            "scope": scope_logs["scope"]["name"],
        }
        for attribute in log["attributes"]:
            view[attribute["key"]] = otlp_json.plain_value(attribute["value"])
        if "traceId" in log:
            view["traceId"] = log["traceId"]
        return move_stack_trace(view)

    def log(self, facts: LogFacts) -> dict[str, Any]:
        attributes: dict[str, Any] = {}
        if facts.file:
            attributes["code.file.path"] = facts.file
            attributes["code.line.number"] = facts.line
            attributes["code.function.name"] = facts.function
        if facts.thread_name:
            attributes["thread.name"] = facts.thread_name
        if facts.error_type:
            attributes["exception.type"] = facts.error_type
            attributes["exception.message"] = facts.error_message
        if facts.stack_trace:
            attributes["exception.stacktrace"] = facts.stack_trace
        if facts.request_id is not None:
            attributes[self.header_attribute] = [facts.request_id]
        self.merge_extras(attributes, facts.extras)
        trace = facts.trace
        record = otlp_json.log_record(
            facts.time_ns,
            facts.level,
            facts.message,
            attributes,
            trace_id=trace.trace_id if trace else None,
            flags=trace.flags if trace else None,
        )
        return otlp_json.logs_request_of(self.resource_attributes(facts.pid), facts.logger, [record])
