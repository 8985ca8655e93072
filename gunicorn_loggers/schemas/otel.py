"""OpenTelemetry: the log data model with HTTP semantic-convention attributes.

Each line is one OTLP/JSON ``ExportLogsServiceRequest`` holding one record, the
form the OpenTelemetry Collector's ``otlpjsonfile`` receiver reads as it is;
attribute names follow semantic conventions 1.44 (``http.request.method``,
``url.path``, ``client.address``...). Resource attributes carry the service.
"""

from __future__ import annotations

from typing import Any

from ..log_facts import LogFacts
from ..request_facts import AccessFacts
from ..timestamps import rfc3339_utc
from . import otlp_json
from ._base import (
    ACCESS_LOGGER,
    Schema,
    access_level,
    access_message,
    merge_extras,
    move_stack_trace,
    private_copy,
    split_host,
)

#: Methods semantic conventions know; anything else is reported as ``_OTHER``.
KNOWN_METHODS = frozenset({"CONNECT", "DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT", "QUERY", "TRACE"})


class OtelSchema(Schema):
    name = "otel"

    def __init__(self, settings) -> None:
        super().__init__(settings)
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
        level, _ = access_level(facts.status)
        method = facts.method
        attributes: dict[str, Any] = {
            "http.request.method": method if method in KNOWN_METHODS else "_OTHER",
            "url.path": facts.path,
            "url.scheme": facts.scheme or "http",
            "url.original": facts.target,
            "http.response.status_code": facts.status,
            "network.protocol.name": "http",
            "network.protocol.version": facts.http_version,
        }
        if facts.duration_ns is not None:
            attributes["http.server.request.duration"] = facts.duration_seconds
        if method not in KNOWN_METHODS:
            attributes["http.request.method_original"] = method
        if facts.query is not None:
            attributes["url.query"] = facts.query
        if facts.host:
            name, port = split_host(facts.host)
            attributes["server.address"] = name
            if port is not None:
                attributes["server.port"] = port
        if facts.client_address:
            attributes["client.address"] = facts.client_address
        if facts.peer_address:
            attributes["network.peer.address"] = facts.peer_address
        if facts.peer_port is not None:
            attributes["network.peer.port"] = facts.peer_port
        if facts.user_agent is not None:
            attributes["user_agent.original"] = facts.user_agent
        if facts.body_bytes is not None:
            attributes["http.response.body.size"] = facts.body_bytes
        if facts.referer is not None:
            attributes["http.request.header.referer"] = [facts.referer]
        if facts.request_id is not None:
            attributes[self.header_attribute] = [facts.request_id]
        if facts.user_name is not None:
            attributes["user.name"] = facts.user_name
        if facts.status >= 500:
            attributes["error.type"] = str(facts.status)
        for name, values in (facts.request_headers or {}).items():
            attributes[f"http.request.header.{name}"] = values
        for name, values in (facts.response_headers or {}).items():
            attributes[f"http.response.header.{name}"] = values
        trace = facts.trace
        record = otlp_json.log_record(
            facts.time_ns,
            level,
            access_message(facts),
            attributes,
            trace_id=trace.trace_id if trace else None,
            flags=trace.flags if trace else None,
        )
        return otlp_json.logs_request_of(self.resource_attributes(facts.pid), ACCESS_LOGGER, [record])

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
        merge_extras(attributes, facts.extras)
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
