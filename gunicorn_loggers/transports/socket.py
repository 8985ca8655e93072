"""Frames over a tcp, udp or unix socket: NDJSON and syslog, which have no acknowledgements.

*Delivered* means the kernel accepted the bytes on an open connection: without an
application-level acknowledgement that is the last point a sender can know about.
A stream sends a batch as one buffer; a datagram socket sends one frame per
datagram and drops, as oversize, a frame the kernel refuses for its size.
"""

from __future__ import annotations

import encodings.idna  # noqa: F401  getaddrinfo needs it; importing it first in the sender thread can fail
import errno
import select
import socket
import time
from dataclasses import dataclass
from urllib.parse import unquote

from .._unpatched import getaddrinfo, poll, socket_class
from ..frames import Frame
from . import Outcome, describe_error

SCHEMES = ("tcp", "udp", "unix")

#: How long one connect or one ``send`` may take before the connection counts as failed.
SOCKET_TIMEOUT = 5.0
#: The send buffer of a stream connection (the kernel doubles it). Left to autotuning, a TCP
#: connection's grows to megabytes: a receiver that accepts and never reads then swallows
#: thousands of records per connection, counted delivered and never read, and each reconnect
#: copies them in one burst on the worker's CPU. 256 KiB still carries tens of thousands of
#: records a second at a LAN's round trip.
SEND_BUFFER = 256 * 1024
#: Most a stream batch holds (records, bytes); batching is what makes the sender cheap under load.
BATCH_RECORDS, BATCH_BYTES = 512, 256 * 1024
#: Most datagrams one batch sends.
BATCH_DATAGRAMS = 64


@dataclass(frozen=True)
class Endpoint:
    """A parsed ``tcp://HOST:PORT``, ``udp://HOST:PORT`` or ``unix:///PATH[#dgram|#stream]``."""

    scheme: str
    host: str = ""
    port: int = 0
    path: str = ""
    #: ``SOCK_STREAM`` or ``SOCK_DGRAM``; ``None`` for a unix socket of either kind (datagram tried first).
    socktype: int | None = socket.SOCK_STREAM

    def __str__(self) -> str:
        if self.scheme == "unix":
            suffix = {socket.SOCK_DGRAM: "#dgram", socket.SOCK_STREAM: "#stream"}.get(self.socktype, "")
            return f"unix://{self.path}{suffix}"
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.scheme}://{host}:{self.port}"


def parse_endpoint(url: str, default_port: int | None = None, schemes: tuple[str, ...] = SCHEMES) -> Endpoint:
    """Parse an address; raise ``ValueError`` with a message a user can act on."""
    text = url.strip()
    scheme, sep, rest = text.partition("://")
    scheme = scheme.lower()
    if not sep or scheme not in schemes:
        raise ValueError(
            f"{url!r} does not start with {', '.join(s + '://' for s in schemes[:-1])} or {schemes[-1]}://"
        )
    if scheme == "unix":
        path, _, kind = rest.partition("#")
        socktypes = {"": None, "dgram": socket.SOCK_DGRAM, "stream": socket.SOCK_STREAM}
        if not path or kind not in socktypes:
            raise ValueError(f"{url!r} is not unix:///PATH, unix:///PATH#dgram or unix:///PATH#stream")
        return Endpoint("unix", path=unquote(path), socktype=socktypes[kind])
    if rest.startswith("["):
        host, _, after = rest[1:].partition("]")
        port_text = after[1:] if after.startswith(":") else after
    else:
        host, _, port_text = rest.rpartition(":") if ":" in rest else (rest, "", "")
    host = host.strip().rstrip("/") or "localhost"
    port_text = port_text.rstrip("/")
    if not port_text:
        if default_port is None:
            raise ValueError(f"{url!r} has no port ({scheme}://HOST:PORT)")
        port = default_port
    elif port_text.isdigit() and 0 < int(port_text) < 65536:
        port = int(port_text)
    else:
        raise ValueError(f"{url!r}: {port_text!r} is not a port number")
    socktype = socket.SOCK_STREAM if scheme == "tcp" else socket.SOCK_DGRAM
    return Endpoint(scheme, host=host.lower(), port=port, socktype=socktype)


