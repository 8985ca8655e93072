"""Request headers given in an option: ``Name=Value,Name=Value``, values usually credentials."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import unquote

from ..options import ConfigError

_HEADER_NAME = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")
_VARIABLE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


def parse_headers(raw: str, option: str, env: Mapping[str, str], secrets: Any, percent_decoded: bool = False) -> dict:
    """``Name=Value,Name=Value`` as a dict; ``${VAR}`` in a value is taken from ``env``.

    Error messages name the option and the header, never a value: values are
    usually credentials. Every value is added to ``secrets``.
    """
    headers: dict[str, str] = {}
    for number, item in enumerate(raw.split(","), 1):
        if not item.strip():
            continue
        name, sep, value = item.partition("=")
        name = name.strip()
        if not sep or not _HEADER_NAME.match(name):
            raise ConfigError(f"{option}: item {number} is not Name=Value with a valid header name")

        def expand(match: re.Match[str], name: str = name) -> str:
            variable = match.group(1)
            if variable not in env:
                raise ConfigError(f"{option}: header {name} uses ${{{variable}}}, which is not set in the environment")
            secrets.add(env[variable])
            return env[variable]

        value = _VARIABLE.sub(expand, value.strip())
        if percent_decoded:
            value = unquote(value)
        if any(c in value for c in "\r\n\0"):
            raise ConfigError(f"{option}: the value of header {name} contains a line break")
        secrets.add(value)
        headers[name] = value
    return headers
