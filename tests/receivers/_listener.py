"""The base of the socket receivers: a loopback server that keeps, counts and resets its connections."""

from __future__ import annotations

import select
import socket
import threading
import time
from pathlib import Path

from tests.gunicorn_process import free_port


class Listener:
    """A server on 127.0.0.1 (or a unix socket at ``path``): stream with a thread per connection, or
    datagram; a subclass says what arrives where.

    Accepted connections that a subclass keeps with :meth:`_keep` are counted in
    :attr:`connections` and reset (RST) by :meth:`_reset_kept` when it stops, as a
    killed process would.
    """

    socktype = socket.SOCK_STREAM

    def __init__(self, port: int | None = None, path: Path | None = None) -> None:
        self.path = path
        self.port = None if path is not None else port or free_port((self.socktype,))
        self.connections = 0
        self._lock = threading.Lock()
        self._server: socket.socket | None = None
        self._kept: list[socket.socket] = []
        self._threads: list[threading.Thread] = []
        self._running = False

    def start(self):
        server = socket.socket(socket.AF_UNIX if self.path is not None else socket.AF_INET, self.socktype)
        server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._configure(server)
        server.bind(str(self.path) if self.path is not None else ("127.0.0.1", self.port))
        server.settimeout(0.1)
        if self.socktype == socket.SOCK_STREAM:
            server.listen(64)
            target = self._accept_loop
        else:
            target = self._datagram_loop
        self._server = server
        self._running = True
        self._spawn(target, server)
        return self

    def _configure(self, server: socket.socket) -> None:
        """Options to set before ``bind``."""

    def _spawn(self, target, *args) -> None:
        thread = threading.Thread(target=target, args=args, daemon=True)
        self._threads.append(thread)
        thread.start()

    def _accept_loop(self, server: socket.socket) -> None:
        while self._running:
            try:
                connection, _ = server.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self.on_connection(connection)

    def on_connection(self, connection: socket.socket) -> None:
        raise NotImplementedError

    def _datagram_loop(self, server: socket.socket) -> None:
        raise NotImplementedError

    def _chunks(self, connection: socket.socket):
        """What arrives on ``connection``, until it closes, fails, or the receiver stops."""
        connection.settimeout(0.1)
        while self._running:
            try:
                chunk = connection.recv(65536)
            except TimeoutError:
                continue
            except OSError:
                return
            if not chunk:
                return
            yield chunk

    def _keep(self, connection: socket.socket) -> None:
        with self._lock:
            self.connections += 1
            self._kept.append(connection)

    def _reset_kept(self) -> None:
        with self._lock:
            kept, self._kept = self._kept, []
        for connection in kept:
            try:
                connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
            except OSError:
                pass
            connection.close()

    def _stop_listening(self) -> None:
        self._running = False
        if self._server is not None:
            self._server.close()
            self._server = None

    def _join(self) -> None:
        for thread in self._threads:
            thread.join(2)
        self._threads = []

    def stop(self) -> None:
        """Close the listener and every kept connection at once (RST)."""
        self._stop_listening()
        self._reset_kept()
        self._join()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def trickle(connection: socket.socket, data: bytes, interval: float, running) -> float | None:
    """Send ``data`` one byte every ``interval`` seconds, as a collector that answers very slowly.

    The seconds after which the client hung up (closed or reset the connection: it
    waits for nothing else from us, so anything readable is the end), or ``None`` when
    the whole answer went out or ``running()`` turned false. At most ``len(data)`` rounds
    of ``interval`` seconds each.
    """
    started = time.monotonic()
    for index in range(len(data)):
        if not running():
            return None
        try:
            readable, _, _ = select.select([connection], [], [], interval if index else 0.0)
            if readable and not connection.recv(1, socket.MSG_PEEK):
                return time.monotonic() - started
            connection.sendall(data[index : index + 1])
        except (OSError, ValueError):  # reset by the client, or closed by stop()
            return time.monotonic() - started
    return None
