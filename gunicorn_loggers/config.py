"""The settings a logger runs with, read from the options' one table (``options.py``).

gunicorn builds its command-line parser before it imports a logger class, so a
package cannot add ``--flags`` of its own to a plain ``gunicorn`` command. Our
options are therefore environment variables named ``GUNICORN_LOGGERS_*``, read
from the process environment and from gunicorn's ``-e NAME=VALUE`` (``cfg.env``),
which reaches ``os.environ`` only after the logger is built. Where gunicorn
already has a setting that fits (``--access-logfile``, ``--log-level``,
``--forwarded-allow-ips``, ``--statsd-host``) we use it instead of inventing one.

A bad value raises :class:`ConfigError`, a ``RuntimeError``: gunicorn prints it
as one ``Error: ...`` line and exits with status 1.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .access_rules import DEFAULT_LEVELS, AccessPolicy
from .options import (
    DEFAULT_REDACT_HEADERS,
    DEFAULT_REDACT_QUERY,
    OPTIONS,
    PREFIX,
    RENDERERS,
    SCHEMAS,
    ConfigError,
    default_of,
    ignored_options,
    option_value,
)

__all__ = [
    "DEFAULT_REDACT_HEADERS",
    "DEFAULT_REDACT_QUERY",
    "PREFIX",
    "RENDERERS",
    "SCHEMAS",
    "ConfigError",
    "Settings",
    "activate",
    "active_settings",
    "load_settings",
    "option_environment",
]


@dataclass(frozen=True)
class Settings:
    """The parsed options; immutable so that a worker can share it across threads."""

    schema: str = default_of("SCHEMA")
    service_name: str = "gunicorn"
    service_version: str | None = default_of("SERVICE_VERSION")
    service_environment: str | None = default_of("SERVICE_ENVIRONMENT")
    request_id_header: str = default_of("REQUEST_ID_HEADER")
    request_headers: tuple[str, ...] = default_of("REQUEST_HEADERS")
    response_headers: tuple[str, ...] = default_of("RESPONSE_HEADERS")
    redact_headers: frozenset[str] = frozenset(default_of("REDACT_HEADERS"))
    redact_query: frozenset[str] = frozenset(default_of("REDACT_QUERY"))
    gcp_project: str | None = default_of("GCP_PROJECT")
    app_logs: bool = default_of("APP_LOGS")
    access_flush_interval: float = default_of("ACCESS_FLUSH_INTERVAL")
    #: Which access records are written and at which level (access_policy.py); None: all, as before.
    access_policy: Any = None
    processors: tuple[str, ...] = default_of("PROCESSORS")
    renderer: str = default_of("RENDERER")
    #: Fields the console renderer adds to its concise line; ``None``: every field.
    console_fields: tuple[str, ...] | None = default_of("CONSOLE_FIELDS")
    trusted_proxies: tuple[str, ...] = ("127.0.0.1", "::1")
    trusted_networks: tuple[Any, ...] = field(default=(), compare=False)
    #: Options set in the environment that the logger does not take (another logger's): it warns once.
    ignored_options: tuple[str, ...] = ()

    @property
    def request_id_environ_key(self) -> str:
        return "HTTP_" + self.request_id_header.upper().replace("-", "_")


def option_environment(cfg: Any = None) -> dict[str, str]:
    """The environment our options are read from: ``os.environ`` overlaid with ``-e``."""
    env = dict(os.environ)
    if cfg is not None:
        try:
            env.update(cfg.env)
        except Exception:  # a cfg without raw_env (tests, third-party apps)
            pass
    return env


def _trusted(cfg: Any) -> tuple[tuple[str, ...], tuple[Any, ...]]:
    allow = getattr(cfg, "forwarded_allow_ips", None) if cfg is not None else None
    if allow is None:
        allow = ["127.0.0.1", "::1"]
    if isinstance(allow, str):
        allow = [part.strip() for part in allow.split(",") if part.strip()]
    networks = []
    for entry in allow:
        if entry == "*":
            continue
        try:
            networks.append(ipaddress.ip_network(entry, strict=False))
        except ValueError:
            continue  # gunicorn's own validator has already rejected it
    return tuple(allow), tuple(networks)


def load_settings(
    cfg: Any = None,
    env: Mapping[str, str] | None = None,
    extra_options: Mapping[str, str] | None = None,
    logger: type | None = None,
) -> Settings:
    """Parse and validate every option ``logger`` (a class) takes; raise ConfigError naming the bad one.

    A misspelt name is refused; an option of another logger is left at its default and
    named in ``ignored_options``. Without ``logger`` every option of the table is read.
    ``extra_options`` (names) are accepted and left to whoever reads them.
    """
    env = option_environment(cfg) if env is None else env
    ignored = ignored_options(env, logger, extra_options or ())

    def value(name: str) -> Any:
        return OPTIONS[name].default if name in ignored else OPTIONS[name].read(env)

    service_name = (
        value("SERVICE_NAME")
        or (env.get("OTEL_SERVICE_NAME") or "").strip()
        or (getattr(cfg, "proc_name", None) if cfg is not None else None)
        or "gunicorn"
    )
    trusted_proxies, trusted_networks = _trusted(cfg)
    return Settings(
        schema=value("SCHEMA"),
        service_name=service_name,
        service_version=value("SERVICE_VERSION"),
        service_environment=value("SERVICE_ENVIRONMENT"),
        request_id_header=value("REQUEST_ID_HEADER"),
        request_headers=value("REQUEST_HEADERS"),
        response_headers=value("RESPONSE_HEADERS"),
        # Credentials stay redacted whatever the list says: it can only add headers.
        redact_headers=frozenset((*DEFAULT_REDACT_HEADERS, *value("REDACT_HEADERS"))),
        redact_query=frozenset(value("REDACT_QUERY")),
        gcp_project=value("GCP_PROJECT") or (env.get("GOOGLE_CLOUD_PROJECT") or "").strip() or None,
        app_logs=value("APP_LOGS"),
        access_flush_interval=value("ACCESS_FLUSH_INTERVAL"),
        access_policy=_access_policy(env),
        processors=value("PROCESSORS"),
        renderer=value("RENDERER"),
        console_fields=value("CONSOLE_FIELDS"),
        trusted_proxies=trusted_proxies,
        trusted_networks=trusted_networks,
        ignored_options=ignored,
    )


def _access_policy(env: Mapping[str, str]) -> Any:
    """The policy the ACCESS_* options give, or None when they leave every record as it was."""
    policy = load_access_policy(env)
    return None if policy.is_default else policy


def load_access_policy(env: Mapping[str, str]) -> AccessPolicy:
    """The policy of the ACCESS_* options in ``env``, each parsed by the options' table."""
    skip = option_value(env, "ACCESS_SKIP") or ((), (), (), ())
    slow = option_value(env, "ACCESS_SLOW")
    levels = tuple({**DEFAULT_LEVELS, **dict(option_value(env, "ACCESS_LEVELS"))}.items())
    if slow is None and "slow" in dict(levels):
        raise ConfigError(f"{PREFIX}ACCESS_LEVELS sets a level for slow requests: set {PREFIX}ACCESS_SLOW too")
    if slow is not None and "slow" not in dict(levels):
        levels = (*levels, ("slow", "warning"))  # a slow request is worth a look unless told otherwise
    return AccessPolicy(
        skip_paths=frozenset(skip[0]),
        skip_path_prefixes=tuple(skip[1]),
        skip_agents=frozenset(skip[2]),
        skip_agent_prefixes=tuple(skip[3]),
        sample_rate=option_value(env, "ACCESS_SAMPLE"),
        keep_client_errors=option_value(env, "ACCESS_KEEP_4XX"),
        slow_seconds=slow,
        levels=levels,
    )


_active: Settings | None = None


def activate(settings: Settings) -> None:
    """Make ``settings`` the ones formatters built by ``logconfig_dict`` use."""
    global _active
    _active = settings


def active_settings() -> Settings:
    """The settings of the running logger, or the environment's when there is none."""
    global _active
    if _active is None:
        _active = load_settings()
    return _active
