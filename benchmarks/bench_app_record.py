"""Per-record cost of an app's stdlib record through ``JsonFormatter``, in-process.

For each schema: ``format()`` of a record with four ordinary extras (text, int, list,
float) and of one with none, and ``schema.log()`` alone on the first record's facts.
Figures are the best of 15 rounds of 20 000 calls, in microseconds. To compare two
versions, run it alternately from each checkout's root (the package is imported from
the working directory)::

    .venv/bin/python benchmarks/bench_app_record.py
"""

from __future__ import annotations

import logging
import sys
import timeit
from functools import partial

sys.path.insert(0, ".")

from gunicorn_loggers import JsonFormatter, load_settings
from gunicorn_loggers.log_facts import collect_log_facts
from gunicorn_loggers.record_builder import RecordBuilder

EXTRAS = {"user_id": 42, "action": "login", "tags": ["a", "b"], "duration_ms": 12.5}


def app_record(extras: dict) -> logging.LogRecord:
    record = logging.LogRecord("app", logging.INFO, __file__, 10, "user %s did %s", ("alice", "login"), None)
    record.__dict__.update(extras)
    return record


def best(call, number: int = 20_000) -> float:
    return min(timeit.repeat(call, number=number, repeat=15)) / number * 1e6


def main() -> None:
    for schema in ("ecs", "otel", "gcp", "flat"):
        formatter = JsonFormatter(schema=schema)
        builder = RecordBuilder(load_settings(env={"GUNICORN_LOGGERS_SCHEMA": schema}))
        with_extras, without = app_record(EXTRAS), app_record({})
        facts = collect_log_facts(with_extras, "m", None, dict(EXTRAS))
        print(
            f"{schema}: format {best(partial(formatter.format, with_extras)):.2f} µs with extras, "
            f"{best(partial(formatter.format, without)):.2f} without; "
            f"schema.log {best(partial(builder.schema.log, facts)):.3f} µs"
        )


if __name__ == "__main__":
    main()
