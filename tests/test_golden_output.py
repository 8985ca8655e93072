"""Golden output: the exact bytes every schema writes on every destination's wire format.

A change below the schemas (how a record travels to its sink) must not change what
reaches a file, a syslog daemon or a collector. Each case builds one logger in-process
from a real gunicorn ``Config``, hands it the same requests (parsed by gunicorn's own
parser and ``wsgi.create``, as a sync worker passes them to ``access()``) and the same
log records, captures what arrives where a user would read it (the log files, or the
bytes a loopback receiver gets on the wire), normalises what legitimately varies from
run to run (:data:`NORMALISE`, nothing else) and compares the text with its file in
``tests/golden/``, byte for byte.

One file per case, ``<destination>.<schema>.txt`` (see :data:`DESTINATIONS`). Regenerate
them after an intended change, and review their diff::

    GOLDEN_UPDATE=1 .venv/bin/python -m pytest tests/test_golden_output.py
"""

from __future__ import annotations

import calendar
import contextlib
import datetime
import difflib
import json
import linecache
import logging
import os
import re
import socket
import struct
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import msgpack
import pytest
from gunicorn.config import Config
from gunicorn.http import wsgi
from gunicorn.http.parser import RequestParser

from gunicorn_loggers import (
    FluentLogger,
    HttpLogger,
    JsonLogger,
    OtlpLogger,
    SocketLogger,
    StructlogLogger,
    SyslogLogger,
)
from tests.receivers import Answer, HttpReceiver, free_port

GOLDEN = Path(__file__).parent / "golden"
UPDATE = os.environ.get("GOLDEN_UPDATE") == "1"
SCHEMAS = ("ecs", "otel", "gcp", "flat")

PID = os.getpid()
#: The syslog HOSTNAME our framer writes: printable US-ASCII, at most 255 characters (RFC 5424).
HOSTNAME = "".join(c if 33 <= ord(c) <= 126 else "_" for c in socket.gethostname())[:255] or "-"

# -- normalisation: what varies from run to run, and nothing else ---------------------------------

#: A quote, or a quote escaped once: a record inside a Loki entry is a JSON string within JSON.
_Q = r'\\?"'
PID_FIELD = re.compile(rf"({_Q}pid{_Q}:){PID}(?!\d)")
PID_ATTRIBUTE = re.compile(rf"({_Q}process\.pid{_Q},{_Q}value{_Q}:\{{{_Q}intValue{_Q}:{_Q}){PID}(?={_Q})")
#: Applied in this order to the whole text of a case. Each rule matches its value in the context
#: it appears in, and pids and the host name only as this process's and this machine's own.
#: Ports never reach the output (requests are parsed in-process from fixed addresses), and the
#: only generated id is Fluentd's chunk id. Two things that depend on varying lengths are
#: handled where they are read, not here: a syslog octet count is checked against its frame
#: and shown as ``<octets>``; the UDP datagram limit is raised by the lengths of the host name
#: and pid the datagram carries, so every record is cut at the same place on every machine.
NORMALISE: list[tuple[str, re.Pattern[str], str]] = [
    (
        "RFC 3339 time, microseconds (JSON records, syslog header)",
        re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z"),
        "<time>",
    ),
    ("OTLP times in unix ns", re.compile(rf"({_Q}(?:time|observedTime)UnixNano{_Q}:{_Q})\d+(?={_Q})"), r"\1<unix-ns>"),
    ("Loki entry time in unix ns (each entry starts a line)", re.compile(r'^\["\d+",', re.MULTILINE), '["<unix-ns>",'),
    ("Fluentd EventTime", re.compile(r"EventTime\(\d+\.\d{9}\)"), "EventTime(<time>)"),
    ("pid: ecs process.pid, gcp and flat pid", PID_FIELD, r"\1<pid>"),
    ("pid: otel resource attribute process.pid", PID_ATTRIBUTE, r"\1<pid>"),
    (
        "syslog HOSTNAME and PROCID (after the time rule)",
        re.compile(rf"^((?:<octets> )?<\d{{1,3}}>1 <time> ){re.escape(HOSTNAME)} (\S+) {PID} ", re.MULTILINE),
        r"\1<hostname> \2 <pid> ",
    ),
    ("Fluentd chunk id (16 random bytes, base64)", re.compile(r'("chunk":)"[A-Za-z0-9+/]{22}=="'), r'\1"<chunk-id>"'),
    ("our version in the User-Agent we send", re.compile(r"gunicorn-loggers/\S+"), "gunicorn-loggers/<version>"),
]


def normalise(text: str) -> str:
    for _, pattern, replacement in NORMALISE:
        text = pattern.sub(replacement, text)
    return text


# -- what every case logs -----------------------------------------------------------------------

CLIENT = ("127.0.0.1", 54321)  # a local reverse proxy: trusted, so X-Forwarded-For is walked
SERVER = ("127.0.0.1", "8000")
MS = datetime.timedelta(milliseconds=1)
LONG_AGENT = b"Mozilla/5.0 (long) " + b"x" * 4096  # several KiB, under limit_request_field_size (8190)


