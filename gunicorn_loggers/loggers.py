"""The logger classes users name with ``--logger-class``.

They stay thin: gunicorn's lifecycle (setup, SIGHUP, SIGUSR1, fork) on one side,
the record pipeline on the other::

    access() -> AccessFactsCollector.collect -> Schema.access -> encode_line -> Sink.write

(for the default ECS JSON, ``EcsAccessLine`` writes the same bytes without the dict).

We subclass gunicorn's ``Statsd`` rather than ``Logger``: gunicorn only swaps in
its statsd logger when ``logger_class`` is the default, so a plain subclass
would silently drop ``--statsd-host`` metrics. Without ``--statsd-host`` it
behaves exactly as ``Logger``.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import weakref
from collections.abc import Callable, Iterable, Mapping
from datetime import timedelta
from itertools import count
from typing import TYPE_CHECKING, Any

from gunicorn.glogging import CONFIG_DEFAULTS
from gunicorn.http.wsgi import default_environ
from gunicorn.instrument.statsd import Statsd

from . import _process_hooks, output_capture
from .access_policy import SKIPPED, AccessSelector, counted
from .call_site import find_caller_outside_wrappers
from .config import ConfigError, Settings, activate, load_settings
from .config_dump import is_configuration_dump, redact_configuration
from .ecs_access_line import ecs_access_line
from .encoding import encode_line
from .formatter import JsonFormatter
from .handlers import handler_for
from .in_flight import InFlightRequests, wrap_hooks
from .options import PREFIX, ignored_warning
from .record_builder import builder_for
from .request_facts import AccessFacts, AccessFactsCollector, parse_status
from .schemas import Schema, build_schema
from .sinks import LoggerSink, RecordSink, Sink, StreamSink, takes_records
from .sinks.buffered import BufferedSink
from .sinks.stream import open_sink

if TYPE_CHECKING:
    from .structlog_chain import Chain

ROOT_HANDLER_TAG = "_gunicorn_loggers_root"

#: Live loggers: their access-log policy and processors report at exit, their counts restart in a child.
_REPORTING: weakref.WeakSet[JsonLogger] = weakref.WeakSet()


class _Unanswered:
    """The response of a request a worker was aborted in: none was sent."""

    status = 0
    sent = None
    headers = ()


class JsonLogger(Statsd):
    """gunicorn's error log, access log and the app's records as JSON lines.

    Honours ``--access-logfile``, ``--error-logfile`` (``-`` for stdout/stderr),
    ``--log-level``, ``--forwarded-allow-ips``, ``--statsd-host``, ``logconfig_dict``
    and the ``GUNICORN_LOGGERS_*`` options.
    """

    settings: Settings
    schema: Schema
    collector: AccessFactsCollector

    #: Options of a subclass of your own that the table (``options.OPTIONS``) does not have, which it reads
    #: itself: name without the prefix -> one line of help. Which of the table's options a class takes
    #: is the table's to say, by class name.
    extra_options: Mapping[str, str] = {}
    #: Every record runs through the structlog chain (StructlogLogger); other loggers run it when
    #: ``GUNICORN_LOGGERS_PROCESSORS`` names processors.
    structlog_chain = False

    def __init__(self, cfg: Any) -> None:
        # gunicorn's __init__ calls setup(), which needs these.
        self._sinks: dict[str, Sink] = {}
        self._access_sink: Sink | None = None
        self._select: AccessSelector | None = None
        self._in_flight = InFlightRequests()
        self._processors: list[Any] = []
        self._chained = False
        #: Events a processor dropped (``DropEvent``) in this process: never produced, told at exit.
        self._processor_drops = count()
        super().__init__(cfg)
        _REPORTING.add(self)

    # -- set-up, run again by gunicorn on SIGHUP -------------------------------------------

    #: What a set-up replaces; a set-up that fails part-way puts these back.
    _set_up_state: tuple[str, ...] = (
        "cfg",
        "loglevel",
        "_access_log_enabled",
        "settings",
        "schema",
        "collector",
        "_sinks",
        "_access_sink",
        "_access_line",
        "_select",
        "_processors",
        "_chained",
    )

    def setup(self, cfg: Any) -> None:
        """Check the whole configuration first, then replace the sinks.

        A user's mistake (a bad option, a log file that cannot be opened) is a
        ConfigError: at start gunicorn prints it as one line and exits. On SIGHUP it
        is one error record, and the previous configuration stays, untouched.
        """
        try:
            settings = self.check(cfg)
        except ConfigError as exc:
            if not hasattr(self, "settings"):
                raise
            self.error("reloading the logger configuration failed, keeping the previous one: %s", exc)
        else:
            ignored_before = self.settings.ignored_options if hasattr(self, "settings") else ()
            self.apply(cfg, settings)
            if settings.ignored_options != ignored_before:  # once at start, then on a SIGHUP that changes them
                self._warn_ignored(settings.ignored_options)
        if self._chained:  # the app's structlog.get_logger() calls reach the same chain
            from .structlog_chain import configure_structlog

            configure_structlog()

    def _warn_ignored(self, names: tuple[str, ...]) -> None:
        """Another logger's options in a shared environment do not stop this one: it says so, once."""
        message = ignored_warning(names, type(self).__name__)
        if message is not None:
            # error_log, not self.warning: at start Statsd's __init__ has not yet set what its counter needs
            self.error_log.warning("%s", message, extra={"ignored_options": [PREFIX + name for name in names]})

    def check(self, cfg: Any) -> Settings:
        """The settings of ``cfg``; raise ConfigError, change nothing in use."""
        settings = load_settings(cfg, logger=type(self))  # a bad option fails here, first
        check_log_files(cfg)
        self.prepare(cfg, settings)
        return settings

    def prepare(self, cfg: Any, settings: Settings) -> None:
        """Check and load what a subclass needs from the options; raise ConfigError, change nothing in use.

        A subclass that overrides it calls it too: it loads the structlog processors."""
        self._prepared_chain = self.structlog_chain or bool(settings.processors)
        self._prepared_processors = []
        if self._prepared_chain:
            from .structlog_chain import load_processors

            self._prepared_processors = load_processors(settings.processors)

    def apply(self, cfg: Any, settings: Settings) -> None:
        """Open the new sinks, then close the previous ones; a failure closes the new ones instead."""
        before = {name: vars(self)[name] for name in self._set_up_state if name in vars(self)}
        try:
            self._install(cfg, settings)
        except BaseException:
            self._roll_back(before)
            raise
        self._retire(before)
        if cfg.capture_output:
            output_capture.install(sys)
        else:
            output_capture.uninstall(sys)

    def _install(self, cfg: Any, settings: Settings) -> None:
        self.settings = settings
        self._chained = self._prepared_chain
        self._processors = self._prepared_processors
        self.error_log.findCaller = find_caller_outside_wrappers  # log.origin: gunicorn's line, not its wrapper
        self.schema = build_schema(settings)
        self.collector = AccessFactsCollector(settings)
        self._select = builder_for(settings).selector  # one set of counts with uvicorn's access lines
        activate(settings)
        wrap_hooks(cfg, self._in_flight, self._log_unanswered_requests)
        self._sinks = {}
        self._access_sink = None
        self._access_line = self.access_line_writer(None)
        super().setup(cfg)  # calls _set_handler() below, then logconfig_dict if any
        self._reattach_handlers()
        self._attach_root_handler(settings)
        if self._access_sink is None and self._compute_access_log_enabled():
            self._access_sink = LoggerSink(self.access_log)

    def _retire(self, before: dict[str, Any]) -> None:
        """The new set-up is in place: close the sinks of the previous one."""
        for exc in close_sinks(before.get("_sinks", {}).values()):
            self.error("gunicorn-loggers could not close a log sink of the previous set-up: %s", exc)

    def _roll_back(self, before: dict[str, Any]) -> None:
        """Close the sinks a failed set-up opened and put the previous ones back behind their handlers."""
        failed = [sink for sink in self._sinks.values() if sink not in before.get("_sinks", {}).values()]
        for name in self._set_up_state:
            if name in before:
                setattr(self, name, before[name])
            else:
                vars(self).pop(name, None)
        for log in (self.error_log, self.access_log):
            for handler in [h for h in log.handlers if getattr(h, "_gunicorn", False)]:
                log.removeHandler(handler)
        if "settings" in before:  # a reload: the previous set-up works again
            self.error_log.setLevel(self.loglevel)
            activate(self.settings)
            self._reattach_handlers()
            self._attach_root_handler(self.settings)
        for exc in close_sinks(failed):
            self.error("gunicorn-loggers could not close a log sink of the failed set-up: %s", exc)

    def make_sink(self, output: str, stream: Any) -> Sink:
        """The sink for ``--access-logfile`` / ``--error-logfile``; network loggers override it.

        ``check_log_files`` has already opened both paths, before anything changed."""
        return open_sink(output, output_capture.unwrap(stream), self.cfg.user, self.cfg.group)

    # -- the renderer: plain JSON, or the structlog chain ----------------------------------------

    def make_formatter(self, sink: Sink | RecordSink | None) -> logging.Formatter:
        """How LogRecords written to ``sink`` are rendered: JSON, or the structlog chain."""
        if not self._chained:
            return JsonFormatter(settings=self.settings)
        from .structlog_chain import StructlogFormatter

        settings = self.settings
        return StructlogFormatter(lambda: builder_for(settings), self._chain(sink))

    def _chain(self, sink: Sink | RecordSink | None) -> Chain:
        from .structlog_chain import Chain, ConsoleView

        if self.settings.renderer == "console" or (self.settings.renderer == "auto" and _is_terminal(sink)):
            render: Callable[[dict[str, Any]], bytes] = ConsoleView(
                self.schema, colors=_is_terminal(sink), fields=self.settings.console_fields
            )
        else:
            render = encode_line
        return Chain(self._processors, render, self.schema.unshare, dropped=self._count_processor_drop)

    def _count_processor_drop(self) -> None:
        next(self._processor_drops)  # the counter is replaced in a forked child: looked up each time

    def access_renderer(self, sink: Sink | None) -> Callable[[dict[str, Any]], bytes]:
        """How access records written to ``sink`` become bytes."""
        if not self._chained:
            return encode_line
        chain = self._chain(sink)
        if not self._processors:
            return lambda record: chain("info", record)
        level_of = self.schema.level_of  # a 5xx access record is an error: processors see "error"
        return lambda record: chain(level_of(record), record)

    def access_line_writer(self, sink: Sink | RecordSink | None) -> Callable[[AccessFacts], bytes | None]:
        """What ``access()`` turns a request's facts into bytes for ``sink`` with.

        The schema's dict, rendered by ``access_renderer``; for plain JSON in the ECS
        schema, the same bytes written from a template (``ecs_access_line``). A network
        sink is given the record itself, with the level and time of its facts: the
        writer hands it over and returns nothing.
        """
        if sink is not None and takes_records(sink):
            return self._access_record_writer(sink)  # type: ignore[arg-type]
        render = self.access_renderer(sink)
        template = ecs_access_line(self.schema, render)
        if template is not None:
            return template
        schema_access = self.schema.access

        def write_line(facts: AccessFacts) -> bytes:
            return render(schema_access(facts))

        return write_line

    def _access_record_writer(self, sink: RecordSink) -> Callable[[AccessFacts], None]:
        write = sink.write_record
        schema_access = self.schema.access
        shown = self.schema.shown_time
        if self._chained:
            process = self._chain(sink).process

            def write_processed(facts: AccessFacts) -> None:
                record = process(facts.level, schema_access(facts))
                if record is not None:
                    write(record, None, facts.level, shown(facts.time_ns))

            return write_processed
        template = None if sink.needs_record else ecs_access_line(self.schema, encode_line)
        if template is not None:

            def write_template(facts: AccessFacts) -> None:
                write(None, template(facts), facts.level, shown(facts.time_ns))

            return write_template

        def write_record(facts: AccessFacts) -> None:
            write(schema_access(facts), None, facts.level, shown(facts.time_ns))

        return write_record

    def _set_handler(self, log: logging.Logger, output: str | None, fmt: Any, stream: Any = None) -> None:
        """gunicorn's hook for the file behind each log: ours writes JSON to a sink."""
        previous = self._get_gunicorn_handler(log)
        if previous is not None:
            log.removeHandler(previous)
        if output is None:
            return
        sink = self.make_sink(output, stream if stream is not None else sys.stderr)
        if log is self.access_log and self.settings.access_flush_interval > 0 and hasattr(sink, "fd"):
            sink = BufferedSink(sink, self.settings.access_flush_interval)
        self._sinks[log.name] = sink  # from here on a failed set-up closes it
        handler = handler_for(sink, self.make_formatter(sink))
        handler._gunicorn = True
        log.addHandler(handler)
        if log is self.access_log:
            self._access_sink = sink
            self._access_line = self.access_line_writer(sink)
            failures = getattr(sink, "failures", None)
            if failures is not None:  # lost access records are told on the error log, as a record of its schema
                failures.report = self.error_log.error

    def _reattach_handlers(self) -> None:
        """``logconfig_dict`` may have replaced the handlers of gunicorn's loggers: put ours back.

        gunicorn lays a ``logconfig_dict`` over its own defaults, which hang text console
        handlers on gunicorn's loggers and the root: every line would come out twice,
        once as text. Those go, unless the user's dict defines handlers of their names.
        """
        dropped = self._gunicorn_default_handlers()
        for log in (self.error_log, self.access_log, logging.getLogger()):
            for handler in [h for h in log.handlers if getattr(h, "name", None) in dropped]:
                log.removeHandler(handler)
        for log in (self.error_log, self.access_log):
            log.propagate = False
            sink = self._sinks.get(log.name)
            if sink is not None and not any(getattr(h, "sink", None) is sink for h in log.handlers):
                handler = handler_for(sink, self.make_formatter(sink))
                handler._gunicorn = True
                log.addHandler(handler)

    def _user_logconfig(self) -> dict[str, Any]:
        """The dict gunicorn laid over its defaults: ``logconfig_dict``, or the ``logconfig_json`` file."""
        user_config = self.cfg.logconfig_dict
        if not user_config and self.cfg.logconfig_json:
            try:
                with open(self.cfg.logconfig_json) as file:
                    user_config = json.load(file)
            except (OSError, ValueError):
                user_config = {}
        return user_config if isinstance(user_config, dict) else {}

    def _gunicorn_default_handlers(self) -> frozenset[str]:
        """Names of the handlers gunicorn's defaults added under a ``logconfig_dict`` (or JSON file)."""
        user_config = self._user_logconfig()
        if not user_config:
            return frozenset()
        return frozenset(CONFIG_DEFAULTS["handlers"]) - set(user_config.get("handlers") or ())

    def _attach_root_handler(self, settings: Settings) -> None:
        """Send the app's own records to the error log, unless the app configured logging itself."""
        root = logging.getLogger()
        for handler in list(root.handlers):
            if getattr(handler, ROOT_HANDLER_TAG, False):
                root.removeHandler(handler)
        sink = self._sinks.get(self.error_log.name)
        if not settings.app_logs or sink is None or root.handlers:
            return
        handler = handler_for(sink, self.make_formatter(sink))
        setattr(handler, ROOT_HANDLER_TAG, True)
        root.addHandler(handler)
        user_root = self._user_logconfig().get("root")
        if not (isinstance(user_root, dict) and "level" in user_root):  # a level the user set for the root stays
            root.setLevel(self.loglevel)

    # -- per request -----------------------------------------------------------------------

    def debug(self, msg: Any, *args: Any, **kwargs: Any) -> None:
        """gunicorn's default ``pre_request`` hook logs every request at debug level.

        Statsd's ``debug`` goes through four calls before the level check; with debug
        off and no statsd ``extra`` there is nothing to do, so return first.
        """
        if kwargs or self.error_log.isEnabledFor(logging.DEBUG):
            if is_configuration_dump(msg):
                msg = redact_configuration(msg, self.known_secrets(), self.collector.redact_query)
            super().debug(msg, *args, **kwargs)

    def known_secrets(self) -> Iterable[str]:
        """Credentials this logger was configured with, never to be logged; network loggers have some."""
        return ()

    def access(self, resp: Any, req: Any, environ: dict, request_time: Any) -> None:
        sink = self._access_sink
        if sink is not None:
            try:
                select = self._select
                kept = None if select is None else select(resp, environ, request_time)
                if kept.__class__ is str:  # skipped or sampled out (access_policy), and counted there
                    if self.sock is not None:
                        self.increment(f"gunicorn_loggers.access.{'skipped' if kept is SKIPPED else 'sampled_out'}", 1)
                else:
                    facts = self.collector.collect(resp, req, environ, request_time)
                    facts.kept = kept
                    if self._in_flight.aborted:  # a sync worker's request, answered 500 after its abort
                        self._mark_timed_out(facts, req)
                    line = self._access_line(facts)
                    if line:
                        sink.write(line)
            except Exception:
                self.exception("gunicorn-loggers could not write an access record")
        if self.sock is not None:
            self._send_request_metrics(resp, request_time)

    # -- a worker aborted after --timeout ------------------------------------------------------

    def _mark_timed_out(self, facts: AccessFacts, req: Any) -> None:
        seconds = self._in_flight.seconds_since_abort_start(req)
        if seconds is not None:  # gunicorn's own time is that of its 500 alone
            facts.duration_ns = int(seconds * 1e9)
            facts.timed_out = True
            facts.level = "error"

    def _log_unanswered_requests(self, worker: Any) -> None:
        """The worker_abort hook: an access record for each request no thread of this worker will answer."""
        if self._access_sink is None:
            return
        for req, seconds in self._in_flight.abort():
            try:
                environ = _request_environ(req, self.cfg)
                facts = self.collector.collect(_Unanswered(), req, environ, timedelta(seconds=seconds))
                facts.status = facts.body_bytes = None
                facts.level = "error"
                facts.timed_out = True
                line = self._access_line(facts)
                if line:
                    self._access_sink.write(line)
            except Exception:
                self.exception("gunicorn-loggers could not write the access record of an aborted request")
        self._deliver_soon()

    def _deliver_soon(self) -> None:
        """The worker exits next and gunicorn kills it a second later: a network logger sends at once."""

    def _report_access_policy(self) -> None:
        """At exit: what the access-log policy left out, and what processors dropped (never produced, so
        in no delivery report)."""
        select = self._select
        if select is not None and (select.skipped or select.sampled_out):
            counts = {"skipped": select.skipped, "sampled_out": select.sampled_out}
            self.error_log.info(
                "gunicorn-loggers: access log at exit: %(skipped)d records skipped, %(sampled_out)d sampled out",
                counts,
                extra={"access_policy": counts},
            )
        dropped = counted(self._processor_drops)
        if dropped:
            self.error_log.info(
                "gunicorn-loggers at exit: %d records dropped by processors (DropEvent)",
                dropped,
                extra={"processors": {"dropped": dropped}},
            )

    def _send_request_metrics(self, resp: Any, request_time: Any) -> None:
        """What gunicorn's Statsd.access sends, without its text access line."""
        try:
            status = parse_status(resp.status)
            self.timer("gunicorn.request.duration", request_time.seconds * 1000 + request_time.microseconds / 1000)
            self.increment("gunicorn.requests", 1)
            self.increment(f"gunicorn.request.status.{status}", 1)
        except Exception:
            self.warning("gunicorn-loggers could not send statsd metrics", exc_info=True)

    # -- signals -----------------------------------------------------------------------------

    def reopen_files(self) -> None:
        super().reopen_files()  # capture_output and any FileHandler the app has
        for sink in self._sinks.values():
            try:
                sink.reopen()
            except OSError as exc:
                self.error("gunicorn-loggers could not reopen a log file: %s", exc)

    def close_on_exec(self) -> None:
        super().close_on_exec()
        for sink in self._sinks.values():
            sink.close_on_exec()


