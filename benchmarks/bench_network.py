"""End to end with a network logger: requests/s and p99 of a hello-world app under ``wrk``.

Configurations, each a fresh ``gunicorn -w 1 -k sync`` on 127.0.0.1:

* ``none``: gunicorn's default logger, no access log (the baseline);
* ``rsyslog``: ``SyslogLogger`` over TCP to a live rsyslogd (started here, stopped by PID);
* ``blackhole``: ``SyslogLogger`` over TCP to a receiver that accepts and never reads.

Rounds interleave the configurations. After each rsyslog run the worker's exit report
must balance (delivered + dropped == produced). Run from the repository root::

    .venv/bin/python benchmarks/bench_network.py --rounds 3 --duration 5
"""

from __future__ import annotations

import argparse
import re
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.receivers import NdjsonReceiver, NetworkGunicorn, Rsyslog

LATENCY = re.compile(r"99%\s+([\d.]+)(us|ms|s)\b")
RATE = re.compile(r"Requests/sec:\s+([\d.]+)")


def run_wrk(port: int, duration: int) -> tuple[float, float]:
    out = subprocess.run(
        ["wrk", "-t1", "-c8", f"-d{duration}s", "--latency", f"http://127.0.0.1:{port}/"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    value, unit = LATENCY.search(out).groups()
    p99_ms = float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]
    return float(RATE.search(out).group(1)), p99_ms


def one_run(kind: str, workdir: Path, duration: int) -> tuple[float, float]:
    workdir.mkdir(parents=True)
    receiver = None
    args: list[str] = ["-k", "sync", "--graceful-timeout", "3"]
    if kind == "none":
        server = NetworkGunicorn(workdir, *args, app="benchmarks.hello_app:app", logger_class=None, access_log=False)
    else:
        receiver = Rsyslog(workdir / "rsyslog").start() if kind == "rsyslog" else NdjsonReceiver(read=False).start()
        server = NetworkGunicorn(
            workdir,
            *args,
            "--log-syslog-to",
            f"tcp://127.0.0.1:{receiver.port}",
            app="benchmarks.hello_app:app",
            logger_class="gunicorn_loggers.network_loggers.SyslogLogger",
            access_log=False,
            env={"GUNICORN_LOGGERS_LOCAL_ERRORS": "always"},
        )
    try:
        server.start()
        result = run_wrk(server.port, duration)
        server.stop()
        if kind != "none":
            for report in server.exit_reports():
                stats = report["delivery"]
                assert stats["delivered"] + stats["dropped"] == stats["produced"], stats
            worker = max((r["delivery"] for r in server.exit_reports()), key=lambda s: s["produced"])
            print(f"  {kind}: produced {worker['produced']}, dropped {worker['dropped']}", file=sys.stderr)
        return result
    finally:
        server.stop()
        if receiver is not None:
            receiver.stop()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=int, default=5)
    options = parser.parse_args()
    kinds = ("none", "rsyslog", "blackhole")
    results: dict[str, list[tuple[float, float]]] = {kind: [] for kind in kinds}
    with tempfile.TemporaryDirectory() as tmp:
        for round_ in range(options.rounds):
            for kind in kinds:
                results[kind].append(one_run(kind, Path(tmp) / f"{round_}-{kind}", options.duration))
                print(f"round {round_} {kind}: {results[kind][-1]}", file=sys.stderr)
    rate = {kind: statistics.median(r for r, _ in results[kind]) for kind in kinds}
    p99 = {kind: statistics.median(p for _, p in results[kind]) for kind in kinds}
    for kind in kinds:
        print(f"{kind:10s} {rate[kind]:9.0f} req/s  p99 {p99[kind]:.2f} ms")
    print(f"rsyslog / none     {rate['rsyslog'] / rate['none']:.3f}")
    ratio, latency = rate["blackhole"] / rate["rsyslog"], p99["blackhole"] / p99["rsyslog"]
    print(f"blackhole / rsyslog {ratio:.3f}  p99 x{latency:.2f}")


if __name__ == "__main__":
    main()