class Request(NamedTuple):
    name: str
    raw: bytes
    status: str = "200 OK"
    headers: tuple[tuple[str, str], ...] = (("Content-Type", "application/json"),)
    sent: int = 1234
    duration: datetime.timedelta = datetime.timedelta(microseconds=3512)


def http(request_line: bytes, *headers: bytes, body: bytes = b"") -> bytes:
    return b"\r\n".join([request_line, *headers, b"", b""]) + body


#: Ordinary requests, then the hostile ones of test_bad_input, test_redaction and test_ecs_access_line.
REQUESTS = [
    Request(
        "get with a query",
        http(
            b"GET /api/items?page=2&sort=-created HTTP/1.1",
            b"Host: api.example.com:8000",
            b"User-Agent: curl/8.5.0",
            b"Accept: application/json",
        ),
    ),
    Request(
        "post with a query and a body",
        http(
            b"POST /api/orders?dry_run=1 HTTP/1.1",
            b"Host: api.example.com",
            b"Content-Type: application/json",
            b"Content-Length: 11",
            body=b'{"qty": 3}\n',
        ),
        "201 Created",
        (
            ("Content-Type", "application/json"),
            ("Location", "/api/orders/17"),
            ("Set-Cookie", "sid=SETCOOKIESECRET; HttpOnly"),
        ),
        42,
        12 * MS,
    ),
    Request(
        "not found",
        http(
            b"GET /missing/page.html HTTP/1.1",
            b"Host: www.example.org",
            b"User-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0",
            b"Referer: https://www.example.org/",
            b"Accept: text/html",
        ),
        "404 Not Found",
        (("Content-Type", "text/html; charset=utf-8"),),
        9,
        MS,
    ),
    Request(
        "server error",
        http(b"GET /raise?id=7 HTTP/1.1", b"Host: api.example.com"),
        "500 Internal Server Error",
        (("Content-Type", "text/plain"),),
        21,
        1250 * MS,
    ),
    Request(
        "traceparent and x-request-id",
        http(
            b"GET /traced HTTP/1.1",
            b"Host: api.example.com",
            b"traceparent: 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            b"X-Request-ID: 7f3c2a10-5b6e-4c1d-9a8b-0e2f4d6c8a1b",
        ),
    ),
    Request(
        "x-forwarded-for through trusted proxies",
        http(
            b"GET /forwarded HTTP/1.1",
            b"Host: api.example.com",
            b"X-Forwarded-For: 203.0.113.7, 10.0.0.2, ::1",
            b"X-Forwarded-Proto: https",
            b"traceparent: 00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00",
        ),
        "204 No Content",
        (),
        0,
    ),
    Request(
        "basic auth, tokens in the query and fragment, secret headers",
        http(
            b"GET /login?user=alice&token=QUERYSECRET&password=hunter2&page=1#id_token=FRAGSECRET HTTP/1.1",
            b"Host: auth.example.com",
            b"Authorization: Basic YWxpY2U6czNjcjN0",
            b"Cookie: session=COOKIESECRET",
            b"X-Api-Key: APIKEYSECRET",
            b"Referer: https://app.example.com/cb?access_token=REFERERSECRET&x=1",
            b"Accept: */*",
        ),
        "302 Found",
        (("Location", "/home"), ("Set-Cookie", "sid=SESSIONSECRET; Secure")),
        0,
    ),
    Request(
        "absolute-form target with user info, bearer token",
        http(
            b"GET http://bob:PASSWORD2@abs.example:8080/ok?a=1&api_key=KEYSECRET HTTP/1.1",
            b"Host: other",
            b"Authorization: Bearer BEARERSECRET",
        ),
    ),
    Request(
        "invalid UTF-8 and mojibake",
        http(
            b"GET /caf%C3%A9/%FF%FE?q=%FF&name=caf%C3%A9 HTTP/1.1",
            b"Host: example.com",
            b"User-Agent: bad \xff\xfe bytes \xc3\xa9 caf\xc3\x83\xc2\xa9",
            b"Referer: http://x/\xe9",
        ),
    ),
    Request(
        "quotes, backslashes and line breaks",
        http(
            b"GET /a%0D%0Ab%22c%5C%00?x=%0A%22 HTTP/1.1",
            b'Host: h"ost',
            b'User-Agent: x", "forged": true, "log.level": "critical", "a": "\\',
            b'X-Request-ID: id"},"forged":1',
            b"Referer: tab\tinside \\r\\n escaped \xe2\x80\xa8 \xe2\x80\xa9 end",
            b"Accept: \xef\xbb\xbf bom",
        ),
        "400 Bad Request",
    ),
    Request(
        "long header",
        http(
            b"GET /long HTTP/1.1",
            b"Host: api.example.com",
            b"User-Agent: " + LONG_AGENT,
            b"Accept: " + b"text/plain;q=0.5, " * 20 + b"*/*",
        ),
    ),
    Request("HTTP/1.0 without a Host", http(b"GET / HTTP/1.0"), "304 Not Modified", (), 0, 0 * MS),
]

