"""The design choices the code's comments give a reason for, each timed beside its alternative.

A comment in ``gunicorn_loggers/`` says why a piece is written the way it is ("a system
call on every record", "slower than a dict lookup"); the figures behind those reasons
are measured here, and recorded in ``benchmarks/RESULTS.md`` ("Design choices").

Each choice is timed with ``timeit`` on inputs built by the package's own functions from
the request ``bench_access_record.py`` parses (gunicorn's parser and ``wsgi.create``):
its ECS access record, its query, its ``traceparent``, its client address. In every
round each contender runs once, in an order reversed every other round; a figure is the
median over rounds of ns per call (``timeit``'s loop included: the ``pass`` line gives
it), a ratio the median of the per-round ratios of the alternative to the code's choice.
Before timing, every contender's result is checked against the code's.

Run by hand from the repository root::

    .venv/bin/python benchmarks/bench_choices.py --rounds 7

Choices that only a whole logger shows (the ECS access line's template against the
schema's dict and ``encode_line``) are timed by ``bench_access_record.py``'s stages.
"""

from __future__ import annotations

import argparse
import copy
import datetime
import functools
import json
import os
import re
import statistics
import sys
import threading
import time
import timeit
import tracemalloc
import uuid
from collections.abc import Callable
from itertools import count
from typing import Any
from urllib.parse import unquote_plus

import msgpack
import orjson
from bench_access_record import make_config, make_request

from gunicorn_loggers import process_id
from gunicorn_loggers.access_policy import trace_sampling_facts
from gunicorn_loggers.config import load_settings
from gunicorn_loggers.correlation import (
    TraceContext,
    match_version_00,
    parse_traceparent,
    trace_of_version_00,
)
from gunicorn_loggers.encoding import encode_line, fallback_value
from gunicorn_loggers.framing import fluent
from gunicorn_loggers.framing.ndjson import compact
from gunicorn_loggers.memo import Memo
from gunicorn_loggers.redaction import REDACTED, QueryRedactor
from gunicorn_loggers.request_context import RequestContext, new_request_id
from gunicorn_loggers.request_facts import AccessFactsCollector, is_ip
from gunicorn_loggers.schemas._base import Schema, private_copy
from gunicorn_loggers.schemas.ecs import EcsSchema
from gunicorn_loggers.timestamps import rfc3339_utc

#: The queries the redactor is timed on: with a secret (the figure its docstring gave), and without.
QUERY_WITH_SECRET = "page=2&token=abc"
QUERY_WITHOUT_SECRET = "page=2&q=shoes"
#: A sampled-out request's header: the path ``trace_sampling_facts`` is written for.
UNSAMPLED_TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00"
COMPACT_TITLE = "framing/ndjson: compact()"


# -- the alternatives the comments name ------------------------------------------------------------


def substring_redactor(names: frozenset[str]) -> Callable[[str], str]:
    """The redactor before its per-name cache: a substring test per secret name on the lowered query
    rules most queries out, then every parameter's name is checked, uncached."""

    def is_secret(name: str) -> bool:
        return name.lower() in names or (
            ("%" in name or "+" in name) and unquote_plus(name, errors="replace").lower() in names
        )

    def redact(query: str) -> str:
        if "%" not in query and "+" not in query:
            lowered = query.lower()
            for name in names:
                if name in lowered:
                    break
            else:
                return query
        parts = query.split("&")
        changed = False
        for index, part in enumerate(parts):
            name, sep, _ = part.partition("=")
            if sep and is_secret(name):
                parts[index] = name + "=" + REDACTED
                changed = True
        return "&".join(parts) if changed else query

    return redact


