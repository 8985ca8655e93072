"""Logger classes that send every record over the network.

``SocketLogger`` (NDJSON over tcp, udp, unix), ``SyslogLogger`` (RFC 5424),
``HttpLogger`` (NDJSON, Loki or ``_bulk`` over http/https), ``OtlpLogger``
(OTLP/HTTP JSON) and ``FluentLogger`` (Fluentd forward). Each is a
:class:`~gunicorn_loggers.loggers.JsonLogger` with a different sink: the access
log and the error log (with the app's records) go through one
:class:`~gunicorn_loggers.delivery.DeliveryEngine` per process, in front of the
logger's :class:`~gunicorn_loggers.transports.Transport`. What stays local:

* delivery reports (connection lost or restored, drops, the totals at exit) go to
  the local error log (``--error-logfile``, stderr by default), never to the
  failing endpoint;
* error-log records are copied to the local error log while the endpoint is not
  taking them (``GUNICORN_LOGGERS_LOCAL_ERRORS``);
* ``--access-logfile``, when given, still receives every access record.
"""

from __future__ import annotations

import dataclasses
import logging
import re
import ssl
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from socket import SOCK_DGRAM
from typing import Any
from urllib.parse import unquote

from gunicorn.glogging import SYSLOG_FACILITIES

from .config import PREFIX, ConfigError, Settings, _boolean, _choice, _seconds, _text, option_environment
from .delivery import LINGER, DeliveryEngine, Endpoint, parse_endpoint
from .formatter import JsonFormatter
from .framing import FrameEncoder
from .framing.ndjson import JsonDatagramEncoder, JsonLineEncoder
from .framing.syslog import FRAMINGS, SyslogEncoder
from .loggers import JsonLogger, close_sinks
from .sinks import Sink
from .sinks.network import LOCAL_COPY_POLICIES, NetworkSink, TeeSink
from .sinks.stream import StreamSink
from .transports import Transport
from .transports.socket import SocketTransport

#: The options of the network loggers, in the order of the options page (docs/options.md).
NETWORK_OPTIONS: dict[str, str] = {
    "URL": "where to send: tcp://HOST:PORT, udp://HOST:PORT, unix:///PATH[#dgram] (SocketLogger, FluentLogger), "
    "http(s)://[USER:PASSWORD@]HOST[:PORT]/PATH (HttpLogger)",
    "BUFFER_RECORDS": "records a network logger keeps per process while the receiver is slow or down",
    "BUFFER_BYTES": "bytes a network logger keeps per process (suffix k, m or g allowed)",
    "LOCAL_ERRORS": "copy error-log records to --error-logfile: down (while undelivered) | always | off",
    "REPORT_INTERVAL": "least seconds between two delivery reports on the local error log",
    "BATCH_WAIT": "seconds a sender lets a batch fill before sending it (0 to 10): the least time between two "
    "sends while batches are not full",
    "MAX_DATAGRAM": "largest UDP or unix datagram in bytes; longer records have their long strings cut",
    "SYSLOG_FRAMING": "SyslogLogger over TCP or a unix stream: octet-counting | lf",
    "SYSLOG_BOM": "start each syslog MSG with a UTF-8 byte order mark: on | off",
}

_SIZE = re.compile(r"^\s*(\d+)\s*([kmg]?)i?b?\s*$", re.IGNORECASE)


@dataclass(frozen=True)
class NetworkSettings:
    """The parsed network options."""

    url: str | None = None
    buffer_records: int = 10_000
    buffer_bytes: int = 8 * 1024 * 1024
    local_errors: str = "down"
    report_interval: float = 5.0
    batch_wait: float = LINGER
    max_datagram: int = 2048
    syslog_framing: str = "octet-counting"
    syslog_bom: bool = False


def _size(env: Mapping[str, str], option: str, default: int, low: int, high: int) -> int:
    raw = env.get(PREFIX + option)
    if raw is None or raw.strip() == "":
        return default
    match = _SIZE.match(raw)
    value = int(match.group(1)) * 1024 ** " kmg".index(match.group(2).lower() or " ") if match else -1
    if not low <= value <= high:
        raise ConfigError(f"{PREFIX}{option}={raw!r} must be a whole number from {low} to {high}")
    return value


