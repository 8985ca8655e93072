"""Log receivers the network-logger tests send to, and a gunicorn that finds its port through them.

* :class:`NdjsonReceiver`: a loopback TCP or UDP server that parses newline-delimited
  JSON strictly (every line one JSON object, valid UTF-8); it can be stopped and
  started again on the same port, or accept connections and never read them.
* :class:`Rsyslog`: a real ``rsyslogd`` in the foreground with its own config on a
  free loopback port (imudp + imtcp, ``mmjsonparse``, ``omfile``), stopped by PID.
* :class:`HttpReceiver`: an HTTP collector strict to one wire format (NDJSON, Loki
  push, ``_bulk``, OTLP/HTTP decoded with ``opentelemetry-proto``), able to answer
  429, 500, 413, 401, slowly, a byte at a time, or with ``_bulk`` partial failures;
  http or https.
* :class:`ForwardReceiver`: a Fluentd ``forward`` input decoding msgpack strictly,
  answering acks (or not, or late, or a byte at a time).
* :class:`ResettingProxy`: a TCP front for any of them that resets connections on demand.
"""

from __future__ import annotations

import base64
import gzip as gzip_module
import json
import os
import re as re_module
import select
import selectors
import shutil
import signal
import socket
import ssl
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from tests.gunicorn_process import Gunicorn, free_port, wait_until  # noqa: F401  (tests import them from here)

RSYSLOGD = shutil.which("rsyslogd") or "/usr/sbin/rsyslogd"


class Listener:
    """A server on 127.0.0.1 (or a unix socket at ``path``): stream with a thread per connection, or
    datagram; a subclass says what arrives where.

    Accepted connections that a subclass keeps with :meth:`_keep` are counted in
    :attr:`connections` and reset (RST) by :meth:`_reset_kept` when it stops, as a
    killed process would.
    """

    socktype = socket.SOCK_STREAM

    def __init__(self, port: int | None = None, path: Path | None = None) -> None:
        self.path = path
        self.port = None if path is not None else port or free_port((self.socktype,))
        self.connections = 0
        self._lock = threading.Lock()
        self._server: socket.socket | None = None
        self._kept: list[socket.socket] = []
        self._threads: list[threading.Thread] = []
        self._running = False

    def start(self):
        server = socket.socket(socket.AF_UNIX if self.path is not None else socket.AF_INET, self.socktype)
        server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._configure(server)
        server.bind(str(self.path) if self.path is not None else ("127.0.0.1", self.port))
        server.settimeout(0.1)
        if self.socktype == socket.SOCK_STREAM:
            server.listen(64)
            target = self._accept_loop
        else:
            target = self._datagram_loop
        self._server = server
        self._running = True
        self._spawn(target, server)
        return self

    def _configure(self, server: socket.socket) -> None:
        """Options to set before ``bind``."""

    def _spawn(self, target, *args) -> None:
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
            self.on_connection(connection)

    def on_connection(self, connection: socket.socket) -> None:
        raise NotImplementedError

    def _datagram_loop(self, server: socket.socket) -> None:
        raise NotImplementedError

    def _chunks(self, connection: socket.socket):
        """What arrives on ``connection``, until it closes, fails, or the receiver stops."""
        connection.settimeout(0.1)
        while self._running:
            try:
                chunk = connection.recv(65536)
            except TimeoutError:
                continue
            except OSError:
                return
            if not chunk:
                return
            yield chunk

    def _keep(self, connection: socket.socket) -> None:
        with self._lock:
            self.connections += 1
            self._kept.append(connection)

    def _reset_kept(self) -> None:
        with self._lock:
            kept, self._kept = self._kept, []
        for connection in kept:
            try:
                connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
            except OSError:
                pass
            connection.close()

    def _stop_listening(self) -> None:
        self._running = False
        if self._server is not None:
            self._server.close()
            self._server = None

    def _join(self) -> None:
        for thread in self._threads:
            thread.join(2)
        self._threads = []

    def stop(self) -> None:
        """Close the listener and every kept connection at once (RST)."""
        self._stop_listening()
        self._reset_kept()
        self._join()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class NdjsonReceiver(Listener):
    """NDJSON over TCP or UDP on 127.0.0.1, parsed strictly; records kept in arrival order."""

    def __init__(
        self, protocol: str = "tcp", port: int | None = None, read: bool = True, path: Path | None = None
    ) -> None:
        """``protocol`` ``tcp`` or ``udp``; with ``path``, a unix stream or datagram socket there."""
        self.protocol = protocol
        self.socktype = socket.SOCK_STREAM if protocol == "tcp" else socket.SOCK_DGRAM
        super().__init__(port, path)
        self.read = read
        self.records: list[dict] = []
        self.errors: list[str] = []

    @property
    def url(self) -> str:
        if self.path is not None:
            return f"unix://{self.path}#{'stream' if self.protocol == 'tcp' else 'dgram'}"
        return f"{self.protocol}://127.0.0.1:{self.port}"

    def _configure(self, server: socket.socket) -> None:
        if not self.read:
            server.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)

    def on_connection(self, connection: socket.socket) -> None:
        self._keep(connection)
        if self.read:
            self._spawn(self._read_loop, connection)

    def _read_loop(self, connection: socket.socket) -> None:
        pending = b""
        for chunk in self._chunks(connection):
            pending += chunk
            *lines, pending = pending.split(b"\n")
            for line in lines:
                self._parse(line)
        if pending:
            with self._lock:
                self.errors.append(f"connection closed inside a record: {pending[:80]!r}")

    def _datagram_loop(self, server: socket.socket) -> None:
        while self._running:
            try:
                datagram = server.recv(65536)
            except TimeoutError:
                continue
            except OSError:
                return
            if not datagram.endswith(b"\n") or datagram.count(b"\n") != 1:
                with self._lock:
                    self.errors.append(f"datagram is not one line: {datagram[:80]!r}")
            self._parse(datagram.rstrip(b"\n"), size=len(datagram))

    def _parse(self, line: bytes, size: int | None = None) -> None:
        try:
            record = json.loads(line.decode("utf-8"))
            if not isinstance(record, dict):
                raise ValueError("not a JSON object")
        except ValueError as exc:
            with self._lock:
                self.errors.append(f"{exc}: {line[:120]!r}")
            return
        if size is not None:
            record["__datagram_size__"] = size
        with self._lock:
            self.records.append(record)

    # -- reading ---------------------------------------------------------------------------------

    def snapshot(self) -> list[dict]:
        with self._lock:
            return list(self.records)

    def messages(self) -> list[str]:
        return [str(r.get("message", "")) for r in self.snapshot()]

    def access_paths(self) -> list[str]:
        return [r["url"]["path"] for r in self.snapshot() if "url" in r and "__ready__" not in r["url"]["path"]]

    def text(self, pid: int | None = None) -> str:
        """Messages of the records from process ``pid`` (every process when ``None``)."""
        return "\n".join(str(r.get("message", "")) for r in self.snapshot() if _from(r, pid))


