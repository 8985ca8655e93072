"""Per-record cost of an access log line, in-process, no HTTP.

Compares, side by side in one run, what one call of ``Logger.access()`` costs:

* gunicorn's own ``gunicorn.glogging.Logger`` (text line through ``logging``);
* ``gunicorn_loggers.JsonLogger`` with each schema (ecs, otel, gcp, flat);
* ``gunicorn_loggers.StructlogLogger`` with its defaults (ecs schema, JSON
  renderer since the sink is a file, no user processors), and, for information,
  with one trivial user processor (``benchmarks.bench_processors.add_field``);
* a "floor": an equivalent dict built by hand, ``orjson.dumps`` + ``os.write``;
* for information, ``JsonLogger`` (ecs) with ``GUNICORN_LOGGERS_ACCESS_FLUSH_INTERVAL=1``:
  what the default's one ``write`` system call per record costs, by comparison;
* the access-log policy (``docs/access-log-policy.md``): ``JsonLogger`` (ecs) with the
  request's path in ``GUNICORN_LOGGERS_ACCESS_SKIP`` (nothing written), with
  ``GUNICORN_LOGGERS_ACCESS_SAMPLE=0`` on an unsampled ``traceparent`` (sampled out,
  nothing written), and with a rate that keeps it (written, with the sampling fields);
* for information, ``JsonLogger`` (ecs) behind the request-context middleware that
  every shipped conf file installs: ``access()`` alone, on an environ the middleware
  filled (it finds the id and the trace there), and the whole per-request cost, the
  middleware's call (around an app that does nothing) plus ``access()``.

Every logger writes to its own temporary file, which is checked (line count,
and JSON for the JSON writers, and the processor's field where there is one)
after every batch and then truncated, so a logger that silently stopped writing
cannot look fast. Rounds alternate the contenders; the figures are medians over
rounds, and the ratios are medians of the per-round ratios JsonLogger(ecs) /
gunicorn (target <= 0.25) and StructlogLogger / JsonLogger(ecs) (target <= 1.5).

The request is parsed by gunicorn's own HTTP parser and ``wsgi.create``, so
``req``, ``resp`` and ``environ`` are exactly what a sync worker passes.

Run by hand from the repository root::

    .venv/bin/python benchmarks/bench_access_record.py              # timings + stages
    .venv/bin/python benchmarks/bench_access_record.py --profile    # + cProfile
    .venv/bin/python benchmarks/bench_access_record.py --memory     # RSS over 1M records
    .venv/bin/python benchmarks/bench_access_record.py --memory --logger structlog

``GUNICORN_LOGGERS_*`` options are read when a logger's ``setup()`` runs, so each
contender is built with exactly the variables it needs set, and the others unset.
"""

from __future__ import annotations

import argparse
import cProfile
import datetime
import gc
import importlib
import io
import logging
import os
import pstats
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from typing import Any, NamedTuple

import gunicorn
import orjson
from floor_logger import floor_record
from gunicorn.config import Config
from gunicorn.glogging import Logger
from gunicorn.http import wsgi
from gunicorn.http.parser import RequestParser

from gunicorn_loggers import JsonLogger, StructlogLogger
from gunicorn_loggers.encoding import encode_line
from gunicorn_loggers.request_context import WsgiRequestContext
from gunicorn_loggers.sinks.buffered import BufferedSink

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCHEMA_ENV = "GUNICORN_LOGGERS_SCHEMA"
PROCESSORS_ENV = "GUNICORN_LOGGERS_PROCESSORS"
RENDERER_ENV = "GUNICORN_LOGGERS_RENDERER"
FLUSH_ENV = "GUNICORN_LOGGERS_ACCESS_FLUSH_INTERVAL"
SCHEMAS = ("ecs", "otel", "gcp", "flat")
PROCESSOR_MODULE = "benchmarks.bench_processors"
PROCESSOR_PATH = f"{PROCESSOR_MODULE}.add_field"
MIDDLEWARE_LABELS = ("after-mw", "mw+ecs")  # contenders run on the environ the middleware filled
UNSAMPLED_LABELS = ("sampled-out", "sampled-in")  # contenders run on a traceparent without the sampled flag
SKIP_ENV, SAMPLE_ENV = "GUNICORN_LOGGERS_ACCESS_SKIP", "GUNICORN_LOGGERS_ACCESS_SAMPLE"
TARGET_RATIO = 0.25  # JsonLogger(ecs) / gunicorn Logger
TARGET_STRUCTLOG_RATIO = 1.5  # StructlogLogger / JsonLogger(ecs)