#: Bounds of the network options given in seconds but BATCH_WAIT.
_TIMES = (0.1, 86400.0)


def load_network_settings(cfg: Any = None, env: Mapping[str, str] | None = None) -> NetworkSettings:
    """Parse and validate the network options; raise ConfigError naming the bad one."""
    env = option_environment(cfg) if env is None else env
    return NetworkSettings(
        url=_text(env, "URL"),
        buffer_records=_size(env, "BUFFER_RECORDS", 10_000, 1, 10_000_000),
        buffer_bytes=_size(env, "BUFFER_BYTES", 8 * 1024 * 1024, 1024, 16 * 1024**3),
        local_errors=_choice(env, "LOCAL_ERRORS", LOCAL_COPY_POLICIES, "down"),
        report_interval=_seconds(env, "REPORT_INTERVAL", 5.0, *_TIMES),
        batch_wait=_seconds(env, "BATCH_WAIT", LINGER, 0.0, 10.0),
        max_datagram=_size(env, "MAX_DATAGRAM", 2048, 480, 65507),
        syslog_framing=_choice(env, "SYSLOG_FRAMING", FRAMINGS, "octet-counting"),
        syslog_bom=_boolean(env, "SYSLOG_BOM", False),
    )


class NetworkLogger(JsonLogger):
    """What every network logger shares: one engine per set-up, the local copy, the reports."""

    extra_options = NETWORK_OPTIONS

    network: NetworkSettings
    engine: DeliveryEngine

    def __init__(self, cfg: Any) -> None:
        self._making_for: str | None = None
        self._local_error_sink: Sink | None = None
        super().__init__(cfg)

    # -- what subclasses say ------------------------------------------------------------------

    def endpoint(self, cfg: Any, network: NetworkSettings) -> Endpoint:
        raise NotImplementedError

    def transport(self, cfg: Any, network: NetworkSettings) -> Transport:
        """How batches cross the wire; raise ConfigError for a bad option, before anything changes."""
        return SocketTransport(self.endpoint(cfg, network))

    def encoder(self, kind: str) -> FrameEncoder:
        """How a record of ``kind`` (access or error) becomes a frame of this logger's wire format."""
        raise NotImplementedError

    def sends_access_log(self) -> bool:
        return True

    # -- set-up, run again on SIGHUP ----------------------------------------------------------

    _set_up_state = (*JsonLogger._set_up_state, "network", "engine", "_signature", "_local_error_sink")

    def prepare(self, cfg: Any, settings: Any) -> None:
        if settings.renderer == "console":
            raise ConfigError(
                f"{PREFIX}RENDERER=console: {type(self).__name__} sends JSON records to a collector; "
                f"the console renderer is for a terminal (use json or auto)"
            )
        super().prepare(cfg, settings)
        network = load_network_settings(cfg)
        transport = self.transport(cfg, network)  # a bad address fails here, before anything changes
        self._prepared = (network, transport)

    def _install(self, cfg: Any, settings: Any) -> None:
        network, transport = self._prepared
        self.network = network
        self.engine = DeliveryEngine(
            transport,
            max_records=network.buffer_records,
            max_bytes=network.buffer_bytes,
            report=self._report,
            report_interval=network.report_interval,
            flush_timeout=max(0.1, float(cfg.graceful_timeout) - 1.0),
            linger=network.batch_wait,
        )
        self._signature = self._frames_signature(cfg, transport)
        super()._install(cfg, settings)
        access_name = self.access_log.name
        if access_name not in self._sinks and self.sends_access_log():
            sink = NetworkSink(self.engine, "access", self.encoder("access"))
            self._sinks[access_name] = sink
            self._access_sink = sink
            self._access_line = self.access_line_writer(sink)
            self._reattach_handlers()

    def _retire(self, before: dict[str, Any]) -> None:
        """SIGHUP: the new engine takes over the old one's totals (and, if nothing changed, what it holds).

        The master does not wait for the old engine: it may still be finishing a send
        to a stalled collector, and the master handles no signal and reaps no worker
        while a reload runs. The closing of the old sinks then finds it retired.
        """
        previous: DeliveryEngine | None = before.get("engine")
        if previous is not None and previous is not self.engine:
            previous.retire(self.engine, hand_over=before.get("_signature") == self._signature)
        super()._retire(before)
        self._close_local_error_sink(before.get("_local_error_sink"))

    def _roll_back(self, before: dict[str, Any]) -> None:
        failed = self._local_error_sink
        failed_engine: DeliveryEngine | None = vars(self).get("engine")
        failed_signature = vars(self).get("_signature")
        kept: DeliveryEngine | None = before.get("engine")
        if failed_engine is not None and kept is not None and failed_engine is not kept:
            failed_engine.retire(kept, hand_over=failed_signature == before.get("_signature"))
        super()._roll_back(before)
        self._close_local_error_sink(failed)

    def _close_local_error_sink(self, sink: Sink | None) -> None:
        """With ``LOCAL_ERRORS=off`` no network sink holds the local error log, so none closes it."""
        if sink is not None and sink is not self._local_error_sink:
            for exc in close_sinks([sink]):
                self.error("gunicorn-loggers could not close the local error log of another set-up: %s", exc)

    def _frames_signature(self, cfg: Any, transport: Transport) -> tuple:
        """What the frames and their destination depend on: equal before and after a reload, the
        frames the old engine holds are the new one's to send."""
        options = sorted((k, v) for k, v in option_environment(cfg).items() if k.startswith((PREFIX, "OTEL_")))
        body = type(getattr(transport, "format", None))
        syslog = (cfg.syslog_addr, cfg.syslog_prefix, cfg.syslog_facility, cfg.proc_name)
        return (type(self), type(transport), self.engine.name, body, tuple(options), syslog)

    def known_secrets(self) -> Iterable[str]:
        secrets = getattr(self.engine.transport, "secrets", None)
        return list(secrets.values) if secrets is not None else ()

    def _compute_access_log_enabled(self) -> bool:
        return self.sends_access_log() or super()._compute_access_log_enabled()

    def _set_handler(self, log: logging.Logger, output: str | None, fmt: Any, stream: Any = None) -> None:
        self._making_for = log.name
        try:
            super()._set_handler(log, output, fmt, stream)
        finally:
            self._making_for = None

    def make_sink(self, output: str, stream: Any) -> Sink:
        local = super().make_sink(output, stream)
        name = self._making_for or self.error_log.name
        if name == self.access_log.name:
            if not self.sends_access_log():
                return local
            return TeeSink(NetworkSink(self.engine, "access", self.encoder("access")), local)
        self._local_error_sink = local
        return NetworkSink(self.engine, "error", self.encoder("error"), local, self.network.local_errors)

    def _set_syslog_handler(self, log: logging.Logger, cfg: Any, fmt: Any, name: str) -> None:
        """``--log-syslog`` would add gunicorn's unframed text handler: the network sink replaces it."""

    # -- reports on the local error log -------------------------------------------------------

    def _deliver_soon(self) -> None:
        """The records of an aborted worker's requests leave now, not after the batch wait: the SIGKILL comes
        about a second after the SIGABRT. Safe in a signal handler (no lock)."""
        self.engine.retry_now()

    def _report(self, level: int, message: str, stats: dict) -> None:
        record = logging.makeLogRecord(
            {
                "name": "gunicorn_loggers.delivery",
                "levelno": level,
                "levelname": logging.getLevelName(level),
                "msg": message,
                "args": None,
                "delivery": stats,
            }
        )
        line = JsonFormatter(settings=self.settings).format(record).encode("utf-8", "backslashreplace") + b"\n"
        sink = self._local_error_sink or StreamSink(sys.stderr)
        sink.write(line)


