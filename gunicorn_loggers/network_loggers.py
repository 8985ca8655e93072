"""Logger classes that send every record over the network.

``SocketLogger`` (NDJSON over tcp, udp, unix), ``SyslogLogger`` (RFC 5424),
``HttpLogger`` (NDJSON, Loki or ``_bulk`` over http/https), ``OtlpLogger``
(OTLP/HTTP JSON) and ``FluentLogger`` (Fluentd forward). Each is a
:class:`NetworkLogger` naming its :mod:`~gunicorn_loggers.destinations` (the
transport and the frame encoder of its collector): the access log and the error
log (with the app's records) go through one
:class:`~gunicorn_loggers.delivery.DeliveryEngine` per process, in front of that
transport. What stays local:

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
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from .config import Settings, option_environment
from .delivery import DeliveryEngine
from .delivery.network_sink import NetworkSink, TeeSink
from .destinations import Destination
from .destinations.fluent import FluentDestination
from .destinations.http import HttpDestination
from .destinations.otlp import OtlpDestination
from .destinations.socket import SocketDestination
from .destinations.syslog import SyslogDestination
from .formatter import JsonFormatter
from .framing import FrameEncoder
from .loggers import JsonLogger, close_sinks
from .options import PREFIX, ConfigError, default_of, option_value
from .sinks import Sink
from .sinks.stream import StreamSink
from .transports import Transport


@dataclass(frozen=True)
class NetworkSettings:
    """The parsed network options every network logger's delivery reads; each field is the option of its name."""

    url: str | None = default_of("URL")
    buffer_records: int = default_of("BUFFER_RECORDS")
    buffer_bytes: int = default_of("BUFFER_BYTES")
    local_errors: str = default_of("LOCAL_ERRORS")
    report_interval: float = default_of("REPORT_INTERVAL")
    batch_wait: float = default_of("BATCH_WAIT")
    max_datagram: int = default_of("MAX_DATAGRAM")
    syslog_framing: str = default_of("SYSLOG_FRAMING")
    syslog_bom: bool = default_of("SYSLOG_BOM")


def load_network_settings(
    cfg: Any = None, env: Mapping[str, str] | None = None, logger: type | None = None
) -> NetworkSettings:
    """Parse and validate the network options ``logger`` takes (every one without it); raise ConfigError naming
    the bad one. An option of another logger keeps its default."""
    env = option_environment(cfg) if env is None else env
    values = {f.name: option_value(env, f.name.upper(), logger) for f in dataclasses.fields(NetworkSettings)}
    return NetworkSettings(**values)


class NetworkLogger(JsonLogger):
    """What every network logger shares: one engine per set-up, the local copy, the reports."""

    network: NetworkSettings
    engine: DeliveryEngine
    #: Where records go: the class of a :class:`~gunicorn_loggers.destinations.Destination`.
    destination: type[Destination]

    def __init__(self, cfg: Any) -> None:
        self._making_for: str | None = None
        self._local_error_sink: Sink | None = None
        super().__init__(cfg)

    # -- what subclasses say ------------------------------------------------------------------

    def transport(self, cfg: Any, network: NetworkSettings) -> Transport:
        """How batches cross the wire; raise ConfigError for a bad option, before anything changes.

        The destination's, unless a subclass says otherwise."""
        return self._prepared_destination.transport()

    def encoder(self, kind: str) -> FrameEncoder:
        """How a record of ``kind`` (access or error) becomes a frame of this logger's wire format."""
        return self._destination.encoder(kind)

    def sends_access_log(self) -> bool:
        return self._destination.sends_access_log()

    # -- set-up, run again on SIGHUP ----------------------------------------------------------

    _set_up_state = (
        *JsonLogger._set_up_state,
        "network",
        "engine",
        "_signature",
        "_local_error_sink",
        "_destination",
    )

    def check(self, cfg: Any) -> Settings:
        """The settings, in the schema the destination's wire format is made of if it has one (OTLP: otel),
        before anything (the access line writer, the formatters) is built."""
        settings = super().check(cfg)
        schema = self.destination.schema
        return settings if schema is None else dataclasses.replace(settings, schema=schema)

    def prepare(self, cfg: Any, settings: Any) -> None:
        if settings.renderer == "console":
            raise ConfigError(
                f"{PREFIX}RENDERER=console: {type(self).__name__} sends JSON records to a collector; "
                f"the console renderer is for a terminal (use json or auto)"
            )
        env = option_environment(cfg)
        network = load_network_settings(env=env, logger=type(self))
        # a bad address fails here, before anything changes
        self._prepared_destination = self.destination(cfg, settings, env, network, type(self))
        super().prepare(cfg, settings)
        transport = self.transport(cfg, network)
        self._prepared = (network, transport)

    def _install(self, cfg: Any, settings: Any) -> None:
        network, transport = self._prepared
        self.network = network
        self._destination = self._prepared_destination
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

    destination = SocketDestination


class SyslogLogger(NetworkLogger):
    """RFC 5424 messages with the JSON record as MSG, to ``--log-syslog-to``.

    Facility from ``--log-syslog-facility``, APP-NAME from ``--log-syslog-prefix``
    or the proc name, MSGID ``access`` or ``error``; ``--log-syslog`` is not needed.
    ``--disable-redirect-access-to-syslog`` keeps access records out of syslog.
    """

    destination = SyslogDestination


class HttpLogger(NetworkLogger):
    """Batches of records POSTed to ``GUNICORN_LOGGERS_URL``: NDJSON, Grafana Loki push or ``_bulk``
    (``GUNICORN_LOGGERS_HTTP_FORMAT``)."""

    destination = HttpDestination


class OtlpLogger(NetworkLogger):
    """OTLP/HTTP with JSON bodies to an OpenTelemetry Collector, configured by the ``OTEL_EXPORTER_OTLP_*``
    variables; records are always in the ``otel`` schema."""

    destination = OtlpDestination


class FluentLogger(NetworkLogger):
    """Fluentd forward protocol (PackedForward with acks) to a Fluentd or Fluent Bit ``forward`` input at
    ``GUNICORN_LOGGERS_URL``; a batch counts as delivered when its chunk is acknowledged."""

    destination = FluentDestination


__all__ = [
    "FluentLogger",
    "HttpLogger",
    "NetworkLogger",
    "NetworkSettings",
    "OtlpLogger",
    "SocketLogger",
    "SyslogLogger",
    "load_network_settings",
]
