"""Batches of records as HTTP POSTs: NDJSON, Grafana Loki push, Elasticsearch ``_bulk``, OTLP/HTTP JSON.

One keep-alive connection per process, opened by the sender thread with the
unpatched socket (and ``ssl``) of :mod:`gunicorn_loggers._unpatched`, so it is a real blocking
connection even in a gevent worker. What each answer means:

* 2xx: delivered, except what the body says failed: ``_bulk`` items with an
  error (429 and 5xx items are sent again, the rest rejected), OTLP
  ``partialSuccess.rejectedLogRecords`` (rejected, never retried);
* 413: the batch is split in halves and each half sent; a single record that is
  still too large is rejected;
* the format's retryable statuses (429 and 5xx; OTLP only 429, 502, 503, 504),
  timeouts and connection errors: the batch is kept and sent again after the
  engine's backoff, or after ``Retry-After`` when the collector sent one;
* 401 and 403: rejected, reported with a hint about credentials;
* anything else: rejected, reported with the start of the collector's answer.

Credentials (the URL's user info, header values) never reach a report: every
text that leaves this module goes through :meth:`Secrets.redact`.
"""

from __future__ import annotations

import base64
import email.utils
import gzip
import http.client
import io
import os
import ssl
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote, urlsplit

import orjson

from .. import _process_hooks
from .._unpatched import allocate_lock, ssl_context_class
from ..frames import Frame
from ..levels import LEVELS
from . import Outcome, TransportError, describe_error
from .socket import Endpoint, open_connection, peer_has_closed

#: Defaults for the timeouts (seconds).
CONNECT_TIMEOUT, READ_TIMEOUT = 5.0, 10.0
#: Most a batch holds; a 413 lowers the byte limit for the rest of the process.
BATCH_RECORDS, BATCH_BYTES = 1000, 1024 * 1024
#: The byte limit never goes below this after a 413.
MIN_BODY = 1024
#: How much of a collector's error answer a report quotes.
EXCERPT = 200

try:
    from importlib.metadata import version as _version

    USER_AGENT = f"gunicorn-loggers/{_version('gunicorn-loggers')}"
except Exception:  # pragma: no cover - running from a source tree without metadata
    USER_AGENT = "gunicorn-loggers"


# -- where to send, and what must never be shown -----------------------------------------------


class Secrets:
    """Values that must never appear in a report or an error message.

    A header value ``Bearer abc...`` is looked for whole and by its credentials
    (``abc...``): a collector's error message quotes the token alone. Values and
    parts shorter than :attr:`SHORTEST` are not looked for: a header ``x-b=c``
    would turn every letter c of a report into ``***``.
    """

    SHORTEST = 3

    def __init__(self, values: Iterable[str] = ()) -> None:
        self.values: list[str] = []
        self.add(*values)

    def add(self, *values: str) -> None:
        for value in values:
            if not value:
                continue
            words = value.split()
            # "Bearer TOKEN", "Basic B64": the credentials follow the scheme's name
            for candidate in (value, *words[1:]):
                if len(candidate) >= self.SHORTEST and candidate not in self.values:
                    self.values.append(candidate)
        self.values.sort(key=len, reverse=True)  # longest first: a token inside a header value

    def redact(self, text: str) -> str:
        for value in self.values:
            if value in text:
                text = text.replace(value, "***")
        return text


