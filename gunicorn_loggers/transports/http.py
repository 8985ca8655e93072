"""Batches of records as HTTP POSTs: NDJSON, Grafana Loki push, Elasticsearch ``_bulk``, OTLP/HTTP JSON.

One keep-alive connection per process, opened by the sender thread with the
unpatched socket (and ``ssl``) of :mod:`gunicorn_loggers._unpatched`, so it is a real blocking
connection even in a gevent worker. The URL and its credentials are parsed in
:mod:`.http_target`, each collector's body is made in :mod:`.http_bodies`, TLS comes
from :mod:`._tls`. What each answer means:

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
text that leaves this module (and :mod:`.http_bodies`) goes through
:meth:`~.http_target.Secrets.redact`.
"""

from __future__ import annotations

import email.utils
import gzip
import http.client
import io
import os
import ssl
import time
from collections.abc import Mapping
from typing import Any

from ..frames import Frame
from . import Outcome, TransportError, describe_error
from ._tls import ForkGuard, NoGuard, tls_context
from .http_bodies import EXCERPT, BodyFormat
from .http_target import HttpTarget, Secrets, shown_url
from .socket import Endpoint, open_connection, peer_has_closed

#: Defaults for the timeouts (seconds).
CONNECT_TIMEOUT, READ_TIMEOUT = 5.0, 10.0
#: Most a batch holds; a 413 lowers the byte limit for the rest of the process.
BATCH_RECORDS, BATCH_BYTES = 1000, 1024 * 1024
#: The byte limit never goes below this after a 413.
MIN_BODY = 1024

try:
    from importlib.metadata import version as _version

    USER_AGENT = f"gunicorn-loggers/{_version('gunicorn-loggers')}"
except Exception:  # pragma: no cover - running from a source tree without metadata
    USER_AGENT = "gunicorn-loggers"

#: Held around every TLS operation of every sender: ``fork`` waits for it (:mod:`._tls`).
_FORK_GUARD = ForkGuard(CONNECT_TIMEOUT + READ_TIMEOUT)


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
        self._guard = _FORK_GUARD if target.scheme == "https" else NoGuard()
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


__all__ = ["HttpTransport", "retry_after_seconds"]
