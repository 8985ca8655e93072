"""An HTTP collector strict to one wire format: NDJSON, Loki push, ``_bulk`` or OTLP/HTTP."""

from __future__ import annotations

import gzip as gzip_module
import json
import re as re_module
import socket
import ssl
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from tests.gunicorn_process import free_port

from ._listener import trickle
from ._records import _from, _path_of
from .otlp import any_value, otlp_json_to_proto3_json

LOKI_LABEL = re_module.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")


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
