"""ECS access records written straight to a line of JSON, for the default logger's hot path.

``encode_line(EcsSchema.access(facts))`` builds ten small dicts and hands them to
orjson. The record has the same keys in the same order on every request, and the
values that repeat (the client, its browser, the host, the referrer) can be escaped
once per value and kept, so writing the text from a template does less work than
building the dicts and encoding them, on the path every default request takes.
``json.encoder.encode_basestring`` escapes exactly as orjson does (checked for every
code point).

The bytes are exactly those of the dict path: ``tests/test_ecs_access_line.py``
compares the two on hostile text. A record the template could not write
identically (captured headers, a size or duration that is not an ``int``, text UTF-8 cannot
encode) goes the dict path instead. Only the logger picks this writer, and only
when nothing would see the dict: the plain JSON renderer, and an ``EcsSchema``
whose ``access()`` is not overridden.
"""

from __future__ import annotations

from collections.abc import Callable
from json.encoder import encode_basestring as quoted  # C in CPython
from typing import Any

from .encoding import encode_line
from .memo import Memo
from .request_facts import HTTP_VERSIONS, IS_IP, AccessFacts
from .schemas._base import HOSTS
from .schemas.ecs import _ACCESS, _ACCESS_LOG, _ECS, _WEB, EcsSchema
from .timestamps import rfc3339_utc


def _json(value: Any) -> str:
    return encode_line(value)[:-1].decode()


class EcsAccessLine:
    """``line(facts)`` is ``encode_line(schema.access(facts))``, written from a template."""

    def __init__(self, schema: EcsSchema) -> None:
        self.schema = schema
        if _CONSTANT_PARTS != _constant_parts_of_the_schema():
            raise RuntimeError("ecs_access_line's template no longer matches EcsSchema's constant parts")
        service = f',"service":{_json(schema.service)}'
        self.processes = Memo(lambda pid: f',"process":{{"pid":{pid}}}{service}', 16, longest=None)
        # Text that repeats from request to request, escaped once per value.
        self.methods = Memo(_quoted_inside, 64, longest=32)
        self.versions = Memo(_quoted_version, 64, longest=16)
        self.schemes = Memo(_scheme_part, 16, longest=16)
        self.hosts = Memo(_host_part, 256, longest=256)
        self.referrers = Memo(_referrer_part, 1024, longest=1024)
        self.sources = Memo(_address_part, 1024, longest=64)
        self.clients = Memo(_client_part, 1024, longest=64)
        self.agents = Memo(_user_agent_part, 1024, longest=512)
        self.users = Memo(_user_part, 256, longest=128)
        # One Kept per reason and rate (access_policy): a handful of values for a logger's life.
        self.kept = Memo(_kept_part, 16, longest=None)

    def line(self, facts: AccessFacts) -> bytes:
        body = facts.body_bytes
        duration = facts.duration_ns
        if (
            facts.request_headers
            or facts.response_headers
            or facts.timed_out  # no status, or a reason: only an aborted worker's records
            or (body is not None and body.__class__ is not int)
            or (duration is not None and duration.__class__ is not int)
        ):
            return encode_line(self.schema.access(facts))
        try:
            status = facts.status
            method = self.methods[facts.method]
            target = facts.target
            path = facts.path
            target_json = quoted(target)
            query = facts.query
            if query is None:
                url = f'"original":{target_json},"path":{target_json if path == target else quoted(path)}'
            else:  # target is "path?query" (AccessFacts): its escaped query is the escaped target's
                url = f'"original":{target_json},"path":{quoted(path)},"query":"{target_json.partition("?")[2]}'
            scheme = facts.scheme
            host = facts.host
            request_id = facts.request_id
            referer = facts.referer
            peer = facts.peer_address
            if peer:
                port = facts.peer_port
                source = f',"source":{self.sources[peer]}{"}" if port is None else f",{_PORT}{port}}}"}'
            else:
                source = ""
            client = facts.client_address
            agent = facts.user_agent
            user = facts.user_name
            traceparent = facts.traceparent
            if traceparent is not None:  # valid: lower-case hex, nothing to escape
                trace = f',"trace":{{"id":"{traceparent[3:35]}"}}'
            else:
                trace = facts._trace
                trace = "" if trace is None else f',"trace":{{"id":{quoted(trace.trace_id)}}}'
            text = (
                f'{{"@timestamp":"{rfc3339_utc(facts.time_ns)}","log.level":"{facts.level}",'
                f'"message":"{method} {target_json[1:-1]} {status}","ecs":{{"version":"9.4.0"}},'
                f'"log":{{"logger":"gunicorn.access"}},"event":{{"kind":"event","category":["web"],'
                f'"type":["access"],"outcome":"{"failure" if status >= 400 else "success"}","dataset":"gunicorn.access"'
                f"{'' if duration is None else f',{_DURATION}{duration}'}}},"
                f'"http":{{"request":{{"method":"{method}"'
                f"{'' if request_id is None else f',{_ID}{quoted(request_id)}'}"
                f"{'' if referer is None else self.referrers[referer]}}},"
                f'"response":{{"status_code":{status}{"" if body is None else f",{_BODY}{body}}}"}}},'
                f'"version":{self.versions[facts.protocol]}}},'
                f'"url":{{{url}{self.schemes[scheme] if scheme else ""}{self.hosts[host] if host else ""}}}'
                f"{self.processes[facts.pid]}{source}"
                f"{self.clients[client] if client else ''}{'' if agent is None else self.agents[agent]}"
                f"{'' if user is None else self.users[user]}"
                f"{trace}{'' if facts.kept is None else self.kept[facts.kept]}}}\n"
            )
            return text.encode()
        except (TypeError, ValueError):  # not text or not encodable: the dict path makes it safe
            return encode_line(self.schema.access(facts))