#: The options of the one case that captures headers (and redacts them); every other case runs with the
#: defaults, where ECS access records are written by the template of ``ecs_access_line``, not the dict path.
HEADER_OPTIONS = {
    "GUNICORN_LOGGERS_REQUEST_HEADERS": "accept,authorization,cookie,x-api-key",
    "GUNICORN_LOGGERS_REDACT_HEADERS": "x-api-key",
    "GUNICORN_LOGGERS_RESPONSE_HEADERS": "content-type,set-cookie",
}

#: The app and gunicorn's calls, compiled under a fixed file name: ``log.origin`` and the traceback
#: name its lines, which stay put whatever is edited in this test.
APP_FILE = "/srv/golden_app/views.py"
APP_SOURCE = r'''import logging


def gunicorn_messages(log):
    """What an arbiter and a worker log on gunicorn's error log, as they word it."""
    log.info("Starting gunicorn %s", "23.0.0")
    log.info("Listening at: %s (%s)", "http://127.0.0.1:8000", 4321)
    log.debug("GET %s", "/below-the-log-level")
    refused = "Invalid HTTP request line: %r" % "GET /login?token=LINESECRET\x01 HTTP/1.1"
    log.warning("Invalid request from ip={ip}: {error}".format(ip="203.0.113.9", error=refused))
    uri = "/raise?id=7&token=TARGETSECRET"
    try:
        handle(uri)
    except ValueError:
        log.exception("Error handling request %s", uri)
    log.error("Worker (pid:%s) was sent SIGKILL! Perhaps out of memory?", 4322)


def handle(target):
    raise ValueError("boom from the app")


def app_messages():
    """The app's own records, through the standard library's root logger."""
    app = logging.getLogger("golden.app")
    extra = {
        "order_id": 42,
        "customer": {"tier": "gold", "tags": ["a", "b"]},
        "service.name": "forged",
        "log.level": "critical",
        "http.request.method": "FORGED",
        "ratio": 0.5,
        "flag": True,
        "nothing": None,
        7: "a key that is no string",
    }
    app.info("order %s placed", 42, extra=extra)
    app.debug("below the root level: never written")
    app.warning("%s and %s", "only one argument")
    app.error('multi\nline "quoted" \\ message \u2028 caf\u00e9')
'''


def load_app() -> dict[str, Any]:
    linecache.cache[APP_FILE] = (len(APP_SOURCE), None, APP_SOURCE.splitlines(True), APP_FILE)
    namespace: dict[str, Any] = {"__name__": "golden_app.views"}
    exec(compile(APP_SOURCE, APP_FILE, "exec"), namespace)
    return namespace


class _NullSocket:
    """What ``wsgi.create`` may write to (``100 Continue``); nothing is sent."""

    def send(self, data: bytes) -> int:
        return len(data)

    def sendall(self, data: bytes) -> None:
        pass


def access(logger: JsonLogger, cfg: Config, request: Request) -> None:
    """``logger.access`` with what a sync worker passes it for ``request``."""
    req = next(RequestParser(cfg, iter([request.raw]), CLIENT))
    resp, environ = wsgi.create(req, _NullSocket(), CLIENT, SERVER, cfg)
    resp.start_response(request.status, list(request.headers))
    resp.sent = request.sent
    logger.access(resp, req, environ, request.duration)


def log_everything(logger: JsonLogger, cfg: Config) -> None:
    """The same calls, in the same order, for every case."""
    app = load_app()
    for request in REQUESTS[:6]:
        access(logger, cfg, request)
    app["gunicorn_messages"](logger)
    for request in REQUESTS[6:]:
        access(logger, cfg, request)
    app["app_messages"]()


def close_logger(logger: JsonLogger) -> None:
    """Flush and close what the logger's set-up opened: a network logger sends all it holds, then ends its threads.

    The only internal this test touches (``_sinks``): gunicorn has no call for it, a
    worker's exit does the same through ``atexit``.
    """
    for sink in list(logger._sinks.values()):
        sink.close()


@contextlib.contextmanager
def fresh_logging() -> Iterator[None]:
    """The standard library's loggers as a new gunicorn process has them, and back afterwards.

    pytest hangs its capture handlers on the root logger, and a logger sends the app's
    records to its error log only when the root has no handler.
    """
    loggers = [logging.getLogger(name) for name in ("", "gunicorn.error", "gunicorn.access", "golden.app")]
    saved = [(log, log.handlers[:], log.level, log.propagate) for log in loggers]
    for log in loggers:
        for handler in log.handlers[:]:
            log.removeHandler(handler)
    try:
        yield
    finally:
        for log, handlers, level, propagate in saved:
            for handler in log.handlers[:]:
                log.removeHandler(handler)
            for handler in handlers:
                log.addHandler(handler)
            log.setLevel(level)
            log.propagate = propagate


