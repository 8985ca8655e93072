"""Every option of gunicorn-loggers, parsed and validated in one place.

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

import difflib
import ipaddress
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

PREFIX = "GUNICORN_LOGGERS_"

SCHEMAS = ("ecs", "otel", "gcp", "flat")

DEFAULT_REDACT_HEADERS = ("authorization", "proxy-authorization", "cookie", "set-cookie")

DEFAULT_REDACT_QUERY = (
    "token",
    "access_token",
    "refresh_token",
    "id_token",
    "password",
    "passwd",
    "secret",
    "client_secret",
    "api_key",
    "apikey",
    "signature",
    "sig",
    "x-amz-signature",
    "x-amz-credential",
    "x-amz-security-token",
    "x-goog-signature",
)

#: Option name (without the prefix) -> one line of help, used by error messages
#: in the order of the options page (docs/options.md).
OPTIONS: dict[str, str] = {
    "SCHEMA": "field names of every record: ecs | otel | gcp | flat",
    "SERVICE_NAME": "service name in every record",
    "SERVICE_VERSION": "service version in every record",
    "SERVICE_ENVIRONMENT": "deployment environment in every record",
    "REQUEST_ID_HEADER": "request header that carries the request id",
    "REQUEST_HEADERS": "comma-separated request headers to log",
    "RESPONSE_HEADERS": "comma-separated response headers to log",
    "REDACT_HEADERS": "comma-separated headers whose values are never logged, besides the credentials ones",
    "REDACT_QUERY": "comma-separated query parameters whose values are never logged",
    "GCP_PROJECT": "Google Cloud project id for logging.googleapis.com/trace",
    "APP_LOGS": "send the application's own logging records to the error log: on | off",
    "ACCESS_FLUSH_INTERVAL": "seconds the access log may wait in memory before it is written (0: write each record)",
    "ACCESS_SKIP": "comma-separated paths (/healthz, /static/*) and user agents (ua:kube-probe/*) whose "
    "successful (< 400) access records are not written",
    "ACCESS_SAMPLE": "fraction of the other access records written (0 to 1); errors, slow and traced requests "
    "are always written",
    "ACCESS_SLOW": "seconds from which a request is slow: always written, and levelled by ACCESS_LEVELS",
    "ACCESS_KEEP_4XX": "always write 4xx access records when sampling: on | off",
    "ACCESS_LEVELS": "level of access records by status class and slowness, e.g. 4xx=warning,slow=warning "
    "(default 5xx=error, others info)",
    "PROCESSORS": "StructlogLogger: comma-separated dotted paths of structlog processors run on every record",
    "RENDERER": "StructlogLogger: auto | json | console (auto: console on a terminal)",
    "CONSOLE_FIELDS": "console renderer: fields added to its concise line (time, level, message, status, "
    "duration, request id), comma-separated, or all for every field",
}

RENDERERS = ("auto", "json", "console")

_BOOLEANS = {"1": True, "true": True, "yes": True, "on": True, "0": False, "false": False, "no": False, "off": False}


class ConfigError(RuntimeError):
    """A user's mistake in an option: one line, no traceback (gunicorn prints it)."""


@dataclass(frozen=True)
class Settings:
    """The parsed options; immutable so that a worker can share it across threads."""

    schema: str = "ecs"
    service_name: str = "gunicorn"
    service_version: str | None = None
    service_environment: str | None = None
    request_id_header: str = "x-request-id"
    request_headers: tuple[str, ...] = ()
    response_headers: tuple[str, ...] = ()
    redact_headers: frozenset[str] = frozenset(DEFAULT_REDACT_HEADERS)
    redact_query: frozenset[str] = frozenset(DEFAULT_REDACT_QUERY)
    gcp_project: str | None = None
    app_logs: bool = True
    access_flush_interval: float = 0.0
    #: Which access records are written and at which level (access_policy.py); None: all, as before.
    access_policy: Any = None
    processors: tuple[str, ...] = ()
    renderer: str = "auto"
    #: Fields the console renderer adds to its concise line; ``None``: every field.
    console_fields: tuple[str, ...] | None = ()
    trusted_proxies: tuple[str, ...] = ("127.0.0.1", "::1")
    trusted_networks: tuple[Any, ...] = field(default=(), compare=False)

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


def _names(value: str, option: str) -> tuple[str, ...]:
    names = tuple(part.strip().lower() for part in value.split(",") if part.strip())
    for name in names:
        if not all(33 <= ord(c) < 127 and c not in ' "(),/:;<=>?@[\\]{}' for c in name):
            raise ConfigError(f"{PREFIX}{option}: {name!r} is not a valid name (letters, digits and -_. only)")
    return names


def _name_list(env: Mapping[str, str], option: str, default: tuple[str, ...]) -> tuple[str, ...]:
    """A comma list where the word ``default`` stands for the built-in list."""
    raw = env.get(PREFIX + option)
    if raw is None:
        return default
    names: list[str] = []
    for name in _names(raw, option):
        names.extend(default if name == "default" else (name,))
    return tuple(dict.fromkeys(names))


def _choice(env: Mapping[str, str], option: str, choices: tuple[str, ...], default: str) -> str:
    raw = env.get(PREFIX + option)
    if raw is None or raw.strip() == "":
        return default
    value = raw.strip().lower()
    if value not in choices:
        raise ConfigError(f"{PREFIX}{option}={raw!r} is not one of: {', '.join(choices)}")
    return value


