"""One short line per record, for a person at a terminal.

A JSON record carries every field a pipeline wants; a person reading a terminal
wants the time, the level, the message and, for a request, its status, duration
and id, with a traceback below. Both ``gunicorn-loggers pretty`` (reading lines of
any of our schemas back) and the console renderer (writing them) print this view,
so what a developer sees locally is what ``pretty`` shows of production's lines.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import orjson

from .config import Settings
from .schemas import SCHEMA_CLASSES, Schema

#: Where each schema's console view keeps what the concise line shows, in the order tried.
STATUS_KEYS = ("http.response.status_code", "httpRequest.status", "status")
REQUEST_ID_KEYS = ("http.request.id", "requestId", "request_id")
#: Duration fields and the factor that turns each into seconds (gcp's latency is text: "0.0123s").
DURATION_KEYS = (("event.duration", 1e-9), ("http.server.request.duration", 1.0), ("duration_s", 1.0))
GCP_LATENCY = "httpRequest.latency"

_LEVEL_COLOURS = {
    "debug": "\x1b[2m",
    "info": "\x1b[32m",
    "warning": "\x1b[33m",
    "warn": "\x1b[33m",
    "error": "\x1b[31m",
    "critical": "\x1b[1;31m",
    "fatal": "\x1b[1;31m",
}
_RESET = "\x1b[0m"
_DIM = "\x1b[2m"


def _request_id(view: dict[str, Any]) -> Any:
    for key in REQUEST_ID_KEYS:
        if view.get(key) is not None:
            return view[key]
    for key, value in view.items():  # otel names the header it came from: http.request.header.x-request-id
        if key.startswith("http.request.header.") and key.endswith("request-id") and value:
            return value[0] if isinstance(value, list) else value
    return None


def _seconds(view: dict[str, Any]) -> float | None:
    for key, factor in DURATION_KEYS:
        value = view.get(key)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return value * factor
    latency = view.get(GCP_LATENCY)
    if isinstance(latency, str) and latency.endswith("s"):
        try:
            return float(latency[:-1])
        except ValueError:
            return None
    return None


def format_duration(seconds: float) -> str:
    """Milliseconds below a second (what request times are), seconds above."""
    return f"{seconds * 1000:.1f}ms" if seconds < 1 else f"{seconds:.2f}s"


def _time(value: Any) -> str:
    """``2026-11-25T12:41:27.815681Z`` as ``2026-11-25 12:41:27.815``: a person needs milliseconds at most."""
    text = str(value or "")
    if len(text) >= 23 and text[10:11] == "T":
        return f"{text[:10]} {text[11:23]}"
    return text


def _text(value: Any) -> str:
    return value if isinstance(value, str) else orjson.dumps(value, default=str).decode()


def concise_line(view: dict[str, Any], fields: Sequence[str] = (), colour: bool = False) -> str:
    """The line for one console view (:meth:`Schema.console_view`); ``fields`` are added as ``key=value``.

    A traceback (``exception`` in the view) follows on its own lines, as Python prints it.
    """
    level = str(view.get("level") or "info").lower()
    label = level.upper().ljust(5)
    if colour:
        label = f"{_LEVEL_COLOURS.get(level, '')}{label}{_RESET}"
    parts = [_time(view.get("timestamp")), label, _text(view.get("event", ""))]
    status = next((view[key] for key in STATUS_KEYS if view.get(key) is not None), None)
    if status is not None:
        parts.append(f"status={status}")
    seconds = _seconds(view)
    if seconds is not None:
        parts.append(format_duration(seconds))
    request_id = _request_id(view)
    if request_id is not None:
        parts.append(f"id={_text(request_id)}")
    for name in fields:
        if name in view:
            extra = f"{name}={_text(view[name])}"
            parts.append(f"{_DIM}{extra}{_RESET}" if colour else extra)
    line = " ".join(part for part in parts if part)
    exception = view.get("exception")
    if isinstance(exception, str) and exception:
        line = f"{line}\n{exception.rstrip()}"
    return line


def schema_of(record: dict[str, Any]) -> str | None:
    """Which of our schemas wrote ``record``, from the keys only that schema puts at the top."""
    if isinstance(record.get("resourceLogs"), list):
        return "otel"
    if "@timestamp" in record and "log.level" in record:
        return "ecs"
    if "severity" in record and "time" in record:
        return "gcp"
    if "time" in record and "level" in record and "message" in record:
        return "flat"
    return None


class PrettyPrinter:
    """Turns lines of our JSON into concise lines; anything else is given back as it came."""

    def __init__(self, fields: Sequence[str] = (), colour: bool = False) -> None:
        self.fields = tuple(fields)
        self.colour = colour
        self._schemas: dict[str, Schema] = {}

    def _schema(self, name: str) -> Schema:
        schema = self._schemas.get(name)
        if schema is None:
            schema = self._schemas[name] = SCHEMA_CLASSES[name](Settings(schema=name))
        return schema

    def _views(self, name: str, record: dict[str, Any]) -> Iterator[dict[str, Any]]:
        schema = self._schema(name)
        if name != "otel":
            yield schema.console_view(record)
            return
        # An OTLP request may hold many records (an otlpjsonfile batch): one line each.
        for resource_logs in record["resourceLogs"]:
            for scope_logs in resource_logs.get("scopeLogs") or ():
                for log in scope_logs.get("logRecords") or ():
                    single = {**resource_logs, "scopeLogs": [{**scope_logs, "logRecords": [log]}]}
                    yield schema.console_view({"resourceLogs": [single]})

    def line(self, raw: bytes | str) -> str:
        """One input line, without its newline, as text to print."""
        text = raw.decode("utf-8", "backslashreplace") if isinstance(raw, bytes) else raw
        text = text.rstrip("\r\n")
        try:
            record = orjson.loads(text)
        except orjson.JSONDecodeError:
            return text
        name = schema_of(record) if isinstance(record, dict) else None
        if name is None:
            return text
        try:
            return "\n".join(concise_line(view, self.fields, self.colour) for view in self._views(name, record))
        except Exception:  # one of our keys holding something else: the line is not ours after all
            return text

    def lines(self, raw_lines: Iterable[bytes]) -> Iterator[str]:
        for raw in raw_lines:
            yield self.line(raw)