CLIENT = ("127.0.0.1", 54321)  # a local reverse proxy: trusted, so X-Forwarded-For is walked
SERVER = ("127.0.0.1", "8000")

RAW_REQUEST = (
    b"GET /api/items?page=2&token=abc HTTP/1.1\r\n"
    b"Host: api.example.com:8000\r\n"
    b"User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    b"Chrome/126.0.0.0 Safari/537.36\r\n"
    b"Accept: application/json\r\n"
    b"Accept-Encoding: gzip, deflate, br\r\n"
    b"Accept-Language: en-GB,en;q=0.9\r\n"
    b"Referer: https://app.example.com/items?page=1&access_token=xyz\r\n"
    b"Authorization: Basic YWxpY2U6czNjcjN0\r\n"
    b"Cookie: session=0123456789abcdef; theme=dark\r\n"
    b"X-Request-ID: 7f3c2a10-5b6e-4c1d-9a8b-0e2f4d6c8a1b\r\n"
    b"traceparent: 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01\r\n"
    b"X-Forwarded-For: 203.0.113.7, 10.0.0.2\r\n"
    b"X-Forwarded-Proto: https\r\n"
    b"Connection: keep-alive\r\n"
    b"\r\n"
)


class _NullSocket:
    """What ``wsgi.create`` may write to (``100 Continue``); nothing is sent."""

    def send(self, data: bytes) -> int:
        return len(data)

    def sendall(self, data: bytes) -> None:
        pass


def make_request(cfg: Config) -> tuple[Any, Any, dict, datetime.timedelta]:
    """(resp, req, environ, request_time) as a gunicorn sync worker passes them to ``access``."""
    parser = RequestParser(cfg, iter([RAW_REQUEST]), CLIENT)
    req = next(parser)
    resp, environ = wsgi.create(req, _NullSocket(), CLIENT, SERVER, cfg)
    resp.start_response(
        "200 OK",
        [
            ("Content-Type", "application/json"),
            ("Content-Length", "1234"),
            ("Cache-Control", "no-store"),
            ("X-Request-ID", "7f3c2a10-5b6e-4c1d-9a8b-0e2f4d6c8a1b"),
        ],
    )
    resp.sent = 1234
    return resp, req, environ, datetime.timedelta(microseconds=3512)


def make_config(accesslog: str, errorlog: str) -> Config:
    cfg = Config()
    cfg.set("accesslog", accesslog)
    cfg.set("errorlog", errorlog)
    return cfg


def build_logger(cls: type[JsonLogger], env: dict[str, str | None], accesslog: str, errorlog: str) -> JsonLogger:
    """A ``cls`` built with ``env`` applied to ``os.environ`` (None: unset) while its setup() reads it."""
    saved = {name: os.environ.get(name) for name in env}
    try:
        for name, value in env.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        return cls(make_config(accesslog, errorlog))
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def build_json_logger(schema: str | None, accesslog: str, errorlog: str) -> JsonLogger:
    """A JsonLogger with ``GUNICORN_LOGGERS_SCHEMA`` set while it reads its settings."""
    logger = build_logger(JsonLogger, {SCHEMA_ENV: schema}, accesslog, errorlog)
    if schema is not None and logger.settings.schema != schema:
        raise SystemExit(f"JsonLogger built with schema {logger.settings.schema!r}, wanted {schema!r}")
    return logger


def build_structlog_logger(processors: str | None, accesslog: str, errorlog: str) -> StructlogLogger:
    """A StructlogLogger with the ecs schema, the default renderer and ``processors`` (None: none)."""
    if processors is not None and REPO not in sys.path:
        sys.path.insert(0, REPO)  # ``benchmarks.bench_processors`` is imported by the logger's setup()
    env = {SCHEMA_ENV: "ecs", PROCESSORS_ENV: processors, RENDERER_ENV: None}
    logger = build_logger(StructlogLogger, env, accesslog, errorlog)
    assert isinstance(logger, StructlogLogger)
    wanted = tuple(p.strip() for p in (processors or "").split(",") if p.strip())
    settings = logger.settings
    if settings.schema != "ecs" or settings.processors != wanted or settings.renderer != "auto":
        raise SystemExit(f"StructlogLogger built with {settings}, wanted ecs, processors {wanted}, renderer auto")
    fd = getattr(logger._access_sink, "fd", None)
    if fd is None or os.isatty(fd):
        raise SystemExit("StructlogLogger's access sink is a terminal: it would render for the console")
    return logger


