"""What every schema provides, and the helpers they share."""

from __future__ import annotations

import logging
from typing import Any

from ..config import Settings
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
    #: Top-level keys whose values are built once and shared by every record, wholly or in
    #: part: the encoder only reads them, but a user's processor may change them in place.
    #: ``shared_keys`` may hold containers at any depth and are copied all the way down;
    #: ``flat_shared_keys`` are dicts of text and numbers, and one shallow copy does.
    shared_keys: tuple[str, ...] = ()
    flat_shared_keys: tuple[str, ...] = ()

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def access(self, facts: AccessFacts) -> dict[str, Any]:
        raise NotImplementedError

    def log(self, facts: LogFacts) -> dict[str, Any]:
        raise NotImplementedError

    def unshare(self, record: dict[str, Any]) -> dict[str, Any]:
        """``record`` with private copies of its shared parts, before code we do not own sees it.

        Copying only these few small parts costs a fraction of a microsecond; copying
        the whole record would cost several.
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


def access_level(status: int) -> tuple[str, int]:
    """5xx is an error of ours; 4xx is the client's and stays info, as OpenTelemetry says for servers."""
    return ("error", logging.ERROR) if status >= 500 else ("info", logging.INFO)


def access_message(facts: AccessFacts) -> str:
    return f"{facts.method} {facts.target} {facts.status}"


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


def merge_extras(record: dict[str, Any], extras: dict[str, Any]) -> dict[str, Any]:
    """Add the caller's ``extra`` fields; a field the schema set is never overwritten.

    A colliding extra is kept under ``extra`` rather than dropped, so nothing a
    caller logged is lost and no caller can forge ``message`` or ``@timestamp``.
    """
    collided: dict[str, Any] = {}
    for key, value in extras.items():
        key = key if isinstance(key, str) else str(key)
        if key in record:
            collided[key] = value
        else:
            record[key] = value
    if collided:
        if isinstance(record.get("extra"), dict):
            record["extra"].update(collided)
        else:
            record["extra"] = collided
    return record
