"""Network loggers over unix sockets, against a receiver that resets connections, on gevent and asgi workers."""

from __future__ import annotations

import json
import socket
import threading
import time
from pathlib import Path

import pytest

from tests.receivers import NdjsonReceiver, NetworkGunicorn, Rsyslog, free_port, wait_until


class UnixReceiver:
    """NDJSON on a unix stream or datagram socket, parsed strictly."""

    def __init__(self, path: Path, kind: int) -> None:
        self.path, self.kind = path, kind
        self.records: list[dict] = []
        self._running = True
        self._sock = socket.socket(socket.AF_UNIX, kind)
        self._sock.bind(str(path))
        self._sock.settimeout(0.1)
        if kind == socket.SOCK_STREAM:
            self._sock.listen(16)
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while self._running:
            try:
                if self.kind == socket.SOCK_DGRAM:
                    data = self._sock.recv(65536)
                    assert data.endswith(b"\n") and data.count(b"\n") == 1
                    self.records.append(json.loads(data))
                    continue
                connection, _ = self._sock.accept()
            except (TimeoutError, OSError):
                continue
            threading.Thread(target=self._read, args=(connection,), daemon=True).start()

    def _read(self, connection: socket.socket) -> None:
        pending = b""
        connection.settimeout(0.1)
        while self._running:
            try:
                chunk = connection.recv(65536)
            except TimeoutError:
                continue
            if not chunk:
                break
            pending += chunk
            *lines, pending = pending.split(b"\n")
            self.records.extend(json.loads(line) for line in lines)
        connection.close()

    def paths(self) -> list[str]:
        return [r["url"]["path"] for r in list(self.records) if "url" in r and r["url"]["path"] != "/__ready__"]

    def text(self, pid: int | None = None) -> str:
        return "\n".join(str(r.get("message", "")) for r in list(self.records))

    def stop(self) -> None:
        self._running = False
        self._thread.join(2)
        self._sock.close()


class ResettingReceiver:
    """Accepts TCP connections and resets the first ``resets`` of them at once; then reads NDJSON."""

    def __init__(self, resets: int) -> None:
        self.port = free_port()
        self.resets_left = resets
        self.inner = NdjsonReceiver(port=free_port())
        self.inner.start()
        self._running = True
        self._sock = socket.socket()
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind(("127.0.0.1", self.port))
        self._sock.listen(16)
        self._sock.settimeout(0.1)
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while self._running:
            try:
                connection, _ = self._sock.accept()
            except (TimeoutError, OSError):
                continue
            if self.resets_left > 0:
                self.resets_left -= 1
                connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
                connection.close()  # RST
                continue
            threading.Thread(target=self._relay, args=(connection,), daemon=True).start()

    def _relay(self, connection: socket.socket) -> None:
        with socket.create_connection(("127.0.0.1", self.inner.port)) as upstream:
            connection.settimeout(0.1)
            while self._running:
                try:
                    chunk = connection.recv(65536)
                except TimeoutError:
                    continue
                if not chunk:
                    break
                upstream.sendall(chunk)
        connection.close()

    def stop(self) -> None:
        self._running = False
        self._thread.join(2)
        self._sock.close()
        self.inner.stop()


def socket_logger(tmp_path: Path, url: str, *args: str, receiver=None, **kwargs) -> NetworkGunicorn:
    env = {"GUNICORN_LOGGERS_URL": url, "GUNICORN_LOGGERS_REPORT_INTERVAL": "1"}
    return NetworkGunicorn(
        tmp_path, *args, receiver=receiver, logger_class="gunicorn_loggers.SocketLogger", env=env, access_log=False,
        **kwargs,
    )  # fmt: skip


def balanced(server: NetworkGunicorn) -> list[dict]:
    reports = [r["delivery"] for r in server.exit_reports()]
    assert reports, server.all_output()[-2000:]
    for stats in reports:
        assert stats["delivered"] + stats["dropped"] == stats["produced"] and stats["pending"] == 0, stats
    return reports


@pytest.mark.parametrize(("suffix", "kind"), [("#stream", socket.SOCK_STREAM), ("#dgram", socket.SOCK_DGRAM)])
def test_unix_sockets(tmp_path, suffix, kind):
    path = Path("/tmp") / f"gl-{free_port()}.sock"  # short: AF_UNIX paths are limited to 108 bytes
    receiver = UnixReceiver(path, kind)
    try:
        server = socket_logger(tmp_path, f"unix://{path}{suffix}", receiver=receiver, quiet=True)
        with server:
            for n in range(10):
                server.request(f"/unix/{n}")
            wait_until(lambda: len(receiver.paths()) >= 10, what="records over the unix socket")
        assert sorted(receiver.paths()) == sorted(f"/unix/{n}" for n in range(10))
        balanced(server)
    finally:
        receiver.stop()
        path.unlink(missing_ok=True)


def test_a_receiver_that_resets_connections(tmp_path):
    """Five connections reset on accept: requests go on at full speed, records flow once it reads."""
    receiver = ResettingReceiver(resets=5)
    try:
        server = socket_logger(tmp_path, f"tcp://127.0.0.1:{receiver.port}", quiet=True)
        with server:
            slowest = 0.0
            deadline = time.monotonic() + 30
            n = 0
            while time.monotonic() < deadline and not receiver.inner.access_paths():
                started = time.monotonic()
                assert server.request(f"/reset/{n}")[0] == 200
                slowest = max(slowest, time.monotonic() - started)
                n += 1
                time.sleep(0.05)
            assert receiver.inner.access_paths(), "nothing arrived after the resets"
            assert slowest < 1.0  # a reset never holds a request
        assert receiver.resets_left < 5
        reports = balanced(server)
        assert sum(r["produced"] for r in reports) >= n
        assert receiver.inner.errors == []  # whatever arrived, arrived as whole records
    finally:
        receiver.stop()


def test_syslog_logger_on_gevent(tmp_path):
    with Rsyslog(tmp_path / "rsyslog") as daemon:
        server = NetworkGunicorn(
            tmp_path / "g", "-k", "gevent", "--log-syslog-to", f"tcp://127.0.0.1:{daemon.port}",
            receiver=daemon, logger_class="gunicorn_loggers.SyslogLogger", access_log=False,
        )  # fmt: skip
        (tmp_path / "g").mkdir()
        with server:
            for n in range(20):
                server.request(f"/gevent/{n}")
            wait_until(
                lambda: len([r for r in daemon.received() if "/gevent/" in json.dumps(r)]) >= 20,
                what="records in rsyslog",
            )
        balanced(server)


def test_socket_logger_on_the_asgi_worker(tmp_path):
    with NdjsonReceiver() as receiver:
        server = socket_logger(tmp_path, receiver.url, "-k", "asgi", receiver=receiver, app="tests.apps:asgi_app")
        with server:
            for n in range(5):
                server.request(f"/asgi/{n}")
            wait_until(lambda: len(receiver.access_paths()) >= 5, what="asgi access records")
        assert sorted(receiver.access_paths()) == sorted(f"/asgi/{n}" for n in range(5))
        balanced(server)
