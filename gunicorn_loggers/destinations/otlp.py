"""OTLP/HTTP with JSON bodies to an OpenTelemetry Collector, configured by OpenTelemetry's own variables.

``OTEL_EXPORTER_OTLP_LOGS_ENDPOINT`` (used as it is), ``OTEL_EXPORTER_OTLP_ENDPOINT``
(``/v1/logs`` appended), ``..._HEADERS``, ``..._COMPRESSION``, ``..._CERTIFICATE``,
``..._TIMEOUT`` (the signal-specific variable wins), ``OTEL_SERVICE_NAME`` and
``OTEL_RESOURCE_ATTRIBUTES``. The wire format is the ``otel`` schema.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

from ..framing import FrameEncoder
from ..options import PREFIX, ConfigError, given, option_value
from ..transports import Transport
from ._headers import parse_headers
from ._http import check_ca_file, http_target, http_transport

if TYPE_CHECKING:
    from ..config import Settings

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
    url = option_value(env, "URL")
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


class OtlpDestination:
    schema = "otel"

    def __init__(self, cfg: Any, settings: Settings, env: Mapping[str, str], network: Any, logger: type) -> None:
        from ..transports.http_target import Secrets

        chosen = given(env, "SCHEMA")
        if chosen is not None and chosen.lower() != "otel":
            raise ConfigError(f"{PREFIX}SCHEMA={chosen!r}: OtlpLogger sends the otel schema; leave it unset")
        url, source = otlp_endpoint(env)
        self.secrets = Secrets()
        self.target = http_target(url, source, self.secrets)
        self.headers: dict[str, str] = {}
        for key in ("OTEL_EXPORTER_OTLP_HEADERS", "OTEL_EXPORTER_OTLP_LOGS_HEADERS"):
            self.headers.update(parse_headers(env.get(key) or "", key, env, self.secrets, percent_decoded=True))
        own_headers = option_value(env, "HTTP_HEADERS", logger) or ""
        self.headers.update(parse_headers(own_headers, f"{PREFIX}HTTP_HEADERS", env, self.secrets))
        protocol = _otel(env, "PROTOCOL")
        if protocol is not None and protocol not in ("http/json", "http/protobuf"):
            raise ConfigError(f"OTEL_EXPORTER_OTLP_PROTOCOL={protocol!r}: OtlpLogger speaks OTLP/HTTP (http/json)")
        compression = (_otel(env, "COMPRESSION") or "").lower()
        if compression not in ("", "gzip", "none"):
            raise ConfigError(f"OTEL_EXPORTER_OTLP_COMPRESSION={compression!r} is not one of: gzip, none")
        self.gzip_body = compression == "gzip" or option_value(env, "HTTP_GZIP", logger)
        self.read_timeout = option_value(env, "READ_TIMEOUT", logger)
        timeout_ms = _otel(env, "TIMEOUT")
        if timeout_ms is not None and given(env, "READ_TIMEOUT") is None:
            try:
                self.read_timeout = max(0.1, float(timeout_ms) / 1000)
            except ValueError:
                raise ConfigError(
                    f"OTEL_EXPORTER_OTLP_TIMEOUT={timeout_ms!r} is not a number of milliseconds"
                ) from None
        self.ca_file = option_value(env, "CA_FILE", logger) or _otel(env, "CERTIFICATE")
        if self.target.scheme == "https":
            check_ca_file(self.ca_file, "the CA file")
        self.connect_timeout = option_value(env, "CONNECT_TIMEOUT", logger)
        resource = resource_attributes(env)
        named = option_value(env, "SERVICE_NAME", logger) or (env.get("OTEL_SERVICE_NAME") or "").strip()
        self.resource_overrides: dict[str, str] = {}
        if "service.name" in resource:
            service_name = resource.pop("service.name")
            if not named:
                self.resource_overrides["service.name"] = service_name
        self.resource_defaults = resource

    def transport(self) -> Transport:
        from ..transports.http_bodies import OtlpFormat

        return http_transport(
            self, OtlpFormat(resource_defaults=self.resource_defaults, resource_overrides=self.resource_overrides)
        )

    def encoder(self, kind: str) -> FrameEncoder:
        from ..framing.otlp import OtlpRecordEncoder

        return OtlpRecordEncoder()

    def sends_access_log(self) -> bool:
        return True
