"""The application's own logging records: same stream, same schema, extras kept, no duplicates."""

import pytest

from tests.gunicorn_process import REPO


def app_records(server):
    return [r for r in server.error_records() if r["log"]["logger"] == "tests.app"]


@pytest.mark.parametrize("via_conf", [False, True], ids=["default", "logconfig_dict"])
def test_app_records_come_out_once_in_the_schema_with_their_extras(gunicorn, via_conf):
    args = ("-c", str(REPO / "conf" / "json.py")) if via_conf else ()
    server = gunicorn(*args)
    server.request("/log")
    records = server.wait_for(lambda: len(app_records(server)) >= 2 and app_records(server))
    server.request("/")  # a later request: the earlier lines must still be there exactly once
    server.wait_for_access(2)
    assert len(app_records(server)) == 2
    warning, info = records
    assert warning["message"] == "app says hello" and warning["log.level"] == "warning"
    assert warning["user_id"] == 42
    assert sorted(warning["tags"]) == ["a", "b"]  # a set, written as a list
    assert warning["payload"] == {"nested": [1, 2]}
    assert warning["log"]["origin"]["function"] == "app"
    assert info["message"] == "info from app with args"
    # Extras cannot overwrite the schema's own fields; they are kept aside instead.
    assert info["log.level"] == "info" and info["@timestamp"] != "forged"
    assert info["extra"] == {"log.level": "forged", "@timestamp": "forged"}
    text = server.error_path.read_text() + server.access_path.read_text()
    assert text.count("app says hello") == 1
    assert server.stdout_path.read_text() == ""


def test_app_logs_off_leaves_the_root_logger_alone(gunicorn):
    server = gunicorn(env={"GUNICORN_LOGGERS_APP_LOGS": "off"})
    server.request("/log")
    server.wait_for_access(1)
    assert app_records(server) == []


def test_wsgi_errors_become_json_records(gunicorn):
    server = gunicorn()
    server.request("/wsgi-errors")
    records = server.wait_for(lambda: [r for r in server.error_records() if r["log"]["logger"] == "wsgi.errors"])
    assert records[0]["message"] == "written to wsgi.errors"
    assert records[0]["log.level"] == "error"


@pytest.mark.parametrize("schema", ["otel", "gcp", "flat"])
def test_error_records_follow_the_chosen_schema(gunicorn, schema):
    server = gunicorn(env={"GUNICORN_LOGGERS_SCHEMA": schema})
    server.request("/raise")
    server.wait_for_access(1)
    lines = server.error_path.read_text()
    assert "boom from the app" in lines
    failed = next(r for r in server.error_records() if "boom from the app" in str(r))
    if schema == "otel":
        record = failed["resourceLogs"][0]["scopeLogs"][0]["logRecords"][0]
        attributes = {kv["key"]: kv["value"] for kv in record["attributes"]}
        assert record["severityNumber"] == 17
        assert attributes["exception.type"] == {"stringValue": "ValueError"}
        assert "Traceback" in attributes["exception.stacktrace"]["stringValue"]
    elif schema == "gcp":
        assert failed["severity"] == "ERROR" and "Traceback" in failed["stack_trace"]
        assert failed["logging.googleapis.com/sourceLocation"]["function"]
    else:
        assert failed["level"] == "error" and failed["exc_type"] == "ValueError"


@pytest.mark.parametrize(
    "logconfig",
    [
        {"version": 1, "root": {"level": "DEBUG"}},  # only the root: gunicorn's defaults fill in the rest
        {"version": 1, "loggers": {"tests.app": {"level": "DEBUG"}}},
    ],
    ids=["root-only", "loggers-only"],
)
def test_a_partial_logconfig_dict_gives_no_text_lines_and_no_duplicates(gunicorn, tmp_path, logconfig):
    """gunicorn lays logconfig_dict over its defaults, whose text console handlers would double every line."""
    conf = tmp_path / "partial.conf.py"
    conf.write_text(f"logconfig_dict = {logconfig!r}\n")
    server = gunicorn("-c", str(conf))
    server.request("/log")
    records = server.wait_for(lambda: len(app_records(server)) >= 2 and app_records(server))
    server.wait_for_access(1)
    assert server.stdout_path.read_text() == ""
    assert "Starting gunicorn" not in server.stderr_path.read_text()  # no text copy of gunicorn's messages
    starting = [r for r in server.error_records() if r["message"].startswith("Starting gunicorn")]
    assert len(starting) == 1 and len(records) == 2
    if "root" in logconfig:  # the user's root level stays: the app's debug lines come out too
        server.request("/log-debug")
        server.wait_for(lambda: [r for r in app_records(server) if r["log.level"] == "debug"], what="a debug line")
