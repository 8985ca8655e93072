"""What one request was, in neutral terms, before any schema names it.

gunicorn's ``Logger.atoms()`` builds a dict of every header and every environ key
on each request, then ``SafeAtoms`` does string work on each lookup: that is
most of what its access log costs, and it copies ``Authorization`` into the
record. We read only the dozen values a record needs, straight from ``environ``,
and normalise the differences between worker types here, once:

* ``request_time`` is a ``timedelta`` on WSGI workers but an object with only
  ``seconds`` and ``microseconds`` on the asgi worker;
* ``resp.status`` is ``"200 OK"`` on WSGI, an ``int`` on asgi;
* ``req`` is a list of header tuples on ``gevent_pywsgi``.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
from datetime import timedelta
from functools import lru_cache
from time import time_ns
from typing import Any
from urllib.parse import unquote_to_bytes

from . import process_id
from .access_policy import Kept
from .access_rules import LEVELS
from .config import Settings
from .correlation import (
    TraceContext,
    clean_request_id,
    match_version_00,
    parse_traceparent,
    trace_of_version_00,
)
from .levels import ERROR_STATUS
from .memo import Memo
from .process_id import current_pid
from .redaction import REDACTED, QueryRedactor, redact_fragment, redact_target, redact_user_info
from .request_context import (
    REQUEST_CONTEXT_ENVIRON_KEY,
    RequestContext,
    asgi_in_use,
    current_request,
    failed_request,
)
from .text import wsgi_to_text

_MICROSECOND = timedelta(microseconds=1)


def http_version(protocol: str) -> str:
    """``1.1`` from ``HTTP/1.1``: the form ECS and OpenTelemetry use."""
    return protocol[5:] if protocol.startswith("HTTP/") else protocol


def is_ip(address: str) -> bool:
    try:
        ipaddress.ip_address(address)
    except ValueError:
        return False
    return True


#: ``HTTP_VERSIONS[protocol]`` and ``IS_IP[address]``: the cached answers, read on every record.
HTTP_VERSIONS = Memo(http_version, 64, longest=16)
IS_IP = Memo(is_ip, 1024, longest=64)


class AccessFacts:
    """One finished request; every string is already safe text and redacted.

    ``target`` is the request target as sent, with ``?query`` appended when ``query`` is
    not None; its first ``?`` starts the query (``ecs_access_line`` relies on it).
    ``path`` is decoded and may hold a ``?`` of its own (``%3F``).

    ``trace`` is built only when read: a valid version-00 ``traceparent`` is kept as
    sent in ``traceparent``, from which the ECS access line slices the trace id
    (``[3:35]``) without building the tuple on every traced request. ``traceparent`` is None
    whenever ``trace`` came from elsewhere.
    """

    __slots__ = (
        "_trace",
        "body_bytes",
        "client_address",
        "duration_ns",
        "host",
        "kept",
        "level",
        "method",
        "path",
        "peer_address",
        "peer_port",
        "pid",
        "protocol",
        "query",
        "referer",
        "request_headers",
        "request_id",
        "response_headers",
        "scheme",
        "status",
        "target",
        "time_ns",
        "timed_out",
        "traceparent",
        "user_agent",
        "user_name",
    )

    time_ns: int
    pid: int
    method: str
    target: str
    path: str
    query: str | None
    protocol: str
    scheme: str | None
    host: str | None
    #: None: the worker was aborted before any response was sent.
    status: int | None
    #: The record's level name ("info", "error"...), from the status and the duration (access_policy).
    level: str
    #: While sampling: the rate the record was kept at and why; None when every record is written.
    kept: Kept | None
    #: The worker was aborted after gunicorn's --timeout while serving this request.
    timed_out: bool
    body_bytes: int | None
    duration_ns: int | None
    peer_address: str | None
    peer_port: int | None
    client_address: str | None
    user_agent: str | None
    referer: str | None
    user_name: str | None
    request_id: str | None
    traceparent: str | None
    _trace: TraceContext | None
    request_headers: dict[str, list[str]] | None
    response_headers: dict[str, list[str]] | None

    @property
    def trace(self) -> TraceContext | None:
        trace = self._trace
        if trace is None and self.traceparent is not None:
            trace = self._trace = trace_of_version_00(self.traceparent)
        return trace

    @trace.setter
    def trace(self, trace: TraceContext | None) -> None:
        self._trace = trace
        self.traceparent = None

    @property
    def duration_seconds(self) -> float | None:
        return self.duration_ns / 1e9 if self.duration_ns is not None else None

    @property
    def http_version(self) -> str:
        return HTTP_VERSIONS[self.protocol]


class AccessFactsCollector:
    """Builds :class:`AccessFacts` from what gunicorn passes to ``Logger.access``.

    One instance per settings: it holds the compiled redaction rules and the
    cache of trusted-proxy decisions, so the per-request work is lookups only.
    """

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.redact_query = QueryRedactor(settings.redact_query)
        self._redact_query = self.redact_query.__call__  # bound: an instance call looks up __call__ each time
        self.request_id_key = settings.request_id_environ_key
        self.trust_all = "*" in settings.trusted_proxies
        self.is_trusted = lru_cache(maxsize=256)(self._is_trusted)
        self.client_addresses = Memo(self._walk_forwarded, 1024, longest=512)
        self.referers = Memo(self._clean_referer, 1024, longest=1024)
        self.wanted_request_headers = settings.request_headers
        self.wanted_response_headers = frozenset(settings.response_headers)
        policy = settings.access_policy
        #: ``levels[status // 100]``, and the level a slow request is raised to (ACCESS_LEVELS); None: the default
        #: 5xx rule, written inline on the hot path.
        self.levels: tuple[str, ...] | None = policy.levels_by_class() if policy is not None else None
        slow = policy.slow_level() if policy is not None else None
        self.slow_ns = int(policy.slow_seconds * 1e9) if slow is not None and policy.slow_seconds else None
        self.slow_level = slow

    def level_of(self, status: int | None, duration_ns: int | None) -> str:
        """The level of an access record: by status class, then raised for a slow request (ACCESS_LEVELS)."""
        levels = self.levels
        if status is None:  # no response at all: the worker was aborted
            return "error"
        if levels is None:
            return "error" if status >= ERROR_STATUS else "info"
        level = levels[status // 100] if 0 <= status < 600 else levels[5]
        slow_ns = self.slow_ns
        if slow_ns is not None and duration_ns is not None and duration_ns >= slow_ns:
            slow = self.slow_level
            if LEVELS[slow] > LEVELS[level]:  # type: ignore[index]
                return slow  # type: ignore[return-value]
        return level

    def _is_trusted(self, address: str) -> bool:
        if self.trust_all:
            return True
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return False
        return any(ip in network for network in self.settings.trusted_networks)

    def collect(self, resp: Any, req: Any, environ: dict, request_time: Any) -> AccessFacts:
        # The hot path of every request. ``x if x.isascii() else wsgi_to_text(x)``
        # skips a call for the usual pure-ASCII value; nothing else is special here.
        get = environ.get
        path_info = get("PATH_INFO")
        if path_info is None:  # gunicorn answered itself (the app raised, or a bad request)
            environ = error_response_environ(environ, req)
            get = environ.get
        facts = AccessFacts()
        facts.time_ns = time_ns()
        facts.pid = process_id.pid

        method = get("REQUEST_METHOD") or "-"
        facts.method = method if method.isascii() else wsgi_to_text(method)
        raw_uri = get("RAW_URI")
        if raw_uri is None:  # not gunicorn's environ (gevent_pywsgi): rebuild it
            raw_uri = (get("SCRIPT_NAME") or "") + (get("PATH_INFO") or "")
            query_string = get("QUERY_STRING")
            if query_string:
                raw_uri += "?" + query_string
        if "#" in raw_uri:  # a fragment (rare): its parameters are redacted first, then the query's
            raw_uri = redact_fragment(raw_uri, self._redact_query)
        before_query, has_query, raw_query = raw_uri.partition("?")
        if before_query.isascii():
            before_text = before_query
        else:
            before_text = wsgi_to_text(before_query)
        if has_query:
            query = self._redact_query(raw_query)
            if not query.isascii():
                query = wsgi_to_text(query)
            facts.query = query
            facts.target = f"{before_text}?{query}"
        else:
            facts.query = None
            facts.target = before_text
        if path_info is None:
            path_info = unquote_to_wsgi_str(path_of_target(before_query))
        script_name = get("SCRIPT_NAME")
        if script_name:
            path_info = script_name + path_info
        facts.path = path_info if path_info.isascii() else wsgi_to_text(path_info)
        facts.protocol = get("SERVER_PROTOCOL") or "HTTP/1.0"
        scheme = get("wsgi.url_scheme")
        if scheme is None:  # gunicorn's asgi worker logs with an environ that lacks it
            scheme = getattr(req, "scheme", None)
            scheme = scheme if scheme.__class__ is str else None
        facts.scheme = scheme
        host = get("HTTP_HOST")
        if before_query[:1] != "/" and "://" in before_query:  # absolute-form: its authority is the host
            host = authority_of(before_query) or host  # (RFC 9112 3.2.2: the Host header is then ignored)
            if "@" in before_query:
                facts.target = redact_user_info(facts.target)
        facts.host = (host if host.isascii() else wsgi_to_text(host)) if host else None

        status = resp.status
        if status.__class__ is not int:
            status = getattr(resp, "status_code", None)  # gunicorn parsed "200 OK" already
            if status.__class__ is not int:
                status = parse_status(resp.status)
        facts.status = status
        facts.body_bytes = getattr(resp, "sent", None)

        if isinstance(request_time, timedelta):
            facts.duration_ns = duration_ns = request_time // _MICROSECOND * 1000
        else:  # the asgi worker's object has seconds and microseconds only
            facts.duration_ns = duration_ns = (request_time.seconds * 1_000_000 + request_time.microseconds) * 1000
        if self.levels is None:
            facts.level = "error" if status >= ERROR_STATUS else "info"
        else:
            facts.level = self.level_of(status, duration_ns)
        facts.kept = None
        facts.timed_out = False

        peer = get("REMOTE_ADDR") or None
        facts.peer_address = peer
        port = get("REMOTE_PORT")
        if port.__class__ is str and port.isdigit():
            facts.peer_port = int(port)
        else:
            facts.peer_port = port if port.__class__ is int else None
        forwarded = get("HTTP_X_FORWARDED_FOR")
        facts.client_address = self.client_addresses[peer, forwarded] if forwarded else peer

        agent = get("HTTP_USER_AGENT")
        facts.user_agent = (agent if agent.isascii() else wsgi_to_text(agent)) if agent is not None else None
        referer = get("HTTP_REFERER")
        facts.referer = self.referers[referer] if referer is not None else None
        authorization = get("HTTP_AUTHORIZATION")
        facts.user_name = BASIC_AUTH_USERS[authorization] if authorization else None
        context = get(REQUEST_CONTEXT_ENVIRON_KEY)  # our WSGI middleware's: what the app's records carry
        if context.__class__ is RequestContext:
            facts.request_id, facts._trace = context
            facts.traceparent = None
        else:
            request_id = get(self.request_id_key)
            if request_id:
                request_id = clean_request_id(request_id)
            elif asgi_in_use():
                request_id = self.response_request_id(resp)
            facts.request_id = request_id
            traceparent = get("HTTP_TRACEPARENT")
            if traceparent and match_version_00(traceparent) is not None:
                facts.traceparent = traceparent
                facts._trace = None
            else:
                facts.traceparent = None
                facts._trace = parse_traceparent(traceparent) if traceparent else None

        facts.request_headers = self._request_headers(environ) if self.wanted_request_headers else None
        facts.response_headers = self._response_headers(resp) if self.wanted_response_headers else None
        return facts

    def from_uvicorn_record(self, record: Any) -> AccessFacts | None:
        """Facts from uvicorn's access LogRecord, whose args are (client, method, path, version, status).

        uvicorn's worker never calls gunicorn's ``access()``; it logs this record on
        ``uvicorn.access`` when the response starts, so there is no duration or size.
        The request id and trace come from the request context (our ASGI middleware).
        """
        args = record.args
        if record.name != "uvicorn.access" or not isinstance(args, tuple) or len(args) != 5:
            return None
        client, method, target, version, status = args
        facts = AccessFacts()
        facts.time_ns = int(record.created * 1_000_000_000)
        facts.pid = record.process or current_pid()
        facts.method = str(method)
        before_query, has_query, raw_query = str(target).partition("?")
        facts.query = self.redact_query(raw_query) if has_query else None
        facts.target = f"{before_query}?{facts.query}" if has_query else before_query
        facts.path = before_query
        facts.protocol = f"HTTP/{version}"
        facts.scheme = facts.host = None
        facts.status = int(status)
        facts.body_bytes = facts.duration_ns = None
        facts.level = self.level_of(facts.status, None)
        facts.kept = None
        facts.timed_out = False
        address, _, port = str(client).rpartition(":")
        facts.peer_address = facts.client_address = address.strip("[]") or str(client)
        facts.peer_port = int(port) if port.isdigit() else None
        facts.user_agent = facts.referer = facts.user_name = None
        facts.request_headers = facts.response_headers = None
        context = current_request() or failed_request()  # uvicorn answers an app's exception in its except
        facts.request_id, facts.trace = (context.request_id, context.trace) if context else (None, None)
        return facts

    def response_request_id(self, resp: Any) -> str | None:
        """The id our middleware generated and sent back, when the client sent none."""
        name = self.settings.request_id_header
        headers = getattr(resp, "headers", None) or ()
        for header, value in headers.items() if hasattr(headers, "items") else headers:
            if isinstance(header, bytes):
                header, value = header.decode("latin-1"), value.decode("latin-1")
            if header.lower() == name:
                return clean_request_id(value)
        return None

    def _clean_referer(self, referer: str) -> str:
        """Referrers repeat (the same page links many requests): cached, redacted, as text."""
        return wsgi_to_text(redact_target(referer, self._redact_query))

    def _walk_forwarded(self, peer_and_header: tuple[str | None, str]) -> str | None:
        """The client behind trusted proxies: X-Forwarded-For is believed only from them.

        Walks the list from the right (the hop nearest to us), skipping proxies we
        trust; the first address we do not trust is the client. An entry with a
        port from 0 to 65535 (``203.0.113.7:5000``, ``[2001:db8::1]:443``, as Azure's
        front ends write them) counts as its address; any other entry that is not an
        IP address ends the walk (``1.2.3.4:99999`` too): whatever sent it is not to be believed.
        ``self.client_addresses`` caches the answer per (peer, header): a client sends
        the same header on every request of a connection.
        """
        peer, forwarded = peer_and_header
        if peer is None or not self.is_trusted(peer):
            return peer
        client = peer
        for hop in reversed(forwarded.split(",")):
            hop = hop.strip()
            if not IS_IP[hop]:
                address = address_without_port(hop)
                if address is None:
                    break
                hop = address
            client = hop
            if not self.is_trusted(hop):
                break
        return client

    def _request_headers(self, environ: dict) -> dict[str, list[str]]:
        headers: dict[str, list[str]] = {}
        for name in self.wanted_request_headers:
            key = "CONTENT_TYPE" if name == "content-type" else "CONTENT_LENGTH" if name == "content-length" else None
            value = environ.get(key or "HTTP_" + name.upper().replace("-", "_"))
            if value is None:
                continue
            if name in self.settings.redact_headers:
                headers[name] = [REDACTED]
            elif name == "referer":  # the referrer's URL, redacted as the referrer field is
                headers[name] = [self.referers[value]]
            else:
                headers[name] = [wsgi_to_text(value)]
        return headers

    def _response_headers(self, resp: Any) -> dict[str, list[str]]:
        headers: dict[str, list[str]] = {}
        raw = resp.headers.items() if hasattr(resp.headers, "items") else resp.headers
        for name, value in raw or ():
            name = name.lower()
            if name in self.wanted_response_headers:
                value = REDACTED if name in self.settings.redact_headers else wsgi_to_text(str(value))
                headers.setdefault(name, []).append(value)
        return headers


def authority_of(url: str) -> str | None:
    """``host:port`` of ``http://host:port/path``, without user info; None when there is none."""
    authority = url.partition("://")[2].partition("/")[0].rpartition("@")[2]
    return authority or None


