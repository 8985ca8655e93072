"""--capture-output: printed lines arrive as JSON records, never raw in the JSON stream."""

import json

import pytest


def printed(records):
    return {r["message"]: r for r in records if r["log"]["logger"] in ("stdout", "stderr")}


def all_json(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


@pytest.mark.parametrize("logger_class", ["gunicorn_loggers.JsonLogger", "gunicorn_loggers.StructlogLogger"])
def test_prints_become_records_in_the_error_log_file(gunicorn, logger_class):
    server = gunicorn("--capture-output", logger_class=logger_class)
    server.request("/print")
    records = server.wait_for(lambda: len(printed(server.error_records())) >= 3 and printed(server.error_records()))
    assert records["printed to stdout"]["stream"] == "stdout"
    assert records["printed to stdout"]["log.level"] == "info"
    assert records["printed to stderr"]["stream"] == "stderr"
    assert records["printed to stderr"]["log.level"] == "warning"
    assert "one line in two writes" in records
    all_json(server.error_path)


def test_prints_do_not_break_the_json_on_stdout_and_stderr(gunicorn):
    server = gunicorn(
        "--capture-output", "--access-logfile", "-", "--error-logfile", "-", access_log=False, error_log=False
    )
    server.request("/print")
    server.wait_for(lambda: "in two writes" in server.stderr_path.read_text(), what="printed lines")
    server.wait_for(lambda: "/print" in server.stdout_path.read_text(), what="access line")
    stdout, stderr = all_json(server.stdout_path), all_json(server.stderr_path)
    assert [r["url"]["path"] for r in stdout if "url" in r][-1] == "/print"
    assert {"printed to stdout", "printed to stderr", "one line in two writes"} <= set(printed(stderr))
