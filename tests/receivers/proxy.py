"""A TCP front for any receiver that resets connections on demand, as a crashed or overloaded one would."""

from __future__ import annotations

import selectors
import socket

from ._listener import Listener


def _reset(connection: socket.socket) -> None:
    """Close with SO_LINGER 0: the peer gets a RST, as from a crashed or overloaded receiver."""
    try:
        connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    except OSError:
        pass
    connection.close()


class ResettingProxy(Listener):
    """A TCP front on 127.0.0.1 for a receiver on ``target_port``: relays both ways until told to reset.

    While :attr:`resetting` is true every new connection is reset as soon as it is
    accepted, and so are the first ``reset_first`` ones; :meth:`reset_open` resets the
    ones being relayed. :attr:`resets` counts all. Answers (HTTP responses, Fluentd
    acks) come back through the proxy.
    """

    def __init__(self, target_port: int, reset_first: int = 0) -> None:
        super().__init__()
        self.target_port = target_port
        self.resetting = False
        self.reset_first = reset_first
        self.resets = 0
        self._open: list[socket.socket] = []

    def on_connection(self, client: socket.socket) -> None:
        if self.resetting or self.resets < self.reset_first:
            with self._lock:
                self.resets += 1
            _reset(client)
            return
        try:
            upstream = socket.create_connection(("127.0.0.1", self.target_port), timeout=2)
        except OSError:
            _reset(client)
            return
        with self._lock:
            self._open.append(client)
        self._spawn(self._relay, client, upstream)

    def _relay(self, client: socket.socket, upstream: socket.socket) -> None:
        peers = {client: upstream, upstream: client}
        with selectors.DefaultSelector() as selector:
            for end in peers:
                end.setblocking(True)
                selector.register(end, selectors.EVENT_READ)
            try:
                while self._running and client.fileno() != -1:  # -1: reset_open() closed it
                    for key, _ in selector.select(0.1):
                        data = key.fileobj.recv(65536)
                        if not data:
                            return
                        peers[key.fileobj].sendall(data)
            except (OSError, ValueError):  # a peer went away, or reset_open() closed the client under us
                return
            finally:
                upstream.close()
                with self._lock:
                    if client in self._open:
                        self._open.remove(client)
                client.close()

    def reset_open(self) -> None:
        """Reset every connection being relayed now."""
        with self._lock:
            connections, self._open = self._open, []
            self.resets += len(connections)
        for connection in connections:
            _reset(connection)

    def stop(self) -> None:
        self._stop_listening()
        self.reset_open()
        self._join()
