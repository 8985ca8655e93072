"""StructlogLogger: one stream, one shape, for gunicorn, the app's structlog calls and stdlib records."""

import http.client
import json

import pytest

from tests.gunicorn_process import REPO, Gunicorn

CONF = ("-c", str(REPO / "conf" / "structlog.py"))
PROCESSORS = "tests.processors.add_region,tests.processors.drop_marked"


def by_message(server, message):
    return [r for r in server.error_records() if r.get("message") == message]


def get(server, path, headers=None):
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    try:
        connection.request("GET", path, headers=headers or {})
        response = connection.getresponse()
        response.read()
        return response.status, response.getheader("X-Request-ID")
    finally:
        connection.close()


@pytest.fixture
def structlog_server(gunicorn):
    return gunicorn(*CONF, logger_class=None, env={"GUNICORN_LOGGERS_PROCESSORS": PROCESSORS})


def test_structlog_stdlib_and_gunicorn_events_share_one_schema_and_the_processors(structlog_server):
    server = structlog_server
    get(server, "/structlog", {"X-Request-ID": "sl-1"})
    get(server, "/log")
    (event,) = server.wait_for(lambda: by_message(server, "from structlog"))
    assert event["log.level"] == "info" and event["log"]["logger"] == "tests.structlog"
    assert event["user"] == "alice" and event["items"] == [1, 2] and sorted(event["when"]) == ["a", "b"]
    assert event["http"]["request"]["id"] == "sl-1"
    assert event["region"] == "eu-west-1"
    (failure,) = by_message(server, "structlog caught it")
    assert failure["error"]["type"] == "ZeroDivisionError"
    assert "1 / 0" in failure["error"]["stack_trace"]
    assert by_message(server, "drop me") == []  # a processor raised DropEvent
    (own,) = by_message(server, "fields named like structlog's")  # the app's own fields, not structlog's
    assert own["level"] == "bogus" and own["logger"] == "custom" and own["log.level"] == "info"
    (stdlib,) = server.wait_for(lambda: by_message(server, "app says hello"))
    assert stdlib["user_id"] == 42 and stdlib["region"] == "eu-west-1"
    booting = [r for r in server.error_records() if r["message"].startswith("Booting worker")]
    assert booting and all(r["region"] == "eu-west-1" for r in booting)
    access = server.wait_for_access(2)
    assert all(r["region"] == "eu-west-1" and "http" in r for r in access)
    assert "Traceback" not in server.stderr_path.read_text() + server.stdout_path.read_text()


def test_a_processor_changing_shared_parts_in_place_changes_only_its_record(gunicorn):
    """service, ecs.version, event.category are built once and shared; a processor gets copies."""
    server = gunicorn(
        logger_class="gunicorn_loggers.StructlogLogger",
        env={"GUNICORN_LOGGERS_PROCESSORS": "tests.processors.tenant_in_service"},
    )
    for path in ("/tenant/a", "/status/200", "/tenant/b", "/status/200"):
        assert get(server, path)[0] in (200, 404)
    records = server.wait_for_access(4)
    assert [r["service"]["name"] for r in records] == ["tenant-a", "tests.apps:app", "tenant-b", "tests.apps:app"]
    assert [r["event"]["category"] for r in records] == [["web", "tenant"], ["web"], ["web", "tenant"], ["web"]]


def test_a_failing_processor_is_reported_in_the_record_and_the_request_is_unaffected(gunicorn):
    server = gunicorn(
        logger_class="gunicorn_loggers.StructlogLogger",
        env={"GUNICORN_LOGGERS_PROCESSORS": "tests.processors.explode,tests.processors.ReturnsNothing"},
    )
    assert get(server, "/log")[0] == 200
    (access,) = server.wait_for_access(1)
    assert access["processor_error"] == (  # every failure, in order: none hides another
        "explode raised ValueError: this processor is broken; ReturnsNothing returned NoneType, not a dict"
    )
    (record,) = server.wait_for(lambda: by_message(server, "app says hello"))
    assert "processor_error" in record


@pytest.mark.parametrize("logger_class", ["gunicorn_loggers.JsonLogger", "gunicorn_loggers.StructlogLogger"])
def test_unserialisable_recursive_and_huge_extras_still_give_one_json_line(gunicorn, logger_class):
    server = gunicorn(logger_class=logger_class)
    assert get(server, "/odd")[0] == 200
    (odd,) = server.wait_for(lambda: by_message(server, "odd values"))
    assert odd["bad"] == "<repr() of BadRepr failed: RuntimeError>"
    assert odd["data"] == "\\xff"
    (cyclic,) = server.wait_for(lambda: by_message(server, "cyclic extra"))
    assert cyclic["cyclic"] == {"self": "<cycle>"}
    assert len(cyclic["huge"]) == 5000


def test_console_renderer_with_every_field_on_request(gunicorn):
    env = {"GUNICORN_LOGGERS_RENDERER": "console", "GUNICORN_LOGGERS_CONSOLE_FIELDS": "all"}
    server = gunicorn(logger_class="gunicorn_loggers.StructlogLogger", env=env, error_log=False)
    get(server, "/structlog")
    server.wait_for(lambda: "structlog caught it" in server.stderr_path.read_text(), what="console lines")
    text = server.wait_for(
        lambda: "GET /structlog" in server.access_path.read_text() and server.access_path.read_text()
    )
    assert "GET /structlog 200" in text and "http.response.status_code=200" in text
    assert not text.lstrip().startswith("{")
    errors = server.stderr_path.read_text()
    assert "[error" in errors and "ZeroDivisionError: division by zero" in errors


