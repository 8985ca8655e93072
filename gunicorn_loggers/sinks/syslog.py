"""RFC 5424 syslog messages with the JSON record as MSG, framed for their transport.

* TCP and unix stream: octet-counting (RFC 6587 / 5425 ``LEN SP MSG``) by
  default, which rsyslog and syslog-ng both accept; LF framing on request (the
  JSON line never holds a raw LF, so it is safe). gunicorn's own
  ``--log-syslog`` handler sends no framing over TCP, and receivers merge records.
* UDP and unix datagram: one message per datagram, never over ``max_datagram``
  bytes; long JSON strings are cut so the record stays valid JSON.
* No BOM unless asked: rsyslog keeps it in ``msg`` and its JSON parser then fails.
"""

from __future__ import annotations

import os
import re
import socket
import time

from .socket import fit_json_line

BOM = b"\xef\xbb\xbf"
FRAMINGS = ("octet-counting", "lf")

#: Level names of every schema (ecs ``log.level``, flat ``level``, gcp ``severity``,
#: otel ``severityText``) -> RFC 5424 severity.
SEVERITIES = {
    "emergency": 0,
    "alert": 1,
    "critical": 2,
    "fatal": 2,
    "error": 3,
    "warning": 4,
    "warn": 4,
    "notice": 5,
    "info": 6,
    "default": 6,
    "debug": 7,
    "trace": 7,
}
_LEVEL = re.compile(rb'"(?:log\.level|level|severity|severityText)":"([A-Za-z]{1,12})"')


def severity_of(line: bytes) -> int:
    """The RFC 5424 severity of an encoded record: its first level field, else informational."""
    match = _LEVEL.search(line)
    if match is None:
        return 6
    return SEVERITIES.get(match.group(1).decode("ascii").lower(), 6)


def header_field(text: str, limit: int) -> str:
    """A HOSTNAME / APP-NAME / MSGID: printable US-ASCII without spaces, at most ``limit`` long, ``-`` if empty."""
    cleaned = "".join(c if 33 <= ord(c) <= 126 else "_" for c in text)[:limit]
    return cleaned or "-"


class SyslogFramer:
    """One record -> one framed RFC 5424 message.

    ``transport`` is ``octet-counting``, ``lf`` (streams) or ``datagram``. The
    PROCID is the pid of the process writing, so workers are told apart.
    """

    def __init__(
        self,
        facility: int,
        app_name: str,
        msgid: str,
        transport: str = "octet-counting",
        max_datagram: int = 2048,
        bom: bool = False,
        hostname: str | None = None,
    ) -> None:
        self.facility = facility
        self.transport = transport
        self.max_datagram = max_datagram
        self.bom = BOM if bom else b""
        self.hostname = header_field(hostname if hostname is not None else socket.gethostname(), 255)
        self.app_name = header_field(app_name, 48)
        self.msgid = header_field(msgid, 32)
        self._pid = -1
        self._second = -1
        self._stamp = ""
        self._tail = b""

    def _timestamp(self, now: float) -> str:
        second = int(now)
        if second != self._second:
            self._stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
            self._second = second
        return f"{self._stamp}.{int((now - second) * 1_000_000):06d}Z"

    def header(self, severity: int, now: float | None = None) -> bytes:
        """``<PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID MSGID -`` and the space before MSG."""
        pid = os.getpid()
        if pid != self._pid:
            self._pid = pid
            self._tail = f" {self.hostname} {self.app_name} {pid} {self.msgid} - ".encode("ascii")
        stamp = self._timestamp(time.time() if now is None else now)
        return b"<%d>1 %s%s" % (self.facility * 8 + severity, stamp.encode("ascii"), self._tail)

    def frame(self, line: bytes) -> bytes | None:
        body = line.rstrip(b"\n")
        head = self.header(severity_of(body)) + self.bom
        if self.transport == "datagram":
            room = self.max_datagram - len(head)
            fitted = fit_json_line(body, room) if room > 0 else None
            return None if fitted is None else head + fitted
        message = head + body
        if self.transport == "lf":
            return message + b"\n"
        return b"%d %s" % (len(message), message)
