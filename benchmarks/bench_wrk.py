"""End to end: requests per second of a hello-world app with and without an access log.

Configurations, each a fresh ``gunicorn -w 1 -k sync`` on 127.0.0.1 loaded by ``wrk``:

* ``a``: gunicorn's default logger, no access log (the baseline);
* ``b``: gunicorn's default logger with ``--access-logfile``;
* ``c``: ``--logger-class gunicorn_loggers.JsonLogger --access-logfile``;
* ``d``: ``--logger-class gunicorn_loggers.StructlogLogger --access-logfile``;
* ``e``: as ``c`` with ``GUNICORN_LOGGERS_ACCESS_FLUSH_INTERVAL=1`` (write-behind buffer);
* ``f``: the floor, ``benchmarks/floor_logger.py``: a small dict, ``orjson.dumps``, ``os.write``
  (not in the default set; the least any JSON access log can cost here);
* ``n``: as ``c`` writing to ``/dev/null``: our whole cost but the file system's
  (not in the default set; it tells how much of ``c``'s cost is the kernel writing the file).

Rounds interleave the configurations, in a new shuffled order every round, so that a
noisy neighbour (or a lucky position in the round) hurts or helps all of them alike;
the summary gives medians over rounds and the median of the per-round ratios b/a,
c/a and d/a (targets: c/a >= 0.95, d/a >= 0.93).
gunicorn (master and worker) runs pinned to one CPU and wrk to another
(``--no-pin`` to let the scheduler move them).
After every run the access file is checked: one line per request wrk counted
(plus the warm-up requests, give or take the requests in flight when wrk
stopped), and for ``c`` and ``d`` every line must be a JSON object, so a logger
that logs nothing cannot look fast.

Run by hand from the repository root (needs ``wrk`` on PATH)::

    .venv/bin/python benchmarks/bench_wrk.py --rounds 3 --duration 5
    .venv/bin/python benchmarks/bench_wrk.py --configs ad    # only the baseline and StructlogLogger

``GUNICORN_LOGGERS_*`` variables in the environment reach configurations ``c`` and
``d`` (e.g. ``GUNICORN_LOGGERS_SCHEMA=otel``; ``GUNICORN_LOGGERS_PROCESSORS`` is
an option of ``d`` only).
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HOST = "127.0.0.1"
APP = "benchmarks.hello_app:app"
EXPECTED_BODY = b"Hello, World!\n"
WARMUP_REQUESTS = 20
#: Lowest acceptable median per-round ratio of req/s against ``a``.
TARGETS_OVER_A = {"c": 0.95, "d": 0.93, "e": 0.95}
#: Configurations whose access log must be one JSON object per line.
JSON_CONFIGS = frozenset({"c", "d", "e", "f", "C", "D"})
#: Configurations run on the code of ``--baseline DIR`` (another checkout), beside their own.
BASELINE_CONFIGS = {"C": "c", "D": "d"}
#: The checkout ``C`` and ``D`` import gunicorn_loggers from (``--baseline``).
baseline_tree: str | None = None

CONFIGS: dict[str, tuple[str, list[str]]] = {
    "a": ("gunicorn Logger, no access log", []),
    "b": ("gunicorn Logger, --access-logfile", ["--access-logfile", "{access}"]),
    "c": (
        "JsonLogger, --access-logfile",
        ["--logger-class", "gunicorn_loggers.JsonLogger", "--access-logfile", "{access}"],
    ),
    "d": (
        "StructlogLogger, --access-logfile",
        ["--logger-class", "gunicorn_loggers.StructlogLogger", "--access-logfile", "{access}"],
    ),
    "e": (
        "JsonLogger, buffered 1 s",
        [
            "--logger-class", "gunicorn_loggers.JsonLogger", "--access-logfile", "{access}",
            "-e", "GUNICORN_LOGGERS_ACCESS_FLUSH_INTERVAL=1",
        ],
    ),
    "f": (
        "floor: dict + orjson + os.write",
        ["--logger-class", "benchmarks.floor_logger.FloorLogger", "--access-logfile", "{access}"],
    ),
    "n": (
        "JsonLogger, --access-logfile /dev/null",
        ["--logger-class", "gunicorn_loggers.JsonLogger", "--access-logfile", "/dev/null"],
    ),
}  # fmt: skip

CONFIGS.update(
    {upper: (f"{CONFIGS[lower][0]}, --baseline code", CONFIGS[lower][1]) for upper, lower in BASELINE_CONFIGS.items()}
)

LISTENING = re.compile(r"Listening at: http://127\.0\.0\.1:(\d+)")
BOOTED = re.compile(r"Booting worker with pid: (\d+)")


# -- gunicorn ------------------------------------------------------------------------------


@dataclass
class Server:
    """One gunicorn master started by us; stopped by its PID, and its worker's if orphaned."""

    label: str
    workdir: str
    python: str
    graceful_timeout: int
    proc: subprocess.Popen | None = None
    port: int | None = None
    worker_pids: list[int] = field(default_factory=list)

    @property
    def access_path(self) -> str:
        return os.path.join(self.workdir, "access.log")

    @property
    def error_path(self) -> str:
        return os.path.join(self.workdir, "error.log")

    @property
    def output_path(self) -> str:
        return os.path.join(self.workdir, "output.log")

    def start(self, startup_timeout: float, cpus: set[int] | None = None) -> None:
        extra = [arg.format(access=self.access_path) for arg in CONFIGS[self.label][1]]
        command = [
            self.python, "-m", "gunicorn",
            "-w", "1", "-k", "sync",
            "--bind", f"{HOST}:0",
            "--no-control-socket",
            "--graceful-timeout", str(self.graceful_timeout),
            "--error-logfile", self.error_path,
            *extra,
            APP,
        ]  # fmt: skip
        env = dict(os.environ)
        if self.label in BASELINE_CONFIGS:
            env["PYTHONPATH"] = os.pathsep.join(filter(None, [baseline_tree, env.get("PYTHONPATH")]))
        with open(self.output_path, "wb") as output:
            # A session of its own: Ctrl-C on the benchmark reaches us, and we stop gunicorn.
            self.proc = subprocess.Popen(
                command,
                cwd=REPO,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=output,
                start_new_session=True,
                preexec_fn=pinned_to(cpus),
            )
        deadline = time.monotonic() + startup_timeout
        while time.monotonic() < deadline:
            self._read_error_log()
            if self.port is not None and self.worker_pids:
                break
            if self.proc.poll() is not None:
                raise RuntimeError(f"gunicorn ({self.label}) exited with {self.proc.returncode}:\n{self.logs()}")
            time.sleep(0.05)
        else:
            raise RuntimeError(f"gunicorn ({self.label}) not ready after {startup_timeout}s:\n{self.logs()}")
        self._warm_up(deadline)

    def _read_error_log(self) -> None:
        """Port and worker pid from the error log: JSON lines with JsonLogger, text with gunicorn's."""
        try:
            with open(self.error_path, encoding="utf-8", errors="replace") as f:
                lines = f.read().splitlines()
        except FileNotFoundError:
            return
        for line in lines:
            text = line
            if line.startswith("{"):
                try:
                    record = json.loads(line)
                except ValueError:
                    record = None
                if isinstance(record, dict) and "message" in record:
                    text = str(record["message"])
            for candidate in (text, line):  # the raw line covers schemas without "message" (otel)
                if self.port is None and (match := LISTENING.search(candidate)):
                    self.port = int(match.group(1))
                if match := BOOTED.search(candidate):
                    pid = int(match.group(1))
                    if pid not in self.worker_pids:
                        self.worker_pids.append(pid)

    def _warm_up(self, deadline: float) -> None:
        """A few requests before wrk, until the worker answers; each must be the app's 200."""
        done = 0
        while done < WARMUP_REQUESTS:
            if time.monotonic() > deadline:
                raise RuntimeError(f"gunicorn ({self.label}) does not answer on port {self.port}:\n{self.logs()}")
            connection = http.client.HTTPConnection(HOST, self.port, timeout=5)
            try:
                connection.request("GET", "/")
                response = connection.getresponse()
                body = response.read()
            except OSError:
                time.sleep(0.05)
                continue
            finally:
                connection.close()
            if response.status != 200 or body != EXPECTED_BODY:
                raise RuntimeError(f"gunicorn ({self.label}) answered {response.status} {body[:100]!r}")
            done += 1

    def stop(self) -> None:
        proc = self.proc
        if proc is None:
            return
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=self.graceful_timeout + 5)
            except subprocess.TimeoutExpired:
                print(f"  gunicorn master {proc.pid} ignored SIGTERM: SIGKILL", file=sys.stderr)
                os.kill(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)
        for pid in self.worker_pids:  # only left behind if the master was killed
            stop_orphan(pid)
        self.proc = None

    def logs(self) -> str:
        parts = []
        for path in (self.output_path, self.error_path):
            try:
                with open(path, encoding="utf-8", errors="replace") as f:
                    parts.append(f"--- {os.path.basename(path)}\n" + f.read()[-3000:])
            except FileNotFoundError:
                pass
        return "\n".join(parts)