def make_floor(path: str) -> tuple[Callable[..., None], Callable[[], None]]:
    """The least any JSON access log can do: a dict of the same facts, one dumps, one write."""
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    write = os.write
    pid = os.getpid()

    def floor_access(resp: Any, req: Any, environ: dict, request_time: Any) -> None:
        write(fd, floor_record(resp, environ, request_time, pid))

    return floor_access, lambda: os.close(fd)


def make_middleware_contenders(logger: JsonLogger) -> tuple[Callable[..., None], Callable[..., None]]:
    """``access()`` after the middleware ran, and middleware + ``access()``, on the same request.

    The middleware sets its keys in the environ it is given on every call, so one
    environ serves every call; the app it wraps answers at once.
    """

    def app(environ: dict, start_response: Callable) -> list[bytes]:
        start_response("200 OK", [("Content-Type", "application/json")])
        return [b""]

    def start_response(status: str, headers: list, exc_info: Any = None) -> None:
        return None

    middleware = WsgiRequestContext(app)
    access = logger.access

    def middleware_and_access(resp: Any, req: Any, environ: dict, request_time: Any) -> None:
        middleware(environ, start_response).close()
        access(resp, req, environ, request_time)

    return access, middleware_and_access


# -- checks ------------------------------------------------------------------------------------


def check_and_truncate(path: str, expected_lines: int, is_json: bool, required: str | None = None) -> None:
    """The file holds exactly ``expected_lines`` lines (valid JSON objects if ``is_json``, each
    with the top-level key ``required`` if given); empty it."""
    with open(path, "rb") as f:
        data = f.read()
    lines = data.splitlines()
    if len(lines) != expected_lines:
        raise SystemExit(f"{path}: {len(lines)} lines written, expected {expected_lines}: the logger did not log")
    if is_json:
        for line in lines:
            record = orjson.loads(line)
            if not isinstance(record, dict):
                raise SystemExit(f"{path}: a line is not a JSON object: {line[:200]!r}")
            if required is not None and required not in record:
                raise SystemExit(f"{path}: a line lacks {required!r} (the processor did not run): {line[:200]!r}")
    os.truncate(path, 0)


def median(values: list[float]) -> float:
    return statistics.median(values)


# -- timing ------------------------------------------------------------------------------------


def time_batch(fn: Callable[..., None], args: tuple, n: int) -> float:
    """Nanoseconds per call over ``n`` calls."""
    gc.collect()
    perf = time.perf_counter_ns
    start = perf()
    for _ in range(n):
        fn(*args)
    return (perf() - start) / n


class Contender(NamedTuple):
    label: str  # short, in the per-round lines
    name: str  # long, in the summary
    fn: Callable[..., None]
    path: str  # the file it writes to, checked after every batch
    is_json: bool
    required: str | None = None  # a top-level key every line must have
    flush: Callable[[], None] | None = None  # writes what a buffering contender holds, before the check
    writes: bool = True  # False: the policy drops every record (each batch must leave the file empty)


def check_contender(c: Contender, expected_lines: int) -> None:
    if c.flush is not None:
        c.flush()
    check_and_truncate(c.path, expected_lines if c.writes else 0, c.is_json, c.required)


