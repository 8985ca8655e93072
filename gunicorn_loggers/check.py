"""``gunicorn-loggers check``: the configuration a gunicorn would run with, tried before a deploy.

It reads the same sources as gunicorn (``-c FILE``, ``GUNICORN_CMD_ARGS``, the
command line, ``-e NAME=VALUE``, the environment), builds the logger exactly as
gunicorn's master does, and sends one record through it. A bad option fails the
way it would fail gunicorn's start, as one line; an unreachable or refusing
collector, which gunicorn only reports once it is serving, is reported here at once.
"""

from __future__ import annotations

import dataclasses
import logging
import socket
import sys
from collections.abc import Iterable, Sequence
from typing import Any, TextIO

from gunicorn.app.base import Application

from .loggers import JsonLogger
from .options import ignored_warning
from .redaction import REDACTED

#: Seconds the test record may take to reach a collector.
DELIVERY_TIMEOUT = 10.0


class _ConfigOnly(Application):
    """gunicorn's own reading of a configuration, without an app to load."""

    def __init__(self, argv: Sequence[str]) -> None:
        self._argv = list(argv)
        saved, sys.argv = sys.argv, ["gunicorn", *self._argv]
        try:
            super().__init__("gunicorn-loggers check [GUNICORN OPTIONS] [APP_MODULE]", prog="gunicorn-loggers check")
        finally:
            sys.argv = saved

    def init(self, parser: Any, opts: Any, args: Any) -> None:
        return None

    def load(self) -> Any:  # never serves
        raise RuntimeError("gunicorn-loggers check loads no application")


def load_gunicorn_config(argv: Sequence[str]) -> Any:
    """The ``Config`` gunicorn builds from these arguments (and its files and environment)."""
    return _ConfigOnly(argv).cfg


def _masked(text: str, secrets: Iterable[str]) -> str:
    for secret in sorted(set(secrets), key=len, reverse=True):
        if secret:
            text = text.replace(secret, REDACTED)
    return text


def describe_settings(logger: JsonLogger, cfg: Any) -> list[tuple[str, str]]:
    """The effective settings as (name, value) pairs, every known secret masked."""
    secrets = list(logger.known_secrets())
    rows = [
        ("logger_class", f"{type(logger).__module__}.{type(logger).__qualname__}"),
        ("accesslog", str(cfg.accesslog)),
        ("errorlog", str(cfg.errorlog)),
        ("loglevel", str(cfg.loglevel)),
    ]
    if getattr(cfg, "syslog_addr", None) and "Syslog" in type(logger).__name__:
        rows.append(("syslog_addr", str(cfg.syslog_addr)))
    for group in (logger.settings, getattr(logger, "network", None)):
        if group is None:
            continue
        for field in dataclasses.fields(group):
            value = getattr(group, field.name)
            if isinstance(value, frozenset):
                value = ",".join(sorted(value))
            if field.name not in ("trusted_networks", "ignored_options"):  # trusted_proxies, parsed; the warning
                rows.append((field.name, "" if value is None else str(value)))
    engine = getattr(logger, "engine", None)
    if engine is not None:
        rows.append(("destination", str(engine.name)))
    return [(name, _masked(value, secrets)) for name, value in rows]


class _Reports:
    """The delivery engine's reports, kept to be quoted instead of written to the error log."""

    def __init__(self) -> None:
        self.messages: list[str] = []

    def __call__(self, level: int, message: str, stats: dict) -> None:
        self.messages.append(message)


def _send_test_record(logger: JsonLogger) -> None:
    """One record through the error log's handlers, whatever ``--log-level`` lets through."""
    log = logger.error_log
    message, args = "gunicorn-loggers check: test record from %s", (socket.gethostname(),)
    line = _send_test_record.__code__.co_firstlineno
    log.handle(log.makeRecord(log.name, logging.INFO, __file__, line, message, args, None, func="_send_test_record"))


def _local_losses(logger: JsonLogger) -> list[str]:
    lost = []
    for sink in logger._sinks.values():
        failures = getattr(sink, "failures", None) or getattr(getattr(sink, "local", None), "failures", None)
        if failures is not None and failures.lost:
            lost.append(f"{failures.target}: {failures._last_error or 'write failed'}")
    return lost


def run_check(argv: Sequence[str], out: TextIO = sys.stdout) -> int:
    """Check the configuration ``argv`` gives gunicorn; print what was found; 0 when all is well."""
    cfg = load_gunicorn_config(argv)
    try:
        logger_class = cfg.logger_class
    except Exception as exc:  # gunicorn's own message for a class it cannot load
        print(f"gunicorn-loggers check: logger_class: {str(exc).strip().splitlines()[0]}", file=out)
        return 1
    if not (isinstance(logger_class, type) and issubclass(logger_class, JsonLogger)):
        name = getattr(logger_class, "__qualname__", logger_class)
        print(
            f"gunicorn-loggers check: logger_class is {name}, not a gunicorn-loggers logger: "
            "set --logger-class gunicorn_loggers.JsonLogger (or another of ours)",
            file=out,
        )
        return 1
    try:
        logger = logger_class(cfg)
    except Exception as exc:  # a ConfigError is the user's one line; anything else is told the same way
        print(f"gunicorn-loggers check: {exc}", file=out)
        return 1
    for name, value in describe_settings(logger, cfg):
        print(f"  {name} = {value}", file=out)
    ignored = ignored_warning(logger.settings.ignored_options, type(logger).__name__)
    if ignored is not None:  # what the logger's warning record says; not a failure
        print(f"gunicorn-loggers check: warning: {ignored}", file=out)
    engine = getattr(logger, "engine", None)
    reports = _Reports()
    if engine is not None:
        engine.report = reports
    _send_test_record(logger)
    if engine is None:
        lost = _local_losses(logger)
        if lost:
            print(f"gunicorn-loggers check: the test record could not be written: {'; '.join(lost)}", file=out)
            return 1
        print(f"gunicorn-loggers check: ok: test record written to {cfg.errorlog}", file=out)
        return 0
    engine.close(timeout=DELIVERY_TIMEOUT, final_report=False, when="check")
    stats = engine.stats()
    if stats["produced"] and stats["delivered"] == stats["produced"]:
        print(f"gunicorn-loggers check: ok: test record delivered to {engine.name}", file=out)
        return 0
    what = "refused by" if stats["dropped_rejected"] else "not delivered to"
    # The last report is the closing one: its totals and the last error the collector gave.
    detail = reports.messages[-1].removeprefix("gunicorn-loggers: ") if reports.messages else "no answer"
    print(f"gunicorn-loggers check: test record {what} {engine.name}: {detail}", file=out)
    return 1