def regex_redactor(names: frozenset[str]) -> Callable[[str], str]:
    """The first redactor: one regular expression over the names decides whether to split at all."""
    alternatives = "|".join(sorted((re.escape(n) for n in names), key=len, reverse=True))
    maybe = re.compile(rf"(?:^|[&;])(?:{alternatives})=|%|\+", re.IGNORECASE).search

    def redact(query: str) -> str:
        if maybe(query) is None:
            return query
        parts = query.split("&")
        changed = False
        for index, part in enumerate(parts):
            name, sep, _ = part.partition("=")
            if not sep:
                continue
            if "%" in name or "+" in name:
                name = unquote_plus(name, errors="replace")
            if name.lower() in names:
                parts[index] = part[: part.index("=") + 1] + REDACTED
                changed = True
        return "&".join(parts) if changed else query

    return redact


def lru_cache_redactor(names: frozenset[str]) -> Callable[[str], str]:
    """``QueryRedactor`` with ``functools.lru_cache`` around each name's decision instead of its dict."""
    plain = QueryRedactor(names)
    is_secret = functools.lru_cache(maxsize=QueryRedactor.CACHE_SIZE)(plain.is_secret)
    cache_limit = plain.cache_limit

    def redact(query: str) -> str:
        parts = query.split("&")
        changed = False
        index = -1
        for part in parts:
            index += 1
            name, sep, _ = part.partition("=")
            if not sep:
                continue
            secret = is_secret(name) if len(name) <= cache_limit else plain.is_secret(name)
            if secret:
                parts[index] = name + "=" + REDACTED
                changed = True
        return "&".join(parts) if changed else query

    return redact


def traceparent_by_slices(header: str | None) -> TraceContext | None:
    """``parse_traceparent``'s usual case with the group-free match and slices instead of ``groups()``."""
    if not header:
        return None
    if len(header) == 55 and match_version_00(header) is not None:
        return trace_of_version_00(header)
    return parse_traceparent(header)


def sampling_facts_by_full_check(header: Any) -> tuple[int | None, bool]:
    """``trace_sampling_facts`` from the fully checked header."""
    trace = parse_traceparent(header) if header.__class__ is str else None
    if trace is None:
        return None, False
    if trace.sampled:
        return 0, True
    return int(trace.trace_id[18:], 16), False


class Counters:
    """``AccessSelector``'s counter, and the same count kept under a lock."""

    def __init__(self) -> None:
        self._counter = count()
        self._lock = threading.Lock()
        self._count = 0

    def by_count(self) -> None:
        next(self._counter)

    def by_lock(self) -> None:
        with self._lock:
            self._count += 1


def isoformat_utc(time_ns: int) -> str:
    """``rfc3339_utc`` written with ``datetime.isoformat``."""
    stamp = datetime.datetime.fromtimestamp(time_ns / 1e9, datetime.timezone.utc)
    return stamp.isoformat(timespec="microseconds").replace("+00:00", "Z")


def json_line(record: dict[str, Any]) -> bytes:
    """``encode_line`` with the standard library's ``json``."""
    return json.dumps(record, ensure_ascii=False, separators=(",", ":"), default=str).encode() + b"\n"


# -- timing --------------------------------------------------------------------------------------


class Choice:
    """One design choice: the code's statement first, then each alternative, each run on ``names``."""

    def __init__(self, title: str, statements: dict[str, str], names: dict[str, Any]) -> None:
        self.title = title
        self.statements = statements
        # Bound as locals of timeit's inner function (its setup runs there): no global lookups timed.
        setup = "; ".join(f"{name} = _given_{name}" for name in names) or "pass"
        given = {f"_given_{name}": value for name, value in names.items()}
        self.timers = {label: timeit.Timer(stmt, setup, globals=given) for label, stmt in statements.items()}
        self.number = 1


def calibrate(choice: Choice, seconds: float, most: int) -> None:
    """Enough calls that the slowest contender takes about ``seconds`` a round, at most ``most``."""
    slowest = 0.0
    for timer in choice.timers.values():
        timer.timeit(1000)  # warm caches and memos
        slowest = max(slowest, timer.timeit(1000) / 1000)
    choice.number = max(1000, min(most, int(seconds / max(slowest, 1e-9))))


