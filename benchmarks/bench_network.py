"""Network loggers end to end under ``wrk``, and the records per second one worker's sender ships.

Two measurements, each against receivers on 127.0.0.1 started here and stopped by PID:

1. **End to end**: requests/s and p99 of a hello-world app (``gunicorn -w 1 -k sync``)
   under ``wrk`` for each configuration. Every configuration's server (and receiver) is
   started once and stays up. In each round every configuration runs for a couple of
   seconds right next to a run of ``none`` (which goes first is drawn), in a new random
   order every round, and its ratio is taken against that neighbour: a noisy neighbour
   on a shared machine weighs on both runs of a pair alike. Printed: the median ratio,
   its quartiles, the same ratio for the worker's CPU time per request, and the CPU
   time per request of the worker's threads other than the main one (the sender):

   * ``none``: gunicorn's default logger, no access log (the baseline);
   * ``json``: ``JsonLogger`` writing the same records to a local file (what building them costs);
   * ``rsyslog``: ``SyslogLogger`` over TCP to a live rsyslogd;
   * ``blackhole``: ``SyslogLogger`` over TCP to a receiver that accepts and never reads;
   * ``ndjson``, ``loki``, ``bulk``: ``HttpLogger`` in each format, ``otlp``:
     ``OtlpLogger``, ``fluent``: ``FluentLogger``, each to a fast receiver in its own
     process that answers as the collector would (2xx, ``_bulk`` items, Fluentd acks)
     without validating.

   After each run every process's exit report must balance (delivered + dropped == produced).

2. **Ship rate**: one process's :class:`DeliveryEngine` with each transport, fed
   ``--records`` typical access records as fast as ``submit()`` takes them (buffer big
   enough for all), timed until the last is delivered. This is the sender's ceiling,
   far above what one sync worker produces.

Run from the repository root::

    .venv/bin/python benchmarks/bench_network.py --rounds 12 --duration 2
    .venv/bin/python benchmarks/bench_network.py --skip-wrk --records 50000
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.bench_wrk import default_pinning, thread_cpu_ns
from tests.receivers import NdjsonReceiver, NetworkGunicorn, Rsyslog, free_port

#: (gunicorn's CPUs, everyone else's): set by main(); children inherit the affinity they start with.
PINNING: tuple[set[int], set[int]] | None = None
#: Receivers run under SCHED_IDLE unless ``--receivers-compete``: set by main().
RECEIVERS_IDLE = True


@contextlib.contextmanager
def started_on(which: int):
    """Start children on gunicorn's CPU (0) or on the other one (1): wrk and the receivers
    play the remote side, as a collector on another host would."""
    if PINNING is None:
        yield
        return
    before = os.sched_getaffinity(0)
    os.sched_setaffinity(0, PINNING[which])
    try:
        yield
    finally:
        os.sched_setaffinity(0, before)


@contextlib.contextmanager
def receiver_started():
    """Start a receiver on the other side's CPU, by default under SCHED_IDLE (inherited by its
    processes and threads): it then runs only when wrk does not need that CPU.

    On a machine of two CPUs the receiver shares one with the load generator. rsyslogd
    parses a batch of records every 20 ms for a few milliseconds; at normal priority wrk
    waits behind it, gunicorn waits for wrk's next request (its CPU falls from 99 % busy to
    93 %) and the loss is charged to the logger. A collector on another host takes nothing
    from the load generator; SCHED_IDLE is the nearest to that here. The receivers still
    have to keep up: the exit reports must balance and rsyslog must drop nothing.
    """
    with started_on(1):
        if not RECEIVERS_IDLE:
            yield
            return
        before = os.sched_getscheduler(0), os.sched_getparam(0)
        os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))
        try:
            yield
        finally:
            os.sched_setscheduler(0, before[0], before[1])


LATENCY = re.compile(r"99%\s+([\d.]+)(us|ms|s)\b")
RATE = re.compile(r"Requests/sec:\s+([\d.]+)")
HTTP_PATHS = {"ndjson": "/logs", "loki": "/loki/api/v1/push", "bulk": "/logs-bench-default/_bulk", "otlp": "/v1/logs"}
COLLECTOR_KINDS = ("ndjson", "loki", "bulk", "otlp", "fluent")


# -- fast receivers, each in a process of its own ------------------------------------------------


def serve_http(kind: str, port: int) -> None:
    answer = {
        "ndjson": (200, b""),
        "loki": (204, b""),
        "bulk": (200, b'{"took":1,"errors":false,"items":[]}'),
        "otlp": (200, b"{}"),
    }[kind]

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):
            pass

        def setup(self):
            super().setup()
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # headers and body: 2 writes

        def do_POST(self):
            self.rfile.read(int(self.headers["Content-Length"]))
            status, body = answer
            self.send_response(status)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(body)

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    server.daemon_threads = True
    server.serve_forever()


def serve_forward(port: int) -> None:
    import msgpack

    server = socket.socket()
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind(("127.0.0.1", port))
    server.listen(16)

    def handle(connection: socket.socket) -> None:
        unpacker = msgpack.Unpacker(raw=False)
        while True:
            data = connection.recv(1 << 20)
            if not data:
                return
            unpacker.feed(data)
            for message in unpacker:
                if isinstance(message, list) and len(message) == 3 and isinstance(message[2], dict):
                    chunk = message[2].get("chunk")
                    if chunk:
                        connection.sendall(msgpack.packb({"ack": chunk}))

    while True:
        connection, _ = server.accept()
        threading.Thread(target=handle, args=(connection,), daemon=True).start()


class FastReceiver:
    """``bench_network.py --serve KIND PORT`` in a subprocess, stopped by PID."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.port = free_port()
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        if self.kind == "fluent":
            return f"tcp://127.0.0.1:{self.port}"
        return f"http://127.0.0.1:{self.port}{HTTP_PATHS[self.kind]}"

    def start(self) -> FastReceiver:
        self.proc = subprocess.Popen([sys.executable, __file__, "--serve", self.kind, str(self.port)])
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                return self
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"{self.kind} receiver did not start")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            self.proc.wait(5)
        self.proc = None