def _boolean(env: Mapping[str, str], option: str, default: bool) -> bool:
    raw = env.get(PREFIX + option)
    if raw is None or raw.strip() == "":
        return default
    try:
        return _BOOLEANS[raw.strip().lower()]
    except KeyError:
        raise ConfigError(f"{PREFIX}{option}={raw!r} is not one of: on, off") from None


def _seconds(env: Mapping[str, str], option: str, default: float, low: float, high: float) -> float:
    raw = env.get(PREFIX + option)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = float(raw.strip().removesuffix("s"))
    except ValueError:
        value = float("nan")
    if not low <= value <= high:
        raise ConfigError(f"{PREFIX}{option}={raw!r} is not a number of seconds from {low:g} to {high:g}")
    return value


def _text(env: Mapping[str, str], option: str, default: str | None = None) -> str | None:
    raw = env.get(PREFIX + option)
    if raw is None or raw.strip() == "":
        return default
    return raw.strip()


def _dotted_paths(env: Mapping[str, str], option: str) -> tuple[str, ...]:
    raw = env.get(PREFIX + option) or ""
    paths = tuple(part.strip() for part in raw.split(",") if part.strip())
    for path in paths:
        module, _, name = path.replace(":", ".").rpartition(".")
        if not module or not all(part.isidentifier() for part in (*module.split("."), name)):
            raise ConfigError(f"{PREFIX}{option}: {path!r} is not a dotted path such as mypackage.module.name")
    return paths


def _reject_unknown(env: Mapping[str, str], known: Mapping[str, str]) -> None:
    for key in env:
        if key.startswith(PREFIX) and key[len(PREFIX) :] not in known:
            close = difflib.get_close_matches(key[len(PREFIX) :], list(known), n=1)
            hint = f"; did you mean {PREFIX}{close[0]}?" if close else f"; known options: {', '.join(known)}"
            raise ConfigError(f"{key} is not an option of gunicorn-loggers{hint}")


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
    cfg: Any = None, env: Mapping[str, str] | None = None, extra_options: Mapping[str, str] | None = None
) -> Settings:
    """Parse and validate every option; raise ConfigError naming the bad one.

    ``extra_options`` lets a logger class with a sink of its own accept its options
    without the unknown-option check rejecting them.
    """
    env = option_environment(cfg) if env is None else env
    _reject_unknown(env, {**OPTIONS, **(extra_options or {})})
    service_name = (
        _text(env, "SERVICE_NAME")
        or (env.get("OTEL_SERVICE_NAME") or "").strip()
        or (getattr(cfg, "proc_name", None) if cfg is not None else None)
        or "gunicorn"
    )
    request_id_header = _names(_text(env, "REQUEST_ID_HEADER", "x-request-id"), "REQUEST_ID_HEADER")
    if len(request_id_header) != 1:
        raise ConfigError(f"{PREFIX}REQUEST_ID_HEADER must name exactly one header")
    trusted_proxies, trusted_networks = _trusted(cfg)
    return Settings(
        schema=_choice(env, "SCHEMA", SCHEMAS, "ecs"),
        service_name=service_name,
        service_version=_text(env, "SERVICE_VERSION"),
        service_environment=_text(env, "SERVICE_ENVIRONMENT"),
        request_id_header=request_id_header[0],
        request_headers=_name_list(env, "REQUEST_HEADERS", ()),
        response_headers=_name_list(env, "RESPONSE_HEADERS", ()),
        # Credentials stay redacted whatever the list says: it can only add headers.
        redact_headers=frozenset((*DEFAULT_REDACT_HEADERS, *_name_list(env, "REDACT_HEADERS", ()))),
        redact_query=frozenset(_name_list(env, "REDACT_QUERY", DEFAULT_REDACT_QUERY)),
        gcp_project=_text(env, "GCP_PROJECT") or (env.get("GOOGLE_CLOUD_PROJECT") or "").strip() or None,
        app_logs=_boolean(env, "APP_LOGS", True),
        access_flush_interval=_seconds(env, "ACCESS_FLUSH_INTERVAL", 0.0, 0.0, 60.0),
        access_policy=_access_policy(env),
        processors=_dotted_paths(env, "PROCESSORS"),
        renderer=_choice(env, "RENDERER", RENDERERS, "auto"),
        console_fields=_console_fields(env),
        trusted_proxies=trusted_proxies,
        trusted_networks=trusted_networks,
    )


def _access_policy(env: Mapping[str, str]) -> Any:
    """The policy the ACCESS_* options give, or None when they leave every record as it was."""
    from .access_policy import load_access_policy  # it reads this module's parsers

    slow = env.get(PREFIX + "ACCESS_SLOW")
    slow_seconds = _seconds(env, "ACCESS_SLOW", 0.0, 0.000001, 86400.0) if slow and slow.strip() else None
    policy = load_access_policy(env, slow_seconds, _boolean(env, "ACCESS_KEEP_4XX", True))
    return None if policy.is_default else policy


def _console_fields(env: Mapping[str, str]) -> tuple[str, ...] | None:
    """Field paths as the record names them (``url.path``, ``httpRequest.requestUrl``): case kept."""
    raw = (env.get(PREFIX + "CONSOLE_FIELDS") or "").strip()
    if raw.lower() == "all":
        return None
    return tuple(part.strip() for part in raw.split(",") if part.strip())


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
