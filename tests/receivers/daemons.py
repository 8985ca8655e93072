"""Real log daemons run in the foreground by a test: rsyslogd here, syslog-ng in test_syslog_ng."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

from tests.gunicorn_process import free_port

from ._records import _from

RSYSLOGD = shutil.which("rsyslogd") or "/usr/sbin/rsyslogd"


#: The rsyslog.conf the docs show, run with the port and the output directory of a test.
RSYSLOG_CONF = Path(__file__).parent.parent / "receiver_configs" / "rsyslog.conf"


class ForegroundDaemon:
    """A log daemon run in the foreground by a test: ready once its TCP port answers, stopped by PID.

    Subclasses set ``workdir``, ``port`` and ``name`` and call :meth:`launch` from ``start``.
    """

    name = "daemon"
    proc: subprocess.Popen | None = None

    @property
    def output_path(self) -> Path:
        return self.workdir / f"{self.name}.out"

    def launch(self, command: list[str], env: dict | None = None, timeout: float = 15.0, settle: float = 0.0) -> None:
        self._log = self.output_path.open("wb")
        self.proc = subprocess.Popen(command, stdout=self._log, stderr=subprocess.STDOUT, cwd=self.workdir, env=env)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"{self.name} exited: {self.output_path.read_text()}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                time.sleep(settle)
                return
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise AssertionError(f"{self.name} did not listen on {self.port} in {timeout} s")

    def stop(self) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)
        self._log.close()
        self.proc = None


class Rsyslog(ForegroundDaemon):
    """A real rsyslogd on 127.0.0.1 (UDP and TCP on one free port), in the foreground, stopped by PID."""

    name = "rsyslogd"

    def __init__(self, workdir: Path, port: int | None = None) -> None:
        self.workdir = workdir
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.port = port or free_port((socket.SOCK_STREAM, socket.SOCK_DGRAM))
        self.conf = workdir / "rsyslog.conf"
        self.pidfile = workdir / "rsyslogd.pid"
        self.received_path = workdir / "received.json"
        self.raw_path = workdir / "raw.log"
        self.unparsed_path = workdir / "unparsed.log"
        self.documented_path = workdir / "gunicorn.json"

    def start(self, timeout: float = 15.0) -> Rsyslog:
        conf = RSYSLOG_CONF.read_text()
        for documented in ('port="514"', '"/var/log'):
            assert documented in conf, f"{RSYSLOG_CONF} no longer has {documented}"
        conf = conf.replace('port="514"', f'address="127.0.0.1" port="{self.port}"')
        self.conf.write_text(conf.replace('"/var/log', f'"{self.workdir}'))
        command = [RSYSLOGD, "-n", "-f", str(self.conf), "-i", str(self.pidfile)]
        self.launch(command, timeout=timeout, settle=0.2)  # imudp starts with imtcp; give it a moment
        return self

    def __enter__(self) -> Rsyslog:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def received(self) -> list[dict]:
        """What rsyslog parsed: header fields and the JSON record, one per message; strict."""
        if not self.received_path.exists():
            return []
        return [json.loads(line) for line in self.received_path.read_bytes().decode("utf-8").splitlines()]

    def raw(self) -> list[bytes]:
        return self.raw_path.read_bytes().splitlines() if self.raw_path.exists() else []

    def unparsed(self) -> list[bytes]:
        return self.unparsed_path.read_bytes().splitlines() if self.unparsed_path.exists() else []

    def documented(self) -> list[dict]:
        """The records as the docs' configuration writes them (``/var/log/gunicorn.json`` there)."""
        if not self.documented_path.exists():
            return []
        return [json.loads(line) for line in self.documented_path.read_bytes().decode("utf-8").splitlines()]

    def text(self, pid: int | None = None) -> str:
        return "\n".join(str(r["record"].get("message", "")) for r in self.received() if _from(r["record"], pid))