class StructlogLogger(JsonLogger):
    """JsonLogger whose every event runs through a structlog processor chain.

    gunicorn's messages, access records, the app's stdlib records and its
    ``structlog.get_logger()`` calls become records of the same schema, then pass
    the processors named in ``GUNICORN_LOGGERS_PROCESSORS``, then a renderer: JSON,
    or structlog's console renderer on a terminal (``GUNICORN_LOGGERS_RENDERER``).
    """

    structlog_chain = True


def _request_environ(req: Any, cfg: Any) -> dict[str, Any]:
    """The environ gunicorn's own error responses log with (``default_environ`` and the peer, as its
    ``handle_error`` builds it); the collector fills in the headers (``error_response_environ``)."""
    environ = default_environ(req, None, cfg)
    peer = getattr(req, "peer_addr", None)
    if isinstance(peer, tuple) and len(peer) >= 2:
        environ["REMOTE_ADDR"], environ["REMOTE_PORT"] = str(peer[0]), str(peer[1])
    return environ


def _report_at_exit() -> None:
    for logger in list(_REPORTING):
        try:
            logger._report_access_policy()
        except Exception:  # the error log itself is gone at exit: nothing is left to tell
            pass


def _reset_after_fork() -> None:
    for logger in list(_REPORTING):
        logger._in_flight.reset()
        logger._processor_drops = count()
        if logger._select is not None:
            logger._select.reset_counts()


_process_hooks.in_child(_process_hooks.CHILD_STATE, _reset_after_fork)
_process_hooks.at_exit(_process_hooks.EXIT_REPORTS, _report_at_exit)


def check_log_files(cfg: Any) -> None:
    """``--error-logfile`` and ``--access-logfile`` can be opened, as ``make_sink`` will; else ConfigError."""
    for option, path in (("--error-logfile", cfg.errorlog), ("--access-logfile", cfg.accesslog)):
        if path is None or path == "-":
            continue
        try:
            with open(path, "a"):
                pass
        except OSError as exc:
            raise ConfigError(f"{option} {path!r} cannot be opened for writing: {exc.strerror or exc}") from None


def close_sinks(sinks: Iterable[Sink]) -> list[Exception]:
    """Close each sink, even when one fails (a sink left open keeps a file logrotate cannot free); the failures."""
    failures = []
    for sink in sinks:
        try:
            sink.close()
        except Exception as exc:
            failures.append(exc)
    return failures


def _is_terminal(sink: Sink | None) -> bool:
    fd = getattr(sink, "fd", None)
    try:
        return isinstance(sink, StreamSink) and fd is not None and os.isatty(fd)
    except OSError:
        return False
