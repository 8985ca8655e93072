"""WSGI and ASGI apps the tests run under a real gunicorn."""

import logging
import sys
import time

import structlog

from gunicorn_loggers import with_request_context

log = logging.getLogger("tests.app")


def app(environ, start_response):
    path = environ.get("PATH_INFO", "/")
    if path == "/raise":
        raise ValueError("boom from the app")
    if path.startswith("/status/"):
        code = int(path.rsplit("/", 1)[1])
        start_response(f"{code} Custom", [("Content-Type", "text/plain")])
        return [b"status\n"]
    if path == "/sleep":
        time.sleep(1.0)
    if "/sleep/" in path:  # .../sleep/SECONDS, at most 30: past --timeout in the abort tests
        log.info("sleeping in %s", path)  # the tests wait for this: the request is in flight
        time.sleep(min(30.0, float(path.rsplit("/", 1)[1])))
    if path == "/log":
        log.warning("app says hello", extra={"user_id": 42, "tags": {"a", "b"}, "payload": {"nested": [1, 2]}})
        log.info("info from app %s", "with args", extra={"log.level": "forged", "@timestamp": "forged"})
    if path == "/log-debug":
        log.debug("app says debug")
    if path == "/ctx":
        time.sleep(0.005)
        log.info("inside the request", extra={"sent_id": environ.get("HTTP_X_REQUEST_ID")})
    if path == "/stream":
        start_response("200 OK", [("Content-Type", "text/plain")])
        return stream_body(environ)
    if path == "/structlog":
        slog = structlog.get_logger("tests.structlog")
        slog.info("from structlog", user="alice", items=[1, 2], when={"a", "b"})
        try:
            1 / 0  # noqa: B018
        except ZeroDivisionError:
            slog.exception("structlog caught it")
        slog.info("drop me")
        slog.info("fields named like structlog's", level="bogus", logger="custom", timestamp="t")
    if path == "/odd":
        log.info("odd values", extra={"bad": BadRepr(), "data": b"\xff", "deep": nested(200)})
        cyclic = {}
        cyclic["self"] = cyclic
        log.info("cyclic extra", extra={"cyclic": cyclic, "huge": {f"k{n}": "v" * 100 for n in range(5000)}})
    if path == "/dotted-extras":
        log.info("dotted extras", extra=FORGERIES)
    if path == "/dotted-structlog":
        structlog.get_logger("tests.app").info("dotted extras", **FORGERIES)
    if path == "/odd-extras":
        log.info("case:%s", "badkey", extra={"kept": 1, UnprintableKey(): "lost"})
        log.info("case:%s", "baditems", extra={"kept": 1, "bad": UnreadableDict(a=1)})
    if path == "/dict-message":
        log.info({"exc_info": "forged", "stack_info": "forged", "note": "a dict message"})
    if path == "/structlog-not-an-error":
        slog = structlog.get_logger("tests.app")
        slog.info("stack_info as a key-value", stack_info="forged")
        slog.info("exc_info that is no exception", exc_info=("forged", "x", None))
    if path == "/print":
        print("printed to stdout")
        print("printed to stderr", file=sys.stderr)
        sys.stdout.write("one line ")
        sys.stdout.write("in two writes\n")
    if path == "/wsgi-errors":
        environ["wsgi.errors"].write("written to wsgi.errors\n")
    body = b"hello\n"
    start_response(
        "200 OK",
        [("Content-Type", "text/plain"), ("Content-Length", str(len(body))), ("Set-Cookie", "session=supersecret")],
    )
    return [body]


class BadRepr:
    def __repr__(self):
        raise RuntimeError("repr failed")

    __str__ = __repr__


#: ``extra`` keys, each naming a field one of the schemas writes (nested, dotted, or a platform's own):
#: in that schema it must land under ``extra``, never beside the real field.
FORGERIES = {
    "service.name": "forged",
    "trace.id": "forged",
    "http.request.id": "forged",
    "log.logger": "forged",
    "event.dataset": "forged",
    "ecs.version": "forged",
    "code.file.path": "forged",
    "thread.name": "forged",
    "httpRequest": {"status": "forged"},
    "logging.googleapis.com/labels": {"forged": "forged"},
    "logging.googleapis.com/trace": "forged",
    "logging.googleapis.com/spanId": "forged",
    "stack_trace": "forged",
}


class UnprintableKey:
    """A key logging accepts (hashable, comparable) but that cannot be made text."""

    def __str__(self):
        raise RuntimeError("no text")

    __repr__ = __str__


class UnreadableDict(dict):
    def items(self):
        raise RuntimeError("no items")


def nested(depth):
    value = "bottom"
    for _ in range(depth):
        value = {"d": value}
    return value


def stream_body(environ):
    for n in range(3):
        log.info("streaming chunk %d", n, extra={"sent_id": environ.get("HTTP_X_REQUEST_ID")})
        yield b"chunk\n"


async def asgi_app(scope, receive, send):
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    if scope["path"] == "/ctx":
        sent = dict(scope["headers"]).get(b"x-request-id", b"").decode() or None
        log.info("inside the request", extra={"sent_id": sent})
    if scope["path"] == "/raise":
        raise ValueError("boom from the asgi app")
    body = b"hello asgi\n"
    status = 201 if scope["path"] == "/created" else 200
    await send({"type": "http.response.start", "status": status, "headers": [(b"content-type", b"text/plain")]})
    await send({"type": "http.response.body", "body": body})


wrapped_app = with_request_context(app)