class SocketLogger(NetworkLogger):
    """Newline-delimited JSON to ``GUNICORN_LOGGERS_URL`` (Vector, Fluent Bit, Logstash ``json_lines``)."""

    def endpoint(self, cfg: Any, network: NetworkSettings) -> Endpoint:
        if network.url is None:
            raise ConfigError(f"{PREFIX}URL is required by SocketLogger, e.g. {PREFIX}URL=tcp://127.0.0.1:5170")
        try:
            endpoint = parse_endpoint(network.url)
        except ValueError as exc:
            raise ConfigError(f"{PREFIX}URL: {exc}") from None
        if endpoint.socktype is None:  # NDJSON is a stream format: unix:///PATH means a stream socket
            endpoint = Endpoint("unix", path=endpoint.path)
        return endpoint

    def encoder(self, kind: str) -> FrameEncoder:
        if self.engine.endpoint is not None and self.engine.endpoint.socktype == SOCK_DGRAM:
            return JsonDatagramEncoder(self.network.max_datagram)
        return JsonLineEncoder()


class SyslogLogger(NetworkLogger):
    """RFC 5424 messages with the JSON record as MSG, to ``--log-syslog-to``.

    Facility from ``--log-syslog-facility``, APP-NAME from ``--log-syslog-prefix``
    or the proc name, MSGID ``access`` or ``error``; ``--log-syslog`` is not needed.
    ``--disable-redirect-access-to-syslog`` keeps access records out of syslog.
    """

    def endpoint(self, cfg: Any, network: NetworkSettings) -> Endpoint:
        if network.url is not None:
            raise ConfigError(f"{PREFIX}URL is for SocketLogger; SyslogLogger sends to --log-syslog-to")
        try:
            endpoint = parse_endpoint(cfg.syslog_addr, default_port=514)
        except ValueError as exc:
            raise ConfigError(f"--log-syslog-to: {exc}") from None
        if endpoint.socktype is None:  # /dev/log and friends are datagram sockets on Linux
            endpoint = Endpoint("unix", path=endpoint.path, socktype=SOCK_DGRAM)
        facility = (cfg.syslog_facility or "user").lower()
        if facility not in SYSLOG_FACILITIES:
            raise ConfigError(f"--log-syslog-facility {facility!r} is not one of: {', '.join(SYSLOG_FACILITIES)}")
        self._facility = SYSLOG_FACILITIES[facility]
        self._app_name = (cfg.syslog_prefix or cfg.proc_name or "gunicorn").replace(":", ".")
        return endpoint

    def encoder(self, kind: str) -> FrameEncoder:
        if self.engine.endpoint is not None and self.engine.endpoint.socktype == SOCK_DGRAM:
            transport = "datagram"
        else:
            transport = self.network.syslog_framing
        return SyslogEncoder(
            self._facility,
            self._app_name,
            msgid=kind,
            transport=transport,
            max_datagram=self.network.max_datagram,
            bom=self.network.syslog_bom,
        )

    def sends_access_log(self) -> bool:
        return not self.cfg.disable_redirect_access_to_syslog