def is_gunicorn(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return b"gunicorn" in f.read()
    except OSError:
        return False


def stop_orphan(pid: int) -> None:
    """SIGTERM, wait up to 5 s, then SIGKILL a worker we started, if it is still there."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        if not is_gunicorn(pid):
            return
        print(f"  gunicorn worker {pid} outlived its master: {sig.name}", file=sys.stderr)
        os.kill(pid, sig)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and is_gunicorn(pid):
            time.sleep(0.05)


# -- wrk -----------------------------------------------------------------------------------

_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1000.0, "m": 60_000.0}
_TIME = r"([\d.]+)(us|ms|s|m)"


@dataclass
class WrkResult:
    requests_per_second: float
    requests: int
    latency_avg_ms: float
    latency_p50_ms: float
    latency_p99_ms: float
    errors: str
    worker_cpu_us: float = 0.0  # worker CPU time per request, all its threads


def to_ms(value: str, unit: str) -> float:
    return float(value) * _UNITS[unit]


def cpu_ns(pids: list[int]) -> int:
    """Nanoseconds on a CPU so far, all threads of ``pids`` (``/proc/PID/task/*/schedstat``)."""
    return sum(thread_cpu_ns(pids))


def thread_cpu_ns(pids: list[int]) -> tuple[int, int]:
    """Nanoseconds on a CPU so far of the main threads of ``pids`` and of their other threads
    (a network logger's sender), from ``/proc/PID/task/*/schedstat``."""
    main = others = 0
    for pid in pids:
        try:
            tasks = os.listdir(f"/proc/{pid}/task")
        except OSError:
            continue
        for task in tasks:
            try:
                with open(f"/proc/{pid}/task/{task}/schedstat") as f:
                    spent = int(f.read().split()[0])
            except (OSError, ValueError, IndexError):
                continue
            if task == str(pid):
                main += spent
            else:
                others += spent
    return main, others


def pinned_to(cpus: set[int] | None):
    """A ``preexec_fn`` that keeps the child (and its children, threads) on ``cpus``."""
    if not cpus:
        return None
    return lambda: os.sched_setaffinity(0, cpus)


def default_pinning() -> tuple[set[int], set[int]] | None:
    """gunicorn on the first CPU we may use, wrk on the second: two processes no longer
    trade places on the cores between runs, which was most of the run-to-run noise."""
    cpus = sorted(os.sched_getaffinity(0))
    return ({cpus[0]}, {cpus[1]}) if len(cpus) >= 2 else None


def run_wrk(port: int, args: argparse.Namespace, cpus: set[int] | None = None) -> WrkResult:
    command = [
        args.wrk, f"-t{args.threads}", f"-c{args.connections}", f"-d{args.duration}s", "--latency",
        f"http://{HOST}:{port}/",
    ]  # fmt: skip
    done = subprocess.run(
        command,
        capture_output=True,
        text=True,
        timeout=args.duration + 60,
        check=False,
        preexec_fn=pinned_to(cpus),
    )
    out = done.stdout
    if done.returncode != 0:
        raise RuntimeError(f"wrk exited with {done.returncode}:\n{out}\n{done.stderr}")
    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    total = re.search(r"(\d+) requests in ", out)
    avg = re.search(rf"Latency\s+{_TIME}", out)
    p50 = re.search(rf"^\s+50%\s+{_TIME}", out, re.MULTILINE)
    p99 = re.search(rf"^\s+99%\s+{_TIME}", out, re.MULTILINE)
    if not (rps and total and avg and p50 and p99):
        raise RuntimeError(f"cannot parse wrk's output:\n{out}")
    error_lines = re.finditer(r"^\s*(Socket errors:.*|Non-2xx or 3xx responses:.*)$", out, re.MULTILINE)
    errors = [m.group(0).strip() for m in error_lines]
    return WrkResult(
        requests_per_second=float(rps.group(1)),
        requests=int(total.group(1)),
        latency_avg_ms=to_ms(*avg.groups()),
        latency_p50_ms=to_ms(*p50.groups()),
        latency_p99_ms=to_ms(*p99.groups()),
        errors="; ".join(errors),
    )


# -- checks --------------------------------------------------------------------------------


def check_access_log(server: Server, wrk: WrkResult, connections: int) -> tuple[bool, str]:
    """Did the access log get one line (one JSON object for ``c`` and ``d``) per request?"""
    path = server.access_path
    if server.label == "n":
        return True, "written to /dev/null, not counted"
    if server.label == "a":
        return (not os.path.exists(path), "no access log" if not os.path.exists(path) else "UNEXPECTED access log")
    if not os.path.exists(path):
        return False, "NO access log file"
    with open(path, "rb") as f:
        lines = f.read().splitlines()
    bad = 0
    if server.label in JSON_CONFIGS:
        for line in lines:
            try:
                if not isinstance(json.loads(line), dict):
                    bad += 1
            except ValueError:
                bad += 1
    expected = wrk.requests + WARMUP_REQUESTS
    # wrk does not count the requests in flight when it stops; gunicorn may log them.
    slack = connections + expected // 100
    ok = bad == 0 and abs(len(lines) - expected) <= slack
    kind = "JSON lines" if server.label in JSON_CONFIGS else "lines"
    note = f"{len(lines)} {kind} vs {wrk.requests} wrk + {WARMUP_REQUESTS} warm-up"
    if bad:
        note += f", {bad} NOT JSON OBJECTS"
    return ok, note + (" ok" if ok else " MISMATCH")


# -- main ----------------------------------------------------------------------------------


def median(values: list[float]) -> float:
    return statistics.median(values)


def _raise_on_sigterm(signum, frame):
    raise SystemExit(128 + signum)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5, help="rounds of a, b, c, d (default 5, at least 1)")
    parser.add_argument("--duration", type=int, default=5, help="seconds of wrk per run (default 5)")
    parser.add_argument("--connections", type=int, default=10, help="wrk -c (default 10)")
    parser.add_argument("--threads", type=int, default=1, help="wrk -t (default 1)")
    parser.add_argument("--configs", default="abcde", help="which configurations, in round order (default abcde)")
    parser.add_argument(
        "--baseline",
        help="another checkout: configurations C and D run c and d with its gunicorn_loggers, in the same rounds",
    )
    parser.add_argument("--python", default=sys.executable, help="interpreter that runs gunicorn")
    parser.add_argument("--wrk", default=shutil.which("wrk") or "wrk", help="path of wrk")
    parser.add_argument("--startup-timeout", type=float, default=20.0, help="seconds for gunicorn to answer")
    parser.add_argument("--graceful-timeout", type=int, default=5, help="gunicorn --graceful-timeout")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory with the logs")
    parser.add_argument("--no-pin", action="store_true", help="do not pin gunicorn and wrk to one CPU each")
    parser.add_argument("--seed", type=int, default=1, help="seed of the per-round order of the configurations")
    args = parser.parse_args(argv)
    pinning = None if args.no_pin else default_pinning()
    server_cpus, wrk_cpus = pinning if pinning else (None, None)
    global baseline_tree
    baseline_tree = args.baseline
    labels = list(dict.fromkeys(args.configs))
    if any(label in BASELINE_CONFIGS for label in labels) and not baseline_tree:
        parser.error("configurations C and D need --baseline DIR")
    if args.rounds < 1 or args.duration < 1 or not labels or any(label not in CONFIGS for label in labels):
        parser.error(f"--rounds and --duration must be >= 1; --configs a combination of {', '.join(CONFIGS)}")
    if not os.path.exists(args.wrk):
        parser.error(f"wrk not found ({args.wrk})")
    signal.signal(signal.SIGTERM, _raise_on_sigterm)

    version = subprocess.run(
        [args.python, "-c", "import gunicorn, sys; print(sys.version.split()[0], gunicorn.__version__)"],
        capture_output=True, text=True, timeout=60, check=True, cwd=REPO,
    ).stdout.split()  # fmt: skip
    options = {k: v for k, v in os.environ.items() if k.startswith("GUNICORN_LOGGERS_")}
    print(
        f"python {version[0]}, gunicorn {version[1]}, {args.rounds} rounds x {len(labels)} configs x "
        f"{args.duration}s of wrk -t{args.threads} -c{args.connections}; loadavg {os.getloadavg()[0]:.2f}"
        + (f"; {options}" if options else "")
        + (f"; gunicorn on CPU {sorted(server_cpus)}, wrk on CPU {sorted(wrk_cpus)}" if pinning else "; not pinned")
    )
    for label in labels:
        print(f"  {label}: {CONFIGS[label][0]}")

    results: dict[str, list[WrkResult]] = {label: [] for label in labels}
    failures = 0
    tmp = tempfile.mkdtemp(prefix="bench-wrk-")
    try:
        order = random.Random(args.seed)
        for r in range(args.rounds):
            # A fresh order every round: a configuration that always ran first (or right
            # after a given other) would carry that position's luck in every round.
            for label in order.sample(labels, len(labels)):
                workdir = os.path.join(tmp, f"{r + 1}{label}")
                os.mkdir(workdir)
                server = Server(label, workdir, args.python, args.graceful_timeout)
                try:
                    server.start(args.startup_timeout, server_cpus)
                    before = cpu_ns(server.worker_pids)
                    wrk = run_wrk(server.port, args, wrk_cpus)
                    wrk.worker_cpu_us = (cpu_ns(server.worker_pids) - before) / 1000 / max(wrk.requests, 1)
                finally:
                    server.stop()
                ok, note = check_access_log(server, wrk, args.connections)
                failures += not ok
                results[label].append(wrk)
                print(
                    f"round {r + 1} {label}: {wrk.requests_per_second:9.1f} req/s  "
                    f"avg {wrk.latency_avg_ms:.2f} ms  p50 {wrk.latency_p50_ms:.2f} ms  "
                    f"p99 {wrk.latency_p99_ms:.2f} ms  cpu {wrk.worker_cpu_us:.1f} µs/req  "
                    f"{note}" + (f"  [{wrk.errors}]" if wrk.errors else "")
                )
                if not args.keep and os.path.exists(server.access_path):
                    os.remove(server.access_path)
    finally:
        if args.keep:
            print(f"logs kept in {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)

    print()
    print(f"loadavg {os.getloadavg()[0]:.2f}; medians over {args.rounds} rounds:")
    print(f"  {'config':<38} {'req/s':>9} {'p50 ms':>7} {'p99 ms':>7} {'cpu µs/req':>11}")
    for label in labels:
        runs = results[label]
        print(
            f"  {label}: {CONFIGS[label][0]:<35} {median([w.requests_per_second for w in runs]):9.1f} "
            f"{median([w.latency_p50_ms for w in runs]):7.2f} {median([w.latency_p99_ms for w in runs]):7.2f} "
            f"{median([w.worker_cpu_us for w in runs]):11.1f}"
        )
    if "a" in results:
        base = [w.requests_per_second for w in results["a"]]
        for label in labels:
            if label == "a":
                continue
            rps = [w.requests_per_second for w in results[label]]
            paired = median([x / y for x, y in zip(rps, base, strict=True)])
            line = f"ratio {label}/a: {paired:.3f} (median of per-round ratios; "
            line += f"ratio of medians {median(rps) / median(base):.3f})"
            target = TARGETS_OVER_A.get(label)
            if target is not None:
                line += f"  target >= {target}: {'OK' if paired >= target else 'BELOW'}"
            print(line)
        # The worker is the bottleneck (one sync worker at 100 % of its CPU), so its CPU
        # time per request predicts throughput and moves far less with the neighbours.
        base_cpu = [w.worker_cpu_us for w in results["a"]]
        for label in labels:
            if label != "a":
                cpu = [w.worker_cpu_us for w in results[label]]
                paired = median([y / x for x, y in zip(cpu, base_cpu, strict=True)])
                print(f"cpu ratio {label}/a: {paired:.3f} (worker CPU per request of a over {label}'s, per round)")
    if failures:
        print(f"{failures} run(s) failed the access-log check")
    return 1 if failures else 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:  # the servers are already stopped by the finally blocks
        print("interrupted", file=sys.stderr)
        sys.exit(130)
