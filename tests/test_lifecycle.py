"""gunicorn's lifecycle with our logger: signals, reload, stop, statsd, options, ways to select it."""

import signal
import socket
import threading
import time

import pytest

from tests.gunicorn_process import REPO, Gunicorn


def boots(server: Gunicorn) -> list[dict]:
    return [r for r in server.error_records() if r["message"].startswith("Booting worker")]


def test_sigusr1_reopens_files_after_logrotate_renamed_them(gunicorn):
    server = gunicorn("-w", "2")
    server.wait_for(lambda: len(boots(server)) >= 2, what="both workers")
    server.request("/before")
    server.wait_for_access(1)
    rotated_access = server.access_path.with_suffix(".log.1")
    rotated_error = server.error_path.with_suffix(".log.1")
    server.access_path.rename(rotated_access)
    server.error_path.rename(rotated_error)
    assert len(server.holders(rotated_access)) == 3  # the master and its two workers
    server.signal(signal.SIGUSR1)
    server.wait_for(lambda: server.access_path.exists() and server.error_path.exists(), what="reopened files")
    server.wait_for(
        lambda: not server.holders(rotated_access) and not server.holders(rotated_error),
        what="every process reopened its files (the workers on their own SIGUSR1, sent by the master)",
    )
    for n in range(10):
        server.request(f"/after/{n}")
    records = server.wait_for_access(10)
    assert sorted(r["url"]["path"] for r in records) == sorted(f"/after/{n}" for n in range(10))
    old = server.access_records(rotated_access)
    assert [r["url"]["path"] for r in old] == ["/before"]


def test_sighup_reload_does_not_duplicate_lines(gunicorn):
    server = gunicorn("-w", "2")
    assert len(server.wait_for(lambda: len(boots(server)) >= 2 and boots(server))) == 2
    server.signal(signal.SIGHUP)
    server.wait_for(lambda: len(boots(server)) >= 4, what="workers booted after reload")
    time.sleep(0.5)
    for n in range(5):
        server.request(f"/after-reload/{n}")
    records = server.wait_for_access(5)
    time.sleep(0.3)
    assert len(server.access_records()) == 5
    assert sorted(r["url"]["path"] for r in records) == sorted(f"/after-reload/{n}" for n in range(5))
    messages = [r["message"] for r in server.error_records()]
    assert len(messages) == len(set((r["message"], r["@timestamp"]) for r in server.error_records()))
    assert messages.count("Hang up: Master") == 1


def test_graceful_stop_keeps_the_request_in_flight_and_its_line(gunicorn):
    server = gunicorn("--graceful-timeout", "10")
    result = {}
    thread = threading.Thread(target=lambda: result.setdefault("status", server.request("/sleep")[0]))
    thread.start()
    time.sleep(0.3)
    server.signal(signal.SIGTERM)
    thread.join(15)
    assert result["status"] == 200
    assert server.proc.wait(20) == 0
    assert [r["url"]["path"] for r in server.access_records()] == ["/sleep"]
    assert any(r["message"] == "Shutting down: Master" for r in server.error_records())


def test_many_requests_then_stop_loses_nothing(gunicorn):
    server = gunicorn("-k", "gthread", "--threads", "4", "-w", "2")
    for n in range(300):
        server.request(f"/n/{n}")
    server.stop()
    assert len(server.access_records()) == 300


def test_statsd_metrics_keep_working(gunicorn):
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as receiver:
        receiver.bind(("127.0.0.1", 0))
        receiver.settimeout(5)
        port = receiver.getsockname()[1]
        server = gunicorn("--statsd-host", f"127.0.0.1:{port}", "--statsd-prefix", "app")
        server.request("/status/404")
        server.wait_for_access(1)
        packets = []
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not any(b"app.gunicorn.request.status.404" in p for p in packets):
            try:
                packets.append(receiver.recv(65536))
            except TimeoutError:
                break
    assert b"app.gunicorn.requests:1|c|@1.0" in packets
    assert b"app.gunicorn.request.status.404:1|c|@1.0" in packets
    assert any(p.startswith(b"app.gunicorn.request.duration:") and p.endswith(b"|ms") for p in packets)


def test_a_debug_call_with_a_statsd_metric_still_sends_it_when_debug_is_off():
    """JsonLogger.debug returns early when debug is off, but never for statsd's ``extra`` metrics."""
    from gunicorn.config import Config

    from gunicorn_loggers import JsonLogger

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as receiver:
        receiver.bind(("127.0.0.1", 0))
        receiver.settimeout(5)
        cfg = Config()
        cfg.set("statsd_host", f"127.0.0.1:{receiver.getsockname()[1]}")
        cfg.set("errorlog", "/dev/null")
        logger = JsonLogger(cfg)
        assert not logger.error_log.isEnabledFor(10)
        logger.debug("%s %s", "GET", "/")  # gunicorn's pre_request: nothing to send
        logger.debug("", extra={"metric": "app.hits", "value": 3, "mtype": "counter"})
        assert receiver.recv(65536) == b"app.hits:3|c|@1.0"


