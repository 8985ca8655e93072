"""The one table of options: each logger takes its own, ignores another's with one warning, refuses a typo.

One environment is often shared by services running different loggers; an option of
another logger must not stop one from starting. A name that is no option at all still does.
"""

from __future__ import annotations

import dataclasses

import pytest

import gunicorn_loggers
from gunicorn_loggers import ConfigError, HttpLogger, JsonLogger, SocketLogger, SyslogLogger, load_settings
from gunicorn_loggers.network_loggers import NetworkLogger, load_network_settings
from gunicorn_loggers.options import (
    EVERY_LOGGER,
    NETWORK_LOGGERS,
    OPTIONS,
    Boolean,
    Choice,
    Count,
    Custom,
    DottedPaths,
    Fields,
    Fraction,
    Names,
    Seconds,
    Text,
    ignored_warning,
    takes,
)
from tests.gunicorn_process import Gunicorn
from tests.receivers import NdjsonReceiver, url_logger, wait_until
from tests.test_reload_errors import boots, hang_up

LOGGERS = {
    name: value
    for name in gunicorn_loggers.__all__
    if isinstance(value := getattr(gunicorn_loggers, name), type) and issubclass(value, JsonLogger)
}
URL_WARNING = (
    "GUNICORN_LOGGERS_URL is ignored by JsonLogger: it is an option of SocketLogger, HttpLogger, OtlpLogger and "
    "FluentLogger"
)


def warnings(records: list[dict]) -> list[dict]:
    return [r for r in records if " is ignored by " in r.get("message", "")]


def sample(option) -> str:
    """A valid value of ``option`` other than its default."""
    parse = option.parse
    if isinstance(parse, Boolean):
        return "off" if option.default else "on"
    if isinstance(parse, Choice):
        return parse.choices[-1] if option.name != "SCHEMA" else "otel"  # OtlpLogger takes only otel
    if isinstance(parse, (Seconds, Count)):
        return str(parse.high)
    if isinstance(parse, Fraction):
        return "0.5"
    if isinstance(parse, Custom):
        return {"ACCESS_SKIP": "/healthz", "ACCESS_LEVELS": "4xx=warning"}[option.name]
    if isinstance(parse, DottedPaths):
        return "tests.processors.tenant_in_service"
    if isinstance(parse, Fields):
        return "url.path"
    assert isinstance(parse, (Text, Names)), option
    return "x-tag"


EVERYTHING = {option.variable: sample(option) for option in OPTIONS.values()}


# -- the table -------------------------------------------------------------------------------------------


def test_the_table_names_every_logger_of_the_package_and_no_other():
    assert set(EVERY_LOGGER) == set(LOGGERS)
    assert set(NETWORK_LOGGERS) == {name for name, cls in LOGGERS.items() if issubclass(cls, NetworkLogger)}
    for option in OPTIONS.values():
        assert option.loggers and set(option.loggers) <= set(EVERY_LOGGER), option.name


def test_numeric_options_have_their_bounds_in_the_table_and_their_default_within_them():
    for option in OPTIONS.values():
        if option.bounds is not None and option.default is not None:
            low, high = option.bounds
            assert low <= option.default <= high, option.name
    assert OPTIONS["CONNECT_TIMEOUT"].bounds == (0.1, 86400.0)
    assert OPTIONS["BATCH_WAIT"].bounds == (0.0, 10.0)


def test_the_settings_defaults_are_the_tables():
    network = dataclasses.asdict(load_network_settings(env={}))
    assert network == {name: OPTIONS[name.upper()].default for name in network}
    settings = load_settings(env={})
    assert (settings.schema, settings.renderer, settings.access_flush_interval) == ("ecs", "auto", 0.0)


@pytest.mark.parametrize("name", EVERY_LOGGER)
def test_each_logger_takes_its_own_options_and_ignores_the_others_without_reading_them(name):
    cls = LOGGERS[name]
    own = {option for option, entry in OPTIONS.items() if name in entry.loggers}
    settings = load_settings(env=EVERYTHING, logger=cls)
    assert set(settings.ignored_options) == set(OPTIONS) - own
    if issubclass(cls, NetworkLogger):
        network = load_network_settings(env=EVERYTHING, logger=cls)
        for field in dataclasses.fields(network):
            option = OPTIONS[field.name.upper()]
            expected = option.read(EVERYTHING) if field.name.upper() in own else option.default
            assert getattr(network, field.name) == expected, field.name
    # a value another logger would refuse is not read: it cannot stop this one
    bad = {f"GUNICORN_LOGGERS_{option}": "not a value" for option in settings.ignored_options}
    assert load_settings(env=bad, logger=cls).ignored_options == settings.ignored_options


def test_a_bad_value_stops_the_logger_that_takes_the_option():
    env = {"GUNICORN_LOGGERS_SYSLOG_FRAMING": "nul"}
    assert load_settings(env=env, logger=SocketLogger).ignored_options == ("SYSLOG_FRAMING",)
    with pytest.raises(ConfigError, match="SYSLOG_FRAMING='nul' is not one of: octet-counting, lf"):
        load_network_settings(env=env, logger=SyslogLogger)


def test_the_warning_names_the_option_and_the_loggers_that_take_it():
    assert ignored_warning(("URL",), "JsonLogger") == URL_WARNING
    assert ignored_warning((), "JsonLogger") is None
    both = ignored_warning(("URL", "SYSLOG_BOM"), "JsonLogger")
    bom = "GUNICORN_LOGGERS_SYSLOG_BOM is ignored by JsonLogger: it is an option of SyslogLogger"
    assert both == f"{URL_WARNING}; {bom}"


