"""What every schema provides, and the helpers they share."""

from __future__ import annotations

import logging
from functools import lru_cache
from typing import Any

from ..config import Settings
from ..log_facts import LogFacts
from ..request_facts import AccessFacts

ACCESS_LOGGER = "gunicorn.access"


class Schema:
    """Builds record dicts; subclasses name the fields."""

    name = ""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def access(self, facts: AccessFacts) -> dict[str, Any]:
        raise NotImplementedError

    def log(self, facts: LogFacts) -> dict[str, Any]:
        raise NotImplementedError


def access_level(status: int) -> tuple[str, int]:
    """5xx is an error of ours; 4xx is the client's and stays info, as OpenTelemetry says for servers."""
    return ("error", logging.ERROR) if status >= 500 else ("info", logging.INFO)


def access_message(facts: AccessFacts) -> str:
    return f"{facts.method} {facts.target} {facts.status}"


@lru_cache(maxsize=256)
def split_host(host: str) -> tuple[str, int | None]:
    """``example.com:8000`` -> (``example.com``, 8000); handles ``[::1]:80``."""
    if host.startswith("["):
        name, _, rest = host[1:].partition("]")
        port = rest[1:] if rest.startswith(":") else ""
    else:
        name, _, port = host.rpartition(":") if host.count(":") == 1 else (host, "", "")
    return name.lower(), int(port) if port.isdigit() and len(port) <= 5 else None


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
