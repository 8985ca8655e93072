"""Log receivers the network-logger tests send to, and a gunicorn that finds its port through them.

* :class:`NdjsonReceiver`: a loopback TCP or UDP server that parses newline-delimited
  JSON strictly (every line one JSON object, valid UTF-8); it can be stopped and
  started again on the same port, or accept connections and never read them.
* :class:`Rsyslog`: a real ``rsyslogd`` in the foreground with its own config on a
  free loopback port (imudp + imtcp, ``mmjsonparse``, ``omfile``), stopped by PID.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path

from tests.gunicorn_process import Gunicorn

RSYSLOGD = shutil.which("rsyslogd") or "/usr/sbin/rsyslogd"


def free_port(kinds: tuple[int, ...] = (socket.SOCK_STREAM,)) -> int:
    """A loopback port free for every socket kind in ``kinds`` right now."""
    for _ in range(50):
        probe = socket.socket(socket.AF_INET, kinds[0])
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
        others = []
        try:
            for kind in kinds[1:]:
                other = socket.socket(socket.AF_INET, kind)
                others.append(other)
                other.bind(("127.0.0.1", port))
        except OSError:
            continue
        finally:
            probe.close()
            for other in others:
                other.close()
        return port
    raise AssertionError("no free loopback port")


def wait_until(predicate, timeout: float = 10.0, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.05)


class NdjsonReceiver:
    """NDJSON over TCP or UDP on 127.0.0.1, parsed strictly; records kept in arrival order."""

    def __init__(self, protocol: str = "tcp", port: int | None = None, read: bool = True) -> None:
        self.protocol = protocol
        kind = socket.SOCK_STREAM if protocol == "tcp" else socket.SOCK_DGRAM
        self.port = port or free_port((kind,))
        self.read = read
        self.records: list[dict] = []
        self.errors: list[str] = []
        self.connections = 0
        self._lock = threading.Lock()
        self._server: socket.socket | None = None
        self._accepted: list[socket.socket] = []
        self._threads: list[threading.Thread] = []
        self._running = False

    @property
    def url(self) -> str:
        return f"{self.protocol}://127.0.0.1:{self.port}"

    def start(self) -> NdjsonReceiver:
        kind = socket.SOCK_STREAM if self.protocol == "tcp" else socket.SOCK_DGRAM
        server = socket.socket(socket.AF_INET, kind)
        server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if not self.read:
            server.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        server.bind(("127.0.0.1", self.port))
        server.settimeout(0.1)
        if kind == socket.SOCK_STREAM:
            server.listen(64)
        self._server = server
        self._running = True
        target = self._accept_loop if kind == socket.SOCK_STREAM else self._datagram_loop
        self._spawn(target, server)
        return self

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
            with self._lock:
                self.connections += 1
                self._accepted.append(connection)
            if self.read:
                self._spawn(self._read_loop, connection)

    def _read_loop(self, connection: socket.socket) -> None:
        connection.settimeout(0.1)
        pending = b""
        while self._running:
            try:
                chunk = connection.recv(65536)
            except TimeoutError:
                continue
            except OSError:
                break
            if not chunk:
                break
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

    def stop(self) -> None:
        """Close the listener and every connection at once (RST), as a killed process would."""
        self._running = False
        if self._server is not None:
            self._server.close()
            self._server = None
        with self._lock:
            accepted, self._accepted = self._accepted, []
        for connection in accepted:
            try:
                connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
            except OSError:
                pass
            connection.close()
        for thread in self._threads:
            thread.join(2)
        self._threads = []

    def __enter__(self) -> NdjsonReceiver:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

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


def _from(record: dict, pid: int | None) -> bool:
    return pid is None or (record.get("process") or {}).get("pid") == pid


RSYSLOG_CONF = """\
global(workDirectory="{workdir}" maxMessageSize="64k")
module(load="imudp")
module(load="imtcp")
module(load="mmjsonparse")
input(type="imudp" address="127.0.0.1" port="{port}" ruleset="remote")
input(type="imtcp" address="127.0.0.1" port="{port}" ruleset="remote")
template(name="raw" type="string" string="%rawmsg%\\n")
template(name="received" type="list") {{
  constant(value="{{\\"app\\":\\"") property(name="app-name" format="json")
  constant(value="\\",\\"host\\":\\"") property(name="hostname" format="json")
  constant(value="\\",\\"procid\\":\\"") property(name="procid" format="json")
  constant(value="\\",\\"msgid\\":\\"") property(name="msgid" format="json")
  constant(value="\\",\\"time\\":\\"") property(name="timereported" dateFormat="rfc3339" format="json")
  constant(value="\\",\\"severity\\":") property(name="syslogseverity")
  constant(value=",\\"facility\\":") property(name="syslogfacility")
  constant(value=",\\"record\\":") property(name="$!all-json")
  constant(value="}}\\n")
}}
ruleset(name="remote") {{
  action(type="omfile" file="{workdir}/raw.log" template="raw")
  action(type="mmjsonparse" cookie="")
  if $parsesuccess == "OK" then {{
    action(type="omfile" file="{workdir}/received.json" template="received")
  }} else {{
    action(type="omfile" file="{workdir}/unparsed.log" template="raw")
  }}
}}
"""


class Rsyslog:
    """A real rsyslogd on 127.0.0.1 (UDP and TCP on one free port), in the foreground, stopped by PID."""

    def __init__(self, workdir: Path, port: int | None = None) -> None:
        self.workdir = workdir
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.port = port or free_port((socket.SOCK_STREAM, socket.SOCK_DGRAM))
        self.conf = workdir / "rsyslog.conf"
        self.pidfile = workdir / "rsyslogd.pid"
        self.received_path = workdir / "received.json"
        self.raw_path = workdir / "raw.log"
        self.unparsed_path = workdir / "unparsed.log"
        self.proc: subprocess.Popen | None = None

    def start(self, timeout: float = 15.0) -> Rsyslog:
        self.conf.write_text(RSYSLOG_CONF.format(workdir=self.workdir, port=self.port))
        self._log = (self.workdir / "rsyslogd.out").open("wb")
        self.proc = subprocess.Popen(
            [RSYSLOGD, "-n", "-f", str(self.conf), "-i", str(self.pidfile)],
            stdout=self._log,
            stderr=subprocess.STDOUT,
            cwd=self.workdir,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"rsyslogd exited: {(self.workdir / 'rsyslogd.out').read_text()}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                time.sleep(0.2)  # imudp starts with imtcp; give it a moment
                return self
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise AssertionError(f"rsyslogd did not listen on {self.port} in {timeout} s")

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

    def text(self, pid: int | None = None) -> str:
        return "\n".join(str(r["record"].get("message", "")) for r in self.received() if _from(r["record"], pid))


class NetworkGunicorn(Gunicorn):
    """A real gunicorn whose lines may only reach a receiver: its start-up lines are read from there too."""

    def __init__(self, tmp_path: Path, *args: str, receiver=None, **kwargs) -> None:
        super().__init__(tmp_path, *args, **kwargs)
        self.receiver = receiver

    def all_output(self) -> str:
        """Local output, then what the receiver got from this master and from any worker booting.

        Only the master's own records count for its "Listening at" line: a receiver may
        be shared by several servers. Any "Booting worker" line will do, as ``start()``
        then waits for the port to answer anyway.
        """
        text = super().all_output()
        if self.receiver is not None and self.proc is not None:
            text += "\n" + self.receiver.text(self.proc.pid)
            if "Booting worker" in self.receiver.text():
                text += "\nBooting worker"
        return text

    def delivery_reports(self) -> list[dict]:
        """The engine's reports, read from the local error log."""
        return [r for r in self.error_records() if "delivery" in r]

    def exit_reports(self) -> list[dict]:
        return [r for r in self.delivery_reports() if " at exit: " in r["message"]]