def address_without_port(hop: str) -> str | None:
    """The IP address of ``1.2.3.4:80``, ``[::1]:80`` or ``[::1]``; None for anything else, a port over 65535 too."""
    if hop.startswith("["):
        address, closed, port = hop[1:].partition("]")
        if not closed or (port and not port.startswith(":")):
            return None
        port = port[1:] or "0"
    else:
        address, colon, port = hop.partition(":")
        if not colon or ":" in port:  # an IPv6 address needs its brackets to carry a port
            return None
    if not (port.isascii() and port.isdigit()) or len(port) > 5 or int(port) > 65535 or not IS_IP[address]:
        return None
    return address


def path_of_target(target: str) -> str:
    """The path of a request target without its query: no fragment, and no scheme or authority in absolute-form."""
    path = target.partition("#")[0]
    if path[:1] != "/" and "://" in path:
        authority_and_path = path.partition("://")[2]
        slash = authority_and_path.find("/")
        path = authority_and_path[slash:] if slash >= 0 else ""
    return path


def error_response_environ(environ: dict, req: Any) -> dict:
    """The environ of a response gunicorn gave itself, with the request's headers put back.

    When the app raises (500), or a request is refused after its headers were read,
    gunicorn's ``handle_error`` logs the access with an environ of the method and the
    target only. The request that failed is the one whose id, trace, client and user
    agent matter most: they are read from ``req.headers`` as ``wsgi.create`` reads
    them, the scheme from ``req.scheme``, and the id our middleware gave the request
    from the exception being handled.
    """
    headers = getattr(req, "headers", None)
    if not isinstance(headers, list):
        return environ
    filled = dict(environ)
    try:
        for name, value in headers:
            if name in ("CONTENT-TYPE", "CONTENT-LENGTH"):
                filled.setdefault(name.replace("-", "_"), value)
                continue
            key = "HTTP_" + name.replace("-", "_")
            filled[key] = f"{filled[key]},{value}" if key in filled else value
    except (TypeError, ValueError, AttributeError):  # not gunicorn's list of (NAME, value)
        return environ
    scheme = getattr(req, "scheme", None)
    if isinstance(scheme, str):
        filled.setdefault("wsgi.url_scheme", scheme)
    context = failed_request()
    if context is not None:
        filled.setdefault(REQUEST_CONTEXT_ENVIRON_KEY, context)
    return filled


def parse_status(status: str | bytes | int) -> int:
    """``200`` from ``"200 OK"``, ``b"200 OK"`` or ``200``."""
    if isinstance(status, bytes):
        status = status.decode("latin-1")
    if isinstance(status, str):
        status = status.split(None, 1)[0]
    return int(status)


def basic_auth_user(authorization: str) -> str | None:
    """The user name of ``Authorization: Basic``; never the password, never other schemes."""
    scheme, _, credentials = authorization.partition(" ")
    if scheme.lower() != "basic" or not credentials:
        return None
    try:
        decoded = base64.b64decode(credentials.strip(), validate=True)
    except (binascii.Error, ValueError):
        return None
    return decoded.split(b":", 1)[0].decode("utf-8", "backslashreplace") or None


BASIC_AUTH_USERS = Memo(basic_auth_user, 256, longest=256)


def unquote_to_wsgi_str(path: str) -> str:
    """Percent-decode a path the way WSGI does: bytes as latin-1."""
    return unquote_to_bytes(path).decode("latin-1")