def _from(record: dict, pid: int | None) -> bool:
    return pid is None or (record.get("process") or {}).get("pid") == pid


def trickle(connection: socket.socket, data: bytes, interval: float, running) -> float | None:
    """Send ``data`` one byte every ``interval`` seconds, as a collector that answers very slowly.

    The seconds after which the client hung up (closed or reset the connection: it
    waits for nothing else from us, so anything readable is the end), or ``None`` when
    the whole answer went out or ``running()`` turned false. At most ``len(data)`` rounds
    of ``interval`` seconds each.
    """
    started = time.monotonic()
    for index in range(len(data)):
        if not running():
            return None
        try:
            readable, _, _ = select.select([connection], [], [], interval if index else 0.0)
            if readable and not connection.recv(1, socket.MSG_PEEK):
                return time.monotonic() - started
            connection.sendall(data[index : index + 1])
        except (OSError, ValueError):  # reset by the client, or closed by stop()
            return time.monotonic() - started
    return None


#: The rsyslog.conf the docs show, run with the port and the output directory of a test.
RSYSLOG_CONF = Path(__file__).parent.parent / "receiver_configs" / "rsyslog.conf"


class ForegroundDaemon:
    """A log daemon run in the foreground by a test: ready once its TCP port answers, stopped by PID.

    Subclasses set ``workdir``, ``port`` and ``name`` and call :meth:`launch` from ``start``.
    """

    name = "daemon"
    proc: subprocess.Popen | None = None

    @property
    def output_path(self) -> Path:
        return self.workdir / f"{self.name}.out"

    def launch(self, command: list[str], env: dict | None = None, timeout: float = 15.0, settle: float = 0.0) -> None:
        self._log = self.output_path.open("wb")
        self.proc = subprocess.Popen(command, stdout=self._log, stderr=subprocess.STDOUT, cwd=self.workdir, env=env)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"{self.name} exited: {self.output_path.read_text()}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                time.sleep(settle)
                return
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise AssertionError(f"{self.name} did not listen on {self.port} in {timeout} s")

    def stop(self) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)
        self._log.close()
        self.proc = None


