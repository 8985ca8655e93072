"""Start a real gunicorn on 127.0.0.1, talk to it, read what it logged, stop it by PID."""

from __future__ import annotations

import http.client
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
LISTENING = re.compile(r"Listening at: http://127\.0\.0\.1:(\d+)")


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


def read_json_lines(path: Path) -> list[dict]:
    """Every line of ``path`` parsed strictly; a line that is not one JSON object fails the test."""
    if not path.exists():
        return []
    records = []
    for number, raw in enumerate(path.read_bytes().splitlines(), 1):
        text = raw.decode("utf-8")  # must be valid UTF-8
        record = json.loads(text)
        assert isinstance(record, dict), f"{path.name}:{number} is not a JSON object: {text!r}"
        records.append(record)
    return records


def child_hung(pid: int, timeout: float = 5.0) -> bool:
    """Wait up to ``timeout`` seconds for the forked child ``pid`` to exit; one still running then is
    killed and reaped, and True says it hung."""
    deadline = time.monotonic() + timeout
    while (hung := os.waitpid(pid, os.WNOHANG) == (0, 0)) and time.monotonic() < deadline:
        time.sleep(0.02)
    if hung:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
    return hung


def wait_until(predicate, timeout: float = 10.0, what: str = "condition", detail=lambda: ""):
    """``predicate()``'s first true result, asked every 50 ms for at most ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}{detail()}")
        time.sleep(0.05)


class Gunicorn:
    def __init__(
        self,
        tmp_path: Path,
        *args: str,
        app: str = "tests.apps:app",
        logger_class: str | None = "gunicorn_loggers.JsonLogger",
        env: dict[str, str] | None = None,
        access_log: bool = True,
        error_log: bool = True,
        workers: int = 1,
        quiet: bool = False,
    ) -> None:
        """``quiet``: gunicorn will not log "Listening at" (log level above info), so pick the port here."""
        self.tmp_path = tmp_path
        self.access_path = tmp_path / "access.log"
        self.error_path = tmp_path / "error.log"
        self.stdout_path = tmp_path / "stdout.log"
        self.stderr_path = tmp_path / "stderr.log"
        self.port = free_port() if quiet else None
        bind = f"127.0.0.1:{self.port or 0}"
        command = [sys.executable, "-m", "gunicorn", "--bind", bind, "--no-control-socket", "-w", str(workers)]
        if logger_class:
            command += ["--logger-class", logger_class]
        if access_log:
            command += ["--access-logfile", str(self.access_path)]
        if error_log:
            command += ["--error-logfile", str(self.error_path)]
        command += [*args, app]
        self.command = command
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("GUNICORN_LOGGERS_")}
        self.env.update(env or {})
        self.env["PYTHONPATH"] = str(REPO)
        self.proc: subprocess.Popen | None = None

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self, timeout: float = 30.0) -> Gunicorn:
        self._stdout = self.stdout_path.open("wb")
        self._stderr = self.stderr_path.open("wb")
        self.proc = subprocess.Popen(
            self.command, cwd=self.tmp_path, env=self.env, stdout=self._stdout, stderr=self._stderr
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"gunicorn exited with {self.proc.returncode}: {self.all_output()}")
            if self.port is not None:
                self._wait_accepting(deadline)
                return self
            match = LISTENING.search(self.all_output())
            if match and "Booting worker" in self.all_output():
                self.port = int(match.group(1))
                self._wait_accepting(deadline)
                return self
            time.sleep(0.05)
        self.stop()
        raise AssertionError(f"gunicorn did not start in {timeout}s: {self.all_output()}")

    def processes(self) -> list[int]:
        """The master and its children (the workers) now, from ``/proc``."""
        assert self.proc is not None
        master = self.proc.pid
        pids = [master]
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == master:  # field 4, after "(comm)": the parent
                pids.append(int(entry))
        return pids

    def holders(self, path: Path) -> list[int]:
        """Which of :meth:`processes` hold a descriptor open on ``path``: after a rename and SIGUSR1, none
        once every worker has reopened its files (each does so on its own SIGUSR1, sent by the master)."""
        target = str(path.resolve())
        holding = []
        for pid in self.processes():
            try:
                links = [os.readlink(f"/proc/{pid}/fd/{fd}") for fd in os.listdir(f"/proc/{pid}/fd")]
            except OSError:  # exited meanwhile
                continue
            if target in links:
                holding.append(pid)
        return holding

    def _wait_accepting(self, deadline: float) -> None:
        """Until a request is answered; a gunicorn that exits meanwhile (its port taken, say) fails at once, with its
        output, and so does one still silent at the deadline."""
        assert self.proc is not None
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(
                    f"gunicorn exited with {self.proc.returncode} before answering on port {self.port}: "
                    f"{self.all_output()[-3000:]}"
                )
            try:
                self.request("/__ready__")
                return
            except OSError:
                time.sleep(0.05)
        raise AssertionError(f"gunicorn never answered on port {self.port}: {self.all_output()[-3000:]}")

    def run_to_exit(self, timeout: float = 30.0) -> int:
        """For set-ups that must fail: run until gunicorn exits by itself."""
        self._stdout = self.stdout_path.open("wb")
        self._stderr = self.stderr_path.open("wb")
        self.proc = subprocess.Popen(
            self.command, cwd=self.tmp_path, env=self.env, stdout=self._stdout, stderr=self._stderr
        )
        try:
            return self.proc.wait(timeout)
        finally:
            self.stop()

    def refusal(self) -> str:
        """Run a set-up that must be refused: exit 1, one ``Error:`` line, no traceback. Its output."""
        assert self.run_to_exit() == 1
        output = self.all_output()
        assert "Traceback" not in output
        assert len([line for line in output.splitlines() if line.startswith("Error:")]) == 1, output
        return output

    def signal(self, signum: int) -> None:
        assert self.proc is not None
        os.kill(self.proc.pid, signum)

    def stop(self, timeout: float = 20.0) -> int | None:
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)
        for stream in (self._stdout, self._stderr):
            stream.close()
        return self.proc.returncode

    def __enter__(self) -> Gunicorn:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- talking to it -------------------------------------------------------------------------

    def request(self, path: str, method: str = "GET", headers: dict[str, str] | None = None) -> tuple[int, bytes]:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            connection.request(method, path, headers=headers or {})
            response = connection.getresponse()
            return response.status, response.read()
        finally:
            connection.close()

    def raw(self, data: bytes, timeout: float = 10.0) -> bytes:
        """Send bytes as they are (for requests http.client refuses to build); return the answer."""
        with socket.create_connection(("127.0.0.1", self.port), timeout=timeout) as sock:
            sock.sendall(data)
            chunks = []
            while True:
                try:
                    chunk = sock.recv(65536)
                except TimeoutError:
                    break
                if not chunk:
                    break
                chunks.append(chunk)
        return b"".join(chunks)

    # -- reading what it wrote ----------------------------------------------------------------

    def all_output(self) -> str:
        text = ""
        for path in (self.error_path, self.stderr_path, self.stdout_path):
            if path.exists():
                text += path.read_bytes().decode("utf-8", "replace")
        return text

    def access_records(self, path: Path | None = None) -> list[dict]:
        return [r for r in read_json_lines(path or self.access_path) if "__ready__" not in json.dumps(r)]

    def error_records(self) -> list[dict]:
        return read_json_lines(self.error_path)

    def wait_for(self, predicate, timeout: float = 10.0, what: str = "records"):
        return wait_until(predicate, timeout, what, detail=lambda: f"; output so far:\n{self.all_output()[-3000:]}")

    def wait_for_access(self, count: int, timeout: float = 10.0) -> list[dict]:
        return self.wait_for(lambda: (r := self.access_records()) and len(r) >= count and r, timeout, "access records")
