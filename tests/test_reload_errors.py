"""SIGHUP with a broken configuration: one JSON error record, the previous configuration kept, no fd leaked."""

from __future__ import annotations

import os
import re
import signal
from pathlib import Path

import pytest

from tests.gunicorn_process import Gunicorn, read_json_lines
from tests.receivers import NdjsonReceiver, wait_until

KEPT = "keeping the previous one"


def boots(server: Gunicorn, records: list[dict] | None = None) -> int:
    records = server.error_records() if records is None else records
    return sum(r["message"].startswith("Booting worker") for r in records)


_BOOTED = re.compile(r"Booting worker with pid: (\d+)")
_EXITED = re.compile(r"Worker exiting \(pid: (\d+)\)")


def live_workers(records: list[dict]) -> set[int]:
    """Workers that said they booted and have not yet said they are exiting."""
    booted = {int(m.group(1)) for r in records if (m := _BOOTED.match(r["message"]))}
    exited = {int(m.group(1)) for r in records if (m := _EXITED.match(r["message"]))}
    return booted - exited


def hang_up(server: Gunicorn, records=None) -> None:
    """SIGHUP, then wait until the reloaded master has booted a new worker and every old one has exited.

    Until the old worker exits it may still take a request, answered with the old configuration.
    """
    read = records or server.error_records
    before = read()
    old, booted = live_workers(before), boots(server, before)
    server.signal(signal.SIGHUP)
    server.wait_for(
        lambda: (lambda now: boots(server, now) > booted and not old & live_workers(now))(read()),
        what=f"a worker booted after the reload and the old ones {sorted(old)} exited",
    )


def reload_failures(records: list[dict]) -> list[dict]:
    return [r for r in records if KEPT in r["message"]]


def open_fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def unwritable_path(tmp_path: Path) -> Path:
    """A log path no process can open: in a read-only directory, or under a regular file for root."""
    if os.geteuid() != 0:
        locked = tmp_path / "read-only"
        locked.mkdir()
        locked.chmod(0o500)
        return locked / "access.log"
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    return blocker / "sub" / "access.log"  # ENOTDIR, even for root


@pytest.mark.parametrize(
    ("bad", "reason"),
    [
        (
            "GUNICORN_LOGGERS_SCHEME=ecs",
            "GUNICORN_LOGGERS_SCHEME is not an option of gunicorn-loggers; did you mean GUNICORN_LOGGERS_SCHEMA?",
        ),
        ("GUNICORN_LOGGERS_SCHEMA=xml", "GUNICORN_LOGGERS_SCHEMA='xml' is not one of: ecs, otel, gcp, flat"),
    ],
)
def test_a_bad_option_at_sighup_is_one_record_and_the_previous_configuration_stays(gunicorn, tmp_path, bad, reason):
    conf = tmp_path / "gunicorn_conf.py"
    conf.write_text('raw_env = ["GUNICORN_LOGGERS_SCHEMA=flat"]\n')
    server = gunicorn("-c", str(conf), error_log=False)  # the error log is stderr, a JSON stream
    stderr = lambda: read_json_lines(server.stderr_path)  # noqa: E731  (every line must parse)
    server.wait_for(lambda: boots(server, stderr()) >= 1, what="the first worker")

    conf.write_text(f'raw_env = ["{bad}"]\n')
    hang_up(server, stderr)
    assert server.request("/while-broken")[0] == 200
    (record,) = server.wait_for_access(1)
    assert record["path"] == "/while-broken" and "url" not in record  # still the flat schema, not ecs
    (failure,) = reload_failures(stderr())
    assert reason in failure["message"]
    assert failure["level"] == "error"

    conf.write_text('raw_env = ["GUNICORN_LOGGERS_SCHEMA=ecs"]\n')
    hang_up(server, stderr)
    assert server.request("/fixed")[0] == 200
    records = server.wait_for_access(2)
    assert records[1]["url"]["path"] == "/fixed"  # the good SIGHUP applied the new schema
    assert len(reload_failures(stderr())) == 1
    output = server.all_output()
    assert "Traceback" not in output
    read_json_lines(server.stdout_path)
    read_json_lines(server.stderr_path)


