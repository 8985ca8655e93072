"""Logger classes that send every record over the network: ``SocketLogger`` and ``SyslogLogger``.

Both are :class:`~gunicorn_loggers.loggers.JsonLogger` with a different sink: the
access log and the error log (with the app's records) go through one
:class:`~gunicorn_loggers.delivery.DeliveryEngine` per process. What stays local:

* delivery reports (connection lost or restored, drops, the totals at exit) go to
  the local error log (``--error-logfile``, stderr by default), never to the
  failing endpoint;
* error-log records are copied to the local error log while the endpoint is not
  taking them (``GUNICORN_LOGGERS_LOCAL_ERRORS``);
* ``--access-logfile``, when given, still receives every access record.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from socket import SOCK_DGRAM
from typing import Any

from gunicorn.glogging import SYSLOG_FACILITIES

from .config import PREFIX, ConfigError, _boolean, _choice, _text, option_environment
from .delivery import DeliveryEngine, Endpoint, parse_endpoint
from .formatter import JsonFormatter
from .loggers import JsonLogger
from .sinks import Sink
from .sinks.socket import LOCAL_COPY_POLICIES, NdjsonDatagramFramer, NdjsonStreamFramer, NetworkSink, TeeSink
from .sinks.stream import StreamSink
from .sinks.syslog import FRAMINGS, SyslogFramer

#: The options of the network loggers, in README order.
NETWORK_OPTIONS: dict[str, str] = {
    "URL": "where SocketLogger sends NDJSON: tcp://HOST:PORT, udp://HOST:PORT, unix:///PATH[#dgram]",
    "BUFFER_RECORDS": "records a network logger keeps per process while the receiver is slow or down",
    "BUFFER_BYTES": "bytes a network logger keeps per process (suffix k, m or g allowed)",
    "LOCAL_ERRORS": "copy error-log records to --error-logfile: down (while undelivered) | always | off",
    "REPORT_INTERVAL": "least seconds between two delivery reports on the local error log",
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


def _seconds(env: Mapping[str, str], option: str, default: float) -> float:
    raw = env.get(PREFIX + option)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not 0.1 <= value <= 86400:
        raise ConfigError(f"{PREFIX}{option}={raw!r} must be a number of seconds from 0.1 to 86400")
    return value


def load_network_settings(cfg: Any = None, env: Mapping[str, str] | None = None) -> NetworkSettings:
    """Parse and validate the network options; raise ConfigError naming the bad one."""
    env = option_environment(cfg) if env is None else env
    return NetworkSettings(
        url=_text(env, "URL"),
        buffer_records=_size(env, "BUFFER_RECORDS", 10_000, 1, 10_000_000),
        buffer_bytes=_size(env, "BUFFER_BYTES", 8 * 1024 * 1024, 1024, 16 * 1024**3),
        local_errors=_choice(env, "LOCAL_ERRORS", LOCAL_COPY_POLICIES, "down"),
        report_interval=_seconds(env, "REPORT_INTERVAL", 5.0),
        max_datagram=_size(env, "MAX_DATAGRAM", 2048, 480, 65507),
        syslog_framing=_choice(env, "SYSLOG_FRAMING", FRAMINGS, "octet-counting"),
        syslog_bom=_boolean(env, "SYSLOG_BOM", False),
    )


class NetworkLogger(JsonLogger):
    """What both network loggers share: one engine per set-up, the local copy, the reports."""

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

    def framer(self, log_name: str) -> Any:
        raise NotImplementedError

    def sends_access_log(self) -> bool:
        return True

    # -- set-up, run again on SIGHUP ----------------------------------------------------------

    def setup(self, cfg: Any) -> None:
        network = load_network_settings(cfg)
        endpoint = self.endpoint(cfg, network)  # a bad address fails here, before anything changes
        self.network = network
        self.engine = DeliveryEngine(
            endpoint,
            max_records=network.buffer_records,
            max_bytes=network.buffer_bytes,
            report=self._report,
            report_interval=network.report_interval,
            flush_timeout=max(0.1, float(cfg.graceful_timeout) - 1.0),
        )
        super().setup(cfg)
        access_name = self.access_log.name
        if access_name not in self._sinks and self.sends_access_log():
            sink = NetworkSink(self.engine, self.framer(access_name))
            self._sinks[access_name] = sink
            self._access_sink = sink
            self._reattach_handlers()

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
            return TeeSink(NetworkSink(self.engine, self.framer(name)), local)
        self._local_error_sink = local
        return NetworkSink(self.engine, self.framer(name), local, self.network.local_errors)

    def _set_syslog_handler(self, log: logging.Logger, cfg: Any, fmt: Any, name: str) -> None:
        """``--log-syslog`` would add gunicorn's unframed text handler: the network sink replaces it."""

    # -- reports on the local error log -------------------------------------------------------

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

    def framer(self, log_name: str) -> Any:
        if self.engine.endpoint is not None and self.engine.endpoint.socktype == SOCK_DGRAM:
            return NdjsonDatagramFramer(self.network.max_datagram)
        return NdjsonStreamFramer()


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

    def framer(self, log_name: str) -> Any:
        if self.engine.endpoint is not None and self.engine.endpoint.socktype == SOCK_DGRAM:
            transport = "datagram"
        else:
            transport = self.network.syslog_framing
        return SyslogFramer(
            self._facility,
            self._app_name,
            msgid="access" if log_name == self.access_log.name else "error",
            transport=transport,
            max_datagram=self.network.max_datagram,
            bom=self.network.syslog_bom,
        )

    def sends_access_log(self) -> bool:
        return not self.cfg.disable_redirect_access_to_syslog


__all__ = ["NETWORK_OPTIONS", "NetworkLogger", "NetworkSettings", "SocketLogger", "SyslogLogger"]