class Rsyslog(ForegroundDaemon):
    """A real rsyslogd on 127.0.0.1 (UDP and TCP on one free port), in the foreground, stopped by PID."""

    name = "rsyslogd"

    def __init__(self, workdir: Path, port: int | None = None) -> None:
        self.workdir = workdir
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.port = port or free_port((socket.SOCK_STREAM, socket.SOCK_DGRAM))
        self.conf = workdir / "rsyslog.conf"
        self.pidfile = workdir / "rsyslogd.pid"
        self.received_path = workdir / "received.json"
        self.raw_path = workdir / "raw.log"
        self.unparsed_path = workdir / "unparsed.log"
        self.documented_path = workdir / "gunicorn.json"

    def start(self, timeout: float = 15.0) -> Rsyslog:
        conf = RSYSLOG_CONF.read_text()
        for documented in ('port="514"', '"/var/log'):
            assert documented in conf, f"{RSYSLOG_CONF} no longer has {documented}"
        conf = conf.replace('port="514"', f'address="127.0.0.1" port="{self.port}"')
        self.conf.write_text(conf.replace('"/var/log', f'"{self.workdir}'))
        command = [RSYSLOGD, "-n", "-f", str(self.conf), "-i", str(self.pidfile)]
        self.launch(command, timeout=timeout, settle=0.2)  # imudp starts with imtcp; give it a moment
        return self

    def __enter__(self) -> Rsyslog:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def received(self) -> list[dict]:
        """What rsyslog parsed: header fields and the JSON record, one per message; strict."""
        if not self.received_path.exists():
            return []
        return [json.loads(line) for line in self.received_path.read_bytes().decode("utf-8").splitlines()]

    def raw(self) -> list[bytes]:
        return self.raw_path.read_bytes().splitlines() if self.raw_path.exists() else []

    def unparsed(self) -> list[bytes]:
        return self.unparsed_path.read_bytes().splitlines() if self.unparsed_path.exists() else []

    def documented(self) -> list[dict]:
        """The records as the docs' configuration writes them (``/var/log/gunicorn.json`` there)."""
        if not self.documented_path.exists():
            return []
        return [json.loads(line) for line in self.documented_path.read_bytes().decode("utf-8").splitlines()]

    def text(self, pid: int | None = None) -> str:
        return "\n".join(str(r["record"].get("message", "")) for r in self.received() if _from(r["record"], pid))


class NetworkGunicorn(Gunicorn):
    """A real gunicorn whose lines may only reach a receiver: its start-up lines are read from there too."""

    def __init__(self, tmp_path: Path, *args: str, receiver=None, **kwargs) -> None:
        super().__init__(tmp_path, *args, **kwargs)
        self.receiver = receiver

    def all_output(self) -> str:
        """Local output, then what the receiver got from this master and from any worker booting.

        Only the master's own records count for its "Listening at" line: a receiver may
        be shared by several servers. Any "Booting worker" line will do, as ``start()``
        then waits for the port to answer anyway.
        """
        text = super().all_output()
        if self.receiver is not None and self.proc is not None:
            text += "\n" + self.receiver.text(self.proc.pid)
            if "Booting worker" in self.receiver.text():
                text += "\nBooting worker"
        return text

    def error_records(self) -> list[dict]:
        """The local error log; OtlpLogger writes it in the otel schema, flattened here to the fields tests read."""
        return [_flat_otel(r) if "resourceLogs" in r else r for r in super().error_records()]

    def delivery_reports(self) -> list[dict]:
        """The engine's reports, read from the local error log."""
        return [r for r in self.error_records() if "delivery" in r]

    def exit_reports(self) -> list[dict]:
        return [r for r in self.delivery_reports() if " at exit: " in r["message"]]

    def balanced_exit_stats(self, processes: int | None = 2) -> list[dict]:
        """The exit totals of each of ``processes`` processes (``None``: at least one); each must add
        up with nothing pending."""
        reports = [r["delivery"] for r in self.exit_reports()]
        if processes is None:
            assert reports, self.all_output()[-3000:]
        else:
            assert len(reports) == processes, self.all_output()[-3000:]
        for stats in reports:
            assert stats["delivered"] + stats["dropped"] == stats["produced"], stats
            assert stats["pending"] == 0, stats
        return reports


def url_logger(network_gunicorn, logger_class: str, receiver_type: type, receiver_env=lambda receiver: {}):
    """``start(receiver_or_url, *args, env=..., ...)``: a gunicorn whose logger sends to ``GUNICORN_LOGGERS_URL``.

    Given a receiver, the URL is its own and ``receiver_env(receiver)`` is added (the
    HTTP format it expects, say); given a text, that is the URL and there is no receiver.
    """

    def start(target, *args, env=None, **kwargs) -> NetworkGunicorn:
        receiver = target if isinstance(target, receiver_type) else None
        environment = {"GUNICORN_LOGGERS_URL": target.url if receiver is not None else target}
        if receiver is not None:
            environment.update(receiver_env(receiver))
        environment.update(env or {})
        return network_gunicorn(*args, receiver=receiver, logger_class=logger_class, env=environment, **kwargs)

    return start


def _flat_otel(line: dict) -> dict:
    """``message``, ``process.pid`` and ``delivery`` of a one-record OTLP/JSON line."""
    from gunicorn_loggers.schemas.otlp_json import plain_value

    resource_logs = line["resourceLogs"][0]
    record = resource_logs["scopeLogs"][0]["logRecords"][0]
    attributes = {kv["key"]: plain_value(kv["value"]) for kv in record.get("attributes", [])}
    resource = {kv["key"]: plain_value(kv["value"]) for kv in resource_logs["resource"]["attributes"]}
    flat = {"message": record["body"].get("stringValue", ""), "process": {"pid": resource.get("process.pid")}}
    if "delivery" in attributes:
        flat["delivery"] = attributes["delivery"]
    return flat