def run_timings(args: argparse.Namespace, tmp: str) -> int:
    err = os.path.join(tmp, "error.log")

    # Order matters: gunicorn's Logger, JsonLogger and StructlogLogger share the
    # logging.Logger "gunicorn.access", and each setup() removes the previous one's
    # handler from it. Ours write to their own sinks and do not need that handler;
    # gunicorn's Logger does, so it is built last. The line-count checks would catch a mistake.
    contenders: list[Contender] = []
    json_loggers: dict[str, JsonLogger] = {}
    for schema in SCHEMAS:
        path = os.path.join(tmp, f"json-{schema}.log")
        logger = build_json_logger(schema, path, err)
        json_loggers[schema] = logger
        contenders.append(Contender(schema, f"JsonLogger.access ({schema})", logger.access, path, True))
    bpath = os.path.join(tmp, "json-buffered.log")
    blogger = build_logger(JsonLogger, {SCHEMA_ENV: "ecs", FLUSH_ENV: "1"}, bpath, err)
    bsink = blogger._access_sink
    if not isinstance(bsink, BufferedSink):
        raise SystemExit(f"JsonLogger with {FLUSH_ENV}=1 writes through {type(bsink).__name__}, not BufferedSink")
    bname = "JsonLogger.access (ecs, flush 1 s)"  # FLUSH_ENV=1
    contenders.append(Contender("buffered", bname, blogger.access, bpath, True, None, bsink.flush))
    mpath = os.path.join(tmp, "json-middleware.log")
    mlogger = build_json_logger("ecs", mpath, err)
    after_middleware, middleware_and_access = make_middleware_contenders(mlogger)
    contenders.append(Contender("after-mw", "JsonLogger.access (ecs, after middleware)", after_middleware, mpath, True))
    contenders.append(Contender("mw+ecs", "middleware + JsonLogger.access (ecs)", middleware_and_access, mpath, True))
    policy_loggers = []
    for label, name, env, writes in (
        ("skipped", "JsonLogger.access (ecs, skipped)", {SKIP_ENV: "/api/items"}, False),
        ("sampled-out", "JsonLogger.access (ecs, sampled out)", {SAMPLE_ENV: "0"}, False),
        ("sampled-in", "JsonLogger.access (ecs, sampled, kept)", {SAMPLE_ENV: "0.999999"}, True),
    ):
        path = os.path.join(tmp, f"json-{label}.log")
        policy_logger = build_logger(JsonLogger, {SCHEMA_ENV: "ecs", **env}, path, err)
        policy_loggers.append(policy_logger)
        required = "gunicorn" if writes else None
        contenders.append(Contender(label, name, policy_logger.access, path, True, required, None, writes))
    spath = os.path.join(tmp, "structlog.log")
    slogger = build_structlog_logger(None, spath, err)
    contenders.append(Contender("structlog", "StructlogLogger.access (ecs)", slogger.access, spath, True))
    ppath = os.path.join(tmp, "structlog-proc.log")
    plogger = build_structlog_logger(PROCESSOR_PATH, ppath, err)
    field = importlib.import_module(PROCESSOR_MODULE).FIELD
    contenders.append(
        Contender("structlog+proc", "StructlogLogger.access (+add_field)", plogger.access, ppath, True, field)
    )
    gpath = os.path.join(tmp, "gunicorn.log")
    glogger = Logger(make_config(gpath, err))
    if not any(isinstance(h, logging.FileHandler) for h in glogger.access_log.handlers):
        raise SystemExit("gunicorn's Logger has no FileHandler on gunicorn.access")
    contenders.insert(0, Contender("gunicorn", "gunicorn Logger.access", glogger.access, gpath, False))
    fpath = os.path.join(tmp, "floor.log")
    floor, close_floor = make_floor(fpath)
    contenders.append(Contender("floor", "floor: dict + orjson + os.write", floor, fpath, True))

    request = make_request(glogger.cfg)
    middleware_request = make_request(glogger.cfg)  # its own environ: the middleware leaves keys in it
    middleware_and_access(*middleware_request)
    check_and_truncate(mpath, 1, True)
    if any(key.startswith("gunicorn_loggers.") for key in request[2]):
        raise SystemExit("the middleware wrote into the environ the other contenders use")

    unsampled_request = make_request(glogger.cfg)
    unsampled_request[2]["HTTP_TRACEPARENT"] = unsampled_request[2]["HTTP_TRACEPARENT"][:-2] + "00"

    def request_for(c: Contender) -> tuple:
        if c.label in UNSAMPLED_LABELS:
            return unsampled_request
        return middleware_request if c.label in MIDDLEWARE_LABELS else request

    labels = [c.label for c in contenders]
    names = {c.label: c.name for c in contenders}
    results: dict[str, list[float]] = {label: [] for label in labels}
    # name -> (numerator, denominator, target or None): medians of the per-round ratios
    ratio_specs = {
        "JsonLogger(ecs) / gunicorn Logger": ("ecs", "gunicorn", TARGET_RATIO),
        "StructlogLogger / JsonLogger(ecs)": ("structlog", "ecs", TARGET_STRUCTLOG_RATIO),
        "StructlogLogger(+add_field) / JsonLogger(ecs)": ("structlog+proc", "ecs", None),
        "JsonLogger(ecs, buffered) / gunicorn Logger": ("buffered", "gunicorn", None),
        "JsonLogger(ecs) after middleware / gunicorn Logger": ("after-mw", "gunicorn", None),
        "middleware + JsonLogger(ecs) / gunicorn Logger": ("mw+ecs", "gunicorn", None),
        "skipped / JsonLogger(ecs)": ("skipped", "ecs", None),
        "sampled out / JsonLogger(ecs)": ("sampled-out", "ecs", None),
        "sampled and kept / JsonLogger(ecs)": ("sampled-in", "ecs", None),
    }
    ratios: dict[str, list[float]] = {name: [] for name in ratio_specs}

    # Warm up (caches, first strftime, page cache of the files), then check each writes.
    for c in contenders:
        time_batch(c.fn, request_for(c), args.warmup)
        check_contender(c, args.warmup)

    deadline = time.monotonic() + args.max_seconds
    print(f"{args.rounds} rounds x {args.n} calls per contender, order rotated each round")
    for r in range(args.rounds):
        if time.monotonic() > deadline:
            print(f"stopping after {r} rounds: --max-seconds {args.max_seconds} reached")
            break
        shift = r % len(contenders)
        order = contenders[shift:] + contenders[:shift]
        this_round: dict[str, float] = {}
        for c in order:
            ns = time_batch(c.fn, request_for(c), args.n)
            check_contender(c, args.n)
            this_round[c.label] = ns
            results[c.label].append(ns)
        for name, (top, bottom, _) in ratio_specs.items():
            ratios[name].append(this_round[top] / this_round[bottom])
        cells = "  ".join(f"{label}={this_round[label] / 1000:.2f}" for label in labels)
        print(
            f"  round {r + 1} (µs/call): {cells}  ecs/gunicorn={ratios['JsonLogger(ecs) / gunicorn Logger'][-1]:.3f}"
            f"  structlog/ecs={ratios['StructlogLogger / JsonLogger(ecs)'][-1]:.3f}"
        )

    print()
    print(f"{'median µs per call':<40} {'µs':>8} {'min µs':>8}  {'vs gunicorn':>11}  {'vs Json(ecs)':>12}")
    base = median(results["gunicorn"])
    json_base = median(results["ecs"])
    for label in labels:
        mid, low = median(results[label]), min(results[label])
        print(f"{names[label]:<40} {mid / 1000:8.2f} {low / 1000:8.2f}  {mid / base:11.3f}  {mid / json_base:12.3f}")
    for name, (_, _, target) in ratio_specs.items():
        ratio = median(ratios[name])
        if target is None:
            verdict = "for information)"
        else:
            verdict = f"target <= {target}) {'OK' if ratio <= target else 'ABOVE TARGET'}"
        print(f"ratio {name}: {ratio:.3f} (median of per-round ratios; {verdict}")

    compared = {"JsonLogger (ecs)": json_loggers["ecs"], "StructlogLogger": slogger, "Structlog+add_field": plogger}
    run_stages(args, compared, request)
    run_schema_stages(args, json_loggers, request)
    if args.profile:
        run_profile(args, "JsonLogger.access (ecs)", json_loggers["ecs"], request)
        run_profile(args, "StructlogLogger.access (ecs)", slogger, request)

    close_floor()
    for logger in (*json_loggers.values(), blogger, mlogger, slogger, plogger, *policy_loggers):
        for sink in logger._sinks.values():
            sink.close()
    return 0


