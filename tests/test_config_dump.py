"""gunicorn's debug-level configuration dump never carries the credentials given with ``-e``."""

from __future__ import annotations

import base64
import json

import pytest

from gunicorn_loggers.config import load_settings
from gunicorn_loggers.config_dump import redact_assignment, redact_configuration
from gunicorn_loggers.redaction import QueryRedactor
from tests.receivers import HttpReceiver, wait_until

REDACT_QUERY = QueryRedactor(load_settings(env={}).redact_query)
PASSWORD, TOKEN, DB_PASSWORD, QUERY_TOKEN = "pa55-c0nf-9z", "tok-c0nf-7y", "db-c0nf-6x", "qt-c0nf-5w"


@pytest.mark.parametrize(
    ("assignment", "expected"),
    [
        ("DATABASE_PASSWORD=hunter2", "DATABASE_PASSWORD=REDACTED"),
        ("DB_PASS=hunter2pass", "DB_PASS=REDACTED"),
        ("GPG_PASSPHRASE=x y z", "GPG_PASSPHRASE=REDACTED"),
        ("OTEL_EXPORTER_OTLP_HEADERS=api-key=abc", "OTEL_EXPORTER_OTLP_HEADERS=REDACTED"),
        ("GUNICORN_LOGGERS_HTTP_HEADERS=X=${T}", "GUNICORN_LOGGERS_HTTP_HEADERS=REDACTED"),
        ("SINK=https://bob:pw@logs.example/x?a=1&token=t", "SINK=https://REDACTED@logs.example/x?a=1&token=REDACTED"),
        ("MODE=production", "MODE=production"),
        ("LOG_SINK=s3cr3t-value", "LOG_SINK=REDACTED"),  # a credential this logger knows, under a plain name
        ("not an assignment", "not an assignment"),
    ],
)
def test_each_assignment(assignment, expected):
    assert redact_assignment(assignment, ["s3cr3t-value"], REDACT_QUERY) == expected


def test_a_raw_env_line_that_is_not_a_list_is_hidden_whole():
    message = "Current configuration:\n  raw_env: <something else: hunter2>\n  workers: 2"
    expected = "Current configuration:\n  raw_env: REDACTED\n  workers: 2"
    assert redact_configuration(message, (), REDACT_QUERY) == expected


def test_json_logger_at_debug_level_shows_the_dump_without_secrets(gunicorn):
    server = gunicorn("--log-level", "debug", "-e", f"DATABASE_PASSWORD={DB_PASSWORD}", "-e", "MODE=production")
    dump = next(r["message"] for r in server.error_records() if r["message"].startswith("Current configuration:"))
    assert "'DATABASE_PASSWORD=REDACTED'" in dump and "'MODE=production'" in dump and "  workers: 1" in dump
    server.stop()
    assert DB_PASSWORD not in server.all_output() + server.error_path.read_text()


def test_http_logger_ships_the_dump_without_the_credentials_it_was_given(network_gunicorn):
    basic = "Basic " + base64.b64encode(f"shipper:{PASSWORD}".encode()).decode()
    require = {"Authorization": basic, "X-Api-Key": TOKEN}
    with HttpReceiver("ndjson", path=f"/logs?tenant=a&token={QUERY_TOKEN}", require=require) as receiver:
        url = receiver.url.replace("http://", f"http://shipper:{PASSWORD}@")
        server = network_gunicorn(
            "--log-level", "debug",
            "-e", f"GUNICORN_LOGGERS_URL={url}",
            "-e", f"GUNICORN_LOGGERS_HTTP_HEADERS=X-Api-Key={TOKEN}",
            "-e", f"DATABASE_PASSWORD={DB_PASSWORD}",
            receiver=receiver,
            logger_class="gunicorn_loggers.HttpLogger",
        )  # fmt: skip
        wait_until(lambda: any(m.startswith("Current configuration:") for m in receiver.messages()), what="dump")
        server.stop()
        shipped = json.dumps(receiver.snapshot())
    dump = next(m for m in receiver.messages() if m.startswith("Current configuration:"))
    assert f"GUNICORN_LOGGERS_URL=http://REDACTED@127.0.0.1:{receiver.port}/logs?tenant=a&token=REDACTED'" in dump
    assert "'GUNICORN_LOGGERS_HTTP_HEADERS=REDACTED'" in dump
    local = server.all_output() + server.stderr_path.read_text() + server.error_path.read_text()
    for secret in (PASSWORD, TOKEN, DB_PASSWORD, QUERY_TOKEN, basic.split()[1]):
        assert secret not in shipped and secret not in local
