"""Batches POSTed to an HTTP collector: NDJSON, Grafana Loki push or Elasticsearch / OpenSearch ``_bulk``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ..framing import FrameEncoder
from ..framing.ndjson import JsonLineEncoder
from ..options import DEFAULT_BULK_INDEX, PREFIX, ConfigError, option_value
from ..transports import Transport
from ._headers import parse_headers
from ._http import check_ca_file, http_target, http_transport

if TYPE_CHECKING:
    from ..config import Settings


class HttpDestination:
    """``GUNICORN_LOGGERS_HTTP_FORMAT`` picks the body: ``ndjson`` (Vector, Fluent Bit and Logstash ``http``
    inputs), ``loki`` (``/loki/api/v1/push``) or ``bulk`` (``create`` actions, as data streams need)."""

    schema = None

    def __init__(self, cfg: Any, settings: Settings, env: Mapping[str, str], network: Any, logger: type) -> None:
        from ..transports.http_target import Secrets

        if network.url is None:
            raise ConfigError(f"{PREFIX}URL is required by HttpLogger, e.g. {PREFIX}URL=http://127.0.0.1:8080/logs")
        self.secrets = Secrets()
        self.target = http_target(network.url, f"{PREFIX}URL", self.secrets)
        self.http_format = option_value(env, "HTTP_FORMAT", logger)
        self.body_format = self._body_format(settings, env, logger)
        own_headers = option_value(env, "HTTP_HEADERS", logger) or ""
        self.headers = parse_headers(own_headers, f"{PREFIX}HTTP_HEADERS", env, self.secrets)
        self.ca_file = option_value(env, "CA_FILE", logger)
        if self.target.scheme == "https":
            check_ca_file(self.ca_file, f"{PREFIX}CA_FILE")
        self.gzip_body = option_value(env, "HTTP_GZIP", logger)
        self.connect_timeout = option_value(env, "CONNECT_TIMEOUT", logger)
        self.read_timeout = option_value(env, "READ_TIMEOUT", logger)

    def _body_format(self, settings: Settings, env: Mapping[str, str], logger: type) -> Any:
        from ..transports.http_bodies import BulkFormat, LokiFormat, NdjsonFormat

        if self.http_format == "loki":
            return LokiFormat(settings.service_name)
        if self.http_format == "bulk":
            path = self.target.path.rstrip("/")
            index = option_value(env, "BULK_INDEX", logger)
            if index is None and not path.endswith("/_bulk"):
                raise ConfigError(f"{PREFIX}URL for the bulk format ends in /_bulk or /<data stream>/_bulk")
            if index is not None and path != "/_bulk":
                # Elasticsearch takes the action's _index over the URL's: one of them would be ignored
                raise ConfigError(
                    f"{PREFIX}BULK_INDEX={index!r} names a data stream and so does {PREFIX}URL "
                    f"(.../<data stream>/_bulk): keep one of them"
                )
            if index is None and path == "/_bulk":
                index = DEFAULT_BULK_INDEX
            return BulkFormat(index)
        return NdjsonFormat()

    def transport(self) -> Transport:
        return http_transport(self, self.body_format)

    def encoder(self, kind: str) -> FrameEncoder:
        return JsonLineEncoder()  # the body format (NDJSON, Loki, _bulk) assembles the lines

    def sends_access_log(self) -> bool:
        return True
