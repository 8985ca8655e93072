"""The one table of options: every ``GUNICORN_LOGGERS_*`` variable of every logger.

Each :class:`Option` says how its value is parsed (with its bounds and the one-line
error a user sees), its default, which loggers take it and its help text. Settings
(``config.load_settings``, ``network_loggers.load_network_settings``) and the network
loggers' transports read values through :func:`option_value`; ``docs/gen_options.py``
writes the tables of ``docs/options.md`` from :data:`OPTIONS`.

An option the table knows but the running logger does not take is *ignored*: one
environment is often shared by services running different loggers, so it must not
stop any of them. The logger says so once, in a warning record (:func:`ignored_warning`).
A name the table does not know is a typo and stops gunicorn at start, with a
"did you mean" (:func:`ignored_options`).
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from .access_rules import parse_levels, parse_skip_patterns
from .errors import PREFIX, ConfigError

#: The logger classes of gunicorn-loggers, by the name users give ``--logger-class``.
EVERY_LOGGER = (
    "JsonLogger",
    "StructlogLogger",
    "SocketLogger",
    "SyslogLogger",
    "HttpLogger",
    "OtlpLogger",
    "FluentLogger",
)
NETWORK_LOGGERS = ("SocketLogger", "SyslogLogger", "HttpLogger", "OtlpLogger", "FluentLogger")

#: Values and defaults the network path reads from here, so that this table imports none of it.
#: When the error log keeps a local copy: while the endpoint is not delivering, always, or never.
LOCAL_COPY_POLICIES = ("down", "always", "off")
#: Syslog framings over a stream.
FRAMINGS = ("octet-counting", "lf")
#: Seconds a sender lets a batch fill (the delivery engine's ``LINGER``; why 100 ms: docs/delivery.md).
BATCH_WAIT = 0.1
#: Base classes a logger of your own may derive from, and whose options it then takes.
_BASES = {"NetworkLogger": NETWORK_LOGGERS}

SCHEMAS = ("ecs", "otel", "gcp", "flat")
RENDERERS = ("auto", "json", "console")
HTTP_FORMATS = ("ndjson", "loki", "bulk")
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
#: The data stream of the bulk format when neither the URL nor BULK_INDEX names one.
DEFAULT_BULK_INDEX = "logs-gunicorn-default"


# -- parsers ---------------------------------------------------------------------------------------------


class Parser(Protocol):
    """What an option's parser provides. Numeric ones also have ``bounds``; a parser whose
    ``blank_is_unset`` is false reads a blank value (an empty list) instead of taking the default."""

    def __call__(self, raw: str, variable: str) -> Any:
        """The value of ``raw``, set for ``variable``; ConfigError, one line naming it, when bad."""

    def describe(self) -> str:
        """The values taken, as markdown for the docs."""

    def show(self, value: Any) -> str:
        """``value`` as a user writes it, as markdown; ``""`` for none."""


@dataclass(frozen=True)
class Text:
    """Any text, stripped; with ``pattern``, only text matching it (``rule`` says what matches)."""

    pattern: str | None = None
    rule: str = ""

    def __call__(self, raw: str, variable: str) -> str:
        value = raw.strip()
        if self.pattern is not None and not re.fullmatch(self.pattern, value):
            raise ConfigError(f"{variable}={value!r}: {self.rule}")
        return value

    def describe(self) -> str:
        return self.rule or "text"

    def show(self, value: Any) -> str:
        return f"`{value}`"


@dataclass(frozen=True)
class Choice:
    """One word of ``choices``, any case."""

    choices: tuple[str, ...]

    def __call__(self, raw: str, variable: str) -> str:
        value = raw.strip().lower()
        if value not in self.choices:
            raise ConfigError(f"{variable}={raw!r} is not one of: {', '.join(self.choices)}")
        return value

    def describe(self) -> str:
        words = [f"`{choice}`" for choice in self.choices]
        return f"{', '.join(words[:-1])} or {words[-1]}"

    def show(self, value: Any) -> str:
        return f"`{value}`"


_BOOLEANS = {"1": True, "true": True, "yes": True, "on": True, "0": False, "false": False, "no": False, "off": False}


@dataclass(frozen=True)
class Boolean:
    """``on``/``off`` and their usual spellings."""

    def __call__(self, raw: str, variable: str) -> bool:
        try:
            return _BOOLEANS[raw.strip().lower()]
        except KeyError:
            raise ConfigError(f"{variable}={raw!r} is not one of: on, off") from None

    def describe(self) -> str:
        return "`on` or `off`"

    def show(self, value: Any) -> str:
        return "`on`" if value else "`off`"


@dataclass(frozen=True)
class Seconds:
    """A number of seconds from ``low`` to ``high``; it may end in ``s``."""

    low: float
    high: float

    @property
    def bounds(self) -> tuple[float, float]:
        return (self.low, self.high)

    def __call__(self, raw: str, variable: str) -> float:
        try:
            value = float(raw.strip().removesuffix("s"))
        except ValueError:
            value = float("nan")
        if not self.low <= value <= self.high:
            raise ConfigError(f"{variable}={raw!r} is not a number of seconds from {self.low:g} to {self.high:g}")
        return value

    def describe(self) -> str:
        return f"seconds, {_decimal(self.low)} to {_decimal(self.high)}"

    def show(self, value: Any) -> str:
        return f"`{value:g}`"


def _decimal(number: float) -> str:
    return f"{number:.6f}".rstrip("0").rstrip(".")


_SIZE = re.compile(r"^\s*(\d+)\s*([kmg]?)i?b?\s*$", re.IGNORECASE)


@dataclass(frozen=True)
class Count:
    """A whole number from ``low`` to ``high``; ``k``, ``m`` or ``g`` multiply by 1024, 1024² or 1024³."""

    low: int
    high: int
    #: Shown with the largest suffix that divides it (``8m``): a number of bytes.
    in_bytes: bool = False

    @property
    def bounds(self) -> tuple[int, int]:
        return (self.low, self.high)

    def __call__(self, raw: str, variable: str) -> int:
        match = _SIZE.match(raw)
        value = int(match.group(1)) * 1024 ** " kmg".index(match.group(2).lower() or " ") if match else -1
        if not self.low <= value <= self.high:
            raise ConfigError(f"{variable}={raw!r} must be a whole number from {self.low} to {self.high}")
        return value

    def describe(self) -> str:
        if self.in_bytes:
            return f"bytes, {self._text(self.low)} to {self._text(self.high)} (suffix `k`, `m` or `g`)"
        return f"{self.low} to {self.high}"

    def show(self, value: Any) -> str:
        return f"`{self._text(value)}`"

    def _text(self, value: int) -> str:
        for power, suffix in ((3, "g"), (2, "m"), (1, "k")):
            if self.in_bytes and value % 1024**power == 0:
                return f"{value // 1024**power}{suffix}"
        return str(value)


@dataclass(frozen=True)
class Fraction:
    """A number from 0 to 1."""

    @property
    def bounds(self) -> tuple[float, float]:
        return (0.0, 1.0)

    def __call__(self, raw: str, variable: str) -> float:
        try:
            value = float(raw.strip())
        except ValueError:
            value = float("nan")
        if not 0.0 <= value <= 1.0:
            raise ConfigError(f"{variable}={raw!r} is not a fraction from 0 to 1 (0.05 keeps one record in 20)")
        return value

    def describe(self) -> str:
        return "0 to 1"

    def show(self, value: Any) -> str:
        return f"`{value:g}`"


_NAME_CHARS = frozenset(chr(c) for c in range(33, 127)) - frozenset(' "(),/:;<=>?@[\\]{}')


@dataclass(frozen=True)
class Names:
    """Comma-separated header (or query parameter) names, lowercased.

    With ``builtin``, the word ``default`` stands for it; with ``one``, exactly one name
    (returned as a string). An empty value is an empty list, not the default.
    """

    builtin: tuple[str, ...] | None = None
    one: bool = False

    blank_is_unset = False

    def __call__(self, raw: str, variable: str) -> Any:
        names: list[str] = []
        for name in (part.strip().lower() for part in raw.split(",") if part.strip()):
            if not set(name) <= _NAME_CHARS:
                raise ConfigError(f"{variable}: {name!r} is not a valid name (letters, digits and -_. only)")
            names.extend(self.builtin if self.builtin is not None and name == "default" else (name,))
        if self.one:
            if len(names) != 1:
                raise ConfigError(f"{variable} must name exactly one header")
            return names[0]
        return tuple(dict.fromkeys(names))

    def describe(self) -> str:
        return "one name" if self.one else "comma-separated names"

    def show(self, value: Any) -> str:
        if not value:
            return ""
        return f"`{value}`" if isinstance(value, str) else f"`{','.join(value)}`"


@dataclass(frozen=True)
class DottedPaths:
    """Comma-separated dotted paths of Python objects (``pkg.module.name``)."""

    def __call__(self, raw: str, variable: str) -> tuple[str, ...]:
        paths = tuple(part.strip() for part in raw.split(",") if part.strip())
        for path in paths:
            module, _, name = path.replace(":", ".").rpartition(".")
            if not module or not all(part.isidentifier() for part in (*module.split("."), name)):
                raise ConfigError(f"{variable}: {path!r} is not a dotted path such as mypackage.module.name")
        return paths

    def describe(self) -> str:
        return "comma-separated dotted paths"

    def show(self, value: Any) -> str:
        return f"`{','.join(value)}`" if value else ""


@dataclass(frozen=True)
class Fields:
    """Comma-separated field paths as a record names them (case kept), or ``all``: ``None``."""

    def __call__(self, raw: str, variable: str) -> tuple[str, ...] | None:
        if raw.strip().lower() == "all":
            return None
        return tuple(part.strip() for part in raw.split(",") if part.strip())

    def describe(self) -> str:
        return "comma-separated field names, or `all`"

    def show(self, value: Any) -> str:
        return "`all`" if value is None else (f"`{','.join(value)}`" if value else "")


@dataclass(frozen=True)
class Custom:
    """A parser written beside the code that uses its value (the access-log policy's patterns)."""

    parse: Callable[[str, str], Any]
    values: str

    def __call__(self, raw: str, variable: str) -> Any:
        return self.parse(raw, variable)

    def describe(self) -> str:
        return self.values

    def show(self, value: Any) -> str:
        return ""


# -- the table -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Option:
    """One ``GUNICORN_LOGGERS_*`` variable.

    ``help`` is markdown for docs/options.md; ``default_doc`` replaces the shown
    default where the value alone would mislead (a default found elsewhere).
    """

    name: str
    parse: Parser
    default: Any
    loggers: tuple[str, ...]
    help: str
    default_doc: str | None = None

    @property
    def variable(self) -> str:
        return PREFIX + self.name

    @property
    def bounds(self) -> tuple[float, float] | None:
        """The least and greatest value of a numeric option."""
        return getattr(self.parse, "bounds", None)

    def read(self, env: Mapping[str, str]) -> Any:
        """The value in ``env``, parsed; the default when unset (or blank, for most)."""
        raw = env.get(self.variable)
        if raw is None or (not raw.strip() and getattr(self.parse, "blank_is_unset", True)):
            return self.default
        return self.parse(raw, self.variable)


def _loggers(*names: str) -> tuple[str, ...]:
    return tuple(name for name in EVERY_LOGGER if name in names)


_HTTP = _loggers("HttpLogger", "OtlpLogger")
_TIMES = Seconds(0.1, 86400.0)

#: Every option, in the order of docs/options.md: name (without the prefix) -> Option.
OPTIONS: dict[str, Option] = {
    option.name: option
    for option in (
        Option("SCHEMA", Choice(SCHEMAS), "ecs", EVERY_LOGGER,
               "field names of every record ([Schemas](schemas.md)); `OtlpLogger` takes only `otel`"),
        Option("SERVICE_NAME", Text(), None, EVERY_LOGGER,
               "service name in every record (`service.name` / `serviceContext.service`)",
               default_doc="`OTEL_SERVICE_NAME`, else gunicorn's proc name"),
        Option("SERVICE_VERSION", Text(), None, EVERY_LOGGER, "service version in every record (`service.version`)"),
        Option("SERVICE_ENVIRONMENT", Text(), None, EVERY_LOGGER,
               "deployment environment in every record (`service.environment` / `deployment.environment.name`)"),
        Option("REQUEST_ID_HEADER", Names(one=True), "x-request-id", EVERY_LOGGER,
               "request header that carries the request id (printable ASCII, no spaces, cut to 200 characters)"),
        Option("REQUEST_HEADERS", Names(), (), EVERY_LOGGER,
               "request headers to log (redacted ones show `REDACTED`)"),
        Option("RESPONSE_HEADERS", Names(), (), EVERY_LOGGER, "response headers to log"),
        Option("REDACT_HEADERS", Names(builtin=DEFAULT_REDACT_HEADERS), DEFAULT_REDACT_HEADERS, EVERY_LOGGER,
               "headers whose values are never logged in clear; the list adds to the default four, which are "
               "always redacted (`default` stands for them)"),
        Option("REDACT_QUERY", Names(builtin=DEFAULT_REDACT_QUERY), DEFAULT_REDACT_QUERY, EVERY_LOGGER,
               "query parameters whose values become `REDACTED` in every URL field; the list replaces the default, "
               "`default,session` adds one"),
        Option("GCP_PROJECT", Text(), None, EVERY_LOGGER,
               "Google Cloud project for `logging.googleapis.com/trace` (`projects/P/traces/ID`); without it "
               "the bare trace id", default_doc="`GOOGLE_CLOUD_PROJECT`"),
        Option("APP_LOGS", Boolean(), True, EVERY_LOGGER,
               "send the application's own logging records to the error log; `off`: the root logger gets no "
               "handler ([the app's logs](getting-started.md#the-apps-own-logs))"),
        Option("ACCESS_FLUSH_INTERVAL", Seconds(0.0, 60.0), 0.0, EVERY_LOGGER,
               "seconds access records may wait in memory before a background thread writes them; `0` writes "
               "each record at once ([buffered access log](sinks/files.md#a-buffered-access-log))"),
        Option("ACCESS_SKIP", Custom(parse_skip_patterns, "comma-separated paths and `ua:` user agents"), None,
               EVERY_LOGGER,
               "paths (`/healthz`, prefix `/static/*`) and user agents (`ua:kube-probe/*`, `ua:GoogleHC/1.0`) "
               "whose access records are not written when the status is below 400; counted "
               "([access-log policy](access-log-policy.md))"),
        Option("ACCESS_SAMPLE", Fraction(), 1.0, EVERY_LOGGER,
               "fraction of the ordinary access records written, decided from the trace id; errors, slow and "
               "traced requests are always written ([access-log policy](access-log-policy.md#sample))"),
        Option("ACCESS_SLOW", Seconds(0.000001, 86400.0), None, EVERY_LOGGER,
               "seconds from which a request is slow: always written when sampling, and `warning` unless "
               "`ACCESS_LEVELS` says otherwise"),
        Option("ACCESS_KEEP_4XX", Boolean(), True, EVERY_LOGGER,
               "always write 4xx access records when sampling; `off`: they are sampled like the others"),
        Option("ACCESS_LEVELS", Custom(parse_levels, "comma-separated `CLASS=LEVEL`"), (), EVERY_LOGGER,
               "level of access records by status class (`1xx` … `5xx`) and `slow`: `debug`, `info`, `warning` "
               "or `error`, e.g. `4xx=warning,slow=warning`; classes not named are `info` (5xx `error`)",
               default_doc="`5xx=error`"),
        Option("PROCESSORS", DottedPaths(), (), EVERY_LOGGER,
               "structlog processors run on every record, by every logger; a class is instantiated without arguments "
               "([StructlogLogger](request-context.md#structloglogger-one-stream-for-gunicorn-structlog-and-logging))"),
        Option("RENDERER", Choice(RENDERERS), "auto", EVERY_LOGGER,
               "how records are rendered: `auto` is the console renderer when the stream is a terminal, else JSON; "
               "the network loggers refuse `console`"),
        Option("CONSOLE_FIELDS", Fields(), (), EVERY_LOGGER,
               "console renderer: fields added to the concise line of [`gunicorn-loggers pretty`](cli.md) "
               "(time, level, message, status, duration, request id), e.g. `url.path,client.ip`; `all` for "
               "every field of the record"),
        Option("URL", Text(), None, _loggers("SocketLogger", "HttpLogger", "OtlpLogger", "FluentLogger"),
               "where to send. `SocketLogger`: `tcp://HOST:PORT`, `udp://HOST:PORT`, `unix:///PATH` (stream) or "
               "`unix:///PATH#dgram`; `HttpLogger`: `http(s)://[USER:PASSWORD@]HOST[:PORT]/PATH`; `FluentLogger`: "
               "`tcp://HOST[:24224]` or `unix:///PATH`; `OtlpLogger`: used as it is when no "
               "`OTEL_EXPORTER_OTLP_*ENDPOINT` is set. `SyslogLogger` sends to `--log-syslog-to`",
               default_doc="required (`OtlpLogger`: [its default](#opentelemetry-variables))"),
        Option("BUFFER_RECORDS", Count(1, 10_000_000), 10_000, NETWORK_LOGGERS,
               "records kept per process while the receiver is slow or down"),
        Option("BUFFER_BYTES", Count(1024, 16 * 1024**3, in_bytes=True), 8 * 1024**2, NETWORK_LOGGERS,
               "bytes kept per process while the receiver is slow or down"),
        Option("LOCAL_ERRORS", Choice(LOCAL_COPY_POLICIES), "down", NETWORK_LOGGERS,
               "copy error-log records to `--error-logfile`: `down` while undelivered, `always`, or `off`"),
        Option("REPORT_INTERVAL", _TIMES, 5.0, NETWORK_LOGGERS,
               "least seconds between two delivery reports on the local error log"),
        Option("BATCH_WAIT", Seconds(0.0, 10.0), BATCH_WAIT, NETWORK_LOGGERS,
               "seconds a sender lets a batch fill before sending it: the least time between two sends while "
               "batches are not full ([why 100 ms](delivery.md#what-we-promise))"),
        Option("MAX_DATAGRAM", Count(480, 65507), 2048, _loggers("SocketLogger", "SyslogLogger"),
               "largest UDP or unix datagram in bytes; longer records have their long strings cut (ending in "
               "`...[truncated]`) and stay valid JSON"),
        Option("SYSLOG_FRAMING", Choice(FRAMINGS), "octet-counting", _loggers("SyslogLogger"),
               "framing over TCP or a unix stream"),
        Option("SYSLOG_BOM", Boolean(), False, _loggers("SyslogLogger"),
               "start each MSG with a UTF-8 byte order mark (rsyslog's JSON parser then fails; leave off)"),
        Option("HTTP_FORMAT", Choice(HTTP_FORMATS), "ndjson", _loggers("HttpLogger"),
               "request body: NDJSON, Grafana Loki push, or Elasticsearch `_bulk`"),
        Option("HTTP_HEADERS", Text(), None, _HTTP,
               "extra request headers, `Name=Value,Name=Value` (a value cannot hold a comma); `${VAR}` in a value "
               "is read from the environment ([credentials](delivery.md#credentials))"),
        Option("HTTP_GZIP", Boolean(), False, _HTTP,
               "gzip request bodies (`Content-Encoding: gzip`); the `loki` and `elasticsearch` conf files set it"),
        Option("CA_FILE", Text(), None, _HTTP, "PEM file of the certificate authorities trusted for `https`",
               default_doc="the system's"),
        Option("CONNECT_TIMEOUT", _TIMES, 5.0, _HTTP, "seconds to connect to the collector, TLS handshake included"),
        Option("READ_TIMEOUT", _TIMES, 10.0, _loggers("HttpLogger", "OtlpLogger", "FluentLogger"),
               "seconds one send may take: the batch, then the collector's whole answer (HTTP status line, "
               "headers and body, or the Fluentd ack); a collector that trickles its answer cannot stretch it"),
        Option("BULK_INDEX", Text(), None, _loggers("HttpLogger"),
               "`bulk` format: the data stream when the URL is `.../_bulk` without one; naming one in both is an error",
               default_doc=f"`{DEFAULT_BULK_INDEX}`"),
        Option("FLUENT_TAG", Text(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}", "letters, digits and . _ - only, at most 128"),
               "gunicorn", _loggers("FluentLogger"),
               "tag prefix: records are tagged `PREFIX.access` and `PREFIX.error`"),
    )
}  # fmt: skip


# -- which logger takes what -----------------------------------------------------------------------------


def default_of(name: str) -> Any:
    """The default of option ``name``: the settings' dataclasses take theirs from here."""
    return OPTIONS[name].default


def loggers_of(logger_class: type) -> tuple[str, ...]:
    """The table's logger names whose options ``logger_class`` takes: those of its nearest class of ours.

    A subclass of ``HttpLogger`` takes ``HttpLogger``'s options; one of ``NetworkLogger``
    those of every network logger.
    """
    for cls in logger_class.__mro__:
        if cls.__module__.partition(".")[0] == "gunicorn_loggers":
            if cls.__name__ in EVERY_LOGGER:
                return (cls.__name__,)
            if cls.__name__ in _BASES:
                return _BASES[cls.__name__]
    return EVERY_LOGGER


def takes(logger_class: type | None, name: str) -> bool:
    """Whether ``logger_class`` reads option ``name``: the table says so, or its ``extra_options`` do.

    ``None`` (no logger: a formatter built by ``logconfig_dict`` alone) takes every option.
    """
    if logger_class is None or name in getattr(logger_class, "extra_options", {}):
        return True
    option = OPTIONS.get(name)
    return option is not None and not set(option.loggers).isdisjoint(loggers_of(logger_class))


def option_value(env: Mapping[str, str], name: str, logger_class: type | None = None) -> Any:
    """Option ``name`` in ``env``, parsed with its bounds; its default when unset or ``logger_class`` ignores it."""
    option = OPTIONS[name]
    return option.read(env) if takes(logger_class, name) else option.default


def given(env: Mapping[str, str], name: str) -> str | None:
    """The text set for option ``name``, stripped; ``None`` when unset or blank."""
    return (env.get(PREFIX + name) or "").strip() or None


def ignored_options(
    env: Mapping[str, str], logger_class: type | None = None, extra_options: Iterable[str] = ()
) -> tuple[str, ...]:
    """The options set in ``env`` that ``logger_class`` does not take, in the table's order.

    A ``GUNICORN_LOGGERS_*`` name that is no option at all (nor in ``extra_options``, nor in
    the class's) is a typo: ConfigError, with the closest name.
    """
    extra = {*extra_options, *getattr(logger_class, "extra_options", {})}
    known = list(dict.fromkeys([*OPTIONS, *extra]))
    set_names = set()
    for key in env:
        if not key.startswith(PREFIX):
            continue
        name = key[len(PREFIX) :]
        if name not in known:
            close = difflib.get_close_matches(name, known, n=1)
            own = [option for option in known if option in extra or takes(logger_class, option)]
            hint = f"; did you mean {PREFIX}{close[0]}?" if close else f"; known options: {', '.join(own)}"
            raise ConfigError(f"{key} is not an option of gunicorn-loggers{hint}")
        set_names.add(name)
    return tuple(name for name in OPTIONS if name in set_names and name not in extra and not takes(logger_class, name))


def _listed(names: Iterable[str]) -> str:
    names = list(names)
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"


def ignored_warning(names: Iterable[str], logger_name: str) -> str | None:
    """The one line a logger writes about the options it ignores; ``None`` when there are none.

    ``GUNICORN_LOGGERS_URL is ignored by JsonLogger: it is an option of SocketLogger, ...``
    """
    parts = [
        f"{PREFIX}{name} is ignored by {logger_name}: it is an option of {_listed(OPTIONS[name].loggers)}"
        for name in names
    ]
    return "; ".join(parts) or None


__all__ = [
    "EVERY_LOGGER",
    "NETWORK_LOGGERS",
    "OPTIONS",
    "PREFIX",
    "ConfigError",
    "Option",
    "default_of",
    "given",
    "ignored_options",
    "ignored_warning",
    "loggers_of",
    "option_value",
    "takes",
]