def make_config(tmp_path: Path, env: dict[str, str], accesslog: bool, **settings: Any) -> Config:
    """A gunicorn Config with the error log (and the access log) in ``tmp_path`` and ``env`` as ``-e`` options."""
    cfg = Config()
    cfg.set("errorlog", str(tmp_path / "error.log"))
    if accesslog:
        cfg.set("accesslog", str(tmp_path / "access.log"))
    cfg.set("forwarded_allow_ips", "127.0.0.1,::1")
    cfg.set("raw_env", [f"{name}={value}" for name, value in env.items()])
    for name, value in settings.items():
        cfg.set(name, value)
    return cfg


# -- loopback receivers that keep the raw bytes ---------------------------------------------------


#: What a reply function returns to close the connection instead of answering.
HANG_UP = None


class TcpCapture:
    """A TCP server on 127.0.0.1 keeping every connection's bytes.

    ``make_reply(n)`` gives the n-th connection (from 0) a function from the bytes just
    read to the bytes to answer (Fluentd's acks), or :data:`HANG_UP` to close it.
    """

    def __init__(self, make_reply: Callable[[int], Callable[[bytes], bytes | None]] | None = None) -> None:
        self.port = free_port()
        self.make_reply = make_reply
        self.connections: list[bytearray] = []
        self.ended = 0  # connections closed by the client, or hung up on
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self._server: socket.socket | None = None
        self._running = False

    def start(self) -> TcpCapture:
        server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        server.bind(("127.0.0.1", self.port))
        server.listen(8)
        server.settimeout(0.1)
        self._server, self._running = server, True
        self._spawn(self._accept_loop, server)
        return self

    def _spawn(self, target: Callable[..., None], *args: Any) -> None:
        thread = threading.Thread(target=target, args=args, daemon=True)
        self._threads.append(thread)
        thread.start()

    def _accept_loop(self, server: socket.socket) -> None:
        while self._running:
            try:
                connection, _ = server.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            data = bytearray()
            with self._lock:
                number = len(self.connections)
                self.connections.append(data)
            self._spawn(self._read_loop, connection, data, number)

    def _read_loop(self, connection: socket.socket, data: bytearray, number: int) -> None:
        reply = self.make_reply(number) if self.make_reply is not None else None
        connection.settimeout(0.1)
        with connection:
            while self._running:
                try:
                    chunk = connection.recv(65536)
                except TimeoutError:
                    continue
                except OSError:
                    return
                if not chunk:
                    with self._lock:
                        self.ended += 1
                    return
                data += chunk
                answer = reply(chunk) if reply is not None else b""
                if answer is HANG_UP:
                    with self._lock:
                        self.ended += 1
                    return
                if answer:
                    connection.sendall(answer)

    def streams(self, expected: int, timeout: float = 5.0) -> list[bytes]:
        """The bytes of each of the ``expected`` connections, once all have ended."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self.ended < expected:
            time.sleep(0.01)
        with self._lock:
            assert len(self.connections) == expected == self.ended, f"{len(self.connections)} connections"
            return [bytes(data) for data in self.connections]

    def stop(self) -> None:
        self._running = False
        if self._server is not None:
            self._server.close()
        for thread in self._threads:
            thread.join(2)


class UdpCapture:
    """A UDP socket on 127.0.0.1; :meth:`datagrams` reads what has arrived."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]

    def datagrams(self) -> list[bytes]:
        """Every datagram queued (the sender has ended: all it sent is in the socket's buffer)."""
        received = []
        self.sock.settimeout(0.2)
        for _ in range(10_000):
            try:
                received.append(self.sock.recv(65535))
            except TimeoutError:
                break
        return received

    def close(self) -> None:
        self.sock.close()


def forward_acks(held: threading.Event) -> Callable[[int], Callable[[bytes], bytes | None]]:
    """A Fluentd forward input: the first connection waits for ``held`` and hangs up without an ack (see
    :func:`fluent_forward`); the others get ``{"ack": chunk}`` for each message that asks."""

    def make_reply(number: int) -> Callable[[bytes], bytes | None]:
        return _hang_up_when(held) if number == 0 else _acks()

    return make_reply


def _hang_up_when(event: threading.Event) -> Callable[[bytes], bytes | None]:
    def reply(chunk: bytes) -> None:
        event.wait(10)
        return HANG_UP

    return reply


def _acks() -> Callable[[bytes], bytes | None]:
    unpacker = msgpack.Unpacker(raw=False)

    def reply(chunk: bytes) -> bytes:
        unpacker.feed(chunk)
        answer = b""
        for message in unpacker:
            option = message[-1] if isinstance(message, list) and isinstance(message[-1], dict) else {}
            if "chunk" in option:
                answer += msgpack.packb({"ack": option["chunk"]})
        return answer

    return reply


# -- turning what arrived into text -----------------------------------------------------------------


def utf8(data: bytes, what: str) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise AssertionError(f"{what} is not valid UTF-8: {exc}") from None


def json_object(text: str, what: str) -> dict[str, Any]:
    value = json.loads(text)
    assert isinstance(value, dict), f"{what} is not a JSON object: {text[:200]!r}"
    return value


