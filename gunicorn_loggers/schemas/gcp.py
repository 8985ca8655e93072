"""Google Cloud Logging structured JSON, as its agents read it from stdout.

The special keys (``severity``, ``httpRequest``, ``logging.googleapis.com/trace``
...) are lifted into the LogEntry by Cloud Run, GKE and the Ops Agent; the rest
lands in ``jsonPayload``. ``httpRequest`` follows ``google.logging.type.HttpRequest``
in its JSON form: int64 sizes as strings, ``latency`` as a Duration string.
"""

from __future__ import annotations

from typing import Any

from ..levels import LEVELS
from ..log_facts import LogFacts
from ..request_facts import AccessFacts
from ..timestamps import rfc3339_utc
from ._base import ACCESS_LOGGER, Schema, access_message

TRACE_KEY = "logging.googleapis.com/trace"
SPAN_KEY = "logging.googleapis.com/spanId"
SAMPLED_KEY = "logging.googleapis.com/trace_sampled"
SOURCE_KEY = "logging.googleapis.com/sourceLocation"

#: Level name -> LogSeverity name (Cloud Logging wants the name, e.g. WARNING not WARN), from the one table.
SEVERITIES = {name: entry.gcp for name, entry in LEVELS.items()}


def duration_string(duration_ns: int) -> str:
    """A google.protobuf.Duration in JSON: ``"0.012345s"``."""
    seconds, nanos = divmod(duration_ns, 1_000_000_000)
    return f"{seconds}.{nanos // 1000:06d}s"


class GcpSchema(Schema):
    name = "gcp"
    time_key, level_key, message_key = "time", "severity", "message"
    flat_shared_keys = ("serviceContext",)
    #: Keys the agents lift into the LogEntry or Error Reporting reads, though an app record of ours
    #: does not write them: an app's extra must not set the entry's labels, trace or httpRequest.
    reserved_fields = ("httpRequest", "timestamp", "timestampSeconds", "timestampNanos", "exception", "@type")
    reserved_prefixes = ("logging.googleapis.com/",)

    def __init__(self, settings) -> None:
        super().__init__(settings)
        project = settings.gcp_project
        self.trace_prefix = f"projects/{project}/traces/" if project else ""
        context: dict[str, Any] = {"service": settings.service_name}
        if settings.service_version:
            context["version"] = settings.service_version
        self.service_context = context

    def _trace(self, record: dict[str, Any], facts: AccessFacts | LogFacts) -> None:
        trace = facts.trace  # built when first read (AccessFacts): read it once
        if trace is not None:
            record[TRACE_KEY] = self.trace_prefix + trace.trace_id
            record[SPAN_KEY] = trace.parent_id
            record[SAMPLED_KEY] = trace.sampled

    def access(self, facts: AccessFacts) -> dict[str, Any]:
        http: dict[str, Any] = {
            "requestMethod": facts.method,
            # origin-form (/path?q) gets scheme and host; absolute-form (a proxy's request) is a URL already
            "requestUrl": f"{facts.scheme or 'http'}://{facts.host}{facts.target}"
            if facts.host and facts.target.startswith("/")
            else facts.target,
            "status": facts.status,
            "protocol": facts.protocol,
        }
        if facts.status is None:  # no response: the worker was aborted
            del http["status"]
        if facts.duration_ns is not None:
            http["latency"] = duration_string(facts.duration_ns)
        if facts.body_bytes is not None:
            http["responseSize"] = str(facts.body_bytes)
        if facts.user_agent is not None:
            http["userAgent"] = facts.user_agent
        if facts.client_address:
            http["remoteIp"] = facts.client_address
        if facts.referer is not None:
            http["referer"] = facts.referer
        record: dict[str, Any] = {
            "time": rfc3339_utc(facts.time_ns),
            "severity": SEVERITIES[facts.level],
            "message": access_message(facts),
            "httpRequest": http,
            "logger": ACCESS_LOGGER,
            "serviceContext": self.service_context,
            "pid": facts.pid,
        }
        if facts.request_id is not None:
            record["requestId"] = facts.request_id
        if facts.request_headers:
            record["requestHeaders"] = facts.request_headers
        if facts.response_headers:
            record["responseHeaders"] = facts.response_headers
        self._trace(record, facts)
        if facts.timed_out:
            record["timedOut"] = True
        kept = facts.kept
        if kept is not None:
            record["sampling"] = {"rate": kept.rate, "kept": kept.reason}
        return record

    def log(self, facts: LogFacts) -> dict[str, Any]:
        message = facts.message
        record: dict[str, Any] = {
            "time": rfc3339_utc(facts.time_ns),
            "severity": SEVERITIES.get(facts.level, "DEFAULT"),
            "message": message,
            "logger": facts.logger,
            "serviceContext": self.service_context,
            "pid": facts.pid,
            "thread": facts.thread_name,
        }
        if facts.file:
            record[SOURCE_KEY] = {"file": facts.file, "line": str(facts.line), "function": facts.function}
        if facts.request_id is not None:
            record["requestId"] = facts.request_id
        self._trace(record, facts)
        if facts.stack_trace:
            # Error Reporting looks for the trace in stack_trace (or at the end of message).
            record["stack_trace"] = facts.stack_trace
        if facts.error_type:
            record["error"] = {"type": facts.error_type, "message": facts.error_message}
        return self.merge_extras(record, facts.extras)
