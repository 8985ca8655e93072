"""What every schema provides, and the helpers they share."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Iterable
from typing import Any

from ..config import Settings
from ..correlation import TraceContext
from ..log_facts import LogFacts
from ..memo import Memo
from ..request_facts import AccessFacts

ACCESS_LOGGER = "gunicorn.access"


class Schema:
    """Builds record dicts; subclasses name the fields."""

    name = ""
    time_key = "time"
    level_key = "level"
    message_key = "message"
    #: The precision of the time the schema writes (rfc3339_utc: microseconds): a frame's time is the
    #: record's time as it shows, so a collector's timestamp and the record's own agree.
    time_resolution_ns = 1000
    #: Top-level keys whose values are built once and shared by every record, wholly or in
    #: part: the encoder only reads them, but a user's processor may change them in place.
    #: ``shared_keys`` may hold containers at any depth and are copied all the way down;
    #: ``flat_shared_keys`` are dicts of text and numbers, and one shallow copy does.
    shared_keys: tuple[str, ...] = ()
    flat_shared_keys: tuple[str, ...] = ()
    #: Fields an app's ``extra`` may not take although our log records do not write them (keys a
    #: platform's agent reads, say), and prefixes of whole families of such keys.
    reserved_fields: tuple[str, ...] = ()
    reserved_prefixes: tuple[str, ...] = ()
    _log_fields: FieldPaths | None = None

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def access(self, facts: AccessFacts) -> dict[str, Any]:
        raise NotImplementedError

    def shown_time(self, time_ns: int) -> int:
        """``time_ns`` as the records of this schema show it."""
        return time_ns - time_ns % self.time_resolution_ns

    def log(self, facts: LogFacts) -> dict[str, Any]:
        raise NotImplementedError

    def merge_extras(self, record: dict[str, Any], extras: dict[str, Any]) -> dict[str, Any]:
        """Add the caller's ``extra`` fields; a field the schema set, or may set, is never overwritten.

        A colliding extra (one :class:`FieldPaths` says collides with a field of
        :meth:`log_field_paths`) is kept under ``extra`` rather than dropped, so nothing a caller
        logged is lost and no caller can forge ``message``, ``@timestamp``, ``service.name`` or
        ``trace.id``. The fields are read from the fullest record, so ``record``'s own keys are
        among them: one set lookup a key answers for both. A key whose ``str()`` raises cannot be
        written: ``unrenderable_extra_keys`` names it (its type and the error) and every other
        extra is kept.
        """
        if not extras:
            return record
        fields = self._log_fields or self._read_log_fields()
        taken = fields.taken
        collided: dict[str, Any] | None = None
        unrenderable: list[str] | None = None
        for key, value in extras.items():
            if key.__class__ is not str and not isinstance(key, str):
                try:
                    key = str(key)
                except Exception as exc:
                    unrenderable = unrenderable or []
                    unrenderable.append(f"<str() of {type(key).__qualname__} failed: {type(exc).__name__}>")
                    continue
            if key in taken or ("." in key and fields.runs_into_a_field(key)):
                if collided is None:
                    collided = {}
                collided[key] = value
            else:
                record[key] = value
        if collided:
            record[EXTRA_KEY] = collided
        if unrenderable:
            record[UNRENDERABLE_KEYS] = unrenderable
        return record

    def _read_log_fields(self) -> FieldPaths:
        """Once per schema, on the first record with extras (the schema's own records have none)."""
        fields = self._log_fields = FieldPaths((*self.log_field_paths(), *self.reserved_fields), self.reserved_prefixes)
        return fields

    def log_field_paths(self) -> list[str]:
        """The dotted path of every field a log record of this schema can hold.

        Read from a record this schema builds with every optional part present, by a schema
        with every option that adds a field set: a field a schema gains is reserved with it.
        """
        return [path for path, _ in flatten(self.fullest_log_record())]

    def fullest_log_record(self) -> dict[str, Any]:
        """A log record with every field this schema can write (an error, a request, a trace, a service version)."""
        settings = dataclasses.replace(self.settings, service_version="0", service_environment="sample")
        return type(self)(settings).log(fullest_log_facts())

    def unshare(self, record: dict[str, Any]) -> dict[str, Any]:
        """``record`` with private copies of its shared parts, before code we do not own sees it.

        Only these few small parts are copied: copying the whole record would cost far
        more, on every record a processor sees.
        """
        copy_flat_parts(record, self.flat_shared_keys)
        for key in self.shared_keys:
            part = record.get(key)
            if part.__class__ in _CONTAINERS:
                record[key] = private_copy(part)
        return record

    def level_of(self, record: dict[str, Any]) -> str:
        """The record's level as structlog names methods (``info``, ``error``...), for processors."""
        level = record.get(self.level_key)
        return level.lower() if isinstance(level, str) else "info"

    def console_view(self, record: dict[str, Any]) -> dict[str, Any]:
        """The record for a console renderer: timestamp, level, event, then every other field, dotted."""
        view: dict[str, Any] = {
            "timestamp": record.get(self.time_key),
            "level": str(record.get(self.level_key, "info")).lower(),
            "event": record.get(self.message_key, ""),
        }
        skip = (self.time_key, self.level_key, self.message_key)
        view.update((key, value) for key, value in flatten(record) if key not in skip)
        return move_stack_trace(view)


_CONTAINERS = (dict, list)


def copy_flat_parts(record: dict[str, Any], keys: tuple[str, ...]) -> None:
    """Replace each of these parts of ``record`` (dicts of text and numbers) by a shallow copy."""
    for key in keys:
        part = record.get(key)
        if part.__class__ is dict:
            record[key] = part.copy()


def private_copy(value: Any) -> Any:
    """A copy of the dicts and lists in ``value``, all the way down; other values are immutable."""
    kind = value.__class__
    if kind is dict:
        copy = dict(value)
        for key, item in copy.items():
            if item.__class__ in _CONTAINERS:
                copy[key] = private_copy(item)
        return copy
    if kind is list:
        copy = list(value)
        for index, item in enumerate(copy):
            if item.__class__ in _CONTAINERS:
                copy[index] = private_copy(item)
        return copy
    return value


STACK_TRACE_KEYS = ("error.stack_trace", "exception.stacktrace", "stack_trace")


def move_stack_trace(view: dict[str, Any]) -> dict[str, Any]:
    """ConsoleRenderer prints ``exception`` below the line, as a traceback people can read."""
    for key in STACK_TRACE_KEYS:
        if isinstance(view.get(key), str):
            view["exception"] = view.pop(key)
            break
    return view


def flatten(record: dict[str, Any], prefix: str = ""):
    for key, value in record.items():
        if isinstance(value, dict) and value:
            yield from flatten(value, f"{prefix}{key}.")
        else:
            yield f"{prefix}{key}", value


#: What every schema says of a request its worker was aborted in (gunicorn's --timeout).
TIMEOUT_REASON = "worker timeout"


def access_message(facts: AccessFacts) -> str:
    """``GET /items 200``; a request in a worker gunicorn aborted says so, and whether it got an answer."""
    if facts.status is None:
        return f"{facts.method} {facts.target} - no response: {TIMEOUT_REASON}"
    if facts.timed_out:
        return f"{facts.method} {facts.target} {facts.status} after a {TIMEOUT_REASON}"
    return f"{facts.method} {facts.target} {facts.status}"


def access_failed(facts: AccessFacts) -> bool:
    """ECS's event.outcome: a 4xx or 5xx, or no response at all."""
    status = facts.status
    return status is None or status >= 400 or facts.timed_out


def split_host(host: str) -> tuple[str, int | None]:
    """``example.com:8000`` -> (``example.com``, 8000); handles ``[::1]:80``."""
    if host.startswith("["):
        name, _, rest = host[1:].partition("]")
        port = rest[1:] if rest.startswith(":") else ""
    else:
        name, _, port = host.rpartition(":") if host.count(":") == 1 else (host, "", "")
    # isascii: "²" and other Unicode digits pass isdigit() and make int() raise
    return name.lower(), int(port) if port.isascii() and port.isdigit() and len(port) <= 5 else None


#: ``HOSTS[host]`` is ``split_host(host)``, cached: a site answers to a handful of names.
HOSTS = Memo(split_host, 256, longest=256)


#: Where a record keeps the extras that collide with its fields, and names the keys that are not text.
EXTRA_KEY = "extra"
UNRENDERABLE_KEYS = "unrenderable_extra_keys"


class FieldPaths:
    """The dotted paths of the fields a schema's log records hold, to tell which ``extra`` keys collide.

    A key collides when it names a field (``service.name``), a prefix of one (``service``,
    ``http.request``) or a path into one (``service.name.first``), or starts with a reserved
    prefix: a consumer that expands dotted names, as Elasticsearch does, would otherwise find
    two values for one field, and an app could forge the service or the trace. A key beside
    our fields (``service.team``, ``http.request.method`` in an app record) collides with none.
    """

    __slots__ = ("fields", "prefixes", "taken")

    def __init__(self, paths: Iterable[str], prefixes: tuple[str, ...] = ()) -> None:
        self.fields = frozenset((*paths, EXTRA_KEY, UNRENDERABLE_KEYS))
        taken = set(self.fields)
        for path in self.fields:
            index = path.find(".")
            while index > 0:
                taken.add(path[:index])
                index = path.find(".", index + 1)
        #: The fields and every prefix of one: a key in here collides, dotted or not.
        self.taken = frozenset(taken)
        self.prefixes = prefixes

    def runs_into_a_field(self, key: str) -> bool:
        """Does the dotted ``key`` continue one of the fields, or start with a reserved prefix?"""
        if self.prefixes and key.startswith(self.prefixes):
            return True
        fields = self.fields
        index = key.find(".")
        while index != -1:
            if key[:index] in fields:
                return True
            index = key.find(".", index + 1)
        return False


def fullest_log_facts() -> LogFacts:
    """A log event with every optional part: an exception, a stack, a request id, a trace."""
    facts = LogFacts()
    facts.time_ns, facts.level, facts.levelno, facts.message = 0, "error", logging.ERROR, "sample"
    facts.logger, facts.pid, facts.thread_name = "sample", 1, "sample"
    facts.file, facts.line, facts.function = "sample.py", 1, "sample"
    facts.error_type, facts.error_message, facts.stack_trace = "Error", "sample", "sample"
    facts.request_id, facts.trace = "sample", TraceContext("1" * 32, "1" * 16, 1)
    facts.extras = {}
    return facts
