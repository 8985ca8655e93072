"""Elastic Common Schema 9.4, as ecs-logging writes it.

``@timestamp``, ``log.level`` and ``message`` come first and ``log.level`` stays a
dotted key, as the ecs-logging spec requires; every other field is nested,
which Elasticsearch maps the same as dotted names. Field names and types follow
the official definitions (``shared/specs/ecs``, checked by the tests).
"""

from __future__ import annotations

from typing import Any

from ..log_facts import LogFacts
from ..memo import Memo
from ..request_facts import HTTP_VERSIONS, IS_IP, AccessFacts
from ..timestamps import rfc3339_utc
from ._base import ACCESS_LOGGER, HOSTS, TIMEOUT_REASON, Schema, access_failed, access_message, copy_flat_parts

ECS_VERSION = "9.4.0"

# Parts that are the same in every access record: built once, shared (the encoder only reads them).
_ECS = {"version": ECS_VERSION}
_ACCESS_LOG = {"logger": ACCESS_LOGGER}
_WEB = ["web"]
_ACCESS = ["access"]
_EVENT_LISTS = ("category", "type")


class EcsSchema(Schema):
    name = "ecs"
    time_key, level_key, message_key = "@timestamp", "log.level", "message"
    #: ``client``, ``user_agent``, ``user`` and ``process`` are cached per value: the same
    #: client, browser and pid come back on request after request.
    flat_shared_keys = ("ecs", "log", "service", "client", "user_agent", "user", "process")
    shared_keys = ("event",)  # its category and type lists: see unshare()

    def __init__(self, settings) -> None:
        super().__init__(settings)
        service: dict[str, Any] = {"name": settings.service_name}
        if settings.service_version:
            service["version"] = settings.service_version
        if settings.service_environment:
            service["environment"] = settings.service_environment
        self.service = service
        # Parts that depend on one value, which repeats: built once per value and shared.
        self.clients = Memo(_address_part, 1024, longest=64)
        self.user_agents = Memo(_user_agent_part, 1024, longest=512)
        self.users = Memo(_user_part, 256, longest=128)
        self.processes = Memo(_process_part, 16, longest=None)

    def unshare(self, record: dict[str, Any]) -> dict[str, Any]:
        """The flat shared parts copied, and the event's two shared lists: cheaper than copying
        ``event`` all the way down, on every record a user's processor sees."""
        copy_flat_parts(record, self.flat_shared_keys)
        event = record.get("event")
        if event.__class__ is dict:
            record["event"] = event = event.copy()
            for key in _EVENT_LISTS:
                if event.get(key).__class__ is list:
                    event[key] = list(event[key])
        return record

    def access(self, facts: AccessFacts) -> dict[str, Any]:
        status = facts.status
        method = facts.method
        target = facts.target
        request: dict[str, Any] = {"method": method}
        if facts.request_id is not None:
            request["id"] = facts.request_id
        if facts.referer is not None:
            request["referrer"] = facts.referer
        if facts.request_headers:
            request["headers"] = facts.request_headers
        response: dict[str, Any] = {"status_code": status} if status is not None else {}
        if facts.body_bytes is not None:
            response["body"] = {"bytes": facts.body_bytes}
        if facts.response_headers:
            response["headers"] = facts.response_headers
        url: dict[str, Any] = {"original": target, "path": facts.path}
        if facts.query is not None:
            url["query"] = facts.query
        if facts.scheme:
            url["scheme"] = facts.scheme
        if facts.host:
            domain, port = HOSTS[facts.host]
            url["domain"] = domain
            if port is not None:
                url["port"] = port
        event: dict[str, Any] = {
            "kind": "event",
            "category": _WEB,
            "type": _ACCESS,
            "outcome": "failure" if access_failed(facts) else "success",
            "dataset": ACCESS_LOGGER,
            "duration": facts.duration_ns,
        }
        if event["duration"] is None:  # uvicorn's records only
            del event["duration"]
        if facts.timed_out:
            event["reason"] = TIMEOUT_REASON
        http: dict[str, Any] = {"request": request, "response": response, "version": HTTP_VERSIONS[facts.protocol]}
        if not response:
            del http["response"]
        record: dict[str, Any] = {
            "@timestamp": rfc3339_utc(facts.time_ns),
            "log.level": facts.level,
            "message": f"{method} {target} {status}"
            if status is not None and not facts.timed_out
            else access_message(facts),
            "ecs": _ECS,
            "log": _ACCESS_LOG,
            "event": event,
            "http": http,
            "url": url,
            "process": self.processes[facts.pid],
            "service": self.service,
        }
        peer = facts.peer_address
        if peer:
            if IS_IP[peer]:
                source: dict[str, Any] = {"address": peer, "ip": peer}
            else:
                source = {"address": peer}
            if facts.peer_port is not None:
                source["port"] = facts.peer_port
            record["source"] = source
        client = facts.client_address
        if client:
            record["client"] = self.clients[client]
        if facts.user_agent is not None:
            record["user_agent"] = self.user_agents[facts.user_agent]
        if facts.user_name is not None:
            record["user"] = self.users[facts.user_name]
        trace = facts.trace  # built when first read: read it once
        if trace is not None:
            record["trace"] = {"id": trace.trace_id}
        kept = facts.kept
        if kept is not None:  # ours: ECS has no sampling fields (the namespace is the product's, as Filebeat's)
            record["gunicorn"] = {"access": {"sample_rate": kept.rate, "kept": kept.reason}}
        return record

    def log(self, facts: LogFacts) -> dict[str, Any]:
        log: dict[str, Any] = {"logger": facts.logger}
        if facts.file:
            log["origin"] = {"file": {"name": facts.file, "line": facts.line}, "function": facts.function}
        record: dict[str, Any] = {
            "@timestamp": rfc3339_utc(facts.time_ns),
            "log.level": facts.level,
            "message": facts.message,
            "ecs": _ECS,
            "log": log,
            "process": {"pid": facts.pid, "thread": {"name": facts.thread_name}},
            "service": self.service,
            "event": {"dataset": facts.logger},
        }
        if facts.request_id is not None:
            record["http"] = {"request": {"id": facts.request_id}}
        if facts.trace is not None:
            record["trace"] = {"id": facts.trace.trace_id}
        if facts.error_type or facts.stack_trace:
            error: dict[str, Any] = {}
            if facts.error_type:
                error["type"] = facts.error_type
                error["message"] = facts.error_message
            if facts.stack_trace:
                error["stack_trace"] = facts.stack_trace
            record["error"] = error
        return self.merge_extras(record, facts.extras)


def _address_part(address: str) -> dict[str, Any]:
    return {"address": address, "ip": address} if IS_IP[address] else {"address": address}


def _user_agent_part(agent: str) -> dict[str, Any]:
    return {"original": agent}


def _user_part(name: str) -> dict[str, Any]:
    return {"name": name}


def _process_part(pid: int) -> dict[str, Any]:
    return {"pid": pid}
