"""The structlog chain on every network logger: a real gunicorn, the processors, the records on the wire."""

from __future__ import annotations

import pytest

from tests.gunicorn_process import Gunicorn
from tests.receivers import RSYSLOGD, ForwardReceiver, HttpReceiver, NdjsonReceiver, Rsyslog, any_value, wait_until

PROCESSORS = "tests.processors.add_region,tests.processors.drop_marked"


def _otlp_records(receiver: HttpReceiver) -> list[dict]:
    """Each LogRecord as the fields the tests read: the body as message, the attributes by key."""
    records = []
    for entry in list(receiver.entries):
        attributes = {kv.key: any_value(kv.value) for kv in entry["record"].attributes}
        record = {"message": entry["record"].body.string_value, **attributes}
        if "url.path" in attributes:
            record["url"] = {"path": attributes["url.path"]}
        records.append(record)
    return records


def _syslog_records(daemon: Rsyslog) -> list[dict]:
    return [r["record"] for r in daemon.received()]


#: name -> (logger class, receiver factory, env of the receiver, the records the receiver parsed)
DESTINATIONS = {
    "socket": ("SocketLogger", lambda tmp: NdjsonReceiver(), {}, lambda r: r.snapshot()),
    "syslog": ("SyslogLogger", lambda tmp: Rsyslog(tmp / "rsyslog"), {}, _syslog_records),
    "http-ndjson": (
        "HttpLogger",
        lambda tmp: HttpReceiver("ndjson"),
        {"HTTP_FORMAT": "ndjson"},
        lambda r: r.snapshot(),
    ),
    "http-loki": ("HttpLogger", lambda tmp: HttpReceiver("loki"), {"HTTP_FORMAT": "loki"}, HttpReceiver.snapshot),
    "http-bulk": ("HttpLogger", lambda tmp: HttpReceiver("bulk"), {"HTTP_FORMAT": "bulk"}, HttpReceiver.snapshot),
    "otlp": ("OtlpLogger", lambda tmp: HttpReceiver("otlp"), {}, _otlp_records),
    "fluent": ("FluentLogger", lambda tmp: ForwardReceiver(), {}, lambda r: r.records()),
}


def _start(network_gunicorn, tmp_path, name: str, processors: str):
    logger, make_receiver, receiver_env, records = DESTINATIONS[name]
    if name == "syslog" and not RSYSLOGD:
        pytest.skip("no rsyslogd")
    receiver = make_receiver(tmp_path)
    receiver.start() if name == "syslog" else receiver.__enter__()
    env = {f"GUNICORN_LOGGERS_{key}": value for key, value in receiver_env.items()}
    env["GUNICORN_LOGGERS_PROCESSORS"] = processors
    args: tuple[str, ...] = ()
    if name == "syslog":
        args = ("--log-syslog-to", f"tcp://127.0.0.1:{receiver.port}")
    elif name == "otlp":
        env["OTEL_EXPORTER_OTLP_LOGS_ENDPOINT"] = receiver.url
    else:
        env["GUNICORN_LOGGERS_URL"] = receiver.url
    gunicorn = network_gunicorn(*args, receiver=receiver, logger_class=f"gunicorn_loggers.{logger}", env=env)
    return gunicorn, receiver, lambda: records(receiver)


def _stop_receiver(name: str, receiver) -> None:
    if name == "syslog":
        receiver.stop()
    else:
        receiver.__exit__(None, None, None)


def _path(record: dict) -> str:
    url = record.get("url")
    return str(url.get("path", "")) if isinstance(url, dict) else ""


@pytest.mark.parametrize("name", list(DESTINATIONS))
def test_processors_reach_the_wire_and_a_dropped_event_is_counted_not_lost(network_gunicorn, tmp_path, name):
    gunicorn, receiver, records = _start(network_gunicorn, tmp_path, name, PROCESSORS)
    try:
        for path in ("/item/1", "/drop%20me", "/item/2", "/log"):
            assert gunicorn.request(path)[0] in (200, 404)
        wait_until(lambda: {"/item/1", "/item/2"} <= {_path(r) for r in records()}, what="the access records")
        wait_until(lambda: any(r.get("message") == "app says hello" for r in records()), what="the app's record")
        assert gunicorn.stop() == 0
        wait_until(lambda: any("Shutting down" in str(r.get("message")) for r in records()), what="the last line")
    finally:
        _stop_receiver(name, receiver)
    shipped = records()
    assert shipped and all(r.get("region") == "eu-west-1" for r in shipped), [r for r in shipped if "region" not in r]
    assert not any("drop me" in _path(r) for r in shipped)
    wait_until(lambda: any("dropped by processors" in str(r.get("message")) for r in records()), what="the report")
    reports = [r for r in records() if "dropped by processors" in str(r.get("message"))]
    assert [r["processors"] for r in reports] == [{"dropped": 1}]  # the worker's, at its exit, to the collector
    for stats in gunicorn.balanced_exit_stats():  # a dropped event was never produced: nothing is missing
        assert stats["dropped"] == 0, stats


@pytest.mark.parametrize("name", ["socket", "otlp", "fluent"])
def test_a_failing_processor_is_reported_in_the_record_on_the_wire(network_gunicorn, tmp_path, name):
    gunicorn, receiver, records = _start(
        network_gunicorn, tmp_path, name, "tests.processors.explode,tests.processors.ReturnsNothing"
    )
    try:
        assert gunicorn.request("/item/7")[0] == 200
        wait_until(lambda: any(_path(r) == "/item/7" for r in records()), what="the access record")
        gunicorn.stop()
    finally:
        _stop_receiver(name, receiver)
    (access,) = [r for r in records() if _path(r) == "/item/7"]
    assert access["processor_error"] == (
        "explode raised ValueError: this processor is broken; ReturnsNothing returned NoneType, not a dict"
    )


@pytest.mark.parametrize("logger", ["SocketLogger", "SyslogLogger", "HttpLogger", "OtlpLogger", "FluentLogger"])
def test_the_console_renderer_is_refused_by_every_network_logger_with_one_line(tmp_path, logger):
    env = {"GUNICORN_LOGGERS_RENDERER": "console", "GUNICORN_LOGGERS_URL": "tcp://127.0.0.1:9"}
    if logger == "HttpLogger":
        env["GUNICORN_LOGGERS_URL"] = "http://127.0.0.1:9/logs"
    server = Gunicorn(tmp_path, logger_class=f"gunicorn_loggers.{logger}", env=env)
    assert server.run_to_exit() == 1
    lines = [line for line in server.stderr_path.read_text().splitlines() if line.strip()]
    assert lines == [
        f"Error: GUNICORN_LOGGERS_RENDERER=console: {logger} sends JSON records to a collector; "
        "the console renderer is for a terminal (use json or auto)"
    ]


def test_a_json_logger_runs_the_processors_too(gunicorn):
    """The renderer is a part of every logger: JsonLogger with processors named runs the chain."""
    server = gunicorn(logger_class="gunicorn_loggers.JsonLogger", env={"GUNICORN_LOGGERS_PROCESSORS": PROCESSORS})
    for path in ("/item/3", "/drop%20me", "/log"):
        assert server.request(path)[0] in (200, 404)
    records = server.wait_for_access(2)
    assert [r["url"]["path"] for r in records] == ["/item/3", "/log"]
    assert all(r["region"] == "eu-west-1" for r in records)
    (app,) = server.wait_for(lambda: [r for r in server.error_records() if r.get("message") == "app says hello"])
    assert app["region"] == "eu-west-1"
