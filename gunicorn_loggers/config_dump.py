"""Keeping credentials out of the configuration gunicorn logs at debug level.

With ``--log-level debug`` gunicorn's arbiter logs ``Current configuration:`` with
every setting, ``raw_env`` (the ``-e NAME=VALUE`` pairs) included: the place where
users put ``GUNICORN_LOGGERS_URL=https://user:password@...``, an ``Authorization``
header or a database password. A network logger would ship that line to the
collector. We rewrite that one message before it becomes a record.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Callable, Iterable

from .redaction import REDACTED, redact_target

CONFIGURATION_HEADER = "Current configuration:"
_RAW_ENV = "  raw_env: "

#: Variable names whose whole value is a credential, or may hold one (``*_HEADERS``).
SECRET_NAME = re.compile(r"TOKEN|SECRET|PASS|PWD|KEY|AUTH|CREDENTIAL|COOKIE|SESSION|PRIVATE|SIGNATURE|HEADERS", re.I)
_USER_INFO = re.compile(r"(?<=://)[^/@\s]*@")


def is_configuration_dump(message: object) -> bool:
    return isinstance(message, str) and message.startswith(CONFIGURATION_HEADER)


def redact_assignment(assignment: str, secrets: list[str], redact_query: Callable[[str], str]) -> str:
    """``NAME=VALUE`` with VALUE hidden when NAME says it is secret; user info and secret query values of URLs.

    ``secrets`` (longest first) are the logger's own credentials, replaced wherever
    they appear in VALUE: a name such as ``LOG_SINK`` says nothing, its value may.
    """
    name, sep, value = assignment.partition("=")
    if not sep:
        return assignment
    if SECRET_NAME.search(name):
        return f"{name}={REDACTED}"
    if "://" in value:
        value = _USER_INFO.sub(f"{REDACTED}@", value)
        value = redact_target(value, redact_query)
    for secret in secrets:
        value = value.replace(secret, REDACTED)
    return f"{name}={value}"


def redact_configuration(message: str, secrets: Iterable[str], redact_query: Callable[[str], str]) -> str:
    """The dump with the values in ``raw_env`` redacted; no other setting holds credentials."""
    known = sorted({s for s in secrets if s}, key=len, reverse=True)
    lines = message.split("\n")
    for index, line in enumerate(lines):
        if not line.startswith(_RAW_ENV):
            continue
        try:
            assignments = ast.literal_eval(line[len(_RAW_ENV) :])
        except (ValueError, SyntaxError):
            lines[index] = f"{_RAW_ENV}{REDACTED}"  # not the list we know: show nothing of it
            continue
        if isinstance(assignments, list):
            redacted = [redact_assignment(str(item), known, redact_query) for item in assignments]
            lines[index] = f"{_RAW_ENV}{redacted!r}"
        else:
            lines[index] = f"{_RAW_ENV}{REDACTED}"
    return "\n".join(lines)
