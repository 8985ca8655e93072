"""Fluentd's forward protocol (PackedForward with acks) to a Fluentd or Fluent Bit ``forward`` input."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ..framing import FrameEncoder
from ..options import PREFIX, ConfigError, option_value
from ..transports import Transport
from ..transports.socket import Endpoint, parse_endpoint

if TYPE_CHECKING:
    from ..config import Settings


class FluentDestination:
    """Records are tagged ``PREFIX.access`` and ``PREFIX.error`` (``GUNICORN_LOGGERS_FLUENT_TAG``)."""

    schema = None

    def __init__(self, cfg: Any, settings: Settings, env: Mapping[str, str], network: Any, logger: type) -> None:
        if network.url is None:
            raise ConfigError(f"{PREFIX}URL is required by FluentLogger, e.g. {PREFIX}URL=tcp://127.0.0.1:24224")
        try:
            endpoint = parse_endpoint(network.url, default_port=24224, schemes=("tcp", "unix"))
        except ValueError as exc:
            raise ConfigError(f"{PREFIX}URL: {exc}") from None
        if endpoint.scheme == "unix":
            endpoint = Endpoint("unix", path=endpoint.path)  # forward is a stream protocol
        self.endpoint = endpoint
        prefix = option_value(env, "FLUENT_TAG", logger)
        self.tags = {"access": f"{prefix}.access", "error": f"{prefix}.error"}
        self.ack_timeout = option_value(env, "READ_TIMEOUT", logger)

    def transport(self) -> Transport:
        from ..transports.fluent import ForwardTransport

        return ForwardTransport(self.endpoint, self.tags, ack_timeout=self.ack_timeout)

    def encoder(self, kind: str) -> FrameEncoder:
        from ..framing.fluent import FluentEntryEncoder

        return FluentEntryEncoder()

    def sends_access_log(self) -> bool:
        return True
