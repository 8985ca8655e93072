"""Resident memory of a SocketLogger worker whose receiver never reads, against the configured buffer.

The bound the delivery engine promises: a worker's RSS grows by at most about
``GUNICORN_LOGGERS_BUFFER_BYTES`` plus a small constant while the collector is stuck.
Each size runs one sync worker under ``wrk`` for a few seconds on 127.0.0.1::

    .venv/bin/python benchmarks/bench_network_memory.py --duration 8
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tests.receivers import NdjsonReceiver, free_port  # noqa: E402


def rss_kib(pid: int) -> int:
    return int(re.search(r"VmRSS:\s+(\d+)", Path(f"/proc/{pid}/status").read_text()).group(1))


def measure(buffer: str, duration: int) -> tuple[int, int, str]:
    port = free_port()
    with NdjsonReceiver(read=False) as receiver:
        env = {
            **os.environ,
            "PYTHONPATH": str(REPO),
            "GUNICORN_LOGGERS_URL": receiver.url,
            "GUNICORN_LOGGERS_BUFFER_BYTES": buffer,
            "GUNICORN_LOGGERS_BUFFER_RECORDS": "10000000",
        }
        command = [
            sys.executable, "-m", "gunicorn", "-w", "1", "--no-control-socket", "--graceful-timeout", "3",
            "-b", f"127.0.0.1:{port}", "--logger-class", "gunicorn_loggers.SocketLogger", "benchmarks.hello_app:app",
        ]  # fmt: skip
        master = subprocess.Popen(command, env=env, cwd=REPO, stderr=subprocess.DEVNULL)
        try:
            deadline = time.monotonic() + 20
            worker = None
            while worker is None and time.monotonic() < deadline:
                children = subprocess.run(["pgrep", "-P", str(master.pid)], capture_output=True, text=True).stdout
                worker = int(children.split()[0]) if children.split() else None
                time.sleep(0.2)
            if worker is None:
                raise RuntimeError("no worker started")
            time.sleep(1)
            before = rss_kib(worker)
            out = subprocess.run(
                ["wrk", "-t1", "-c8", f"-d{duration}s", f"http://127.0.0.1:{port}/"], capture_output=True, text=True
            ).stdout
            after = rss_kib(worker)
            requests = re.search(r"(\d+) requests in", out).group(1)
        finally:
            master.send_signal(signal.SIGTERM)
            try:
                master.wait(30)
            except subprocess.TimeoutExpired:
                master.kill()
                master.wait(5)
    return before, after, requests


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=int, default=8)
    parser.add_argument("--buffers", default="1m,8m,32m")
    args = parser.parse_args()
    for buffer in args.buffers.split(","):
        before, after, requests = measure(buffer, args.duration)
        growth = after - before
        print(f"BUFFER_BYTES={buffer:>4}: {requests} requests; worker RSS {before} -> {after} KiB (+{growth} KiB)")


if __name__ == "__main__":
    main()
