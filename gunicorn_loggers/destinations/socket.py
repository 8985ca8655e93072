"""Newline-delimited JSON over a tcp, udp or unix socket (Vector, Fluent Bit, Logstash ``json_lines``)."""

from __future__ import annotations

from collections.abc import Mapping
from socket import SOCK_DGRAM
from typing import TYPE_CHECKING, Any

from ..framing import FrameEncoder
from ..framing.ndjson import JsonDatagramEncoder, JsonLineEncoder
from ..options import PREFIX, ConfigError
from ..transports.socket import Endpoint, SocketTransport, parse_endpoint

if TYPE_CHECKING:
    from ..config import Settings


class SocketDestination:
    schema = None

    def __init__(self, cfg: Any, settings: Settings, env: Mapping[str, str], network: Any, logger: type) -> None:
        if network.url is None:
            raise ConfigError(f"{PREFIX}URL is required by SocketLogger, e.g. {PREFIX}URL=tcp://127.0.0.1:5170")
        try:
            endpoint = parse_endpoint(network.url)
        except ValueError as exc:
            raise ConfigError(f"{PREFIX}URL: {exc}") from None
        if endpoint.socktype is None:  # NDJSON is a stream format: unix:///PATH means a stream socket
            endpoint = Endpoint("unix", path=endpoint.path)
        self.endpoint = endpoint
        self.max_datagram = network.max_datagram

    def transport(self) -> SocketTransport:
        return SocketTransport(self.endpoint)

    def encoder(self, kind: str) -> FrameEncoder:
        if self.endpoint.socktype == SOCK_DGRAM:
            return JsonDatagramEncoder(self.max_datagram)
        return JsonLineEncoder()

    def sends_access_log(self) -> bool:
        return True