def test_an_unwritable_access_log_at_sighup_keeps_the_old_file_and_leaks_no_descriptor(gunicorn, tmp_path):
    good = tmp_path / "access-good.log"
    conf = tmp_path / "gunicorn_conf.py"
    conf.write_text(f"accesslog = {str(good)!r}\n")
    server = gunicorn("-c", str(conf), access_log=False)
    server.wait_for(lambda: boots(server) >= 1, what="the first worker")
    hang_up(server)  # whatever a first reload opens for good is counted in the baseline
    before = open_fds(server.proc.pid)

    bad = unwritable_path(tmp_path)
    conf.write_text(f"accesslog = {str(bad)!r}\n")
    for n in range(5):
        hang_up(server)
        assert server.request(f"/after-hup/{n}")[0] == 200
    server.wait_for(lambda: open_fds(server.proc.pid) <= before, what=f"no more than {before} open descriptors")

    failures = reload_failures(server.error_records())
    assert len(failures) == 5
    assert all(str(bad) in r["message"] for r in failures), failures
    records = server.wait_for(lambda: len(server.access_records(good)) >= 5 and server.access_records(good))
    assert [r["url"]["path"] for r in records] == [f"/after-hup/{n}" for n in range(5)]
    assert not bad.exists()
    assert "Traceback" not in server.all_output()
    assert server.stderr_path.read_text() == ""


def test_a_failure_past_the_checks_closes_what_the_reload_opened(gunicorn, tmp_path):
    """A logconfig_dict dictConfig refuses fails after the new files are open: they are closed, none leak."""
    conf = tmp_path / "gunicorn_conf.py"
    conf.write_text("")
    server = gunicorn("-c", str(conf))
    server.wait_for(lambda: boots(server) >= 1, what="the first worker")
    hang_up(server)
    before = open_fds(server.proc.pid)

    conf.write_text('logconfig_dict = {"version": 1, "handlers": {"broken": {"class": "no.such.Handler"}}}\n')
    for n in range(5):
        hang_up(server)
        assert server.request(f"/after-hup/{n}")[0] == 200
    server.wait_for(lambda: open_fds(server.proc.pid) <= before, what=f"no more than {before} open descriptors")
    records = server.wait_for_access(5)
    assert [r["url"]["path"] for r in records] == [f"/after-hup/{n}" for n in range(5)]
    assert len(reload_failures(server.error_records())) == 5  # gunicorn's own record of its fallback


def test_a_bad_url_at_sighup_keeps_the_network_logger_sending(network_gunicorn, tmp_path):
    with NdjsonReceiver() as receiver:
        conf = tmp_path / "gunicorn_conf.py"
        conf.write_text(f'raw_env = ["GUNICORN_LOGGERS_URL={receiver.url}"]\n')
        server = network_gunicorn(
            "-c", str(conf), receiver=receiver, logger_class="gunicorn_loggers.network_loggers.SocketLogger"
        )
        assert server.request("/before")[0] == 200
        wait_until(lambda: "/before" in receiver.access_paths(), what="the first access record")

        conf.write_text('raw_env = ["GUNICORN_LOGGERS_URL=ftp://127.0.0.1:21"]\n')
        booted = lambda: sum(m.startswith("Booting worker") for m in receiver.messages())  # noqa: E731
        before = booted()
        server.signal(signal.SIGHUP)
        wait_until(lambda: booted() > before, what="a worker booted after the reload")
        failures = wait_until(lambda: [m for m in receiver.messages() if KEPT in m], what="the reload failure")
        assert len(failures) == 1 and "GUNICORN_LOGGERS_URL" in failures[0], failures
        assert server.request("/after")[0] == 200
        wait_until(lambda: "/after" in receiver.access_paths(), what="an access record after the reload")
        assert "Traceback" not in server.all_output()
        read_json_lines(server.stderr_path)


def test_sighup_closes_the_local_error_log_a_network_logger_keeps_with_local_errors_off(network_gunicorn):
    """With LOCAL_ERRORS=off no network sink holds the --error-logfile copy, so nothing closed it: one fd a reload."""
    with NdjsonReceiver() as receiver:
        server = network_gunicorn(
            receiver=receiver,
            logger_class="gunicorn_loggers.network_loggers.SocketLogger",
            env={"GUNICORN_LOGGERS_URL": receiver.url, "GUNICORN_LOGGERS_LOCAL_ERRORS": "off"},
        )
        booted = lambda: sum(m.startswith("Booting worker") for m in receiver.messages())  # noqa: E731
        wait_until(lambda: booted() >= 1, what="the first worker")
        before = open_fds(server.proc.pid)
        for n in range(5):
            server.signal(signal.SIGHUP)
            wait_until(lambda n=n: booted() >= n + 2, what="a worker booted after the reload")
        wait_until(lambda: open_fds(server.proc.pid) <= before, what=f"no more than {before} open descriptors")