def run(choice: Choice, rounds: int) -> tuple[dict[str, float], dict[str, float]]:
    """Median ns per call of each contender, and median per-round ratio of each to the first."""
    labels = list(choice.timers)
    times: dict[str, list[float]] = {label: [] for label in labels}
    for round_number in range(rounds):
        order = labels if round_number % 2 == 0 else labels[::-1]
        for label in order:
            times[label].append(choice.timers[label].timeit(choice.number) / choice.number * 1e9)
    first = times[labels[0]]
    medians = {label: statistics.median(values) for label, values in times.items()}
    ratios = {
        label: statistics.median(other / base for other, base in zip(times[label], first, strict=True))
        for label in labels[1:]
    }
    return medians, ratios


def report(choice: Choice, medians: dict[str, float], ratios: dict[str, float]) -> None:
    labels = list(medians)
    cells = [f"{labels[0]} {medians[labels[0]]:.0f} ns"]
    cells += [f"{label} {medians[label]:.0f} ns ({ratios[label]:.2f}x)" for label in labels[1:]]
    print(f"{choice.title}: " + "; ".join(cells), flush=True)


def same(label: str, got: Any, wanted: Any) -> None:
    if got != wanted:
        raise SystemExit(f"{label}: {got!r}, the code gives {wanted!r}")


# -- the choices ---------------------------------------------------------------------------------