_PORT = '"port":'
_DURATION = '"duration":'
_ID = '"id":'
_BODY = '"body":{"bytes":'


def _quoted_inside(text: str) -> str:
    return quoted(text)[1:-1]


def _quoted_version(protocol: str) -> str:
    return quoted(HTTP_VERSIONS[protocol])


def _scheme_part(scheme: str) -> str:
    return f',"scheme":{quoted(scheme)}'


def _host_part(host: str) -> str:
    domain, port = HOSTS[host]
    return f',"domain":{quoted(domain)}' + ("" if port is None else f',"port":{port}')


def _referrer_part(referer: str) -> str:
    return f',"referrer":{quoted(referer)}'


def _address_part(address: str) -> str:
    """``{"address":...,"ip":...`` without its closing brace: a port may follow."""
    text = quoted(address)
    return f'{{"address":{text},"ip":{text}' if IS_IP[address] else f'{{"address":{text}'


def _client_part(address: str) -> str:
    return f',"client":{_address_part(address)}}}'


def _user_agent_part(agent: str) -> str:
    return f',"user_agent":{{"original":{quoted(agent)}}}'


def _kept_part(kept: Any) -> str:
    return f',"gunicorn":{_json({"access": {"sample_rate": kept.rate, "kept": kept.reason}})}'


def _user_part(name: str) -> str:
    return f',"user":{{"name":{quoted(name)}}}'


#: What the template writes as literal text, and the schema parts it stands for (checked at set-up).
_CONSTANT_PARTS = (
    '"ecs":{"version":"9.4.0"}',
    '"log":{"logger":"gunicorn.access"}',
    '"category":["web"]',
    '"type":["access"]',
    '"dataset":"gunicorn.access"',
)


def _constant_parts_of_the_schema() -> tuple[str, ...]:
    parts = {"ecs": _ECS, "log": _ACCESS_LOG, "category": _WEB, "type": _ACCESS, "dataset": _ACCESS_LOG["logger"]}
    return tuple(_json({key: value})[1:-1] for key, value in parts.items())


def ecs_access_line(schema: Any, render: Callable[[dict[str, Any]], bytes]) -> Callable[[AccessFacts], bytes] | None:
    """The template writer for ``schema`` rendered by ``render``, or None where a dict must be built.

    A subclass that overrides ``access()`` would be bypassed, and any renderer but
    ``encode_line`` (a processor chain, msgpack) needs the dict.
    """
    if render is not encode_line or not isinstance(schema, EcsSchema) or type(schema).access is not EcsSchema.access:
        return None
    return EcsAccessLine(schema).line
