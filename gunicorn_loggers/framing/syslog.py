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

import socket
import time
from typing import Any

from ..encoding import encode_line
from ..frames import Frame
from ..levels import LEVELS
from ..process_id import current_pid
from .ndjson import fit_json_line

BOM = b"\xef\xbb\xbf"

#: Level name -> RFC 5424 severity, from the one table of levels (informational for a level it lacks).
SEVERITIES = {name: entry.syslog for name, entry in LEVELS.items()}
INFORMATIONAL = 6


def header_field(text: str, limit: int) -> str:
    """A HOSTNAME / APP-NAME / MSGID: printable US-ASCII without spaces, at most ``limit`` long, ``-`` if empty."""
    cleaned = "".join(c if 33 <= ord(c) <= 126 else "_" for c in text)[:limit]
    return cleaned or "-"


class SyslogEncoder:
    """One record -> one framed RFC 5424 message.

    ``transport`` is ``octet-counting``, ``lf`` (streams) or ``datagram``. The
    PROCID is the pid of the process writing, so workers are told apart; the
    TIMESTAMP and the severity are the record's own.
    """

    #: Over a datagram a long record is cut in its strings, from the record itself.
    needs_record = False

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
        self.needs_record = transport == "datagram"
        self.max_datagram = max_datagram
        self.bom = BOM if bom else b""
        self.hostname = header_field(hostname if hostname is not None else socket.gethostname(), 255)
        self.app_name = header_field(app_name, 48)
        self.msgid = header_field(msgid, 32)
        self._pid = -1
        self._stamp: tuple[int, bytes] = (-1, b"")  # one tuple: gthread workers frame from many threads
        self._tail = b""

    def header(self, severity: int, now_ns: int | None = None) -> bytes:
        """``<PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID MSGID -`` and the space before MSG.

        On every record of a busy worker: the seconds of the timestamp and everything
        after it are formatted once per second and once per process, not per record.
        """
        pid = current_pid()
        if pid != self._pid:
            self._pid = pid
            self._tail = f" {self.hostname} {self.app_name} {pid} {self.msgid} - ".encode("ascii") + self.bom
        second, nanos = divmod(time.time_ns() if now_ns is None else now_ns, 1_000_000_000)
        cached_second, stamp = self._stamp
        if second != cached_second:
            stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second)).encode("ascii")
            self._stamp = (second, stamp)
        return b"<%d>1 %s.%06dZ%s" % (self.facility * 8 + severity, stamp, nanos // 1000, self._tail)

    def encode(
        self, kind: str, level: str, time_ns: int, record: dict[str, Any] | None, line: bytes | None
    ) -> Frame | None:
        if line is None:
            line = encode_line(record)
        body = line[:-1] if line.endswith(b"\n") else line
        head = self.header(SEVERITIES.get(level, INFORMATIONAL), time_ns)
        if self.transport == "datagram":
            room = self.max_datagram - len(head)
            fitted = fit_json_line(body, room, record) if room > 0 else None
            return None if fitted is None else Frame(kind, level, time_ns, head + fitted)
        if self.transport == "lf":
            return Frame(kind, level, time_ns, head + body + b"\n")
        return Frame(kind, level, time_ns, b"%d %s%s" % (len(head) + len(body), head, body))