def run_stages(args: argparse.Namespace, loggers: dict[str, JsonLogger], request: tuple) -> None:
    """Where the microseconds of each logger's access() go: each stage timed alone, side by side.

    ``line`` is what the logger turns a request's facts into bytes with: for JsonLogger
    (ecs) the template of ``ecs_access_line``, for StructlogLogger the schema's dict
    run through the processor chain. The dict path's parts (the schema's dict, the
    logger's renderer, ``encode_line`` alone) are timed on the same facts for
    comparison, and not counted in the sum.
    """
    stage_names = ("collect", "line", "  dict path: schema", "  dict path: render", "  dict path: encode_line", "write")
    plans: dict[str, list[tuple[str, Callable[..., Any], tuple, bool]]] = {}
    sizes: dict[str, int] = {}
    for title, logger in loggers.items():
        facts = logger.collector.collect(*request)
        record = logger.schema.access(facts)
        render = logger.access_renderer(logger._access_sink)
        line = logger._access_line(facts)
        if render(logger.schema.access(facts)) != line:
            raise SystemExit(f"{title}: access() and the dict path write different bytes for the same facts")
        sizes[title] = len(line)
        plans[title] = [  # stage, function, arguments, writes a line
            ("collect", logger.collector.collect, request, False),
            ("line", logger._access_line, (facts,), False),
            ("  dict path: schema", logger.schema.access, (facts,), False),
            ("  dict path: render", render, (record,), False),
            ("  dict path: encode_line", encode_line, (record,), False),
            ("write", logger._access_sink.write, (line,), True),
            ("whole access()", logger.access, request, True),
        ]
    times: dict[str, dict[str, list[float]]] = {title: {} for title in loggers}
    for _ in range(max(3, args.rounds)):
        for title, plan in plans.items():
            path = loggers[title]._access_sink.path
            for stage, fn, fargs, writes in plan:
                times[title].setdefault(stage, []).append(time_batch(fn, fargs, args.n))
                if writes:  # emptied after every batch, as in the rounds: a file that grows writes slower
                    check_and_truncate(path, args.n, True)

    print()
    print("stages of access(), median µs per call, each stage timed alone")
    print(f"  {'stage':<26}" + "".join(f" {title:>20}" for title in loggers))
    for stage in (*stage_names, "sum of stages", "whole access()"):
        cells = []
        for title in loggers:
            if stage == "sum of stages":
                # the indented stages (the dict path) are timed for comparison, not part of access()
                value = sum(median(times[title][s]) for s in stage_names if not s.startswith(" "))
            else:
                value = median(times[title][stage])
            cells.append(f" {value / 1000:20.2f}")
        print(f"  {stage:<26}" + "".join(cells))
    print(f"  {'line bytes':<26}" + "".join(f" {sizes[title]:20}" for title in loggers))
    for title, logger in loggers.items():
        print(f"  {title}: schema {type(logger.schema).__name__}, sink {type(logger._access_sink).__name__}")