def record_time_ns(record: dict[str, Any]) -> int:
    """The record's own time: ``timeUnixNano`` in otel, else the RFC 3339 ``@timestamp`` or ``time``."""
    if "resourceLogs" in record:
        return int(record["resourceLogs"][0]["scopeLogs"][0]["logRecords"][0]["timeUnixNano"])
    stamp = datetime.datetime.strptime(record.get("@timestamp") or record["time"], "%Y-%m-%dT%H:%M:%S.%fZ")
    return calendar.timegm(stamp.timetuple()) * 1_000_000_000 + stamp.microsecond * 1000


def json_lines(data: bytes, what: str) -> list[str]:
    """The lines of NDJSON ``data``, each checked to be one JSON object."""
    text = utf8(data, what)
    assert text == "" or text.endswith("\n"), f"{what} does not end with a newline"
    lines = text.split("\n")[:-1]
    for line in lines:
        json_object(line, f"a line of {what}")
    return lines


def section(title: str, lines: list[str]) -> str:
    return f"== {title}\n" + "".join(line + "\n" for line in lines)


def broken_before(text: str, pattern: str) -> list[str]:
    """``text`` (one line, as a body without line breaks) broken before each match of ``pattern``, for
    reading; joining the lines gives ``text`` back."""
    assert "\n" not in text
    return [part for part in re.split(f"(?={pattern})", text) if part]


def octet_counted_frames(stream: bytes) -> list[bytes]:
    """RFC 6587 octet-counting frames (``LEN SP MSG``); every count is checked against its frame."""
    frames, at = [], 0
    while at < len(stream):  # every turn consumes at least one byte
        space = stream.find(b" ", at)
        count = stream[at:space]
        assert space > at and count.isdigit() and count[:1] != b"0", f"no octet count at {at}: {stream[at:80]!r}"
        end = space + 1 + int(count)
        assert end <= len(stream), f"frame at {at} announces {int(count)} octets, {len(stream) - space - 1} follow"
        frames.append(stream[space + 1 : end])
        at = end
    return frames


def syslog_message(message: bytes, what: str) -> str:
    """An RFC 5424 message whose MSG is one JSON object; its text."""
    text = utf8(message, what)
    parts = text.split(" ", 7)
    assert len(parts) == 8 and re.match(r"^<\d{1,3}>1$", parts[0]), f"{what} is not RFC 5424: {text[:120]!r}"
    json_object(parts[7], f"the MSG of {what}")
    return text


# -- Fluentd forward: msgpack decoded strictly ----------------------------------------------------


class EventTime(NamedTuple):
    seconds: int
    nanoseconds: int


def _event_time(code: int, data: bytes) -> EventTime:
    assert code == 0 and len(data) == 8, f"ext type {code} of {len(data)} bytes, not EventTime"
    seconds, nanoseconds = struct.unpack(">II", data)
    assert nanoseconds < 1_000_000_000, f"EventTime nanoseconds {nanoseconds}"
    return EventTime(seconds, nanoseconds)


#: The family of a msgpack object, by its first byte (the width of str, bin, map and array depends on lengths).
_FAMILIES = [
    (0x7F, "int"), (0x8F, "map"), (0x9F, "array"), (0xBF, "str"), (0xC0, "nil"), (0xC1, "never used"),
    (0xC3, "bool"), (0xC6, "bin"), (0xC9, "ext"), (0xCB, "float"), (0xD3, "int"), (0xD8, "ext"), (0xDB, "str"),
    (0xDD, "array"), (0xDF, "map"), (0xFF, "int"),
]  # fmt: skip


def family(byte: int) -> str:
    return next(name for last, name in _FAMILIES if byte <= last)


def unpacker_of(data: bytes) -> msgpack.Unpacker:
    unpacker = msgpack.Unpacker(raw=False, strict_map_key=True, ext_hook=_event_time, unicode_errors="strict")
    unpacker.feed(data)
    return unpacker


def arrays(data: bytes, what: str) -> Iterator[list[tuple[str, int, Any]]]:
    """Each msgpack array in ``data``, as (family, first byte, value) of each element; all of ``data`` is read."""
    unpacker = unpacker_of(data)
    while unpacker.tell() < len(data):  # every turn reads one array
        assert family(data[unpacker.tell()]) == "array", f"{what}: not an array at {unpacker.tell()}"
        elements = []
        for _ in range(unpacker.read_array_header()):
            first = data[unpacker.tell()]
            elements.append((family(first), first, unpacker.unpack()))
        yield elements


def canonical(value: Any, what: str) -> Any:
    """A decoded msgpack value as JSON can show it; a ``bin`` becomes ``{"<bin>": hex}``."""
    if isinstance(value, dict):
        assert all(isinstance(key, str) for key in value), f"{what}: a map key is not a str"
        return {key: canonical(item, what) for key, item in value.items()}
    if isinstance(value, list):
        return [canonical(item, what) for item in value]
    if isinstance(value, bytes):
        return {"<bin>": value.hex()}
    assert value is None or isinstance(value, (str, int, float)), f"{what}: a {type(value).__name__}"
    return value


def shown(value: Any, what: str) -> str:
    return json.dumps(canonical(value, what), ensure_ascii=False, separators=(",", ":"))