# -- collectors over HTTP and Fluentd forward ---------------------------------------------------

#: Options of HttpLogger and OtlpLogger beyond NETWORK_OPTIONS.
HTTP_OPTIONS: dict[str, str] = {
    "HTTP_FORMAT": "HttpLogger body: ndjson | loki | bulk",
    "HTTP_HEADERS": "extra request headers, Name=Value,Name=Value; ${VAR} in a value is read from the environment",
    "HTTP_GZIP": "gzip request bodies: on | off",
    "CA_FILE": "PEM file of the certificate authorities trusted for https (instead of the system's)",
    "CONNECT_TIMEOUT": "seconds to connect to the collector (TLS handshake included)",
    "READ_TIMEOUT": "seconds one send may take: the batch and the collector's whole answer (HTTP response, "
    "Fluentd ack)",
    "BULK_INDEX": "HttpLogger bulk: data stream (or index) when the URL is .../_bulk without one",
}
#: Options of FluentLogger beyond NETWORK_OPTIONS.
FLUENT_OPTIONS: dict[str, str] = {
    "FLUENT_TAG": "FluentLogger tag prefix: records are tagged PREFIX.access and PREFIX.error",
    "CONNECT_TIMEOUT": HTTP_OPTIONS["CONNECT_TIMEOUT"],
    "READ_TIMEOUT": HTTP_OPTIONS["READ_TIMEOUT"],
}
HTTP_FORMATS = ("ndjson", "loki", "bulk")
_HEADER_NAME = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")
_VARIABLE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
_TAG = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")


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


