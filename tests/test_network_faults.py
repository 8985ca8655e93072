"""Network loggers over unix sockets, against a receiver that resets connections, on gevent and asgi workers."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from tests.receivers import NdjsonReceiver, NetworkGunicorn, ResettingProxy, Rsyslog, free_port, wait_until


@pytest.fixture
def socket_logger(network_gunicorn):
    """Factory: ``socket_logger(url, *args, ...)``, a SocketLogger gunicorn, not started."""

    def make(url: str, *args: str, **kwargs) -> NetworkGunicorn:
        env = {"GUNICORN_LOGGERS_URL": url}
        return network_gunicorn(*args, logger_class="gunicorn_loggers.SocketLogger", env=env, start=False, **kwargs)

    return make


@pytest.mark.parametrize("protocol", ["tcp", "udp"])  # a unix stream, a unix datagram socket
def test_unix_sockets(socket_logger, protocol):
    path = Path("/tmp") / f"gl-{free_port()}.sock"  # short: AF_UNIX paths are limited to 108 bytes
    try:
        with NdjsonReceiver(protocol, path=path) as receiver:
            server = socket_logger(receiver.url, receiver=receiver, quiet=True)
            with server:
                for n in range(10):
                    server.request(f"/unix/{n}")
                wait_until(lambda: len(receiver.access_paths()) >= 10, what="records over the unix socket")
        assert sorted(receiver.access_paths()) == sorted(f"/unix/{n}" for n in range(10))
        assert receiver.errors == []
        server.balanced_exit_stats(None)
    finally:
        path.unlink(missing_ok=True)


def test_a_receiver_that_resets_connections(socket_logger):
    """Five connections reset on accept: requests go on at full speed, records flow once it reads."""
    with NdjsonReceiver() as receiver, ResettingProxy(receiver.port, reset_first=5) as proxy:
        server = socket_logger(f"tcp://127.0.0.1:{proxy.port}", quiet=True)
        with server:
            slowest = 0.0
            deadline = time.monotonic() + 30
            n = 0
            while time.monotonic() < deadline and not receiver.access_paths():
                started = time.monotonic()
                assert server.request(f"/reset/{n}")[0] == 200
                slowest = max(slowest, time.monotonic() - started)
                n += 1
                time.sleep(0.05)
            assert receiver.access_paths(), "nothing arrived after the resets"
            assert slowest < 1.0  # a reset never holds a request
        assert proxy.resets > 0
        reports = server.balanced_exit_stats(None)
        assert sum(r["produced"] for r in reports) >= n
        assert receiver.errors == []  # whatever arrived, arrived as whole records


def test_syslog_logger_on_gevent(tmp_path, network_gunicorn):
    with Rsyslog(tmp_path / "rsyslog") as daemon:
        server = network_gunicorn(
            "-k", "gevent", "--log-syslog-to", f"tcp://127.0.0.1:{daemon.port}",
            receiver=daemon, logger_class="gunicorn_loggers.SyslogLogger", start=False,
        )  # fmt: skip
        with server:
            for n in range(20):
                server.request(f"/gevent/{n}")
            wait_until(
                lambda: len([r for r in daemon.received() if "/gevent/" in json.dumps(r)]) >= 20,
                what="records in rsyslog",
            )
        server.balanced_exit_stats(None)


def test_socket_logger_on_the_asgi_worker(socket_logger):
    with NdjsonReceiver() as receiver:
        server = socket_logger(receiver.url, "-k", "asgi", receiver=receiver, app="tests.apps:asgi_app")
        with server:
            for n in range(5):
                server.request(f"/asgi/{n}")
            wait_until(lambda: len(receiver.access_paths()) >= 5, what="asgi access records")
        assert sorted(receiver.access_paths()) == sorted(f"/asgi/{n}" for n in range(5))
        server.balanced_exit_stats(None)
