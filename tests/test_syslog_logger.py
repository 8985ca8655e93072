"""SyslogLogger against a real rsyslogd: RFC 5424 headers it parses, JSON its mmjsonparse accepts."""

from __future__ import annotations

import re
import socket

import pytest

from tests.gunicorn_process import REPO
from tests.receivers import RSYSLOGD, NetworkGunicorn, Rsyslog, wait_until

LOGGER = "gunicorn_loggers.network_loggers.SyslogLogger"

pytestmark = pytest.mark.skipif(not RSYSLOGD or not __import__("os").path.exists(RSYSLOGD), reason="no rsyslogd")


@pytest.fixture
def rsyslog(tmp_path):
    daemon = Rsyslog(tmp_path / "rsyslog").start()
    try:
        yield daemon
    finally:
        daemon.stop()


@pytest.fixture
def server(network_gunicorn):
    def start(daemon: Rsyslog, protocol: str, *args: str, **kwargs) -> NetworkGunicorn:
        target = ("--log-syslog-to", f"{protocol}://127.0.0.1:{daemon.port}")
        return network_gunicorn(*target, *args, receiver=daemon, logger_class=LOGGER, **kwargs)

    return start


def access(daemon: Rsyslog) -> list[dict]:
    return [r for r in daemon.received() if r["msgid"] == "access" and "__ready__" not in r["record"]["url"]["path"]]


@pytest.mark.parametrize("protocol", ["tcp", "udp"])
def test_rsyslog_parses_header_and_json_of_every_record(rsyslog, server, protocol):
    gunicorn = server(
        rsyslog, protocol, "--log-syslog-facility", "local3", "--log-syslog-prefix", "shop", "-k", "gthread"
    )
    for n in range(10):
        gunicorn.request(f"/item/{n}")
    gunicorn.request("/status/503")
    gunicorn.request("/log")
    wait_until(lambda: len(access(rsyslog)) >= 12, what="access records in rsyslog")
    wait_until(lambda: "app says hello" in rsyslog.text(), what="the app's record")
    gunicorn.stop()
    wait_until(lambda: "Shutting down: Master" in rsyslog.text(), what="the master's last line")
    records = rsyslog.received()
    assert rsyslog.unparsed() == []  # mmjsonparse took every message: no BOM, no framing left in MSG
    assert {r["app"] for r in records} == {"shop"}
    assert {r["facility"] for r in records} == {19}  # local3
    assert {r["host"] for r in records} == {socket.gethostname()}
    assert all(re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}(Z|\+00:00)", r["time"]) for r in records)
    paths = {r["record"]["url"]["path"]: r for r in access(rsyslog)}
    assert set(paths) == {*(f"/item/{n}" for n in range(10)), "/status/503", "/log"}
    assert paths["/item/0"]["severity"] == 6 and paths["/status/503"]["severity"] == 3
    assert paths["/item/0"]["procid"] == str(paths["/item/0"]["record"]["process"]["pid"])
    hello = next(r for r in records if r["record"].get("message") == "app says hello")
    assert hello["msgid"] == "error" and hello["severity"] == 4
    # one message per record: nothing merged, nothing split
    assert len(rsyslog.raw()) == len(records)
    for stats in (r["delivery"] for r in gunicorn.exit_reports()):
        assert stats["delivered"] + stats["dropped"] == stats["produced"] and stats["dropped"] == 0
    assert sum(r["delivery"]["delivered"] for r in gunicorn.exit_reports()) == len(records)


def test_udp_datagrams_stay_within_the_limit_and_rsyslog_still_parses_them(rsyslog, server):
    gunicorn = server(rsyslog, "udp", env={"GUNICORN_LOGGERS_MAX_DATAGRAM": "1024"})
    gunicorn.request("/long/" + "a" * 3000)
    wait_until(lambda: access(rsyslog), what="the long record")
    record = access(rsyslog)[0]["record"]
    assert record["url"]["path"].startswith("/long/aaaa") and record["url"]["path"].endswith("...[truncated]")
    assert max(len(raw) for raw in rsyslog.raw()) <= 1024


