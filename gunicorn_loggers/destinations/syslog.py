"""RFC 5424 messages with the JSON record as MSG, to gunicorn's ``--log-syslog-to``."""

from __future__ import annotations

from collections.abc import Mapping
from socket import SOCK_DGRAM
from typing import TYPE_CHECKING, Any

from gunicorn.glogging import SYSLOG_FACILITIES

from ..framing import FrameEncoder
from ..framing.syslog import SyslogEncoder
from ..options import ConfigError
from ..transports.socket import Endpoint, SocketTransport, parse_endpoint

if TYPE_CHECKING:
    from ..config import Settings


class SyslogDestination:
    """Facility from ``--log-syslog-facility``, APP-NAME from ``--log-syslog-prefix`` or the proc name
    (``:`` written as ``.``, as RFC 3164 parsers end the tag there), MSGID the record's kind."""

    schema = None

    def __init__(self, cfg: Any, settings: Settings, env: Mapping[str, str], network: Any, logger: type) -> None:
        try:
            endpoint = parse_endpoint(cfg.syslog_addr, default_port=514)
        except ValueError as exc:
            raise ConfigError(f"--log-syslog-to: {exc}") from None
        if endpoint.socktype is None:  # /dev/log and friends are datagram sockets on Linux
            endpoint = Endpoint("unix", path=endpoint.path, socktype=SOCK_DGRAM)
        facility = (cfg.syslog_facility or "user").lower()
        if facility not in SYSLOG_FACILITIES:
            raise ConfigError(f"--log-syslog-facility {facility!r} is not one of: {', '.join(SYSLOG_FACILITIES)}")
        self.endpoint = endpoint
        self.cfg = cfg
        self.network = network
        self.facility = SYSLOG_FACILITIES[facility]
        self.app_name = (cfg.syslog_prefix or cfg.proc_name or "gunicorn").replace(":", ".")

    def transport(self) -> SocketTransport:
        return SocketTransport(self.endpoint)

    def encoder(self, kind: str) -> FrameEncoder:
        framing = "datagram" if self.endpoint.socktype == SOCK_DGRAM else self.network.syslog_framing
        return SyslogEncoder(
            self.facility,
            self.app_name,
            msgid=kind,
            transport=framing,
            max_datagram=self.network.max_datagram,
            bom=self.network.syslog_bom,
        )

    def sends_access_log(self) -> bool:
        """``--disable-redirect-access-to-syslog`` keeps access records out of syslog."""
        return not self.cfg.disable_redirect_access_to_syslog