def forward_messages(stream: bytes) -> list[str]:
    """PackedForward messages, each element with its msgpack family, each entry decoded and checked."""
    lines = []
    for number, message in enumerate(arrays(stream, "forward stream"), 1):
        what = f"forward message {number}"
        assert [kind for kind, _, _ in message] == ["str", "bin", "map"], f"{what}: {message!r:.200}"
        (_, _, tag), (_, _, packed), (_, _, option) = message
        entries = list(arrays(packed, f"the entries of {what}"))
        assert option.get("size") == len(entries), f"{what}: size {option.get('size')}, {len(entries)} entries"
        lines += [f"message {number}: array of 3", f"  tag: str {shown(tag, what)}", f"  entries: bin, {len(entries)}"]
        for index, entry in enumerate(entries, 1):
            where = f"entry {index} of {what}"
            assert len(entry) == 2, f"{where}: {len(entry)} elements"
            (time_kind, time_byte, stamp), (record_kind, _, record) = entry
            assert (time_kind, time_byte, record_kind) == ("ext", 0xD7, "map"), f"{where}: {time_kind} {record_kind}"
            assert isinstance(stamp, EventTime), where
            stamp_ns = stamp.seconds * 1_000_000_000 + stamp.nanoseconds
            assert stamp_ns == record_time_ns(record), f"{where}: EventTime is not the record's time"
            event_time = f"EventTime({stamp.seconds}.{stamp.nanoseconds:09d})"
            lines += [
                f"    entry {index}: array of 2: ext 0 (fixext 8) {event_time}, map",
                f"      {shown(record, where)}",
            ]
        lines.append(f"  option: map {shown(option, what)}")
    return lines


# -- the destinations ---------------------------------------------------------------------------------

NETWORK_ENV = {"GUNICORN_LOGGERS_BATCH_WAIT": "10"}


def schema_env(schema: str) -> dict[str, str]:
    return {"GUNICORN_LOGGERS_SCHEMA": schema}


def file_lines(logger_class: type[JsonLogger], env: dict[str, str] | None = None) -> Callable[[str, Path], str]:
    def capture(schema: str, tmp_path: Path) -> str:
        cfg = make_config(tmp_path, {**schema_env(schema), **(env or {})}, accesslog=True)
        logger = logger_class(cfg)
        try:
            log_everything(logger, cfg)
        finally:
            close_logger(logger)
        access_lines = json_lines((tmp_path / "access.log").read_bytes(), "the access log")
        error_lines = json_lines((tmp_path / "error.log").read_bytes(), "the error log")
        return section("access log", access_lines) + section("error log", error_lines)

    return capture


def syslog_tcp(schema: str, tmp_path: Path) -> str:
    receiver = TcpCapture().start()
    try:
        address = f"tcp://127.0.0.1:{receiver.port}"
        cfg = make_config(tmp_path, {**schema_env(schema), **NETWORK_ENV}, False, syslog_addr=address)
        logger = SyslogLogger(cfg)
        try:
            log_everything(logger, cfg)
        finally:
            close_logger(logger)
        (stream,) = receiver.streams(1)
    finally:
        receiver.stop()
    frames = octet_counted_frames(stream)
    lines = ["<octets> " + syslog_message(frame, f"syslog frame {n}") for n, frame in enumerate(frames, 1)]
    return section(f"TCP stream, octet-counting: {len(frames)} frames, each count checked and shown as <octets>", lines)


def syslog_udp(schema: str, tmp_path: Path) -> str:
    receiver = UdpCapture()
    # The header carries the host name and the pid, and every record its pid once: a limit raised by their
    # lengths leaves every record the same room on every machine, so long records are cut the same.
    max_datagram = 1900 + len(HOSTNAME) + 2 * len(str(PID))
    try:
        env = {**schema_env(schema), **NETWORK_ENV, "GUNICORN_LOGGERS_MAX_DATAGRAM": str(max_datagram)}
        cfg = make_config(tmp_path, env, False, syslog_addr=f"udp://127.0.0.1:{receiver.port}")
        logger = SyslogLogger(cfg)
        try:
            log_everything(logger, cfg)
        finally:
            close_logger(logger)
        datagrams = receiver.datagrams()
    finally:
        receiver.close()
    lines = []
    for number, datagram in enumerate(datagrams, 1):
        assert len(datagram) <= max_datagram, f"datagram {number} has {len(datagram)} bytes"
        text = syslog_message(datagram, f"datagram {number}")
        assert len(PID_FIELD.findall(text)) + len(PID_ATTRIBUTE.findall(text)) == 1, f"datagram {number}: pid not once"
        lines.append(text)
    title = f"UDP: {len(datagrams)} datagrams of at most 1900 + len(hostname) + 2 * len(pid) bytes"
    return section(title, lines)


