"""SyslogLogger against a real syslog-ng: its syslog() source takes only octet-counted TCP frames."""

from __future__ import annotations

import json
import os
import socket
import time
from pathlib import Path

import pytest

from tests.gunicorn_process import REPO
from tests.receivers import ForegroundDaemon, NetworkGunicorn, free_port, wait_until

ROOT = REPO / ".receivers" / "syslog-ng"
BINARY = ROOT / "usr" / "sbin" / "syslog-ng"

#: The syslog-ng.conf the docs show, run with the port and the output directory of a test.
CONF = Path(__file__).parent / "receiver_configs" / "syslog-ng.conf"


class SyslogNg(ForegroundDaemon):
    """syslog-ng in the foreground on a free loopback port (UDP and TCP), stopped by PID."""

    name = "syslog-ng"

    def __init__(self, workdir: Path) -> None:
        if not BINARY.exists():
            pytest.fail(f"syslog-ng is not unpacked at {ROOT}: run tests/install_syslog_ng.sh (tests/run.sh does)")
        self.workdir = workdir
        workdir.mkdir(parents=True, exist_ok=True)
        self.port = free_port((socket.SOCK_STREAM, socket.SOCK_DGRAM))
        self.received_path = workdir / "received.json"
        self.documented_path = workdir / "gunicorn.json"

    def start(self, timeout: float = 15.0) -> SyslogNg:
        conf = self.workdir / "syslog-ng.conf"
        text = CONF.read_text()
        for documented in ('ip("0.0.0.0") port(514)', '"/var/log'):
            assert documented in text, f"{CONF} no longer has {documented}"
        text = text.replace('ip("0.0.0.0") port(514)', f'ip("127.0.0.1") port({self.port})')
        conf.write_text(text.replace('"/var/log', f'"{self.workdir}'))
        env = {**os.environ, "LD_LIBRARY_PATH": str(ROOT / "usr" / "lib" / "syslog-ng")}
        command = [
            str(BINARY), "-F", "-e", "--no-caps", "--module-path", str(ROOT / "usr" / "lib" / "syslog-ng" / "3.38"),
            "-f", str(conf), "-p", str(self.workdir / "pid"), "-R", str(self.workdir / "persist"),
            "-c", str(self.workdir / "ctl"),
        ]  # fmt: skip
        self.launch(command, env=env, timeout=timeout)
        return self

    def received(self) -> list[dict]:
        """Each message: syslog-ng's header fields, and our JSON record parsed strictly from MESSAGE."""
        if not self.received_path.exists():
            return []
        messages = []
        for line in self.received_path.read_text().splitlines():
            message = json.loads(line)
            message["record"] = json.loads(message["MESSAGE"])
            messages.append(message)
        return messages

    def documented(self) -> list[dict]:
        """The records as the docs' configuration writes them (``/var/log/gunicorn.json`` there)."""
        if not self.documented_path.exists():
            return []
        return [json.loads(line) for line in self.documented_path.read_text().splitlines()]

    def text(self, pid: int | None = None) -> str:
        return "\n".join(
            m["record"].get("message", "")
            for m in self.received()
            if pid is None or m["record"].get("process", {}).get("pid") == pid
        )


@pytest.fixture
def syslog_ng(tmp_path):
    daemon = SyslogNg(tmp_path / "syslog-ng").start()
    try:
        yield daemon
    finally:
        daemon.stop()


@pytest.mark.parametrize("protocol", ["tcp", "udp"])
def test_syslog_ng_parses_every_record(tmp_path, syslog_ng, protocol):
    server = NetworkGunicorn(
        tmp_path,
        "--log-syslog-to", f"{protocol}://127.0.0.1:{syslog_ng.port}",
        "--log-syslog-prefix", "shop", "--log-syslog-facility", "local3",
        receiver=syslog_ng, logger_class="gunicorn_loggers.SyslogLogger", access_log=False,
    )  # fmt: skip
    with server:
        for n in range(30):
            server.request(f"/item/{n}?token=secret")
        server.request("/status/503")
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and len(access(syslog_ng)) < 31:
            time.sleep(0.1)
    messages = access(syslog_ng)
    assert sorted(m["record"]["url"]["path"] for m in messages) == sorted(
        [f"/item/{n}" for n in range(30)] + ["/status/503"]
    )
    for message in messages:
        assert message["PROGRAM"] == "shop"
        assert message["MSGID"] == "access"
        assert message["FACILITY"] == "local3"
        assert message["PID"] == str(message["record"]["process"]["pid"])
        assert "secret" not in message["MESSAGE"]
    severities = {m["record"]["http"]["response"]["status_code"]: m["PRIORITY"] for m in messages}
    assert severities[200] == "info" and severities[503] == "err"
    errors = [m for m in syslog_ng.received() if m["MSGID"] == "error"]
    assert any(m["record"]["message"].startswith("Booting worker") for m in errors)
    # the docs' destination holds every record as it was sent
    wait_until(lambda: len(syslog_ng.documented()) == len(syslog_ng.received()), what="the docs' gunicorn.json")
    sent = sorted(json.dumps(m["record"]) for m in syslog_ng.received())
    assert sorted(map(json.dumps, syslog_ng.documented())) == sent


def access(daemon: SyslogNg) -> list[dict]:
    return [m for m in daemon.received() if m["MSGID"] == "access" and "__ready__" not in m["MESSAGE"]]


def test_lf_framing_is_what_syslog_ng_drops(tmp_path, syslog_ng):
    """Why octet-counting is the default: syslog-ng's syslog() source refuses LF-framed TCP."""
    server = NetworkGunicorn(
        tmp_path,
        "--log-syslog-to", f"tcp://127.0.0.1:{syslog_ng.port}",
        receiver=None, logger_class="gunicorn_loggers.SyslogLogger", access_log=False, quiet=True,
        env={"GUNICORN_LOGGERS_SYSLOG_FRAMING": "lf"},
    )  # fmt: skip
    with server:
        for n in range(5):
            server.request(f"/lf/{n}")
        time.sleep(1.0)
    assert [m for m in syslog_ng.received() if "/lf/" in m["MESSAGE"]] == []
    syslog_ng.stop()
    assert "Invalid frame header" in syslog_ng.output_path.read_text()  # it arrived, and was refused