def _check_ca_file(ca_file: str | None, option: str) -> str | None:
    """Load ``ca_file`` once to fail at start-up; each process then builds its own context."""
    from .transports._tls import tls_context

    try:
        tls_context(ca_file)
    except (OSError, ssl.SSLError, ValueError) as exc:
        raise ConfigError(f"{option}={ca_file!r}: cannot load the certificates: {exc.__class__.__name__}") from None
    return ca_file


def _http_target(url: str, option: str, secrets: Any) -> Any:
    from .transports.http_target import parse_http_url

    try:
        return parse_http_url(url, secrets)
    except ValueError as exc:
        raise ConfigError(f"{option}: {exc}") from None


class HttpLogger(NetworkLogger):
    """Batches of records POSTed to ``GUNICORN_LOGGERS_URL``: NDJSON, Grafana Loki push or ``_bulk``.

    ``GUNICORN_LOGGERS_HTTP_FORMAT`` picks the body: ``ndjson`` (Vector, Fluent Bit
    and Logstash ``http`` inputs), ``loki`` (``/loki/api/v1/push``) or ``bulk``
    (Elasticsearch / OpenSearch ``_bulk`` with ``create`` actions, for data streams).
    """

    extra_options = {**NETWORK_OPTIONS, **HTTP_OPTIONS}

    def _format(self, cfg: Any, env: Mapping[str, str], target: Any) -> Any:
        from .config import load_settings
        from .transports.http_bodies import BulkFormat, LokiFormat, NdjsonFormat

        self._http_format = _choice(env, "HTTP_FORMAT", HTTP_FORMATS, "ndjson")
        if self._http_format == "loki":
            return LokiFormat(load_settings(cfg, env=env, extra_options=self.extra_options).service_name)
        if self._http_format == "bulk":
            index = _text(env, "BULK_INDEX")
            if index is None and not target.path.rstrip("/").endswith("/_bulk"):
                raise ConfigError(f"{PREFIX}URL for the bulk format ends in /_bulk or /<data stream>/_bulk")
            if index is not None and target.path.rstrip("/") != "/_bulk":
                # Elasticsearch takes the action's _index over the URL's: one of them would be ignored
                raise ConfigError(
                    f"{PREFIX}BULK_INDEX={index!r} names a data stream and so does {PREFIX}URL "
                    f"(.../<data stream>/_bulk): keep one of them"
                )
            if index is None and target.path.rstrip("/") == "/_bulk":
                index = "logs-gunicorn-default"
            return BulkFormat(index)
        return NdjsonFormat()

    def transport(self, cfg: Any, network: NetworkSettings) -> Transport:
        from .transports.http import HttpTransport
        from .transports.http_target import Secrets

        env = option_environment(cfg)
        if network.url is None:
            raise ConfigError(f"{PREFIX}URL is required by HttpLogger, e.g. {PREFIX}URL=http://127.0.0.1:8080/logs")
        secrets = Secrets()
        target = _http_target(network.url, f"{PREFIX}URL", secrets)
        body_format = self._format(cfg, env, target)
        headers = parse_headers(env.get(PREFIX + "HTTP_HEADERS") or "", f"{PREFIX}HTTP_HEADERS", env, secrets)
        ca_file = _text(env, "CA_FILE")
        if target.scheme == "https":
            _check_ca_file(ca_file, f"{PREFIX}CA_FILE")
        return HttpTransport(
            target,
            body_format,
            headers=headers,
            gzip_body=_boolean(env, "HTTP_GZIP", False),
            ca_file=ca_file,
            connect_timeout=_seconds(env, "CONNECT_TIMEOUT", 5.0, *_TIMES),
            read_timeout=_seconds(env, "READ_TIMEOUT", 10.0, *_TIMES),
            secrets=secrets,
        )

    def encoder(self, kind: str) -> FrameEncoder:
        return JsonLineEncoder()  # the body format (NDJSON, Loki, _bulk) assembles the lines


#: Where OTLP/HTTP logs go when no variable says otherwise (the specification's default).
OTLP_DEFAULT_ENDPOINT = "http://localhost:4318/v1/logs"


