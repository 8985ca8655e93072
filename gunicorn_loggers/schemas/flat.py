"""gunicorn's own access-log atoms under readable names, one level deep.

For users who know ``%(h)s %(r)s %(s)s`` and want the same facts as JSON keys,
without a schema's nesting: ``remote_addr`` is ``h``, ``request`` is ``r`` and
so on (docs/schemas.md has the whole table).
"""

from __future__ import annotations

from typing import Any

from ..log_facts import LogFacts
from ..request_facts import AccessFacts
from ..timestamps import rfc3339_utc
from ._base import ACCESS_LOGGER, Schema, access_message


class FlatSchema(Schema):
    name = "flat"

    def access(self, facts: AccessFacts) -> dict[str, Any]:
        duration_us = facts.duration_ns // 1000 if facts.duration_ns is not None else None
        record: dict[str, Any] = {
            "time": rfc3339_utc(facts.time_ns),
            "level": facts.level,
            "message": access_message(facts),
            "logger": ACCESS_LOGGER,
            "remote_addr": facts.peer_address,
            "client_ip": facts.client_address,
            "user": facts.user_name,
            "request": f"{facts.method} {facts.target} {facts.protocol}",
            "method": facts.method,
            "path": facts.path,
            "query": facts.query,
            "protocol": facts.protocol,
            "status": facts.status,
            "bytes": facts.body_bytes,
            "referer": facts.referer,
            "user_agent": facts.user_agent,
            "duration_us": duration_us,
            "duration_s": duration_us / 1e6 if duration_us is not None else None,
            "pid": facts.pid,
            "service": self.settings.service_name,
            "request_id": facts.request_id,
        }
        trace = facts.trace  # built when first read (AccessFacts): read it once
        if trace is not None:
            record["trace_id"] = trace.trace_id
            record["parent_span_id"] = trace.parent_id
            record["trace_sampled"] = trace.sampled
        if facts.request_headers:
            record["request_headers"] = facts.request_headers
        if facts.response_headers:
            record["response_headers"] = facts.response_headers
        if facts.timed_out:
            record["timed_out"] = True
        kept = facts.kept
        if kept is not None:
            record["sample_rate"] = kept.rate
            record["kept"] = kept.reason
        return record

    def log(self, facts: LogFacts) -> dict[str, Any]:
        record: dict[str, Any] = {
            "time": rfc3339_utc(facts.time_ns),
            "level": facts.level,
            "message": facts.message,
            "logger": facts.logger,
            "pid": facts.pid,
            "thread": facts.thread_name,
            "file": facts.file,
            "line": facts.line,
            "function": facts.function,
            "service": self.settings.service_name,
        }
        if facts.request_id is not None:
            record["request_id"] = facts.request_id
        if facts.trace is not None:
            record["trace_id"] = facts.trace.trace_id
            record["parent_span_id"] = facts.trace.parent_id
        if facts.error_type:
            record["exc_type"] = facts.error_type
            record["exc_message"] = facts.error_message
        if facts.stack_trace:
            record["stack_trace"] = facts.stack_trace
        return self.merge_extras(record, facts.extras)