def socket_tcp(schema: str, tmp_path: Path) -> str:
    receiver = TcpCapture().start()
    try:
        env = {**schema_env(schema), **NETWORK_ENV, "GUNICORN_LOGGERS_URL": f"tcp://127.0.0.1:{receiver.port}"}
        cfg = make_config(tmp_path, env, False)
        logger = SocketLogger(cfg)
        try:
            log_everything(logger, cfg)
        finally:
            close_logger(logger)
        (stream,) = receiver.streams(1)
    finally:
        receiver.stop()
    lines = json_lines(stream, "the NDJSON stream")
    return section(f"TCP stream, NDJSON: {len(lines)} lines", lines)


#: How a body without line breaks of its own is shown: broken before each of these, for reading.
BODY_BREAKS = {
    "loki": ("stream and entry", r'\{"stream":|\["\d'),
    "otlp": ("resource, scope and log record", r'\{"resource":|\{"scope":|\{"timeUnixNano":'),
}


#: Why a collector's first request is held, then refused.
ONE_BATCH = (
    "The first request carries whatever the sender found queued when the first record woke it. It is held "
    "until every record is logged, then refused (HTTP 503, or a Fluentd hang-up without an ack), so the batch "
    "sent again, topped up after that answer, carries every record: that one is pinned."
)