@dataclass(frozen=True)
class HttpTarget:
    """A parsed ``http(s)://[USER[:PASSWORD]@]HOST[:PORT][/PATH][?QUERY]``."""

    scheme: str
    host: str
    port: int
    target: str  # path and query, as sent in the request line
    #: ``Authorization`` from the URL's user info, if any.
    authorization: str | None = field(default=None, repr=False)

    @property
    def display(self) -> str:
        """What reports show: no user info, no query (query strings carry tokens too)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.scheme}://{host}:{self.port}{self.target.partition('?')[0]}"

    @property
    def path(self) -> str:
        return self.target.partition("?")[0]


def shown_url(url: str) -> str:
    """``url`` with its user info and query replaced by ``***``: safe for an error message."""
    text = url.strip()
    scheme, sep, rest = text.partition("://")
    if sep:
        authority, slash, after = rest.partition("/")
        if "@" in authority:
            authority = "***@" + authority.rpartition("@")[2]
        rest = authority + slash + after
        text = scheme + sep + rest
    if "?" in text:
        text = text.partition("?")[0] + "?***"
    return text


def parse_http_url(url: str, secrets: Secrets | None = None) -> HttpTarget:
    """Parse an http or https URL; raise ``ValueError`` with a message that shows no credentials."""
    shown = repr(shown_url(url))
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError as exc:
        raise ValueError(f"{shown} is not a valid URL ({exc.args[0] if exc.args else 'bad port'})") from None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise ValueError(f"{shown} does not start with http:// or https://")
    if not parts.hostname:
        raise ValueError(f"{shown} has no host (http://HOST[:PORT]/PATH)")
    if any(c.isspace() for c in url.strip()):
        raise ValueError(f"{shown} contains white space")
    authorization = None
    if parts.username is not None or parts.password is not None:
        user, password = unquote(parts.username or ""), unquote(parts.password or "")
        token = base64.b64encode(f"{user}:{password}".encode()).decode("ascii")
        authorization = f"Basic {token}"
        if secrets is not None:
            secrets.add(user, parts.username or "", password, parts.password or "", token)  # short ones skipped
    if secrets is not None and parts.query:
        secrets.add(parts.query)
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    default = 443 if scheme == "https" else 80
    return HttpTarget(scheme, parts.hostname.lower(), port or default, target, authorization)


def retry_after_seconds(value: str | None, now: float | None = None) -> float | None:
    """``Retry-After`` as seconds from now: a number of seconds or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None:
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


# -- what a body looks like, per collector -------------------------------------------------------


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


# -- the transport ---------------------------------------------------------------------------------


class _AnswerStream(io.RawIOBase):
    """The socket an answer is read from, each read given only what is left of the exchange's time.

    A timeout set once on the socket bounds each read, not the answer: a collector
    that sends a byte a second would keep a send waiting for ever under a 3 s timeout.
    Reads through the socket's own raw stream, which keeps the socket open (as
    ``makefile`` does) while ``http.client`` reads a ``Connection: close`` answer.
    """

    def __init__(self, sock: Any, deadline: float, seconds: float) -> None:
        super().__init__()
        self._sock = sock
        self._raw = sock.makefile("rb", buffering=0)
        self._deadline = deadline
        self._seconds = seconds

    def makefile(self, mode: str) -> io.BufferedReader:
        """What ``HTTPResponse`` asks its socket for."""
        return io.BufferedReader(self)

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        left = self._deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError(f"no whole answer within {self._seconds:g} s")
        self._sock.settimeout(left)
        try:
            return self._raw.readinto(buffer)
        except TimeoutError:
            raise TimeoutError(f"no whole answer within {self._seconds:g} s") from None

    def fileno(self) -> int:
        return self._sock.fileno()

    def close(self) -> None:
        if not self.closed:
            self._raw.close()  # takes no lock: see _Response
        super().close()


class _Response(http.client.HTTPResponse):
    """An answer read within a deadline, whose reader is closed without taking the reader's lock.

    ``deadline`` (``time.monotonic()``) bounds the whole answer: status line, headers
    and body (:class:`_AnswerStream`).

    ``http.client`` closes an answer with ``fp.close()``, which takes the lock of the
    buffered reader. A sender thread waiting for the rest of an answer holds that lock
    inside ``read()``; a process forked meanwhile (a gunicorn worker, forked by a master
    whose sender awaits a slow collector) inherits it held by a thread it does not have,
    and its ``close()`` of the inherited connection, in the engine's after-fork reset,
    waited forever: the worker never served a request. Closing the reader's raw socket
    stream takes no lock (the buffer of a reader has nothing to flush), and a reader
    whose raw stream is closed counts as closed, so freeing it does not close it again.
    """

    def __init__(self, sock: Any, *args: Any, deadline: float, seconds: float, **kwargs: Any) -> None:
        super().__init__(_AnswerStream(sock, deadline, seconds), *args, **kwargs)

    def _close_conn(self) -> None:
        fp, self.fp = self.fp, None
        if fp is not None:
            fp.raw.close()