# -- HTTP collectors: NDJSON, Loki push, _bulk, OTLP/HTTP ------------------------------------------


LOKI_LABEL = re_module.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
HEX = re_module.compile(r"^[0-9a-f]*$")


class Answer:
    """What the receiver answers to one request instead of its normal reply."""

    def __init__(self, status: int, body: bytes = b"", headers: dict[str, str] | None = None, delay: float = 0.0):
        self.status, self.body, self.headers, self.delay = status, body, headers or {}, delay


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 64

    def __init__(self, address, handler, owner):
        self.owner = owner
        super().__init__(address, handler)

    def get_request(self):
        connection, address = super().get_request()
        connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # headers and body go in two writes
        connection.settimeout(30)  # no handler thread waits forever on a silent client
        if self.owner.tls is not None:  # the handshake happens on the first read, in the handler thread
            connection = self.owner.tls.wrap_socket(connection, server_side=True, do_handshake_on_connect=False)
        with self.owner._lock:
            self.owner._connections.append(connection)
        return connection, address


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def do_POST(self):
        self.server.owner._handle(self)


class HttpReceiver:
    """A strict collector on 127.0.0.1 for one wire format: ``ndjson``, ``loki``, ``bulk`` or ``otlp``.

    Every request is checked field by field against the format's specification; a
    violation goes to :attr:`errors` (and the request is answered 400). ``answers``
    is a list of :class:`Answer` used one per request before normal replies resume;
    ``policy`` (request number, frames) -> Answer|None decides per request instead.
    ``require`` maps header names to the value a request must carry (else 401).
    ``max_body`` answers 413 above that many (uncompressed) bytes; ``delay`` slows
    every answer; ``trickle`` sends every answer (status line, headers, body) one byte
    each ``trickle`` seconds, and :attr:`hangups` lists, per answer whose client hung
    up before its end, how many seconds after the answer began (plain http only).
    ``bulk_failures`` maps a record's position in a request to the item status to
    report (a ``_bulk`` partial failure).
    """

    def __init__(
        self,
        kind: str = "ndjson",
        port: int | None = None,
        path: str | None = None,
        tls: ssl.SSLContext | None = None,
        require: dict[str, str] | None = None,
        max_body: int | None = None,
        delay: float = 0.0,
        trickle: float = 0.0,
    ) -> None:
        assert not (trickle and tls), "trickling answers are for plain http"
        self.kind = kind
        self.port = port or free_port()
        self.path = (
            path
            or {
                "ndjson": "/logs",
                "loki": "/loki/api/v1/push",
                "bulk": "/logs-gunicorn-test/_bulk",
                "otlp": "/v1/logs",
            }[kind]
        )
        self.tls = tls
        self.require = require or {}
        self.max_body = max_body
        self.delay = delay
        self.trickle = trickle
        self.trickling = 0  # answers begun a byte at a time
        self.hangups: list[float] = []
        self.answers: list[Answer] = []
        self.policy = None
        self.bulk_failures: dict[int, int] = {}
        self.records: list[dict] = []  # every record accepted, in arrival order
        self.entries: list[dict] = []  # loki: {"labels", "ts", "line"}; otlp: {"resource", "scope", "record"}
        self.requests: list[dict] = []  # method, path, headers, sizes, status answered
        self.errors: list[str] = []
        self._lock = threading.Lock()
        self._connections: list[socket.socket] = []
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{self.port}{self.path}"

    def start(self) -> HttpReceiver:
        self._server = _Server(("127.0.0.1", self.port), _Handler, self)
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop listening and reset every open connection, as a killed collector would."""
        server, self._server = self._server, None
        if server is None:
            return
        stopper = threading.Thread(target=server.shutdown, daemon=True)
        stopper.start()
        stopper.join(5)  # bounded: a stuck accept loop must not hang the test run
        server.server_close()
        with self._lock:
            connections, self._connections = self._connections, []
        for connection in connections:
            try:
                connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
                connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            connection.close()
        if self._thread is not None:
            self._thread.join(5)

    def __enter__(self) -> HttpReceiver:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- one request --------------------------------------------------------------------------

    def _error(self, text: str) -> None:
        with self._lock:
            self.errors.append(text)

    def _reply(self, handler, status: int, body: bytes = b"", headers: dict | None = None, content_type=None) -> None:
        if self.trickle:
            return self._trickle_reply(handler, status, body, headers, content_type)
        handler.send_response(status)
        handler.send_header("Content-Length", str(len(body)))
        if content_type or body:
            handler.send_header("Content-Type", content_type or "application/json")
        for name, value in (headers or {}).items():
            handler.send_header(name, value)
        handler.end_headers()
        handler.wfile.write(body)
        handler.wfile.flush()

    def _trickle_reply(self, handler, status: int, body: bytes, headers: dict | None, content_type) -> None:
        lines = [f"HTTP/1.1 {status} {handler.responses.get(status, ('',))[0]}", f"Content-Length: {len(body)}"]
        if content_type or body:
            lines.append(f"Content-Type: {content_type or 'application/json'}")
        lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
        answer = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body
        with self._lock:
            self.trickling += 1
        hung_up = trickle(handler.connection, answer, self.trickle, lambda: self._server is not None)
        handler.close_connection = True
        if hung_up is not None:
            with self._lock:
                self.hangups.append(hung_up)

    def _handle(self, handler) -> None:
        length = handler.headers.get("Content-Length")
        if length is None or not length.isdigit():
            self._error(f"no Content-Length: {dict(handler.headers)}")
            handler.close_connection = True
            return self._reply(handler, 411)
        raw = handler.rfile.read(int(length))
        headers = {k.lower(): v for k, v in handler.headers.items()}
        body = raw
        if headers.get("content-encoding") == "gzip":
            body = gzip_module.decompress(raw)
        elif "content-encoding" in headers:
            self._error(f"unknown Content-Encoding {headers['content-encoding']!r}")
        with self._lock:
            number = len(self.requests)
            info = {"path": handler.path, "headers": headers, "raw_size": len(raw), "size": len(body), "status": 0}
            info["at"] = time.monotonic()
            self.requests.append(info)
        if self.delay:
            time.sleep(self.delay)
        for name, value in self.require.items():
            if headers.get(name.lower()) != value:
                info["status"] = 401
                return self._reply(handler, 401, b'{"error":"unauthorized"}')
        if handler.path != self.path:
            self._error(f"POST to {handler.path!r}, expected {self.path!r}")
            info["status"] = 404
            return self._reply(handler, 404)
        answer = None
        with self._lock:
            if self.answers:
                answer = self.answers.pop(0)
        if answer is None and self.policy is not None:
            answer = self.policy(number, body)
        if answer is not None:
            if answer.delay:
                time.sleep(answer.delay)
            info["status"] = answer.status
            return self._reply(handler, answer.status, answer.body, answer.headers)
        if self.max_body is not None and len(body) > self.max_body:
            info["status"] = 413
            return self._reply(handler, 413, b'{"error":"request entity too large"}')
        try:
            status, reply, content_type = getattr(self, f"_accept_{self.kind}")(headers, body)
        except AssertionError as exc:
            self._error(f"{self.kind}: {exc}")
            info["status"] = 400
            return self._reply(handler, 400, json.dumps({"error": str(exc)}).encode())
        info["status"] = status
        self._reply(handler, status, reply, content_type=content_type)

    # -- the formats ----------------------------------------------------------------------------

    @staticmethod
    def _json_object(line: bytes, what: str) -> dict:
        try:
            value = json.loads(line.decode("utf-8"))
        except ValueError as exc:
            raise AssertionError(f"{what} is not JSON ({exc}): {line[:100]!r}") from None
        assert isinstance(value, dict), f"{what} is not a JSON object: {line[:100]!r}"
        return value

    def _accept_ndjson(self, headers, body):
        assert headers.get("content-type") == "application/x-ndjson", headers.get("content-type")
        assert body.endswith(b"\n"), "NDJSON body does not end with a newline"
        records = [self._json_object(line, "line") for line in body.split(b"\n")[:-1]]
        with self._lock:
            self.records.extend(records)
        return 200, b"", None

    def _accept_loki(self, headers, body):
        assert headers.get("content-type") == "application/json", headers.get("content-type")
        push = self._json_object(body, "push body")
        assert set(push) == {"streams"} and isinstance(push["streams"], list) and push["streams"], push.keys()
        entries = []
        for stream in push["streams"]:
            assert set(stream) == {"stream", "values"}, stream.keys()
            labels = stream["stream"]
            assert isinstance(labels, dict) and labels, labels
            for name, value in labels.items():
                assert LOKI_LABEL.match(name), f"label name {name!r}"
                assert isinstance(value, str) and value, f"label {name}={value!r}"
            assert isinstance(stream["values"], list) and stream["values"]
            for value in stream["values"]:
                assert isinstance(value, list) and len(value) in (2, 3), value
                stamp, line = value[0], value[1]
                assert isinstance(stamp, str) and stamp.isdigit(), f"timestamp must be a string of digits: {stamp!r}"
                assert 1.5e18 < int(stamp) < 4e18, f"timestamp {stamp} is not in nanoseconds"
                assert isinstance(line, str), line
                if len(value) == 3:
                    assert all(isinstance(k, str) and isinstance(v, str) for k, v in value[2].items())
                entries.append({"labels": labels, "ts": int(stamp), "line": line})
        with self._lock:
            self.entries.extend(entries)
            self.records.extend(json.loads(e["line"]) for e in entries)
        return 204, b"", None

    def _accept_bulk(self, headers, body):
        assert headers.get("content-type") == "application/x-ndjson", headers.get("content-type")
        assert body.endswith(b"\n"), "The bulk request must be terminated by a newline [\\n]"
        lines = body.split(b"\n")[:-1]
        assert len(lines) % 2 == 0, f"{len(lines)} lines: actions and sources do not pair up"
        items, accepted = [], []
        for position in range(len(lines) // 2):
            action = self._json_object(lines[2 * position], "action")
            source = self._json_object(lines[2 * position + 1], "source")
            assert list(action) == ["create"], f"data streams take only create actions: {action}"
            meta = action["create"]
            assert isinstance(meta, dict) and set(meta) <= {"_index"}, meta
            assert "@timestamp" in source, "a data stream document needs @timestamp"
            status = self.bulk_failures.get(position, 201)
            item = {"_index": meta.get("_index", self.path.split("/")[1]), "status": status}
            if status >= 300:
                kind = "es_rejected_execution_exception" if status == 429 else "document_parsing_exception"
                item["error"] = {"type": kind, "reason": f"failed on purpose at position {position}"}
            else:
                item["result"] = "created"
                accepted.append(source)
            items.append({"create": item})
        with self._lock:
            self.records.extend(accepted)
        answer = {"took": 1, "errors": any(i["create"]["status"] >= 300 for i in items), "items": items}
        return 200, json.dumps(answer).encode(), None

    def _accept_otlp(self, headers, body):
        from google.protobuf import json_format
        from opentelemetry.proto.collector.logs.v1 import logs_service_pb2

        content_type = headers.get("content-type")
        request = logs_service_pb2.ExportLogsServiceRequest()
        if content_type == "application/x-protobuf":
            request.ParseFromString(body)
        else:
            assert content_type == "application/json", content_type
            data = self._json_object(body, "OTLP/JSON body")
            json_format.ParseDict(otlp_json_to_proto3_json(data), request)  # unknown fields fail: strict
        accepted = []
        for resource_logs in request.resource_logs:
            resource = {kv.key: any_value(kv.value) for kv in resource_logs.resource.attributes}
            for scope_logs in resource_logs.scope_logs:
                for record in scope_logs.log_records:
                    accepted.append({"resource": resource, "scope": scope_logs.scope.name, "record": record})
        assert accepted, "an export request with no log record"
        with self._lock:
            self.entries.extend(accepted)
        response = logs_service_pb2.ExportLogsServiceResponse()
        if content_type == "application/x-protobuf":
            return 200, response.SerializeToString(), "application/x-protobuf"
        return 200, b"{}", "application/json"

    # -- reading ----------------------------------------------------------------------------------

    def snapshot(self) -> list[dict]:
        with self._lock:
            return list(self.records)

    def access_paths(self) -> list[str]:
        return [p for p in (_path_of(r) for r in self.snapshot()) if p and "__ready__" not in p]

    def messages(self) -> list[str]:
        return [str(r.get("message", "")) for r in self.snapshot()]

    def text(self, pid: int | None = None) -> str:
        if self.kind == "otlp":
            return "\n".join(
                e["record"].body.string_value
                for e in list(self.entries)
                if pid is None or e["resource"].get("process.pid") == pid
            )
        return "\n".join(str(r.get("message", "")) for r in self.snapshot() if _from(r, pid))

    def otlp_access_paths(self) -> list[str]:
        paths = []
        for entry in list(self.entries):
            attributes = {kv.key: any_value(kv.value) for kv in entry["record"].attributes}
            if entry["scope"] == "gunicorn.access" and "__ready__" not in attributes.get("url.path", ""):
                paths.append(attributes["url.path"])
        return paths


def _path_of(record: dict) -> str | None:
    url = record.get("url")
    return url.get("path") if isinstance(url, dict) else None


def _hex_to_base64(value: str, size: int, what: str) -> str:
    assert isinstance(value, str) and HEX.match(value) and len(value) == 2 * size, f"{what} is not {size} hex bytes"
    return base64.b64encode(bytes.fromhex(value)).decode("ascii")


def otlp_json_to_proto3_json(data: dict) -> dict:
    """OTLP/JSON to what ``json_format`` reads: hex ids become base64; everything else checked as is.

    Also enforces the OTLP/JSON rules json_format would let pass: enums as integers,
    64-bit integers as strings, ids as lowercase hex of the right length.
    """
    assert set(data) <= {"resourceLogs"}, data.keys()
    for resource_logs in data.get("resourceLogs", []):
        for scope_logs in resource_logs.get("scopeLogs", []):
            for record in scope_logs.get("logRecords", []):
                for key in ("timeUnixNano", "observedTimeUnixNano"):
                    if key in record:
                        assert isinstance(record[key], str) and record[key].isdigit(), f"{key}={record[key]!r}"
                if "severityNumber" in record:
                    assert isinstance(record["severityNumber"], int), "severityNumber must be an integer"
                if "traceId" in record:
                    record["traceId"] = _hex_to_base64(record["traceId"], 16, "traceId")
                if "spanId" in record:
                    record["spanId"] = _hex_to_base64(record["spanId"], 8, "spanId")
                _check_int_values(record.get("attributes", []))
        _check_int_values(resource_logs.get("resource", {}).get("attributes", []))
    return data


def _check_int_values(values) -> None:
    for kv in values:
        value = kv.get("value", {})
        if "intValue" in value:
            assert isinstance(value["intValue"], str), f"intValue of {kv['key']} must be a string"
        for inner in value.get("kvlistValue", {}).get("values", []):
            _check_int_values([inner])


def any_value(value):
    """A decoded protobuf AnyValue as a Python value."""
    kind = value.WhichOneof("value")
    if kind is None:
        return None
    if kind == "array_value":
        return [any_value(v) for v in value.array_value.values]
    if kind == "kvlist_value":
        return {kv.key: any_value(kv.value) for kv in value.kvlist_value.values}
    return getattr(value, kind)


# -- TLS for the receivers -------------------------------------------------------------------------


def make_certificates(directory: Path) -> tuple[Path, Path, Path]:
    """A CA and a server certificate for 127.0.0.1 and localhost it signed: (ca.pem, cert.pem, key.pem)."""
    import datetime
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = datetime.datetime.now(datetime.timezone.utc)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "gunicorn-loggers test CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    directory.mkdir(parents=True, exist_ok=True)
    ca_path, cert_path, key_path = directory / "ca.pem", directory / "cert.pem", directory / "key.pem"
    ca_path.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return ca_path, cert_path, key_path


def server_tls(cert_path: Path, key_path: Path) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_path, key_path)
    return context


# -- Fluentd forward -------------------------------------------------------------------------------


class ForwardReceiver(Listener):
    """A Fluentd ``forward`` input on 127.0.0.1, strict to Forward Protocol v1.

    Accepts Message, Forward, PackedForward (``bin`` or ``str``) and
    CompressedPackedForward; times as integers or EventTime (ext type 0, 8 bytes);
    answers ``{"ack": chunk}`` when asked (unless ``ack`` is false), ``ack_delay``
    seconds after reading the chunk, or one byte of it every ``ack_trickle`` seconds
    (:attr:`hangups` lists how many seconds after the ack began a client hung up).
    Each event is kept as ``{"tag", "time_ns", "record", "mode"}``.
    """

    def __init__(
        self, port: int | None = None, ack: bool = True, ack_delay: float = 0.0, ack_trickle: float = 0.0
    ) -> None:
        super().__init__(port)
        self.ack = ack
        self.ack_delay = ack_delay
        self.ack_trickle = ack_trickle
        self.trickling = 0
        self.hangups: list[float] = []
        self.events: list[dict] = []
        self.errors: list[str] = []
        self.chunks: list[str] = []

    @property
    def url(self) -> str:
        return f"tcp://127.0.0.1:{self.port}"

    def on_connection(self, connection: socket.socket) -> None:
        self._keep(connection)
        self._spawn(self._read_loop, connection)

    def _read_loop(self, connection: socket.socket) -> None:
        import msgpack

        unpacker = msgpack.Unpacker(raw=False, ext_hook=_ext_hook, strict_map_key=False)
        for chunk in self._chunks(connection):
            unpacker.feed(chunk)
            try:
                for message in unpacker:
                    reply = self._message(message)
                    if reply is not None and self.ack_trickle:
                        with self._lock:
                            self.trickling += 1
                        hung_up = trickle(connection, reply, self.ack_trickle, lambda: self._running)
                        if hung_up is not None:
                            with self._lock:
                                self.hangups.append(hung_up)
                            return
                    elif reply is not None:
                        time.sleep(self.ack_delay)
                        connection.sendall(reply)
            except Exception as exc:  # a protocol violation: what a real input would log and drop
                with self._lock:
                    self.errors.append(f"{type(exc).__name__}: {exc}")
                break

    def _message(self, message) -> bytes | None:
        import msgpack

        if message is None:
            return None  # heartbeat
        assert isinstance(message, list) and len(message) in (2, 3, 4), f"not a forward message: {message!r}"
        tag = message[0]
        assert isinstance(tag, str) and tag, f"tag {tag!r}"
        second = message[1]
        if isinstance(second, (int, EventTime)):  # Message mode
            assert len(message) in (3, 4) and isinstance(message[2], dict)
            events, mode = [(second, message[2])], "message"
            option = message[3] if len(message) == 4 else {}
        elif isinstance(second, list):  # Forward mode
            events, mode = [tuple(entry) for entry in second], "forward"
            option = message[2] if len(message) == 3 else {}
        elif isinstance(second, (bytes, str)):  # PackedForward, or compressed
            option = message[2] if len(message) == 3 else {}
            data = second.encode("utf-8", "surrogateescape") if isinstance(second, str) else second
            mode = "packed" if isinstance(second, bytes) else "packed-str"
            if option.get("compressed") == "gzip":
                assert isinstance(second, bytes), "CompressedPackedForward must use bin"
                data, mode = gzip_module.decompress(data), "compressed"
            entries = msgpack.Unpacker(raw=False, ext_hook=_ext_hook, strict_map_key=False)
            entries.feed(data)
            events = [tuple(entry) for entry in entries]
        else:
            raise AssertionError(f"cannot tell the mode from {type(second).__name__}")
        assert isinstance(option, dict), f"option {option!r}"
        if "size" in option:
            assert option["size"] == len(events), f"size {option['size']} but {len(events)} events"
        accepted = []
        for entry in events:
            assert len(entry) == 2, f"entry {entry!r}"
            stamp, record = entry
            assert isinstance(record, dict), f"record {record!r}"
            if isinstance(stamp, EventTime):
                time_ns = stamp.seconds * 1_000_000_000 + stamp.nanoseconds
            else:
                assert isinstance(stamp, int), f"time {stamp!r}"
                time_ns = stamp * 1_000_000_000
            accepted.append({"tag": tag, "time_ns": time_ns, "record": record, "mode": mode})
        with self._lock:
            self.events.extend(accepted)
            if "chunk" in option:
                self.chunks.append(option["chunk"])
        if "chunk" in option and self.ack:
            return msgpack.packb({"ack": option["chunk"]}, use_bin_type=True)
        return None

    def snapshot(self) -> list[dict]:
        with self._lock:
            return list(self.events)

    def records(self, tag: str | None = None) -> list[dict]:
        return [e["record"] for e in self.snapshot() if tag is None or e["tag"] == tag]

    def access_paths(self) -> list[str]:
        return [p for p in (_path_of(r) for r in self.records()) if p and "__ready__" not in p]

    def text(self, pid: int | None = None) -> str:
        return "\n".join(str(r.get("message", "")) for r in self.records() if _from(r, pid))


class EventTime:
    def __init__(self, seconds: int, nanoseconds: int) -> None:
        self.seconds, self.nanoseconds = seconds, nanoseconds


def _ext_hook(code: int, data: bytes):
    import struct

    import msgpack

    if code == 0:
        assert len(data) == 8, f"EventTime of {len(data)} bytes"
        seconds, nanoseconds = struct.unpack(">II", data)
        assert nanoseconds < 1_000_000_000, f"nanoseconds {nanoseconds}"
        return EventTime(seconds, nanoseconds)
    return msgpack.ExtType(code, data)


# -- a front that resets connections ---------------------------------------------------------------


def _reset(connection: socket.socket) -> None:
    """Close with SO_LINGER 0: the peer gets a RST, as from a crashed or overloaded receiver."""
    try:
        connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    except OSError:
        pass
    connection.close()


class ResettingProxy(Listener):
    """A TCP front on 127.0.0.1 for a receiver on ``target_port``: relays both ways until told to reset.

    While :attr:`resetting` is true every new connection is reset as soon as it is
    accepted, and so are the first ``reset_first`` ones; :meth:`reset_open` resets the
    ones being relayed. :attr:`resets` counts all. Answers (HTTP responses, Fluentd
    acks) come back through the proxy.
    """

    def __init__(self, target_port: int, reset_first: int = 0) -> None:
        super().__init__()
        self.target_port = target_port
        self.resetting = False
        self.reset_first = reset_first
        self.resets = 0
        self._open: list[socket.socket] = []

    def on_connection(self, client: socket.socket) -> None:
        if self.resetting or self.resets < self.reset_first:
            with self._lock:
                self.resets += 1
            _reset(client)
            return
        try:
            upstream = socket.create_connection(("127.0.0.1", self.target_port), timeout=2)
        except OSError:
            _reset(client)
            return
        with self._lock:
            self._open.append(client)
        self._spawn(self._relay, client, upstream)

    def _relay(self, client: socket.socket, upstream: socket.socket) -> None:
        peers = {client: upstream, upstream: client}
        with selectors.DefaultSelector() as selector:
            for end in peers:
                end.setblocking(True)
                selector.register(end, selectors.EVENT_READ)
            try:
                while self._running and client.fileno() != -1:  # -1: reset_open() closed it
                    for key, _ in selector.select(0.1):
                        data = key.fileobj.recv(65536)
                        if not data:
                            return
                        peers[key.fileobj].sendall(data)
            except (OSError, ValueError):  # a peer went away, or reset_open() closed the client under us
                return
            finally:
                upstream.close()
                with self._lock:
                    if client in self._open:
                        self._open.remove(client)
                client.close()

    def reset_open(self) -> None:
        """Reset every connection being relayed now."""
        with self._lock:
            connections, self._open = self._open, []
            self.resets += len(connections)
        for connection in connections:
            _reset(connection)

    def stop(self) -> None:
        self._stop_listening()
        self.reset_open()
        self._join()
