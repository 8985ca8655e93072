"""NDJSON over TCP, UDP or a unix socket, parsed strictly: what SocketLogger sends."""

from __future__ import annotations

import json
import socket
from pathlib import Path

from ._listener import Listener
from ._records import _from


class NdjsonReceiver(Listener):
    """NDJSON over TCP or UDP on 127.0.0.1, parsed strictly; records kept in arrival order."""

    def __init__(
        self, protocol: str = "tcp", port: int | None = None, read: bool = True, path: Path | None = None
    ) -> None:
        """``protocol`` ``tcp`` or ``udp``; with ``path``, a unix stream or datagram socket there."""
        self.protocol = protocol
        self.socktype = socket.SOCK_STREAM if protocol == "tcp" else socket.SOCK_DGRAM
        super().__init__(port, path)
        self.read = read
        self.records: list[dict] = []
        self.errors: list[str] = []

    @property
    def url(self) -> str:
        if self.path is not None:
            return f"unix://{self.path}#{'stream' if self.protocol == 'tcp' else 'dgram'}"
        return f"{self.protocol}://127.0.0.1:{self.port}"

    def _configure(self, server: socket.socket) -> None:
        if not self.read:
            server.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)

    def on_connection(self, connection: socket.socket) -> None:
        self._keep(connection)
        if self.read:
            self._spawn(self._read_loop, connection)

    def _read_loop(self, connection: socket.socket) -> None:
        pending = b""
        for chunk in self._chunks(connection):
            pending += chunk
            *lines, pending = pending.split(b"\n")
            for line in lines:
                self._parse(line)
        if pending:
            with self._lock:
                self.errors.append(f"connection closed inside a record: {pending[:80]!r}")

    def _datagram_loop(self, server: socket.socket) -> None:
        while self._running:
            try:
                datagram = server.recv(65536)
            except TimeoutError:
                continue
            except OSError:
                return
            if not datagram.endswith(b"\n") or datagram.count(b"\n") != 1:
                with self._lock:
                    self.errors.append(f"datagram is not one line: {datagram[:80]!r}")
            self._parse(datagram.rstrip(b"\n"), size=len(datagram))

    def _parse(self, line: bytes, size: int | None = None) -> None:
        try:
            record = json.loads(line.decode("utf-8"))
            if not isinstance(record, dict):
                raise ValueError("not a JSON object")
        except ValueError as exc:
            with self._lock:
                self.errors.append(f"{exc}: {line[:120]!r}")
            return
        if size is not None:
            record["__datagram_size__"] = size
        with self._lock:
            self.records.append(record)

    # -- reading ---------------------------------------------------------------------------------

    def snapshot(self) -> list[dict]:
        with self._lock:
            return list(self.records)

    def messages(self) -> list[str]:
        return [str(r.get("message", "")) for r in self.snapshot()]

    def access_paths(self) -> list[str]:
        return [r["url"]["path"] for r in self.snapshot() if "url" in r and "__ready__" not in r["url"]["path"]]

    def text(self, pid: int | None = None) -> str:
        """Messages of the records from process ``pid`` (every process when ``None``)."""
        return "\n".join(str(r.get("message", "")) for r in self.snapshot() if _from(r, pid))