def logger_for(kind: str, receiver: FastReceiver) -> tuple[str, dict[str, str]]:
    if kind == "otlp":
        return "gunicorn_loggers.OtlpLogger", {"OTEL_EXPORTER_OTLP_LOGS_ENDPOINT": receiver.url}
    if kind == "fluent":
        return "gunicorn_loggers.FluentLogger", {"GUNICORN_LOGGERS_URL": receiver.url}
    return "gunicorn_loggers.HttpLogger", {"GUNICORN_LOGGERS_URL": receiver.url, "GUNICORN_LOGGERS_HTTP_FORMAT": kind}


# -- 1. end to end -------------------------------------------------------------------------------


def run_wrk(port: int, duration: int) -> tuple[float, float]:
    with started_on(1):
        return _run_wrk(port, duration)


def _run_wrk(port: int, duration: int) -> tuple[float, float]:
    out = subprocess.run(
        ["wrk", "-t1", "-c8", f"-d{duration}s", "--latency", f"http://127.0.0.1:{port}/"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    value, unit = LATENCY.search(out).groups()
    p99_ms = float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]
    return float(RATE.search(out).group(1)), p99_ms


def exit_reports(server: NetworkGunicorn) -> list[dict]:
    reports = []
    for path in (server.error_path, server.stderr_path):
        if path.exists():
            for line in path.read_bytes().splitlines():
                if b" at exit: " in line:
                    reports.append(json.loads(line))
    stats = []
    for report in reports:
        if "delivery" in report:
            stats.append(report["delivery"])
        else:  # the otel schema keeps it among the attributes
            from gunicorn_loggers.schemas.otlp_json import plain_value

            record = report["resourceLogs"][0]["scopeLogs"][0]["logRecords"][0]
            attributes = {kv["key"]: plain_value(kv["value"]) for kv in record["attributes"]}
            stats.append(attributes["delivery"])
    return stats


def worker_pids(master: int) -> list[int]:
    """The master's children: its workers (one, with ``-w 1``)."""
    try:
        with open(f"/proc/{master}/task/{master}/children") as f:
            return [int(pid) for pid in f.read().split()]
    except OSError:
        return []


def cpu_jiffies() -> dict[int, tuple[int, int]]:
    """Per CPU (busy, total) clock ticks so far, from ``/proc/stat``."""
    ticks = {}
    with open("/proc/stat") as f:
        for line in f:
            name, *values = line.split()
            if name.startswith("cpu") and name != "cpu":
                numbers = [int(v) for v in values[:8]]
                idle = numbers[3] + numbers[4]
                ticks[int(name[3:])] = (sum(numbers) - idle, sum(numbers))
    return ticks


def busy_fractions(before: dict[int, tuple[int, int]], after: dict[int, tuple[int, int]]) -> tuple[float, float]:
    """How busy gunicorn's CPUs and the other side's CPUs were in between (0..1 each)."""
    sides = PINNING or ({0}, set(after) - {0})

    def busy(cpus: set[int]) -> float:
        spent = sum(after[c][0] - before[c][0] for c in cpus)
        total = sum(after[c][1] - before[c][1] for c in cpus)
        return spent / total if total else 0.0

    return busy(sides[0]), busy(sides[1])


class Contender:
    """One configuration: its gunicorn (and receiver), started once and loaded again every round.

    Servers stay up for the whole run and rounds are short: the neighbours on a shared
    machine change from one second to the next, and a configuration measured minutes
    after the baseline would carry that drift into its ratio.
    """

    def __init__(self, kind: str, workdir: Path) -> None:
        self.kind = kind
        on_baseline = kind.endswith("~")  # "fluent~": that logger on the code of --baseline
        kind, _, batch_wait = kind.rstrip("~").partition("@")  # "fluent@0.02": that logger with BATCH_WAIT=0.02
        waits = {"GUNICORN_LOGGERS_BATCH_WAIT": batch_wait} if batch_wait else {}
        workdir.mkdir(parents=True)
        self.receiver = None
        args: list[str] = ["-k", "sync", "--graceful-timeout", "3"]
        app = "benchmarks.hello_app:app"
        if kind == "none":
            self.server = NetworkGunicorn(workdir, *args, app=app, logger_class=None, access_log=False)
        elif kind == "json":  # the floor for a network logger: the same records to a local file
            self.server = NetworkGunicorn(workdir, *args, app=app, logger_class="gunicorn_loggers.JsonLogger")
        elif kind in ("rsyslog", "blackhole"):
            with receiver_started():
                self.receiver = (
                    Rsyslog(workdir / "rsyslog").start() if kind == "rsyslog" else NdjsonReceiver(read=False).start()
                )
            self.server = NetworkGunicorn(
                workdir,
                *args,
                "--log-syslog-to",
                f"tcp://127.0.0.1:{self.receiver.port}",
                app=app,
                logger_class="gunicorn_loggers.network_loggers.SyslogLogger",
                access_log=False,
                env={"GUNICORN_LOGGERS_LOCAL_ERRORS": "always", **waits},
            )
        else:
            with receiver_started():
                self.receiver = FastReceiver(kind).start()
            logger_class, env = logger_for(kind, self.receiver)
            env["GUNICORN_LOGGERS_LOCAL_ERRORS"] = "always"
            env.update(waits)
            self.server = NetworkGunicorn(workdir, *args, app=app, logger_class=logger_class, access_log=False, env=env)
        if on_baseline:
            self.server.env["PYTHONPATH"] = os.pathsep.join([BASELINE[0], self.server.env["PYTHONPATH"]])
        with started_on(0):
            self.server.start()
        self.workers = worker_pids(self.server.proc.pid)

    def measure(self, duration: int) -> tuple[float, float, float, float, float, float]:
        """(requests/s, p99 ms, worker CPU µs per request: all its threads, the sender included,
        how busy gunicorn's CPU and the other side's CPU were: the other side holds wrk and
        the receiver, so a receiver that keeps it busy slows the load generator, not gunicorn;
        and the CPU µs per request of the worker's threads other than its main one: the sender)."""
        (main, others), ticks = thread_cpu_ns(self.workers), cpu_jiffies()
        rate, p99_ms = run_wrk(self.server.port, duration)
        main_after, others_after = thread_cpu_ns(self.workers)
        requests = max(rate * duration, 1)
        cpu_us = (main_after - main + others_after - others) / 1000 / requests
        sender_us = (others_after - others) / 1000 / requests
        return (rate, p99_ms, cpu_us, *busy_fractions(ticks, cpu_jiffies()), sender_us)

    def finish(self) -> None:
        """Stop; a network logger's exit reports must balance (delivered + dropped == produced)."""
        try:
            self.server.stop()
            if self.kind not in ("none", "json"):
                stats = exit_reports(self.server)
                assert stats, f"no exit report from {self.kind}"
                for report in stats:
                    assert report["delivered"] + report["dropped"] == report["produced"], report
                worker = max(stats, key=lambda s: s["produced"])
                print(f"  {self.kind}: produced {worker['produced']}, dropped {worker['dropped']}", file=sys.stderr)
        finally:
            self.server.stop()
            if self.receiver is not None:
                self.receiver.stop()


def _quartiles(values: list[float]) -> str:
    low, _, high = statistics.quantiles(values, n=4) if len(values) > 1 else (values[0],) * 3
    return f"{low:.3f}-{high:.3f}"


# -- 2. ship rate --------------------------------------------------------------------------------

ACCESS_RECORD = {
    "@timestamp": "2026-11-25T12:00:00.123456Z",
    "log.level": "info",
    "message": "GET /api/orders/1234?page=2 200",
    "ecs": {"version": "9.4.0"},
    "http": {"request": {"method": "GET"}, "response": {"status_code": 200, "body": {"bytes": 1234}}},
    "url": {"path": "/api/orders/1234", "query": "page=2"},
    "client": {"ip": "10.1.2.3"},
    "user_agent": {"original": "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36"},
    "event": {"duration": 1234567, "dataset": "gunicorn.access"},
    "service": {"name": "shop"},
}


#: The checkout a KIND~ contender imports gunicorn_loggers from (--baseline).
BASELINE: list[str] = [""]


def frame_for(kind: str):
    """One access record as the request path frames it for ``kind``'s transport."""
    from gunicorn_loggers.framing.fluent import FluentEntryEncoder
    from gunicorn_loggers.framing.ndjson import JsonLineEncoder
    from gunicorn_loggers.framing.otlp import OtlpRecordEncoder
    from gunicorn_loggers.timestamps import rfc3339_utc_ns

    time_ns = rfc3339_utc_ns(ACCESS_RECORD["@timestamp"])
    if kind == "otlp":
        from gunicorn_loggers.schemas.otlp_json import log_record, logs_request

        record = log_record(time_ns, "info", "GET /api/orders/1234 200", {"url.path": "/api/orders/1234"})
        request = logs_request({"service.name": "shop", "process.pid": os.getpid()}, "gunicorn.access", [record])
        return OtlpRecordEncoder().encode("access", "info", time_ns, request, None)
    if kind == "fluent":
        return FluentEntryEncoder().encode("access", "info", time_ns, ACCESS_RECORD, None)
    line = orjson.dumps(ACCESS_RECORD, option=orjson.OPT_APPEND_NEWLINE)
    return JsonLineEncoder().encode("access", "info", time_ns, None, line)


def transport_for(kind: str, receiver: FastReceiver):
    from gunicorn_loggers.transports.fluent import ForwardTransport
    from gunicorn_loggers.transports.http import HttpTransport
    from gunicorn_loggers.transports.http_bodies import BulkFormat, LokiFormat, NdjsonFormat, OtlpFormat
    from gunicorn_loggers.transports.http_target import parse_http_url
    from gunicorn_loggers.transports.socket import parse_endpoint

    if kind == "fluent":
        return ForwardTransport(parse_endpoint(receiver.url), {"access": "gunicorn.access", "error": "gunicorn.error"})
    body = {"ndjson": NdjsonFormat, "loki": lambda: LokiFormat("shop"), "bulk": BulkFormat, "otlp": OtlpFormat}[kind]()
    return HttpTransport(parse_http_url(receiver.url), body)


def ship_rate(kind: str, records: int) -> float:
    from gunicorn_loggers.delivery import DeliveryEngine

    receiver = FastReceiver(kind).start()
    try:
        # linger 0: the first batch leaves at once, so one batch wait is not counted as sending time
        engine = DeliveryEngine(transport_for(kind, receiver), max_records=records + 1, max_bytes=1 << 30, linger=0.0)
        frame = frame_for(kind)
        started = time.monotonic()
        for _ in range(records):
            engine.submit(frame)
        deadline = started + 120
        while engine.stats()["delivered"] < records and time.monotonic() < deadline:
            time.sleep(0.002)
        elapsed = time.monotonic() - started
        stats = engine.stats()
        engine.close(1, final_report=False)
        assert stats["delivered"] == records, stats
        return records / elapsed
    finally:
        receiver.stop()


def main() -> None:
    if len(sys.argv) == 4 and sys.argv[1] == "--serve":
        kind, port = sys.argv[2], int(sys.argv[3])
        serve_forward(port) if kind == "fluent" else serve_http(kind, port)
        return
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=12)
    parser.add_argument("--duration", type=int, default=2)
    parser.add_argument("--records", type=int, default=50_000)
    parser.add_argument(
        "--kinds",
        default="none,json,rsyslog,blackhole," + ",".join(COLLECTOR_KINDS),
        help="comma list; KIND@SECONDS runs that logger with GUNICORN_LOGGERS_BATCH_WAIT=SECONDS",
    )
    parser.add_argument("--skip-wrk", action="store_true")
    parser.add_argument(
        "--baseline", help="another checkout: each KIND~ in --kinds runs KIND with its gunicorn_loggers"
    )
    parser.add_argument("--no-pin", action="store_true", help="let the scheduler place gunicorn, wrk and receivers")
    parser.add_argument("--seed", type=int, default=1, help="seed of the per-round order")
    parser.add_argument(
        "--receivers-compete", action="store_true", help="receivers at normal priority, competing with wrk"
    )
    options = parser.parse_args()
    BASELINE[0] = options.baseline
    kinds = tuple(options.kinds.split(","))
    if any(kind.endswith("~") for kind in kinds) and not options.baseline:
        parser.error("a KIND~ runs on the code of --baseline DIR: give it")
    global PINNING, RECEIVERS_IDLE
    PINNING = None if options.no_pin else default_pinning()
    RECEIVERS_IDLE = not options.receivers_compete
    if not options.skip_wrk:
        # Each configuration's run sits next to a run of "none" (which goes first is drawn each
        # time), and its ratio is taken against that neighbour: on a shared machine the
        # neighbours' load drifts within seconds, so a baseline measured half a round away
        # is another machine.
        results: dict[str, list[tuple[float, ...]]] = {kind: [] for kind in kinds}
        beside: dict[str, list[tuple[float, ...]]] = {kind: [] for kind in kinds}
        order = random.Random(options.seed)
        others = [kind for kind in kinds if kind != "none"]
        with tempfile.TemporaryDirectory() as tmp, contextlib.ExitStack() as running:
            contenders = {}
            for kind in ("none", *others):
                contenders[kind] = Contender(kind, Path(tmp) / kind)
                running.callback(contenders[kind].finish)
            for round_ in range(options.rounds):
                for kind in order.sample(others, len(others)):  # a new order every round
                    pair = order.sample([kind, "none"], 2)
                    measured = {name: contenders[name].measure(options.duration) for name in pair}
                    results[kind].append(measured[kind])
                    beside[kind].append(measured["none"])
                    results["none"].append(measured["none"])
                    print(f"round {round_} {pair}: {measured}", file=sys.stderr)
        pinned = f"gunicorn on CPU {sorted(PINNING[0])}, wrk and receivers on {sorted(PINNING[1])}" if PINNING else ""
        policy = "SCHED_IDLE" if RECEIVERS_IDLE else "normal priority"
        print(
            f"{options.rounds} rounds x {options.duration} s, each run next to one of none; "
            f"{pinned or 'not pinned'}; receivers at {policy}"
        )
        rate, p99, cpu, busy_here, busy_there, sender = (
            {kind: statistics.median(r[i] for r in results[kind]) for kind in ("none", *others)} for i in range(6)
        )

        def of_none(kind: str, field: int = 0) -> list[float]:
            """Per pair: requests/s over its neighbour's (field 0), or the neighbour's CPU per request over ours (2)."""
            pairs = zip(results[kind], beside[kind], strict=True)
            return [x[0] / y[0] if field == 0 else y[2] / x[2] for x, y in pairs if x[field]]

        for kind in ("none", *others):
            ratio = ""
            if kind != "none":
                rates, cpus = of_none(kind), of_none(kind, 2)
                ratio = (
                    f"{statistics.median(rates):.3f} of none (quartiles {_quartiles(rates)}; "
                    f"worker CPU: {statistics.median(cpus):.3f})"
                )
            print(
                f"{kind:10s} {rate[kind]:9.0f} req/s  p99 {p99[kind]:6.2f} ms  cpu {cpu[kind]:6.1f} µs/req "
                f"(sender {sender[kind]:4.1f})  "
                f"busy {busy_here[kind]:4.0%} / {busy_there[kind]:4.0%}  {ratio}"
            )
        if "rsyslog" in rate and "blackhole" in rate:
            ratio = statistics.median(b / r for b, r in zip(of_none("blackhole"), of_none("rsyslog"), strict=True))
            print(f"blackhole / rsyslog {ratio:.3f}  p99 x{p99['blackhole'] / p99['rsyslog']:.2f}")
    print(f"ship rate, one process's sender, {options.records} access records:")
    for kind in COLLECTOR_KINDS:
        print(f"  {kind:8s} {ship_rate(kind, options.records):9.0f} records/s")


if __name__ == "__main__":
    main()