def http_body(logger_class: type[JsonLogger], kind: str, env: dict[str, str]) -> Callable[[str, Path], str]:
    """The body of the request that carries every record (:data:`ONE_BATCH`)."""

    def capture(schema: str, tmp_path: Path) -> str:
        receiver = HttpReceiver(kind)
        held = threading.Event()
        bodies: list[bytes] = []
        valid_bulk = kind == "bulk" and schema == "ecs"  # data streams need @timestamp, which only ecs has

        def keep_body(number: int, body: bytes) -> Answer | None:
            if number == 0:
                held.wait(10)
                return Answer(503)
            bodies.append(body)
            if kind == "bulk" and not valid_bulk:
                items = [{"create": {"status": 201, "result": "created"}}] * (body.count(b"\n") // 2)
                return Answer(200, json.dumps({"took": 1, "errors": False, "items": items}).encode())
            return None  # the receiver checks the body strictly and answers

        receiver.policy = keep_body
        if logger_class is OtlpLogger:  # the otel schema always, and the OpenTelemetry variable
            options = {"OTEL_EXPORTER_OTLP_LOGS_ENDPOINT": receiver.url}
        else:
            options = {**schema_env(schema), "GUNICORN_LOGGERS_URL": receiver.url}
        cfg = make_config(tmp_path, {**options, **NETWORK_ENV, **env}, False)
        receiver.start()
        try:
            logger = logger_class(cfg)
            try:
                log_everything(logger, cfg)
            finally:
                held.set()
                close_logger(logger)
        finally:
            held.set()
            receiver.stop()
        assert receiver.errors == [], receiver.errors
        statuses = [request["status"] for request in receiver.requests]
        assert len(statuses) == 2 and statuses[0] == 503 and 200 <= statuses[1] < 300, statuses
        request = receiver.requests[1]
        headers = request["headers"]
        head = [
            f"POST {request['path']}",
            f"content-type: {headers.get('content-type')}",
            f"content-encoding: {headers.get('content-encoding', '(none)')}",
            f"user-agent: {headers.get('user-agent')}",
        ]
        body = utf8(bodies[0], "the body")
        if kind in BODY_BREAKS:
            parts, pattern = BODY_BREAKS[kind]
            shown_body = broken_before(body, pattern)
            title = f"body, one line, broken before each {parts} for reading (the lines joined are the body)"
        else:
            shown_body = json_lines(bodies[0], "the body")
            title = "body, NDJSON"
        if kind == "loki":
            check_loki_times(body)
        first = "request 2 of 2 (the first was held, then answered 503: see ONE_BATCH)"
        return section(first, head) + section(title, shown_body)

    return capture


def check_loki_times(body: str) -> None:
    """Every entry's time is its record's own."""
    for stream in json_object(body, "the push body")["streams"]:
        for stamp, line in stream["values"]:
            assert int(stamp) == record_time_ns(json_object(line, "a Loki line")), f"entry {stamp}: not its record's"


def fluent_forward(schema: str, tmp_path: Path) -> str:
    """The stream of the connection that carries every record (:data:`ONE_BATCH`)."""
    held = threading.Event()
    receiver = TcpCapture(forward_acks(held)).start()
    try:
        env = {**schema_env(schema), **NETWORK_ENV, "GUNICORN_LOGGERS_URL": f"tcp://127.0.0.1:{receiver.port}"}
        cfg = make_config(tmp_path, env, False)
        logger = FluentLogger(cfg)
        try:
            log_everything(logger, cfg)
        finally:
            held.set()
            close_logger(logger)
        _, stream = receiver.streams(2)
    finally:
        held.set()
        receiver.stop()
    title = "TCP stream of connection 2 of 2 (the first was held, then hung up on: see ONE_BATCH); every message acked"
    return section(title, forward_messages(stream))


@dataclass(frozen=True)
class Destination:
    name: str
    what: str
    capture: Callable[[str, Path], str]
    schemas: tuple[str, ...] = SCHEMAS


DESTINATIONS = [
    Destination("file-json", "JsonLogger: --access-logfile and --error-logfile lines", file_lines(JsonLogger)),
    Destination(
        "file-json-headers",
        "JsonLogger with REQUEST_HEADERS, REDACT_HEADERS and RESPONSE_HEADERS: the log files' lines",
        file_lines(JsonLogger, HEADER_OPTIONS),
    ),
    Destination("file-structlog", "StructlogLogger, no processors: the log files' lines", file_lines(StructlogLogger)),
    Destination("syslog-tcp", "SyslogLogger to --log-syslog-to tcp://, RFC 5424, octet-counting", syslog_tcp),
    Destination("syslog-udp", "SyslogLogger to --log-syslog-to udp://, RFC 5424, one message a datagram", syslog_udp),
    Destination("socket-tcp", "SocketLogger to tcp://: NDJSON", socket_tcp),
    Destination("http-ndjson", "HttpLogger, HTTP_FORMAT=ndjson: the POST body", http_body(HttpLogger, "ndjson", {})),
    Destination(
        "http-loki",
        "HttpLogger, HTTP_FORMAT=loki: the push body",
        http_body(HttpLogger, "loki", {"GUNICORN_LOGGERS_HTTP_FORMAT": "loki"}),
    ),
    Destination(
        "http-bulk",
        "HttpLogger, HTTP_FORMAT=bulk: the _bulk body (data streams take only ecs, which has @timestamp)",
        http_body(HttpLogger, "bulk", {"GUNICORN_LOGGERS_HTTP_FORMAT": "bulk"}),
    ),
    Destination("otlp", "OtlpLogger: the OTLP/HTTP JSON body", http_body(OtlpLogger, "otlp", {}), ("otel",)),
    Destination("fluent", "FluentLogger: Fluentd forward, msgpack decoded", fluent_forward),
]
CASES = [(destination, schema) for destination in DESTINATIONS for schema in destination.schemas]


def golden_path(destination: Destination, schema: str) -> Path:
    return GOLDEN / f"{destination.name}.{schema}.txt"


def first_difference(expected: str, actual: str) -> str:
    for number, (old, new) in enumerate(zip(expected.split("\n"), actual.split("\n"), strict=False), 1):
        if old != new:
            column = next(
                (i for i, (a, b) in enumerate(zip(old, new, strict=False)) if a != b), min(len(old), len(new))
            )
            start = max(0, column - 60)
            return (
                f"first difference: line {number}, column {column + 1}\n"
                f"  golden: ...{old[start : column + 60]!r}\n  now:    ...{new[start : column + 60]!r}"
            )
    return "the texts differ in their number of lines"


@pytest.mark.parametrize(("destination", "schema"), CASES, ids=[f"{d.name}-{s}" for d, s in CASES])
def test_output_is_byte_for_byte_the_golden_one(destination: Destination, schema: str, tmp_path, monkeypatch):
    for name in list(os.environ):
        if name.startswith(("GUNICORN_LOGGERS_", "OTEL_")) or name == "FORWARDED_ALLOW_IPS":
            monkeypatch.delenv(name)
    started = time.monotonic()
    with fresh_logging():
        captured = destination.capture(schema, tmp_path)
    assert time.monotonic() - started < 10, "a case took over 10 s"
    for forbidden in ("SECRET", "hunter2", "PASSWORD2", "below the root level", "below-the-log-level"):
        assert forbidden not in captured, f"{forbidden!r} reached the output"
    header = (
        f"# Golden output of tests/test_golden_output.py: {destination.what}; schema {schema}.\n"
        "# Normalised by NORMALISE there, byte for byte otherwise. Regenerate: GOLDEN_UPDATE=1 pytest <that file>\n"
    )
    actual = header + normalise(captured)
    path = golden_path(destination, schema)
    if UPDATE:
        path.parent.mkdir(exist_ok=True)
        path.write_bytes(actual.encode("utf-8"))
        return
    assert path.exists(), f"{path} is missing: GOLDEN_UPDATE=1 writes it"
    expected = path.read_bytes().decode("utf-8")
    if actual != expected:
        diff = difflib.unified_diff(
            expected.split("\n"), actual.split("\n"), f"golden/{path.name}", "now", n=1, lineterm=""
        )
        shown_diff = "\n".join(line if len(line) <= 2000 else line[:2000] + " [...]" for line in list(diff)[:80])
        pytest.fail(
            f"{destination.name} ({schema}) differs from {path.name} (GOLDEN_UPDATE=1 rewrites it):\n"
            f"{first_difference(expected, actual)}\n{shown_diff}",
            pytrace=False,
        )


def test_every_golden_file_belongs_to_a_case():
    """A case renamed or removed leaves no file behind; GOLDEN_UPDATE=1 deletes such files."""
    expected = {golden_path(destination, schema).name for destination, schema in CASES}
    stale = sorted(path for path in GOLDEN.glob("*.txt") if path.name not in expected)
    if UPDATE:
        for path in stale:
            path.unlink()
        return
    assert not stale, f"golden files of no case: {[path.name for path in stale]}"
