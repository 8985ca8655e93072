"""Log receivers the network-logger tests send to, and a gunicorn that finds its port through them.

* :class:`NdjsonReceiver` (``ndjson``): a loopback TCP or UDP server that parses newline-delimited
  JSON strictly (every line one JSON object, valid UTF-8); it can be stopped and
  started again on the same port, or accept connections and never read them.
* :class:`Rsyslog` (``daemons``): a real ``rsyslogd`` in the foreground with its own config on a
  free loopback port (imudp + imtcp, ``mmjsonparse``, ``omfile``), stopped by PID.
* :class:`HttpReceiver` (``http``): an HTTP collector strict to one wire format (NDJSON, Loki
  push, ``_bulk``, OTLP/HTTP decoded with ``opentelemetry-proto``), able to answer
  429, 500, 413, 401, slowly, a byte at a time, or with ``_bulk`` partial failures;
  http or https (``certificates``).
* :class:`ForwardReceiver` (``forward``): a Fluentd ``forward`` input decoding msgpack strictly,
  answering acks (or not, or late, or a byte at a time).
* :class:`ResettingProxy` (``proxy``): a TCP front for any of them that resets connections on demand.

:class:`NetworkGunicorn` and :func:`url_logger` (``network_gunicorn``) start a gunicorn that logs to one.
"""

from tests.gunicorn_process import Gunicorn, free_port, wait_until

from ._listener import Listener, trickle
from .certificates import make_certificates, server_tls
from .daemons import RSYSLOG_CONF, RSYSLOGD, ForegroundDaemon, Rsyslog
from .forward import EventTime, ForwardReceiver
from .http import LOKI_LABEL, Answer, HttpReceiver
from .ndjson import NdjsonReceiver
from .network_gunicorn import NetworkGunicorn, url_logger
from .otlp import HEX, any_value, otlp_json_to_proto3_json
from .proxy import ResettingProxy

__all__ = [
    "HEX",
    "LOKI_LABEL",
    "RSYSLOGD",
    "RSYSLOG_CONF",
    "Answer",
    "EventTime",
    "ForegroundDaemon",
    "ForwardReceiver",
    "Gunicorn",
    "HttpReceiver",
    "Listener",
    "NdjsonReceiver",
    "NetworkGunicorn",
    "ResettingProxy",
    "Rsyslog",
    "any_value",
    "free_port",
    "make_certificates",
    "otlp_json_to_proto3_json",
    "server_tls",
    "trickle",
    "url_logger",
    "wait_until",
]