def test_a_typo_is_refused_with_the_closest_option_of_any_logger():
    with pytest.raises(ConfigError) as caught:
        load_settings(env={"GUNICORN_LOGGERS_FLUENT_TAGS": "x"}, logger=JsonLogger)
    assert str(caught.value) == (
        "GUNICORN_LOGGERS_FLUENT_TAGS is not an option of gunicorn-loggers; did you mean GUNICORN_LOGGERS_FLUENT_TAG?"
    )


def test_a_subclass_of_your_own_takes_the_options_of_its_base_and_its_extra_options():
    class MyHttpLogger(HttpLogger):
        pass

    class MyNetworkLogger(NetworkLogger):
        pass

    class MyLogger(JsonLogger):
        extra_options = {"MY_QUEUE": "where my sink sends", "URL": "my sink's address"}

    assert takes(MyHttpLogger, "HTTP_FORMAT") and not takes(MyHttpLogger, "FLUENT_TAG")
    assert takes(MyNetworkLogger, "URL") and takes(MyNetworkLogger, "SYSLOG_FRAMING")
    env = {"GUNICORN_LOGGERS_MY_QUEUE": "q", "GUNICORN_LOGGERS_URL": "tcp://h:1", "GUNICORN_LOGGERS_HTTP_GZIP": "on"}
    assert load_settings(env=env, logger=MyLogger).ignored_options == ("HTTP_GZIP",)
    with pytest.raises(ConfigError, match="GUNICORN_LOGGERS_MY_QUEUE is not an option"):
        load_settings(env=env, logger=JsonLogger)


# -- a real gunicorn -------------------------------------------------------------------------------------


def test_json_logger_with_a_network_option_starts_serves_and_warns_once(gunicorn):
    server = gunicorn("-w", "2", env={"GUNICORN_LOGGERS_URL": "tcp://127.0.0.1:9"})
    assert server.request("/shared-env")[0] == 200
    assert [r["url"]["path"] for r in server.wait_for_access(1)] == ["/shared-env"]
    server.wait_for(lambda: boots(server) >= 2, what="both workers")
    (warning,) = warnings(server.error_records())  # the master's, at start; the workers say nothing
    assert warning["message"] == URL_WARNING
    assert warning["log.level"] == "warning"
    assert warning["ignored_options"] == ["GUNICORN_LOGGERS_URL"]


def test_a_sighup_warns_again_only_when_the_ignored_options_change(gunicorn, tmp_path):
    conf = tmp_path / "gunicorn_conf.py"
    conf.write_text('raw_env = ["GUNICORN_LOGGERS_URL=tcp://127.0.0.1:9"]\n')
    server = gunicorn("-c", str(conf))
    server.wait_for(lambda: boots(server), what="the first worker")
    hang_up(server)
    assert [w["message"] for w in warnings(server.error_records())] == [URL_WARNING]
    conf.write_text('raw_env = ["GUNICORN_LOGGERS_URL=tcp://127.0.0.1:9", "GUNICORN_LOGGERS_SYSLOG_BOM=on"]\n')
    hang_up(server)
    _, second = warnings(server.error_records())
    assert second["ignored_options"] == ["GUNICORN_LOGGERS_URL", "GUNICORN_LOGGERS_SYSLOG_BOM"]
    assert server.request("/after")[0] == 200


def test_a_typo_still_stops_gunicorn_with_one_line(tmp_path):
    server = Gunicorn(tmp_path, env={"GUNICORN_LOGGERS_URLS": "tcp://127.0.0.1:9"})
    assert server.run_to_exit() == 1
    lines = [line for line in server.stderr_path.read_text().splitlines() if line.strip()]
    assert lines == [
        "Error: GUNICORN_LOGGERS_URLS is not an option of gunicorn-loggers; did you mean GUNICORN_LOGGERS_URL?"
    ]


def test_structlog_logger_takes_its_own_options_without_a_warning(gunicorn):
    env = {
        "GUNICORN_LOGGERS_PROCESSORS": "tests.processors.tenant_in_service",
        "GUNICORN_LOGGERS_RENDERER": "json",
        "GUNICORN_LOGGERS_CONSOLE_FIELDS": "url.path",
        "GUNICORN_LOGGERS_ACCESS_SLOW": "5",
    }
    server = gunicorn(logger_class="gunicorn_loggers.StructlogLogger", env=env)
    assert server.request("/structlog")[0] == 200
    server.wait_for_access(1)
    assert warnings(server.error_records()) == []


def test_socket_logger_takes_its_own_options_and_sends_the_warning_about_another_loggers(network_gunicorn):
    start = url_logger(network_gunicorn, "gunicorn_loggers.SocketLogger", NdjsonReceiver)
    with NdjsonReceiver() as receiver:
        env = {"GUNICORN_LOGGERS_MAX_DATAGRAM": "1200", "GUNICORN_LOGGERS_SYSLOG_FRAMING": "lf"}
        gunicorn = start(receiver, env=env)
        assert gunicorn.request("/socket")[0] == 200
        wait_until(lambda: "/socket" in receiver.access_paths(), what="the access record")
        (warning,) = warnings(receiver.snapshot())
    assert warning["message"] == (
        "GUNICORN_LOGGERS_SYSLOG_FRAMING is ignored by SocketLogger: it is an option of SyslogLogger"
    )