def run_schema_stages(args: argparse.Namespace, json_loggers: dict[str, JsonLogger], request: tuple) -> None:
    """What each schema adds on top of the shared collect: building its dict, and encoding it."""
    facts = json_loggers["ecs"].collector.collect(*request)
    times: dict[str, tuple[list[float], list[float]]] = {schema: ([], []) for schema in json_loggers}
    sizes: dict[str, int] = {}
    for _ in range(max(3, args.rounds)):
        for schema, logger in json_loggers.items():
            record = logger.schema.access(facts)
            sizes[schema] = len(encode_line(record))
            times[schema][0].append(time_batch(logger.schema.access, (facts,), args.n))
            times[schema][1].append(time_batch(encode_line, (record,), args.n))
    print()
    print("per schema, median µs per call (collect is shared)")
    print(f"  {'schema':<8} {'build':>7} {'encode':>7} {'bytes':>6}")
    for schema, (build, encode) in times.items():
        print(f"  {schema:<8} {median(build) / 1000:7.2f} {median(encode) / 1000:7.2f} {sizes[schema]:6}")


def run_profile(args: argparse.Namespace, title: str, logger: JsonLogger, request: tuple) -> None:
    n = args.n
    profiler = cProfile.Profile()
    access = logger.access
    profiler.enable()
    for _ in range(n):
        access(*request)
    profiler.disable()
    check_and_truncate(logger._access_sink.path, n, True)
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(20)
    print()
    print(f"cProfile of {n} {title} calls, by tottime (profiler overhead inflates small calls):")
    print(out.getvalue())