def open_connection(endpoint: Endpoint, timeout: float) -> tuple[socket.socket, bool]:
    """A connected socket and whether it is a stream; raises ``OSError``."""
    if endpoint.scheme == "unix":
        kinds = [endpoint.socktype] if endpoint.socktype is not None else [socket.SOCK_DGRAM, socket.SOCK_STREAM]
        error: OSError | None = None
        for kind in kinds:
            sock = socket_class(socket.AF_UNIX, kind)
            try:
                sock.settimeout(timeout)
                if kind == socket.SOCK_STREAM:
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SEND_BUFFER)
                sock.connect(endpoint.path)
                return sock, kind == socket.SOCK_STREAM
            except OSError as exc:
                sock.close()
                error = exc
        assert error is not None
        raise error
    error = None
    for family, kind, proto, _, address in getaddrinfo(endpoint.host, endpoint.port, 0, endpoint.socktype):
        sock = socket_class(family, kind, proto)
        try:
            sock.settimeout(timeout)
            sock.connect(address)
            if kind == socket.SOCK_STREAM:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SEND_BUFFER)
            return sock, kind == socket.SOCK_STREAM
        except OSError as exc:
            sock.close()
            error = exc
    raise error or OSError(f"no address for {endpoint}")


def peer_has_closed(sock: socket.socket) -> bool:
    """For a peer that never talks first: a readable stream socket means EOF or a reset."""
    poller = poll()
    poller.register(sock.fileno(), select.POLLIN)
    if not poller.poll(0):
        return False
    try:
        data = sock.recv(1, socket.MSG_PEEK)  # readable, so this returns at once
    except OSError:
        return True
    return data == b""


def whole_frames(batch: list[Frame], sent: int) -> int:
    """How many frames of ``batch`` the first ``sent`` bytes hold completely."""
    count = 0
    for frame in batch:
        if sent < len(frame):
            break
        sent -= len(frame)
        count += 1
    return count


class SocketTransport:
    """Frames to an :class:`Endpoint`: one buffer per batch on a stream, one datagram per frame otherwise."""

    def __init__(self, endpoint: Endpoint, timeout: float = SOCKET_TIMEOUT) -> None:
        self.endpoint = endpoint
        self.name = str(endpoint)
        self.timeout = timeout
        #: ``time.monotonic()`` when the kernel last took bytes of ours: the engine's flush at
        #: exit gives up on a send that has been blocked (a receiver that stopped reading) for a while.
        self.progress_at = 0.0
        self._sock: socket.socket | None = None
        self._stream = endpoint.socktype != socket.SOCK_DGRAM

    @property
    def batch_records(self) -> int:
        return BATCH_RECORDS if self._stream else BATCH_DATAGRAMS

    @property
    def batch_bytes(self) -> int:
        return BATCH_BYTES

    def connect(self, timeout: float) -> None:
        self.close()
        self._sock, self._stream = open_connection(self.endpoint, timeout)

    def close(self) -> None:
        sock, self._sock = self._sock, None
        if sock is not None:
            sock.close()

    def send(self, batch: list[Frame], timeout: float | None) -> Outcome:
        sock = self._sock
        if sock is None:
            return Outcome(retry=batch, error="not connected")
        sock.settimeout(self.timeout if timeout is None else timeout)
        if not self._stream:
            return self._send_datagrams(sock, batch)
        if peer_has_closed(sock):
            return Outcome(retry=batch, error="the receiver closed the connection")
        data = b"".join([frame.data for frame in batch])
        view = memoryview(data)
        sent = 0
        try:
            while sent < len(data):
                sent += sock.send(view[sent:])
                self.progress_at = time.monotonic()
        except OSError as exc:
            done = whole_frames(batch, sent)
            return Outcome(delivered=done, retry=batch[done:], error=f"sending failed: {describe_error(exc)}")
        return Outcome(delivered=len(batch))

    def _send_datagrams(self, sock: socket.socket, batch: list[Frame]) -> Outcome:
        delivered = oversize = 0
        for index, frame in enumerate(batch):
            try:
                sock.send(frame.data)
                self.progress_at = time.monotonic()
            except OSError as exc:
                if exc.errno == errno.EMSGSIZE:  # the kernel refused this size: no retry can help
                    oversize += 1
                    continue
                return Outcome(
                    delivered=delivered,
                    oversize=oversize,
                    retry=batch[index:],
                    error=f"sending failed: {describe_error(exc)}",
                )
            delivered += 1
        return Outcome(delivered=delivered, oversize=oversize)


__all__ = [
    "SCHEMES",
    "SEND_BUFFER",
    "SOCKET_TIMEOUT",
    "Endpoint",
    "SocketTransport",
    "open_connection",
    "parse_endpoint",
    "peer_has_closed",
    "whole_frames",
]
