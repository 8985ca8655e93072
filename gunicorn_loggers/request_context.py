"""The request an app is handling, visible to every log line it writes meanwhile.

A middleware sets a ``ContextVar`` for the duration of a request: the request id
(from the request header, or generated) and the W3C trace context. Every record
rendered while it is set — the app's stdlib and structlog records — carries the
same ids as that request's access record, and the id goes back to the client in
the response header.

``ContextVar`` is what makes this safe on every worker type: each thread of a
gthread worker, each greenlet of a gevent worker and each task of an asyncio
worker sees its own value, and the middleware resets it when the response is
closed, so nothing leaks into the next request served by the same thread.
"""

from __future__ import annotations

import inspect
import os
import sys
from collections.abc import Callable, Iterable, Iterator
from contextvars import ContextVar, Token
from typing import Any, NamedTuple

from .config import active_settings
from .correlation import TraceContext, clean_request_id, parse_traceparent


class RequestContext(NamedTuple):
    request_id: str
    trace: TraceContext | None


#: ``RequestContext``'s own ``__new__`` is Python code: this builds one faster.
_new_context = tuple.__new__

_current: ContextVar[RequestContext | None] = ContextVar("gunicorn_loggers_request", default=None)

#: Where the WSGI middleware leaves the request's id, for the app.
REQUEST_ID_ENVIRON_KEY = "gunicorn_loggers.request_id"
#: Where it leaves the whole :class:`RequestContext` for ``Logger.access``, which gets the environ:
#: the id and the trace it read are the access record's, and the trace is not parsed twice.
REQUEST_CONTEXT_ENVIRON_KEY = "gunicorn_loggers.request"

_asgi_in_use = False


def asgi_in_use() -> bool:
    """Has this process built our ASGI middleware? Only then can a response carry an id of ours
    that ``access()`` must find in the response headers (ASGI has no environ to leave it in)."""
    return _asgi_in_use


def current_request() -> RequestContext | None:
    """The request being handled in this thread, greenlet or task, if any."""
    return _current.get()


#: The attribute our middleware leaves on an exception that leaves the app.
_FAILED_REQUEST = "_gunicorn_loggers_request"


def failed_request(exc: BaseException | None = None) -> RequestContext | None:
    """The request the app was handling when ``exc`` (default: the exception being handled) left it.

    The middleware resets its context as the exception passes; gunicorn logs the
    traceback and the 500's access record after that, and both belong to the request.
    """
    if exc is None:
        exc = sys.exc_info()[1]
    context = getattr(exc, _FAILED_REQUEST, None) if exc is not None else None
    return context if isinstance(context, RequestContext) else None


def _leave_on(exc: BaseException, context: RequestContext) -> None:
    try:
        setattr(exc, _FAILED_REQUEST, context)
    except (AttributeError, TypeError):  # an exception class with __slots__
        pass


#: The variant nibble of a random UUID (RFC 9562: 10xx) from any hex digit.
_VARIANT = {digit: "89ab"[int(digit, 16) & 3] for digit in "0123456789abcdef"}


def new_request_id() -> str:
    """A random (version 4) UUID in hex, as ``uuid.uuid4().hex`` writes it, and faster.

    It runs on every request that comes without an id; ``uuid4()`` builds a ``UUID``
    object and an integer for a string we only need once.
    """
    digits = os.urandom(16).hex()
    return f"{digits[:12]}4{digits[13:16]}{_VARIANT[digits[16]]}{digits[17:]}"


def _header_names() -> tuple[str, str]:
    name = active_settings().request_id_header
    return name, "HTTP_" + name.upper().replace("-", "_")


class _ClosingBody:
    """The app's response body; resets the context when gunicorn closes it, not before.

    A streaming body is produced after the app returns, and its log lines belong
    to the request too.
    """

    def __init__(self, body: Iterable[bytes], token: Token) -> None:
        self._body = body
        self._token = token

    def __iter__(self) -> Iterator[bytes]:
        return iter(self._body)

    def close(self) -> None:
        try:
            close = getattr(self._body, "close", None)
            if close is not None:
                close()
        finally:
            _reset(self._token)


def _reset(token: Token) -> None:
    try:
        _current.reset(token)
    except ValueError:  # closed from another context (a thread the server handed the body to)
        _current.set(None)


class WsgiRequestContext:
    """WSGI middleware: ``app = WsgiRequestContext(app)``."""

    def __init__(self, app: Callable) -> None:
        self.app = app
        self.header, self.environ_key = _header_names()

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        request_id = clean_request_id(environ.get(self.environ_key)) or new_request_id()
        traceparent = environ.get("HTTP_TRACEPARENT")
        context = _new_context(RequestContext, (request_id, parse_traceparent(traceparent) if traceparent else None))
        environ[REQUEST_ID_ENVIRON_KEY] = request_id
        environ[REQUEST_CONTEXT_ENVIRON_KEY] = context
        token = _current.set(context)
        header = self.header

        def start_with_id(status: str, headers: list, exc_info: Any = None) -> Callable:
            for name, _ in headers:
                if name.lower() == header:
                    break
            else:
                headers.append((header, request_id))
            return start_response(status, headers, exc_info) if exc_info else start_response(status, headers)

        try:
            body = self.app(environ, start_with_id)
        except BaseException as exc:
            _leave_on(exc, context)
            _reset(token)
            raise
        return _ClosingBody(body, token)


class AsgiRequestContext:
    """ASGI middleware: ``app = AsgiRequestContext(app)``."""

    def __init__(self, app: Callable) -> None:
        global _asgi_in_use
        _asgi_in_use = True
        self.app = app
        header, _ = _header_names()
        self.header = header
        self.header_bytes = header.encode("latin-1")

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        if scope.get("type") not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        request_id = traceparent = None
        for name, value in scope.get("headers") or ():
            lowered = name.lower()
            if lowered == self.header_bytes:
                request_id = clean_request_id(value.decode("latin-1"))
            elif lowered == b"traceparent":
                traceparent = value.decode("latin-1")
        request_id = request_id or new_request_id()
        context = RequestContext(request_id, parse_traceparent(traceparent))
        token = _current.set(context)
        id_header = (self.header_bytes, request_id.encode("latin-1"))

        async def send_with_id(message: dict) -> None:
            if message.get("type") == "http.response.start":
                headers = list(message.get("headers") or ())
                if not any(name.lower() == self.header_bytes for name, _ in headers):
                    headers.append(id_header)
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except BaseException as exc:
            _leave_on(exc, context)
            raise
        finally:
            _reset(token)


def is_asgi(app: Any) -> bool:
    if inspect.iscoroutinefunction(app):
        return True
    call = next((klass.__dict__["__call__"] for klass in type(app).__mro__ if "__call__" in klass.__dict__), None)
    return inspect.iscoroutinefunction(call)


def with_request_context(app: Callable) -> Callable:
    """The one line for an app run without our conf files: ``app = with_request_context(app)``.

    Works for WSGI (Flask, Django) and ASGI (Starlette, FastAPI) apps alike.
    """
    if isinstance(app, (WsgiRequestContext, AsgiRequestContext)):
        return app
    return AsgiRequestContext(app) if is_asgi(app) else WsgiRequestContext(app)


def wrap_worker_app(worker: Any) -> None:
    """For gunicorn's ``post_worker_init`` hook: wrap whatever app the worker loaded."""
    if getattr(worker, "asgi", None) is not None:  # gunicorn's own asgi worker
        worker.asgi = with_request_context(worker.asgi)
    else:  # WSGI workers, and uvicorn's worker, which keeps its ASGI app in .wsgi
        worker.wsgi = with_request_context(worker.wsgi)