@pytest.mark.parametrize(
    ("env", "args", "expected"),
    [
        (
            {"GUNICORN_LOGGERS_SCHEMA": "xml"},
            (),
            "Error: GUNICORN_LOGGERS_SCHEMA='xml' is not one of: ecs, otel, gcp, flat",
        ),
        ({}, ("-e", "GUNICORN_LOGGERS_SCHEMA=xml"), "Error: GUNICORN_LOGGERS_SCHEMA='xml' is not one of"),
        (
            {"GUNICORN_LOGGERS_SCHEME": "ecs"},
            (),
            "Error: GUNICORN_LOGGERS_SCHEME is not an option of gunicorn-loggers; "
            "did you mean GUNICORN_LOGGERS_SCHEMA?",
        ),
        ({"GUNICORN_LOGGERS_APP_LOGS": "maybe"}, (), "Error: GUNICORN_LOGGERS_APP_LOGS='maybe' is not one of: on, off"),
    ],
)
def test_a_bad_option_stops_gunicorn_with_one_clear_line(tmp_path, env, args, expected):
    server = Gunicorn(tmp_path, *args, env=env)
    assert server.run_to_exit() == 1
    stderr = server.stderr_path.read_text()
    assert "Traceback" not in stderr
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith(expected), stderr


def test_options_given_with_dash_e_are_read(gunicorn):
    server = gunicorn("-e", "GUNICORN_LOGGERS_SCHEMA=flat", "-e", "GUNICORN_LOGGERS_SERVICE_NAME=from-e")
    server.request("/")
    (record,) = server.wait_for_access(1)
    assert record["status"] == 200 and record["service"] == "from-e"


def test_entry_point_selects_the_logger(gunicorn):
    server = gunicorn(logger_class="egg:gunicorn-loggers#json")
    server.request("/ep")
    (record,) = server.wait_for_access(1)
    assert record["url"]["path"] == "/ep"


def test_conf_json_writes_json_on_stdout_and_stderr(gunicorn):
    server = gunicorn("-c", str(REPO / "conf" / "json.py"), logger_class=None, access_log=False, error_log=False)
    server.request("/log")
    server.request("/raise")
    access = server.wait_for(
        lambda: len(server.access_records(server.stdout_path)) >= 2 and server.access_records(server.stdout_path)
    )
    assert [r["url"]["path"] for r in access] == ["/log", "/raise"]
    errors = server.access_records(server.stderr_path)  # every stderr line parses as JSON
    app_records = [r for r in errors if r["log"]["logger"] == "tests.app"]
    assert [r["message"] for r in app_records] == ["app says hello", "info from app with args"]
    assert any(r.get("error", {}).get("type") == "ValueError" for r in errors)


def test_conf_json_file_writes_files(tmp_path):
    """The conf's /var/log paths are overridden on the command line, as users do."""
    access, error = tmp_path / "access.log", tmp_path / "error.log"
    conf = str(REPO / "conf" / "json_file.py")
    args = ("-c", conf, "--access-logfile", str(access), "--error-logfile", str(error))
    with Gunicorn(tmp_path, *args, logger_class=None, access_log=False, error_log=False) as server:
        server.request("/log")
        records = server.wait_for(lambda: server.access_records(access))
        assert records[0]["url"]["path"] == "/log"
        server.wait_for(lambda: any(r["log"]["logger"] == "tests.app" for r in server.error_records()))
    assert server.stdout_path.read_text() == ""


def test_log_level_applies_to_gunicorn_and_app_records(gunicorn):
    server = gunicorn("--log-level", "warning", quiet=True)
    server.request("/log")
    server.request("/raise")
    server.wait_for(lambda: any("error" in r for r in server.error_records()))
    records = server.error_records()
    assert not any(r["message"].startswith("Booting worker") for r in records)  # info: filtered
    assert [r["message"] for r in records if r["log"]["logger"] == "tests.app"] == ["app says hello"]
    assert all(r["log.level"] in ("warning", "error", "critical") for r in records)


def test_debug_level_shows_gunicorn_debug_records(gunicorn):
    server = gunicorn("--log-level", "debug")
    server.request("/")
    server.wait_for_access(1)
    assert any(r["log.level"] == "debug" for r in server.error_records())


@pytest.mark.parametrize("statsd", [False, True])
def test_gunicorns_messages_name_the_line_that_logged_them(gunicorn, statsd):
    """``log.origin`` of gunicorn's own messages is the arbiter's or worker's line, not the wrapper in
    gunicorn's ``Logger`` (every record said ``glogging.py``, ``log``), with and without Statsd's layer."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as receiver:
        receiver.bind(("127.0.0.1", 0))
        args = ("--statsd-host", f"127.0.0.1:{receiver.getsockname()[1]}") if statsd else ()
        server = gunicorn(*args, "--log-level", "debug")
        server.request("/raise")
        server.wait_for(lambda: any(r["message"].startswith("Error handling request") for r in server.error_records()))
        server.stop()
    origins = {r["message"].split(":")[0]: r["log"]["origin"] for r in server.error_records()}
    assert origins["Booting worker with pid"]["file"]["name"].endswith("gunicorn/arbiter.py")
    assert origins["Booting worker with pid"]["function"] == "spawn_worker"
    assert origins["Error handling request GET /raise"]["file"]["name"].endswith("gunicorn/workers/base.py")
    assert origins["Error handling request GET /raise"]["function"] == "handle_error"
    for origin in origins.values():  # debug, info, error and exception all go through the wrappers
        assert not origin["file"]["name"].endswith(("glogging.py", "statsd.py", "gunicorn_loggers/loggers.py")), origin