def build_choices() -> list[Choice]:
    cfg = make_config(os.devnull, os.devnull)
    settings = load_settings(cfg, env={})
    resp, req, environ, request_time = make_request(cfg)
    collector = AccessFactsCollector(settings)
    facts = collector.collect(resp, req, environ, request_time)
    schema = EcsSchema(settings)
    record = schema.access(facts)
    header = environ["HTTP_TRACEPARENT"]
    address = facts.client_address
    names = settings.redact_query
    redactor = QueryRedactor(names)
    substring, regex, lru = substring_redactor(names), regex_redactor(names), lru_cache_redactor(names)
    ip_memo = Memo(is_ip, 1024, longest=64)
    ip_lru = functools.lru_cache(maxsize=1024)(is_ip)
    trace = parse_traceparent(header)
    now_ns = time.time_ns() // 1000 * 1000  # a whole microsecond: the float of isoformat_utc rounds to it
    request_id = environ["HTTP_X_REQUEST_ID"]
    pack_ormsgpack = fluent._packb
    pack_msgpack = functools.partial(msgpack.packb, use_bin_type=True)
    non_str_keys = orjson.OPT_APPEND_NEWLINE | orjson.OPT_NON_STR_KEYS

    for query in (QUERY_WITH_SECRET, QUERY_WITHOUT_SECRET):
        for label, redact in (("substring", substring), ("regex", regex), ("lru_cache", lru)):
            same(f"{label} redactor on {query}", redact(query), redactor(query))
    same("redactor, instance called", redactor(QUERY_WITH_SECRET), collector._redact_query(QUERY_WITH_SECRET))
    same("traceparent by slices", traceparent_by_slices(header), parse_traceparent(header))
    for given in (header, UNSAMPLED_TRACEPARENT, "00-" + "0" * 32 + "-00f067aa0ba902b7-00", None, "junk"):
        same(f"sampling facts of {given!r}", sampling_facts_by_full_check(given), trace_sampling_facts(given))
    same("ip lru_cache", ip_lru(address), ip_memo[address])
    same("TraceContext()", TraceContext(*trace), tuple.__new__(TraceContext, tuple(trace)))
    same("isoformat", isoformat_utc(now_ns), rfc3339_utc(now_ns))
    same("json line", orjson.loads(json_line(record)), orjson.loads(encode_line(record)))
    same("msgpack", msgpack.unpackb(pack_msgpack(record)), msgpack.unpackb(pack_ormsgpack(record)))
    same("deep copy", copy.deepcopy(record), schema.unshare(dict(record)))
    same("os.getpid()", os.getpid(), process_id.current_pid())

    return [
        Choice("timeit's own loop (in every figure)", {"pass": "pass"}, {}),
        Choice(
            "process_id: the pid cached per process",
            {"current_pid()": "current_pid()", "process_id.pid": "process_id.pid", "os.getpid()": "getpid()"},
            {"current_pid": process_id.current_pid, "process_id": process_id, "getpid": os.getpid},
        ),
        Choice(
            f"memo: a hit on {address!r}",
            {"Memo[key]": "memo[key]", "lru_cache(key)": "cached(key)"},
            {"memo": ip_memo, "cached": ip_lru, "key": address},
        ),
        *(
            Choice(
                f"redaction: QueryRedactor on {query!r}",
                {
                    "dict per name": "redact(query)",
                    "substring per secret name": "substring(query)",
                    "regex over the names": "regex(query)",
                    "lru_cache per name": "lru(query)",
                },
                {"redact": redactor.__call__, "substring": substring, "regex": regex, "lru": lru, "query": query},
            )
            for query in (QUERY_WITH_SECRET, QUERY_WITHOUT_SECRET)
        ),
        Choice(
            "request_facts: the redactor's bound __call__",
            {"bound __call__": "bound(query)", "the instance called": "instance(query)"},
            {"bound": collector._redact_query, "instance": collector.redact_query, "query": QUERY_WITH_SECRET},
        ),
        Choice(
            "correlation: a traced access record keeps the header",
            {
                "match_version_00 + [3:35]": "match(header) is not None and header[3:35]",
                "parse_traceparent": "parse(header).trace_id",
            },
            {"match": match_version_00, "parse": parse_traceparent, "header": header},
        ),
        Choice(
            "correlation: parse_traceparent's groups()",
            {"grouped regex, groups()": "parse(header)", "group-free regex, slices": "slices(header)"},
            {"parse": parse_traceparent, "slices": traceparent_by_slices, "header": header},
        ),
        Choice(
            "correlation: a TraceContext built by tuple.__new__",
            {"tuple.__new__": "new(TraceContext, (a, b, c))", "TraceContext(...)": "TraceContext(a, b, c)"},
            {"new": tuple.__new__, "TraceContext": TraceContext, "a": trace[0], "b": trace[1], "c": trace[2]},
        ),
        Choice(
            "request_context: a RequestContext built by tuple.__new__",
            {"tuple.__new__": "new(RequestContext, (a, b))", "RequestContext(...)": "RequestContext(a, b)"},
            {"new": tuple.__new__, "RequestContext": RequestContext, "a": request_id, "b": trace},
        ),
        Choice(
            "request_context: a new request id",
            {"new_request_id()": "new_request_id()", "uuid4().hex": "uuid4().hex"},
            {"new_request_id": new_request_id, "uuid4": uuid.uuid4},
        ),
        Choice(
            "access_policy: the sampling facts of an unsampled traceparent",
            {"trace_sampling_facts": "facts(header)", "full check": "full(header)"},
            {"facts": trace_sampling_facts, "full": sampling_facts_by_full_check, "header": UNSAMPLED_TRACEPARENT},
        ),
        Choice(
            "access_policy: counting a record not written",
            {"next(itertools.count)": "counters.by_count()", "a locked counter": "counters.by_lock()"},
            {"counters": Counters()},
        ),
        Choice(
            "schemas: unsharing an ECS access record for processors",
            {
                "EcsSchema.unshare": "unshare(record)",
                "Schema.unshare (event all the way down)": "base_unshare(schema, record)",
                "the whole record (private_copy)": "private_copy(record)",
                "copy.deepcopy": "deepcopy(record)",
            },
            {
                "unshare": schema.unshare,
                "base_unshare": Schema.unshare,
                "schema": schema,
                "private_copy": private_copy,
                "deepcopy": copy.deepcopy,
                "record": record,
            },
        ),
        Choice(
            "timestamps: RFC 3339 of a time in the current second",
            {"rfc3339_utc": "stamp(now)", "datetime.isoformat": "isoformat(now)"},
            {"stamp": rfc3339_utc, "isoformat": isoformat_utc, "now": now_ns},
        ),
        Choice(
            "encoding: the ECS access record as a line",
            {
                "orjson, OPT_APPEND_NEWLINE": "dumps(record, fallback, plain)",
                "orjson, + OPT_NON_STR_KEYS": "dumps(record, fallback, non_str_keys)",
                "json.dumps": "json_line(record)",
            },
            {
                "dumps": orjson.dumps,
                "fallback": fallback_value,
                "plain": orjson.OPT_APPEND_NEWLINE,
                "non_str_keys": non_str_keys,
                "json_line": json_line,
                "record": record,
            },
        ),
        Choice(
            "framing/fluent: packing the ECS access record",
            {"ormsgpack.packb": "ormsgpack(record)", "msgpack.packb": "msgpack(record)"},
            {"ormsgpack": pack_ormsgpack, "msgpack": pack_msgpack, "record": record},
        ),
    ]