class _Connection(http.client.HTTPConnection):
    """An ``HTTPConnection`` on a real socket (and real TLS) even under gevent.

    :meth:`exchange` sends one request and reads its answer within one deadline.
    """

    def __init__(self, target: HttpTarget, timeout: float, context: ssl.SSLContext | None) -> None:
        super().__init__(target.host, target.port, timeout=timeout)
        self._context = context
        self._deadline = 0.0
        self._seconds = 0.0

    def response_class(self, sock: Any, *args: Any, **kwargs: Any) -> _Response:  # what getresponse() builds
        return _Response(sock, *args, deadline=self._deadline, seconds=self._seconds, **kwargs)

    def exchange(self, target: str, body: bytes, headers: Mapping[str, str], seconds: float) -> tuple[Any, bytes]:
        """POST ``body`` and read the whole answer within ``seconds``: the request's send and the answer's
        every byte share the time; raises ``TimeoutError`` when it runs out."""
        self._deadline = time.monotonic() + seconds
        self._seconds = seconds
        self.request("POST", target, body, headers)
        response = self.getresponse()
        return response, response.read()

    def send(self, data: Any) -> None:
        """The request's head, then its body: each ``sendall`` gets what is left of the exchange's time."""
        left = self._deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError(f"could not send the request within {self._seconds:g} s")
        if self.sock is not None:
            self.sock.settimeout(left)  # bounds a whole sendall since Python 3.5
        super().send(data)

    def connect(self) -> None:
        sock, _ = open_connection(Endpoint("tcp", host=self.host, port=self.port), self.timeout)
        if self._context is not None:
            try:
                sock = self._context.wrap_socket(sock, server_hostname=self.host)
            except BaseException:
                sock.close()
                raise
        self.sock = sock


def tls_context(ca_file: str | None) -> ssl.SSLContext:
    """A client context that checks the certificate and host name; ``ca_file`` replaces the system CAs."""
    context = ssl_context_class()(ssl.PROTOCOL_TLS_CLIENT)
    if ca_file:
        context.load_verify_locations(cafile=ca_file)
    else:
        context.load_default_certs()
    return context


class _ForkGuard:
    """Keeps ``fork`` out of OpenSSL while a sender thread is inside it.

    OpenSSL 3 takes process-wide locks during a handshake (algorithm fetches) and
    on the first reads after it. A worker forked while the master's sender holds
    one inherits it locked by a thread that does not exist there, and its own first
    handshake then waits forever (seen with gevent workers). So the sender holds
    this guard around every TLS operation, and ``fork`` waits for it — at most the
    time one operation may take — before going ahead anyway.
    """

    def __init__(self) -> None:
        self._lock = allocate_lock()
        self._held_for_fork = False
        _process_hooks.before_fork(self._before)
        _process_hooks.after_fork_in_parent(self._after)
        _process_hooks.in_child(_process_hooks.CHILD_LOCKS, self._in_child)

    def __enter__(self) -> None:
        self._lock.acquire()

    def __exit__(self, *exc: object) -> None:
        self._lock.release()

    def _before(self) -> None:
        self._held_for_fork = self._lock.acquire(True, CONNECT_TIMEOUT + READ_TIMEOUT)

    def _after(self) -> None:
        if self._held_for_fork:
            self._held_for_fork = False
            self._lock.release()

    def _in_child(self) -> None:
        self._lock = allocate_lock()  # the child has no sender thread yet: nothing inside OpenSSL
        self._held_for_fork = False


_FORK_GUARD = _ForkGuard()


class _NoGuard:
    def __enter__(self) -> None:
        pass

    def __exit__(self, *exc: object) -> None:
        pass


class _TooLarge(Exception):
    """The collector answered 413 for this piece."""