def _otel(env: Mapping[str, str], name: str) -> str | None:
    """``OTEL_EXPORTER_OTLP_LOGS_<name>``, else ``OTEL_EXPORTER_OTLP_<name>``: the signal-specific one wins."""
    for key in (f"OTEL_EXPORTER_OTLP_LOGS_{name}", f"OTEL_EXPORTER_OTLP_{name}"):
        value = (env.get(key) or "").strip()
        if value:
            return value
    return None


def otlp_endpoint(env: Mapping[str, str]) -> tuple[str, str]:
    """The logs URL and the variable it came from, as the OpenTelemetry specification says."""
    logs = (env.get("OTEL_EXPORTER_OTLP_LOGS_ENDPOINT") or "").strip()
    if logs:
        return logs, "OTEL_EXPORTER_OTLP_LOGS_ENDPOINT"
    base = (env.get("OTEL_EXPORTER_OTLP_ENDPOINT") or "").strip()
    if base:
        return base.rstrip("/") + "/v1/logs", "OTEL_EXPORTER_OTLP_ENDPOINT"
    url = _text(env, "URL")
    if url:
        return url, f"{PREFIX}URL"
    return OTLP_DEFAULT_ENDPOINT, "the default endpoint"


def resource_attributes(env: Mapping[str, str]) -> dict[str, str]:
    """``OTEL_RESOURCE_ATTRIBUTES`` (``key=value,key=value``, values percent-encoded)."""
    attributes: dict[str, str] = {}
    for item in (env.get("OTEL_RESOURCE_ATTRIBUTES") or "").split(","):
        key, sep, value = item.partition("=")
        if sep and key.strip():
            attributes[key.strip()] = unquote(value.strip())
    return attributes


class OtlpLogger(NetworkLogger):
    """OTLP/HTTP with JSON bodies to an OpenTelemetry Collector (or any OTLP logs endpoint).

    Follows the OpenTelemetry exporter variables: ``OTEL_EXPORTER_OTLP_LOGS_ENDPOINT``
    (used as it is), ``OTEL_EXPORTER_OTLP_ENDPOINT`` (``/v1/logs`` appended),
    ``..._HEADERS``, ``..._COMPRESSION``, ``..._CERTIFICATE``, ``..._TIMEOUT``,
    ``OTEL_SERVICE_NAME`` and ``OTEL_RESOURCE_ATTRIBUTES``. Records are always in
    the ``otel`` schema: the wire format is the schema.
    """

    extra_options = {**NETWORK_OPTIONS, **HTTP_OPTIONS}

    def prepare(self, cfg: Any, settings: Any) -> None:
        env = option_environment(cfg)
        chosen = _text(env, "SCHEMA")
        if chosen is not None and chosen.lower() != "otel":
            raise ConfigError(f"{PREFIX}SCHEMA={chosen!r}: OtlpLogger sends the otel schema; leave it unset")
        for option in ("HTTP_FORMAT", "BULK_INDEX"):
            if _text(env, option) is not None:
                raise ConfigError(f"{PREFIX}{option} is for HttpLogger; OtlpLogger always sends OTLP/JSON")
        super().prepare(cfg, settings)

    def check(self, cfg: Any) -> Settings:
        """The settings in the otel schema, before anything (the access line writer, the formatters) is built."""
        return dataclasses.replace(super().check(cfg), schema="otel")

    def transport(self, cfg: Any, network: NetworkSettings) -> Transport:
        from .transports.http import HttpTransport
        from .transports.http_bodies import OtlpFormat
        from .transports.http_target import Secrets

        env = option_environment(cfg)
        url, source = otlp_endpoint(env)
        secrets = Secrets()
        target = _http_target(url, source, secrets)
        headers: dict[str, str] = {}
        for key in ("OTEL_EXPORTER_OTLP_HEADERS", "OTEL_EXPORTER_OTLP_LOGS_HEADERS"):
            headers.update(parse_headers(env.get(key) or "", key, env, secrets, percent_decoded=True))
        headers.update(parse_headers(env.get(PREFIX + "HTTP_HEADERS") or "", f"{PREFIX}HTTP_HEADERS", env, secrets))
        protocol = _otel(env, "PROTOCOL")
        if protocol is not None and protocol not in ("http/json", "http/protobuf"):
            raise ConfigError(f"OTEL_EXPORTER_OTLP_PROTOCOL={protocol!r}: OtlpLogger speaks OTLP/HTTP (http/json)")
        compression = (_otel(env, "COMPRESSION") or "").lower()
        if compression not in ("", "gzip", "none"):
            raise ConfigError(f"OTEL_EXPORTER_OTLP_COMPRESSION={compression!r} is not one of: gzip, none")
        gzip_body = compression == "gzip" or _boolean(env, "HTTP_GZIP", False)
        read_timeout = _seconds(env, "READ_TIMEOUT", 10.0, *_TIMES)
        timeout_ms = _otel(env, "TIMEOUT")
        if timeout_ms is not None and _text(env, "READ_TIMEOUT") is None:
            try:
                read_timeout = max(0.1, float(timeout_ms) / 1000)
            except ValueError:
                raise ConfigError(
                    f"OTEL_EXPORTER_OTLP_TIMEOUT={timeout_ms!r} is not a number of milliseconds"
                ) from None
        ca_file = _text(env, "CA_FILE") or _otel(env, "CERTIFICATE")
        if target.scheme == "https":
            _check_ca_file(ca_file, "the CA file")
        resource = resource_attributes(env)
        named = _text(env, "SERVICE_NAME") or (env.get("OTEL_SERVICE_NAME") or "").strip()
        overrides = {}
        if "service.name" in resource:
            service_name = resource.pop("service.name")
            if not named:
                overrides["service.name"] = service_name
        return HttpTransport(
            target,
            OtlpFormat(resource_defaults=resource, resource_overrides=overrides),
            headers=headers,
            gzip_body=gzip_body,
            ca_file=ca_file,
            connect_timeout=_seconds(env, "CONNECT_TIMEOUT", 5.0, *_TIMES),
            read_timeout=read_timeout,
            secrets=secrets,
        )

    def encoder(self, kind: str) -> FrameEncoder:
        from .framing.otlp import OtlpRecordEncoder

        return OtlpRecordEncoder()