def test_console_renderer_prints_the_concise_line_by_default(gunicorn):
    env = {
        "GUNICORN_LOGGERS_RENDERER": "console",
        "GUNICORN_LOGGERS_CONSOLE_FIELDS": "url.path,client.ip,no.such.field",
    }
    server = gunicorn(logger_class="gunicorn_loggers.StructlogLogger", env=env, error_log=False)
    server.request("/structlog", headers={"X-Request-ID": "rid-console"})
    server.wait_for(lambda: "structlog caught it" in server.stderr_path.read_text(), what="console lines")
    line = server.wait_for(
        lambda: [line for line in server.access_path.read_text().splitlines() if "GET /structlog" in line]
    )[0]
    parts = line.split()
    assert parts[2:7] == ["INFO", "GET", "/structlog", "200", "status=200"]
    assert parts[7].endswith("ms")
    assert parts[8:10] == ["id=rid-console", "url.path=/structlog"]
    assert parts[10:] == ["client.ip=127.0.0.1"]
    assert "ecs.version" not in line and "event.category" not in line
    errors = server.stderr_path.read_text()
    assert "ERROR structlog caught it" in errors and "ZeroDivisionError: division by zero" in errors


def test_auto_renderer_writes_json_to_files(gunicorn):
    server = gunicorn(logger_class="gunicorn_loggers.StructlogLogger")
    get(server, "/")
    assert server.wait_for_access(1)[0]["http"]["response"]["status_code"] == 200


def test_a_processor_that_cannot_be_imported_stops_gunicorn_with_one_line(tmp_path):
    server = Gunicorn(
        tmp_path,
        logger_class="gunicorn_loggers.StructlogLogger",
        env={"GUNICORN_LOGGERS_PROCESSORS": "tests.processors.missing"},
    )
    assert server.run_to_exit() == 1
    lines = [line for line in server.stderr_path.read_text().splitlines() if line.strip()]
    assert lines == [
        "Error: GUNICORN_LOGGERS_PROCESSORS: cannot import 'tests.processors.missing': AttributeError: "
        "module 'tests.processors' has no attribute 'missing'"
    ]


@pytest.mark.parametrize("schema", ["otel", "gcp", "flat"])
def test_other_schemas_through_structlog(gunicorn, schema):
    server = gunicorn(logger_class="gunicorn_loggers.StructlogLogger", env={"GUNICORN_LOGGERS_SCHEMA": schema})
    get(server, "/structlog")
    server.wait_for_access(1)
    text = server.error_path.read_text()
    assert "from structlog" in text and "alice" in text
    for line in text.splitlines():
        json.loads(line)


FRAMEWORKS = {
    "flask-sync": ((), "tests.framework_apps:flask_app", "flask"),
    "flask-gthread": (("-k", "gthread", "--threads", "4"), "tests.framework_apps:flask_app", "flask"),
    "flask-gevent": (("-k", "gevent"), "tests.framework_apps:flask_app", "flask"),
    "starlette-asgi": (("-k", "asgi"), "tests.framework_apps:starlette_app", "starlette"),
    "starlette-uvicorn": (("-k", "uvicorn_worker.UvicornWorker"), "tests.framework_apps:starlette_app", "starlette"),
}


@pytest.mark.parametrize("case", list(FRAMEWORKS))
def test_frameworks_log_in_one_shape_with_the_request_id(gunicorn, case):
    args, app, framework = FRAMEWORKS[case]
    server = gunicorn(*CONF, *args, app=app, logger_class=None)
    status, returned = get(server, "/ctx", {"X-Request-ID": f"{case}-1"})
    assert status == 200 and returned == f"{case}-1"
    (structured,) = server.wait_for(lambda: by_message(server, f"{framework} structlog line"))
    (stdlib,) = server.wait_for(lambda: by_message(server, f"{framework} stdlib line"))
    assert structured["framework"] == framework
    assert structured["http"]["request"]["id"] == stdlib["http"]["request"]["id"] == f"{case}-1"
    (access,) = server.wait_for_access(1)
    assert access["http"]["request"]["id"] == f"{case}-1"
    assert access["http"]["response"]["status_code"] == 200 and access["url"]["path"] == "/ctx"
    assert get(server, "/raise")[0] == 500
    if case != "starlette-asgi":  # gunicorn's asgi worker logs an exception after a sent 500 at debug only
        failures = server.wait_for(lambda: [r for r in server.error_records() if "error" in r])
        assert any("failed" in r["error"].get("message", "") for r in failures)
    for path in (server.error_path, server.access_path):
        for line in path.read_text().splitlines():
            json.loads(line)


@pytest.mark.parametrize("schema", ["ecs", "otel", "gcp", "flat"])
def test_processors_see_a_5xx_access_record_as_an_error(gunicorn, schema):
    server = gunicorn(
        logger_class="gunicorn_loggers.StructlogLogger",
        env={"GUNICORN_LOGGERS_PROCESSORS": "tests.processors.method_name_seen", "GUNICORN_LOGGERS_SCHEMA": schema},
    )
    assert get(server, "/raise")[0] == 500
    assert get(server, "/status/200")[0] == 200
    records = server.wait_for_access(2)
    assert [record["method_seen"] for record in records] == ["error", "info"]