def test_lf_framing_over_tcp_on_request(rsyslog, server):
    gunicorn = server(rsyslog, "tcp", env={"GUNICORN_LOGGERS_SYSLOG_FRAMING": "lf"})
    for n in range(5):
        gunicorn.request(f"/lf/{n}")
    wait_until(lambda: len(access(rsyslog)) >= 5, what="LF-framed records")
    assert sorted(r["record"]["url"]["path"] for r in access(rsyslog)) == [f"/lf/{n}" for n in range(5)]
    assert rsyslog.unparsed() == []


def test_a_bom_is_sent_only_when_asked_and_then_rsyslog_json_parsing_fails(rsyslog, server):
    """Why the BOM is off by default: rsyslog keeps it in MSG and mmjsonparse rejects the record."""
    # rsyslog files every record with a BOM as unparsed, "Listening at" too: the port is picked here, not read back.
    gunicorn = server(rsyslog, "tcp", env={"GUNICORN_LOGGERS_SYSLOG_BOM": "on"}, quiet=True)
    gunicorn.request("/bom")
    wait_until(lambda: any(b"/bom" in line for line in rsyslog.unparsed()), what="the record with a BOM")
    assert access(rsyslog) == []


def test_rsyslog_restarted_mid_run_receives_what_was_buffered(tmp_path, server):
    daemon = Rsyslog(tmp_path / "first").start()
    try:
        gunicorn = server(daemon, "tcp")
        gunicorn.request("/before")
        wait_until(lambda: access(daemon), what="the first record")
        daemon.stop()
        for n in range(5):
            assert gunicorn.request(f"/during/{n}")[0] == 200
        daemon = Rsyslog(tmp_path / "second", port=daemon.port).start()
        gunicorn.receiver = daemon
        wait_until(lambda: len(access(daemon)) >= 5, timeout=20, what="the records of the outage")
        assert sorted(r["record"]["url"]["path"] for r in access(daemon)) == [f"/during/{n}" for n in range(5)]
        gunicorn.stop()
        for stats in (r["delivery"] for r in gunicorn.exit_reports()):
            assert stats["delivered"] + stats["dropped"] == stats["produced"]
    finally:
        daemon.stop()


def test_disable_redirect_keeps_access_records_out_of_syslog(rsyslog, server):
    gunicorn = server(rsyslog, "tcp", "--disable-redirect-access-to-syslog", access_log=True)
    gunicorn.request("/local-only")
    gunicorn.request("/log")
    wait_until(lambda: "app says hello" in rsyslog.text(), what="the error log in syslog")
    assert sorted(r["url"]["path"] for r in gunicorn.wait_for_access(2)) == ["/local-only", "/log"]
    assert access(rsyslog) == []


@pytest.mark.parametrize(
    ("args", "env", "expected"),
    [
        (["--log-syslog-to", "ftp://x"], {}, "--log-syslog-to: 'ftp://x' does not start with tcp://"),
        (["--log-syslog-facility", "nope"], {}, "--log-syslog-facility 'nope' is not one of"),
        ([], {"GUNICORN_LOGGERS_SYSLOG_FRAMING": "nul"}, "is not one of: octet-counting, lf"),
    ],
)
def test_bad_syslog_options_stop_gunicorn_with_one_line(tmp_path, args, env, expected):
    process = NetworkGunicorn(tmp_path, *args, logger_class=LOGGER, env=env)
    assert expected in process.refusal()


def test_conf_syslog_with_the_address_from_the_command_line(tmp_path, rsyslog):
    conf = str(REPO / "conf" / "syslog.py")
    gunicorn = NetworkGunicorn(
        tmp_path,
        "-c",
        conf,
        "--log-syslog-to",
        f"tcp://127.0.0.1:{rsyslog.port}",
        receiver=rsyslog,
        logger_class=None,
        access_log=False,
        error_log=False,
    )
    with gunicorn:
        gunicorn.request("/from-conf")
        wait_until(lambda: access(rsyslog), what="the access record")
    assert {r["facility"] for r in rsyslog.received()} == {16}  # local0
