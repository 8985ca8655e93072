"""The ``gunicorn-loggers`` command: ``check``, ``conf`` and ``pretty``, run as a user runs them."""

from __future__ import annotations

import json
import os
import select
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.gunicorn_process import REPO, free_port
from tests.receivers import HttpReceiver

CONF = REPO / "conf"


def cli(*args: str, cwd: Path, env: dict[str, str] | None = None, stdin: bytes | None = None, timeout: float = 60):
    """``python -m gunicorn_loggers ARGS`` in ``cwd``, with only the options given in ``env``."""
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("GUNICORN_LOGGERS_", "OTEL_"))}
    environment.update(env or {})
    environment["PYTHONPATH"] = str(REPO)
    return subprocess.run(
        [sys.executable, "-m", "gunicorn_loggers", *args],
        cwd=cwd,
        env=environment,
        input=stdin,
        capture_output=True,
        timeout=timeout,
    )


# -- check -----------------------------------------------------------------------------------------


def test_check_a_good_configuration_writes_a_test_record_and_exits_0(tmp_path):
    error_log = tmp_path / "error.log"
    result = cli("check", "-c", str(CONF / "json.py"), "--error-logfile", str(error_log), cwd=tmp_path)
    out = result.stdout.decode()
    assert result.returncode == 0, out + result.stderr.decode()
    assert "logger_class = gunicorn_loggers.loggers.JsonLogger" in out
    assert f"ok: test record written to {error_log}" in out
    records = [json.loads(line) for line in error_log.read_text().splitlines()]
    assert [r["message"] for r in records if "test record" in r["message"]]


def test_check_a_bad_option_is_one_line_and_exits_1(tmp_path):
    result = cli("check", "-c", str(CONF / "json.py"), cwd=tmp_path, env={"GUNICORN_LOGGERS_SCHEMA": "xml"})
    assert result.returncode == 1
    lines = result.stdout.decode().splitlines()
    assert lines == ["gunicorn-loggers check: GUNICORN_LOGGERS_SCHEMA='xml' is not one of: ecs, otel, gcp, flat"]
    assert b"Traceback" not in result.stderr


def test_check_shows_the_warning_about_another_loggers_option_and_exits_0(tmp_path):
    error_log = tmp_path / "error.log"
    env = {"GUNICORN_LOGGERS_URL": "tcp://127.0.0.1:9"}
    result = cli("check", "-c", str(CONF / "json.py"), "--error-logfile", str(error_log), cwd=tmp_path, env=env)
    out = result.stdout.decode()
    assert result.returncode == 0, out + result.stderr.decode()
    warning = (
        "GUNICORN_LOGGERS_URL is ignored by JsonLogger: it is an option of SocketLogger, HttpLogger, OtlpLogger "
        "and FluentLogger"
    )
    assert f"gunicorn-loggers check: warning: {warning}" in out.splitlines()
    records = [json.loads(line) for line in error_log.read_text().splitlines()]
    assert [r["message"] for r in records if "is ignored by" in r["message"]] == [warning]  # what gunicorn would write


def test_check_reads_options_given_with_dash_e_as_gunicorn_does(tmp_path):
    result = cli("check", "-c", str(CONF / "json.py"), "-e", "GUNICORN_LOGGERS_SCHEMA=gcp", cwd=tmp_path)
    assert result.returncode == 0, result.stdout.decode()
    assert "  schema = gcp" in result.stdout.decode().splitlines()


def test_check_refuses_a_logger_class_that_is_not_ours(tmp_path):
    result = cli("check", cwd=tmp_path)
    assert result.returncode == 1
    assert "not a gunicorn-loggers logger" in result.stdout.decode()


def test_check_delivers_to_a_live_collector(tmp_path):
    with HttpReceiver("ndjson") as receiver:
        env = {"GUNICORN_LOGGERS_URL": receiver.url}
        result = cli("check", "-c", str(CONF / "http.py"), cwd=tmp_path, env=env)
        out = result.stdout.decode()
        assert result.returncode == 0, out + result.stderr.decode()
        assert f"ok: test record delivered to {receiver.url}" in out
        assert any("test record" in record.get("message", "") for record in receiver.records)


def test_check_says_a_collector_is_down(tmp_path):
    url = f"http://127.0.0.1:{free_port()}/logs"
    result = cli("check", "-c", str(CONF / "http.py"), cwd=tmp_path, env={"GUNICORN_LOGGERS_URL": url})
    out = result.stdout.decode()
    assert result.returncode == 1
    last = out.splitlines()[-1]
    assert last.startswith(f"gunicorn-loggers check: test record not delivered to {url}: ")
    assert "Connection refused" in last


def test_check_quotes_a_refusal_without_the_credential(tmp_path):
    with HttpReceiver("ndjson", require={"Authorization": "Bearer right-one"}) as receiver:
        env = {
            "GUNICORN_LOGGERS_URL": receiver.url.replace("http://", "http://alice:pa55word-9@"),
            "GUNICORN_LOGGERS_HTTP_HEADERS": "Authorization=Bearer wrong-t0ken-77",
        }
        result = cli("check", "-c", str(CONF / "http.py"), cwd=tmp_path, env=env)
    out = result.stdout.decode() + result.stderr.decode()
    assert result.returncode == 1
    last = result.stdout.decode().splitlines()[-1]
    assert last.startswith(f"gunicorn-loggers check: test record refused by {receiver.url}: "), last
    assert "HTTP 401 Unauthorized" in last
    assert "wrong-t0ken-77" not in out and "pa55word-9" not in out
    assert "  url = http://REDACTED:REDACTED@127.0.0.1:" in out


# -- conf ------------------------------------------------------------------------------------------