def held_bytes(make: Callable[[], bytes], lines: int) -> float:
    """Bytes allocated per line (as tracemalloc counts them) while ``lines`` results of ``make`` are held."""
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        held = [make() for _ in range(lines)]
        after = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    del held
    return (after - before) / lines


def run_compact(rounds: int, lines: int) -> None:
    """What a queue of encoded lines holds: orjson's own bytes, or ``compact()``'s exact-size copies."""
    cfg = make_config(os.devnull, os.devnull)
    settings = load_settings(cfg, env={})
    resp, req, environ, request_time = make_request(cfg)
    record = EcsSchema(settings).access(AccessFactsCollector(settings).collect(resp, req, environ, request_time))
    size = len(encode_line(record))
    own, copied = [], []
    for _ in range(rounds):
        own.append(held_bytes(lambda: encode_line(record), lines))
        copied.append(held_bytes(lambda: compact(encode_line(record)), lines))
    ratio = statistics.median(a / b for a, b in zip(own, copied, strict=True))
    print(
        f"{COMPACT_TITLE}: memory held per {size}-byte line, {lines} lines: compact() copy "
        f"{statistics.median(copied):.0f} B; orjson's bytes {statistics.median(own):.0f} B ({ratio:.2f}x)",
        flush=True,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=7, help="rounds, contenders alternating (default 7)")
    parser.add_argument("--seconds", type=float, default=0.05, help="time of the slowest contender a round")
    parser.add_argument("--most", type=int, default=2_000_000, help="most calls of a contender a round")
    parser.add_argument("--lines", type=int, default=5_000, help="lines held in the memory measurement")
    parser.add_argument("--only", help="run only the choices whose title contains this text")
    args = parser.parse_args(argv)
    if args.rounds < 1 or args.seconds <= 0 or args.most < 1000 or args.lines < 100:
        parser.error("--rounds >= 1, --seconds > 0, --most >= 1000, --lines >= 100")
    print(
        f"python {sys.version.split()[0]}, orjson {orjson.__version__}, pid {os.getpid()}, "
        f"loadavg {os.getloadavg()[0]:.2f}, {args.rounds} rounds; median ns per call (ratio to the first)",
        flush=True,
    )
    for choice in build_choices():
        if args.only and args.only not in choice.title:
            continue
        calibrate(choice, args.seconds, args.most)
        report(choice, *run(choice, args.rounds))
    if not args.only or args.only in COMPACT_TITLE:
        run_compact(args.rounds, args.lines)
    print(f"loadavg {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