# -- memory ------------------------------------------------------------------------------------


def rss_kib() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS in /proc/self/status")


def run_memory(args: argparse.Namespace, tmp: str) -> int:
    """RSS while JsonLogger.access (or StructlogLogger's) writes ``--records`` records to /dev/null; must be flat."""
    total = args.records
    if args.logger == "structlog":
        logger = build_structlog_logger(None, os.devnull, os.path.join(tmp, "error.log"))
    else:
        logger = build_json_logger(None, os.devnull, os.path.join(tmp, "error.log"))
    resp, req, environ, request_time = make_request(logger.cfg)
    checkpoints = sorted({0, *(int(total * f) for f in (0.1, 0.25, 0.5, 1.0))})
    access = logger.access
    failures_before = logger._access_sink.failures
    print(f"{type(logger).__name__}.access ({logger.settings.schema}) x {total:,} to {os.devnull}")
    print("client address, request id and port differ on every record, so the caches fill to their bounds")
    print(f"{'records':>10} {'VmRSS KiB':>10} {'delta KiB':>10} {'s':>7}")
    start = time.monotonic()
    deadline = start + args.max_seconds
    base = None
    reference = None  # RSS at the second checkpoint (10%): after warm-up and cache filling
    done = 0
    ok = True
    for point in checkpoints:
        while done < point:
            if time.monotonic() > deadline:
                print(f"stopped at {done:,} records: --max-seconds {args.max_seconds} reached")
                ok = False
                break
            stop = min(point, done + 10_000)
            for i in range(done, stop):
                # the last hop is the client: it reaches the is_trusted and IS_IP caches
                environ["HTTP_X_FORWARDED_FOR"] = f"203.0.113.7, 10.{(i >> 16) & 255}.{(i >> 8) & 255}.{i & 255}"
                environ["HTTP_X_REQUEST_ID"] = f"req-{i}"
                environ["REMOTE_PORT"] = str(1024 + i % 60000)
                access(resp, req, environ, request_time)
            done = stop
        if done < point:
            break
        gc.collect()
        rss = rss_kib()
        base = rss if base is None else base
        if reference is None and point > 0:
            reference = rss
        print(f"{point:>10,} {rss:>10,} {rss - base:>+10,} {time.monotonic() - start:7.1f}")
    if logger._access_sink.failures != failures_before:
        print("the sink reported write failures")
        ok = False
    growth = rss - reference if reference is not None else 0
    flat = growth <= args.flat_kib
    print(
        f"growth after the first {checkpoints[1]:,} records: {growth:+,} KiB "
        f"({'flat' if flat else 'GROWING'}, tolerance {args.flat_kib} KiB)"
    )
    logger._access_sink.close()
    return 0 if ok and flat else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-n", type=int, default=20_000, help="calls per contender per round (default 20000)")
    parser.add_argument("--rounds", type=int, default=7, help="rounds, contenders alternating (default 7)")
    parser.add_argument("--warmup", type=int, default=2_000, help="calls per contender before timing")
    parser.add_argument("--profile", action="store_true", help="also cProfile JsonLogger and StructlogLogger (ecs)")
    parser.add_argument("--memory", action="store_true", help="RSS over --records calls instead of timings")
    parser.add_argument("--records", type=int, default=1_000_000, help="records in --memory mode (default 1M)")
    parser.add_argument(
        "--logger", choices=("json", "structlog"), default="json", help="logger of --memory mode (default json)"
    )
    parser.add_argument("--flat-kib", type=int, default=1024, help="RSS growth tolerated in --memory mode")
    parser.add_argument("--max-seconds", type=float, default=600, help="stop rounds after this long")
    args = parser.parse_args(argv)
    if args.n < 1 or args.rounds < 1 or args.records < 10:
        parser.error("-n and --rounds must be >= 1, --records >= 10")

    print(
        f"python {sys.version.split()[0]}, gunicorn {gunicorn.__version__}, orjson {orjson.__version__}, "
        f"pid {os.getpid()}, loadavg {os.getloadavg()[0]:.2f}"
    )
    with tempfile.TemporaryDirectory(prefix="bench-access-") as tmp:
        if args.memory:
            return run_memory(args, tmp)
        return run_timings(args, tmp)


if __name__ == "__main__":
    sys.exit(main())