class HttpTransport:
    """POSTs batches to one URL over a keep-alive connection; see the module docstring for what answers mean."""

    def __init__(
        self,
        target: HttpTarget,
        body_format: BodyFormat,
        *,
        headers: Mapping[str, str] | None = None,
        gzip_body: bool = False,
        ca_file: str | None = None,
        connect_timeout: float = CONNECT_TIMEOUT,
        read_timeout: float = READ_TIMEOUT,
        secrets: Secrets | None = None,
        batch_records: int = BATCH_RECORDS,
        batch_bytes: int = BATCH_BYTES,
    ) -> None:
        self.target = target
        self.format = body_format
        self.name = target.display
        self.gzip = gzip_body
        self.ca_file = ca_file
        self._context: ssl.SSLContext | None = None
        self._context_pid = 0
        self._guard = _FORK_GUARD if target.scheme == "https" else _NoGuard()
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        self.secrets = secrets or Secrets()
        self.batch_records = batch_records
        self.batch_bytes = batch_bytes
        self.max_body = batch_bytes
        self.headers = {"Content-Type": body_format.content_type, "User-Agent": USER_AGENT}
        if gzip_body:
            self.headers["Content-Encoding"] = "gzip"
        if target.authorization:
            self.headers["Authorization"] = target.authorization
            self.secrets.add(target.authorization)
        for name, value in (headers or {}).items():
            self.headers[name] = value
            self.secrets.add(value)
        self._conn: _Connection | None = None
        self._fresh = False
        #: ``time.monotonic()`` of the collector's last answer that took or refused records: the
        #: engine's flush at exit gives up on a collector that has answered nothing for a while.
        self.progress_at = 0.0

    # -- connection --------------------------------------------------------------------------

    def connect(self, timeout: float) -> None:
        with self._guard:
            self._open(timeout)

    def _open(self, timeout: float) -> None:
        self.close()
        conn = _Connection(self.target, min(timeout, self.connect_timeout), self._tls())
        try:
            conn.connect()
        except Exception as exc:
            conn.close()
            raise TransportError(self.secrets.redact(describe_error(exc))) from None
        self._conn = conn
        self._fresh = True

    def _tls(self) -> ssl.SSLContext | None:
        """This process's own TLS context, made in the sender thread.

        Never one inherited through ``fork``: a worker forked while the master's
        sender was inside a handshake inherits the context's OpenSSL locks held by a
        thread that no longer exists, and its first handshake waits forever.
        """
        if self.target.scheme != "https":
            return None
        if self._context is None or self._context_pid != os.getpid():
            self._context = tls_context(self.ca_file)
            self._context_pid = os.getpid()
        return self._context

    def close(self) -> None:
        """Close the connection's descriptor, even while an answer's reader holds the socket open.

        The reader of an answer keeps its socket open after ``close()`` until the reader
        is closed too (``makefile`` semantics). In a child forked while the parent's
        sender read a status line, no thread will ever close that reader: the child kept
        the parent's connection to the collector open for its whole life. Nothing reads
        the connection once it is closed here (only the sender, or the after-fork reset).
        """
        conn, self._conn = self._conn, None
        if conn is not None:
            sock = conn.sock
            conn.close()
            if sock is not None and sock.fileno() != -1:
                os.close(sock.detach())

    # -- sending -----------------------------------------------------------------------------

    def send(self, batch: list[Frame], timeout: float | None) -> Outcome:
        """Send ``batch`` in pieces of at most :attr:`max_body` bytes, halving a piece on 413."""
        with self._guard:
            return self._send(batch, timeout)

    def _send(self, batch: list[Frame], timeout: float | None) -> Outcome:
        delivered = rejected = 0
        notes: list[str] = []
        pieces = self._pieces(batch)
        while pieces:
            piece = pieces.pop(0)
            try:
                outcome = self._post(piece, timeout)
            except _TooLarge as too_large:
                if len(piece) == 1:
                    self.progress_at = time.monotonic()
                    rejected += 1
                    notes.append(
                        f"HTTP 413: a single record of {len(piece[0])} bytes is larger than the collector takes"
                    )
                    continue
                self.max_body = max(MIN_BODY, min(self.max_body, too_large.args[0] // 2))
                half = len(piece) // 2
                pieces[:0] = [piece[:half], piece[half:]]
                continue
            if len(outcome.retry) < len(piece):
                self.progress_at = time.monotonic()
            delivered += outcome.delivered
            rejected += len(piece) - outcome.delivered - len(outcome.retry)
            if outcome.note:
                notes.append(outcome.note)
            if outcome.error is not None or outcome.retry:
                retry = outcome.retry + [frame for rest in pieces for frame in rest]
                return Outcome(delivered, rejected, retry, outcome.error, outcome.retry_after, note=_join(notes))
        return Outcome(delivered, rejected, note=_join(notes))

    def _pieces(self, batch: list[Frame]) -> list[list[Frame]]:
        pieces: list[list[Frame]] = []
        piece: list[Frame] = []
        size = 0
        for frame in batch:
            if piece and size + len(frame) > self.max_body:
                pieces.append(piece)
                piece, size = [], 0
            piece.append(frame)
            size += len(frame)
        if piece:
            pieces.append(piece)
        return pieces

    def _post(self, piece: list[Frame], timeout: float | None) -> Outcome:
        plain = self.format.body(piece)
        body = gzip.compress(plain, compresslevel=5) if self.gzip else plain
        for attempt in (0, 1):
            if self._conn is None:
                try:
                    self._open(self.connect_timeout if timeout is None else timeout)
                except OSError as exc:
                    return Outcome(retry=piece, error=f"cannot connect: {exc}")
            conn = self._conn
            assert conn is not None
            reused = not self._fresh
            self._fresh = False
            if reused and conn.sock is not None and peer_has_closed(conn.sock):
                self.close()  # the collector closed an idle keep-alive connection: not an outage
                continue
            try:
                wait = self.read_timeout if timeout is None else timeout
                response, answer = conn.exchange(self.target.target, body, self.headers, wait)
            except (OSError, http.client.HTTPException) as exc:
                self.close()
                if reused and attempt == 0 and not isinstance(exc, TimeoutError):
                    continue  # a keep-alive connection that died while idle: one fresh try
                return Outcome(retry=piece, error=f"sending failed: {self.secrets.redact(describe_error(exc))}")
            if response.will_close:
                self.close()
            return self._judge(piece, len(plain), response, answer)
        return Outcome(retry=piece, error="sending failed: the collector keeps closing the connection")

    def _judge(self, piece: list[Frame], size: int, response: http.client.HTTPResponse, answer: bytes) -> Outcome:
        status = response.status
        if 200 <= status < 300:
            return self.format.accepted(piece, answer, self.secrets)
        what = f"HTTP {status} {response.reason}".strip()
        if status == 413:
            raise _TooLarge(size)
        if status in self.format.retry_statuses or (self.format.retry_any_5xx and status >= 500):
            return Outcome(
                retry=piece,
                error=f"the collector answered {what}",
                retry_after=retry_after_seconds(response.getheader("Retry-After")),
            )
        if status in (401, 403):
            hint = "check the credentials (GUNICORN_LOGGERS_HTTP_HEADERS, OTEL_EXPORTER_OTLP_HEADERS or the URL)"
            return Outcome(rejected=len(piece), note=f"{what}: {hint}")
        if 300 <= status < 400:
            where = shown_url(response.getheader("Location") or "")
            where = self.secrets.redact(where) or "the new address"
            note = f"{what}: redirects are not followed; point the URL at {where}"
            return Outcome(rejected=len(piece), note=note)
        excerpt = " ".join(answer[:EXCERPT].decode("utf-8", "replace").split())
        return Outcome(rejected=len(piece), note=self.secrets.redact(f"{what}: {excerpt}" if excerpt else what))


def _join(notes: list[str]) -> str | None:
    return "; ".join(dict.fromkeys(notes)) or None


__all__ = [
    "BodyFormat",
    "BulkFormat",
    "HttpTarget",
    "HttpTransport",
    "LokiFormat",
    "NdjsonFormat",
    "OtlpFormat",
    "Secrets",
    "parse_http_url",
    "retry_after_seconds",
    "shown_url",
    "tls_context",
]