class FluentLogger(NetworkLogger):
    """Fluentd forward protocol (PackedForward with acks) to a Fluentd or Fluent Bit ``forward`` input.

    ``GUNICORN_LOGGERS_URL`` is ``tcp://HOST[:24224]`` or ``unix:///PATH``; access
    records are tagged ``gunicorn.access`` and the error log ``gunicorn.error``
    (``GUNICORN_LOGGERS_FLUENT_TAG`` changes the prefix). A batch counts as
    delivered when the receiver acknowledges its chunk.
    """

    extra_options = {**NETWORK_OPTIONS, **FLUENT_OPTIONS}

    def transport(self, cfg: Any, network: NetworkSettings) -> Transport:
        from .transports.fluent import ForwardTransport

        env = option_environment(cfg)
        if network.url is None:
            raise ConfigError(f"{PREFIX}URL is required by FluentLogger, e.g. {PREFIX}URL=tcp://127.0.0.1:24224")
        try:
            endpoint = parse_endpoint(network.url, default_port=24224, schemes=("tcp", "unix"))
        except ValueError as exc:
            raise ConfigError(f"{PREFIX}URL: {exc}") from None
        if endpoint.scheme == "unix":
            endpoint = Endpoint("unix", path=endpoint.path)  # forward is a stream protocol
        prefix = _text(env, "FLUENT_TAG", "gunicorn")
        if not _TAG.match(prefix):
            raise ConfigError(f"{PREFIX}FLUENT_TAG={prefix!r}: letters, digits and . _ - only, at most 128")
        return ForwardTransport(
            endpoint,
            {"access": f"{prefix}.access", "error": f"{prefix}.error"},
            ack_timeout=_seconds(env, "READ_TIMEOUT", 10.0, *_TIMES),
        )

    def encoder(self, kind: str) -> FrameEncoder:
        from .framing.fluent import FluentEntryEncoder

        return FluentEntryEncoder()


__all__ = [
    "FLUENT_OPTIONS",
    "HTTP_OPTIONS",
    "NETWORK_OPTIONS",
    "FluentLogger",
    "HttpLogger",
    "NetworkLogger",
    "NetworkSettings",
    "OtlpLogger",
    "SocketLogger",
    "SyslogLogger",
]