def test_conf_lists_every_shipped_file_and_prints_one_as_it_is(tmp_path):
    listing = cli("conf", cwd=tmp_path)
    assert listing.returncode == 0
    names = sorted(p.stem for p in CONF.glob("*.py") if not p.name.startswith("_"))
    listed = [line.split()[0] for line in listing.stdout.decode().splitlines()[: len(names)]]
    assert listed == names
    printed = cli("conf", "loki", cwd=tmp_path)
    assert printed.returncode == 0
    assert printed.stdout == (CONF / "loki.py").read_bytes()
    missing = cli("conf", "nope", cwd=tmp_path)
    assert missing.returncode == 1 and b"no conf file 'nope'" in missing.stderr


# -- pretty ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("schema", ["ecs", "otel", "gcp", "flat"])
def test_pretty_prints_a_concise_line_for_each_record_of_a_real_gunicorn(gunicorn, schema):
    server = gunicorn(env={"GUNICORN_LOGGERS_SCHEMA": schema})
    server.request("/status/503", headers={"X-Request-ID": "rid-pretty-1"})
    server.request("/raise")
    server.wait_for(lambda: any("/raise" in json.dumps(record) for record in server.access_records()))
    server.wait_for(lambda: any("boom from the app" in line for line in server.error_path.read_text().splitlines()))
    access = cli("pretty", str(server.access_path), cwd=server.tmp_path)
    assert access.returncode == 0
    lines = access.stdout.decode().splitlines()
    assert len(lines) == len(server.access_path.read_text().splitlines())  # one per record, the harness's probe too
    line = next(line for line in lines if "/status/503" in line)
    first = line.split(" ")
    assert first[2] == "ERROR" and "GET /status/503 503" in line
    assert "status=503" in first and "id=rid-pretty-1" in first
    assert any(part.endswith("ms") for part in first)
    errors = cli("pretty", "--fields", "no.such.field", str(server.error_path), cwd=server.tmp_path)
    text = errors.stdout.decode()
    assert errors.returncode == 0
    assert "Error handling request /raise" in text or "Error handling request GET /raise" in text
    assert "Traceback (most recent call last):" in text and "ValueError: boom from the app" in text
    assert "{" not in text.split("Traceback")[0].splitlines()[-1]  # the record's line is not JSON


def test_pretty_adds_fields_and_colours_only_when_asked(tmp_path):
    line = {
        "@timestamp": "2026-11-25T12:41:27.815681Z",
        "log.level": "warning",
        "message": "slow",
        "url": {"path": "/x"},
    }
    plain = cli("pretty", "--fields", "url.path", cwd=tmp_path, stdin=json.dumps(line).encode() + b"\n")
    assert plain.stdout.decode() == "2026-11-25 12:41:27.815 WARNING slow url.path=/x\n"
    coloured = cli("pretty", "--color", "always", cwd=tmp_path, stdin=json.dumps(line).encode())
    assert coloured.stdout.decode() == "2026-11-25 12:41:27.815 \x1b[33mWARNING\x1b[0m slow\n"


HOSTILE = [
    b"\xff\xfe not utf-8 \xc3\x28",
    b'{"@timestamp": "2026-11-25T12:41:27Z", "log.level": "info", "mess',
    b"[1, 2, 3]",
    b'"just a string"',
    b"null",
    b"42",
    b"{}",
    b'{"@timestamp": 5, "log.level": {}, "message": [1], "http": "no", "event": {"duration": "x"}}',
    b'{"resourceLogs": [{"scopeLogs": "not a list"}]}',
    b'{"resourceLogs": [1]}',
    b'{"time": "t", "severity": null, "httpRequest": {"latency": "xs", "status": {}}}',
    b'{"time": "t", "level": "info", "message": "m", "duration_s": true, "status": [1]}',
    b'{"a": "' + b"x" * 2_000_000 + b'"}',
    b"",
    b"plain text from print()",
]


def test_pretty_never_crashes_on_bad_input_and_gives_back_what_is_not_ours(tmp_path):
    stdin = b"\n".join(HOSTILE) + b"\n"
    result = cli("pretty", cwd=tmp_path, stdin=stdin)
    assert result.returncode == 0, result.stderr.decode()
    assert b"Traceback" not in result.stderr
    out = result.stdout.split(b"\n")
    assert out[0] == b"\\xff\\xfe not utf-8 \\xc3("
    for raw, printed in zip(HOSTILE[1:7], out[1:7], strict=True):
        assert printed == raw  # truncated, non-object and empty-object lines come back as they are
    assert b"plain text from print()" in out
    assert any(len(line) > 2_000_000 for line in out)


def test_pretty_follows_a_file(tmp_path):
    log = tmp_path / "access.log"
    log.write_bytes(b'{"time": "2026-01-01T00:00:00.000000Z", "level": "info", "message": "one"}\n')
    environment = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "gunicorn_loggers", "pretty", "-f", str(log)],
        stdout=subprocess.PIPE,
        env=environment,
        cwd=tmp_path,
    )

    def next_line() -> bytes:
        assert proc.stdout is not None
        ready, _, _ = select.select([proc.stdout], [], [], 15)
        assert ready, "pretty -f printed nothing within 15 s"
        return proc.stdout.readline()

    try:
        assert next_line() == b"2026-01-01 00:00:00.000 INFO  one\n"
        with log.open("ab") as stream:
            stream.write(b'{"time": "2026-01-01T00:00:01.000000Z", "level": "error", "mess')
            stream.flush()
            time.sleep(0.3)  # a half-written line is not printed until its newline arrives
            stream.write(b'age": "two", "status": 500}\n')
        assert next_line() == b"2026-01-01 00:00:01.000 ERROR two status=500\n"
    finally:
        proc.kill()
        proc.wait(10)
