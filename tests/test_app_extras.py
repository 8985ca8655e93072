"""An app's extras and dict messages: kept, never beside a field of the schema, never an error it did not raise."""

import collections.abc
import json
import logging
import sys

import pytest

from gunicorn_loggers import JsonFormatter, load_settings
from gunicorn_loggers.correlation import TraceContext
from gunicorn_loggers.encoding import encode_line
from gunicorn_loggers.log_facts import collect_log_facts
from gunicorn_loggers.schemas import build_schema
from gunicorn_loggers.schemas.otlp_json import any_value, plain_value
from tests.apps import FORGERIES, UnprintableKey, UnreadableDict
from tests.gunicorn_process import REPO

SCHEMAS = ["ecs", "otel", "gcp", "flat"]
SERVICE = "probe-svc"
REQUEST_ID = "probe-request"
TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
SPAN = "00f067aa0ba902b7"
FORGED = "forged"


def leaves(record: dict, prefix: str = ""):
    for key, value in record.items():
        if isinstance(value, dict) and value:
            yield from leaves(value, f"{prefix}{key}.")
        else:
            yield f"{prefix}{key}"


def fields_of(record: dict, schema: str) -> dict:
    """The record's fields, where an app's extras go: otel's log attributes (the resource as
    ``resource``), every other schema's top level."""
    if schema != "otel" or "resourceLogs" not in record:
        return record
    resource_logs = record["resourceLogs"][0]
    log = resource_logs["scopeLogs"][0]["logRecords"][0]
    fields = {kv["key"]: plain_value(kv["value"]) for kv in log["attributes"]}
    fields["resource"] = {kv["key"]: plain_value(kv["value"]) for kv in resource_logs["resource"]["attributes"]}
    fields["message"] = log["body"]["stringValue"]
    fields["scope"] = resource_logs["scopeLogs"][0]["scope"]["name"]
    return fields


# -- the collision rule, over every field each schema writes --------------------------------------------------


def fullest_record(schema_name: str):
    """A schema, the facts of an app record with every optional part, and the record it builds of them."""
    env = {
        "GUNICORN_LOGGERS_SCHEMA": schema_name,
        "GUNICORN_LOGGERS_SERVICE_NAME": SERVICE,
        "GUNICORN_LOGGERS_SERVICE_VERSION": "1.2.3",
        "GUNICORN_LOGGERS_SERVICE_ENVIRONMENT": "prod",
    }
    schema = build_schema(load_settings(env=env))
    try:
        raise ValueError("the real error")
    except ValueError:
        record = logging.LogRecord("app", logging.ERROR, __file__, 10, "the real message", (), sys.exc_info())
    facts = collect_log_facts(record, "the real message", "the real stack", {})
    facts.request_id, facts.trace = REQUEST_ID, TraceContext(TRACE, SPAN, 1)  # as in a request
    return schema, facts, schema.log(facts)


def written_paths(record: dict, schema: str) -> list[str]:
    """Every field path the record holds where an app's extra could stand beside it."""
    if schema != "otel":
        return list(leaves(record))
    resource_logs = record["resourceLogs"][0]
    attributes = resource_logs["scopeLogs"][0]["logRecords"][0]["attributes"]
    return [kv["key"] for kv in (*resource_logs["resource"]["attributes"], *attributes)]


def colliding_keys(paths: list[str]) -> list[str]:
    """Each path, each prefix of one (``service``, ``http.request``) and a path into each (``service.name.x``)."""
    keys = set(paths)
    for path in paths:
        keys.add(f"{path}.x")
        parts = path.split(".")
        keys.update(".".join(parts[:n]) for n in range(1, len(parts)))
    return sorted(keys)


def without_extra(record: dict, schema: str) -> dict:
    if schema != "otel":
        return {key: value for key, value in record.items() if key != "extra"}
    copy = json.loads(json.dumps(record))
    log = copy["resourceLogs"][0]["scopeLogs"][0]["logRecords"][0]
    log["attributes"] = [kv for kv in log["attributes"] if kv["key"] != "extra"]
    return copy


@pytest.mark.parametrize("schema", SCHEMAS)
def test_an_extra_naming_a_field_of_the_schema_goes_under_extra_however_it_is_spelt(schema):
    """Elasticsearch reads ``"service.name": "forged"`` beside ``"service": {"name": ...}`` as a second value."""
    ours, facts, real = fullest_record(schema)
    paths = written_paths(real, schema)
    assert len(paths) >= 12  # service, code location, thread, error, request id, trace...
    expected = json.loads(encode_line(real))
    for key in colliding_keys(paths):
        facts.extras = {key: FORGED}
        record = json.loads(encode_line(ours.log(facts)))
        assert without_extra(record, schema) == expected, f"{key!r} stood beside the schema's fields"
        assert fields_of(record, schema)["extra"] == {key: FORGED}, key


@pytest.mark.parametrize("schema", SCHEMAS)
def test_fields_a_record_of_the_schema_may_write_are_reserved_in_records_without_them(schema):
    """Outside a request there is no trace id: an app's ``trace.id`` must still not pass for one."""
    _, _, fullest = fullest_record(schema)
    plain = build_schema(load_settings(env={"GUNICORN_LOGGERS_SCHEMA": schema}))
    record = logging.LogRecord("app", logging.INFO, __file__, 10, "no request, no error", (), None)
    for key in written_paths(fullest, schema):
        built = plain.log(collect_log_facts(record, "no request, no error", None, {key: FORGED}))
        assert fields_of(built, schema)["extra"] == {key: FORGED}, key


@pytest.mark.parametrize("schema", SCHEMAS)
def test_extras_beside_the_schemas_fields_stay_where_the_app_put_them(schema):
    ours, facts, _ = fullest_record(schema)
    facts.extras = {"user_id": 42, "custom.field": "kept", "tags": ["a"]}
    fields = fields_of(ours.log(facts), schema)
    assert (fields["user_id"], fields["custom.field"], fields["tags"]) == (42, "kept", ["a"])
    assert "extra" not in fields


def test_ecs_keeps_an_apps_field_in_a_namespace_of_ours_that_names_no_field_of_ours():
    ours, facts, _ = fullest_record("ecs")
    facts.extras = {"service.team": "web", "http.request.method": "GET", "error.code": "E1"}
    record = ours.log(facts)
    assert (record["service.team"], record["http.request.method"], record["error.code"]) == ("web", "GET", "E1")
    assert "extra" not in record


def test_gcp_keeps_the_keys_its_agents_lift_into_the_log_entry_from_an_app():
    """``logging.googleapis.com/labels``, ``httpRequest``... set the LogEntry itself: only we may write them."""
    ours, facts, _ = fullest_record("gcp")
    special = [
        "httpRequest",
        "timestamp",
        "timestampSeconds",
        "timestampNanos",
        "logging.googleapis.com/labels",
        "logging.googleapis.com/insertId",
        "logging.googleapis.com/operation",
        "logging.googleapis.com/trace_sampled",
        "logging.googleapis.com/any_future_field",
        "exception",
        "@type",
    ]
    facts.extras = dict.fromkeys(special, FORGED)
    record = ours.log(facts)
    assert record["extra"] == dict.fromkeys(special, FORGED)
    assert all(record.get(key) != FORGED for key in special)


# -- odd keys and values ---------------------------------------------------------------------------------------


UNPRINTABLE = "<str() of UnprintableKey failed: RuntimeError>"


class UnreadableMapping(collections.abc.Mapping):
    def __getitem__(self, key):
        raise KeyError(key)

    def __iter__(self):
        raise RuntimeError("no keys")

    def __len__(self):
        return 1

    def items(self):
        raise RuntimeError("no items")


def make_record(msg, args=(), exc_info=None, **extra):
    record = logging.LogRecord("app", logging.INFO, __file__, 10, msg, args, exc_info)
    record.__dict__.update(extra)
    return record


@pytest.mark.parametrize("schema", SCHEMAS)
def test_a_key_that_cannot_be_made_text_is_named_and_the_message_and_other_extras_are_kept(schema):
    record = make_record("case:%s", ("badkey",), kept=1)
    record.__dict__[UnprintableKey()] = "lost"
    fields = fields_of(json.loads(JsonFormatter(schema=schema).format(record)), schema)
    assert fields["message"] == "case:badkey" and fields["kept"] == 1
    assert fields["unrenderable_extra_keys"] == [UNPRINTABLE]
    assert "format_error" not in fields


@pytest.mark.parametrize("schema", SCHEMAS)
def test_a_dict_whose_items_raise_is_written_with_what_it_holds(schema):
    record = make_record("case:%s", ("baditems",), kept=1, bad=UnreadableDict(a=1), nested={"bad": UnreadableDict(b=2)})
    fields = fields_of(json.loads(JsonFormatter(schema=schema).format(record)), schema)
    assert fields["message"] == "case:baditems" and fields["kept"] == 1
    assert fields["bad"] == {"a": 1} and fields["nested"] == {"bad": {"b": 2}}
    assert "format_error" not in fields


def test_values_that_cannot_be_read_are_named_where_they_are_and_the_rest_is_kept():
    value = {"keys": {UnprintableKey(): 1, "ok": 2}, "mapping": UnreadableMapping(), "dict": UnreadableDict(c=3)}
    assert json.loads(encode_line(value)) == {
        "keys": {UNPRINTABLE: 1, "ok": 2},
        "mapping": "<items() of UnreadableMapping failed: RuntimeError>",
        "dict": {"c": 3},
    }
    assert plain_value(any_value(value)) == json.loads(encode_line(value))


def structlog_formatter(schema: str):
    from gunicorn_loggers.config import load_settings
    from gunicorn_loggers.record_builder import builder_for
    from gunicorn_loggers.structlog_chain import Chain, StructlogFormatter

    settings = load_settings(env={"GUNICORN_LOGGERS_SCHEMA": schema})
    return StructlogFormatter(lambda: builder_for(settings), Chain([], encode_line))


@pytest.mark.parametrize("formatter", [lambda: JsonFormatter(schema="ecs"), lambda: structlog_formatter("ecs")])
def test_a_broken_message_keeps_the_extras(formatter):
    """With the structlog chain too: a whole record of the schema, not the handler's last resort."""
    line = json.loads(formatter().format(make_record("%s and %s", ("only one",), user_id=7)))
    assert line["message"] == "'%s and %s' % ('only one',)" and line["format_error"].startswith("TypeError")
    assert line["user_id"] == 7
    assert line["log.level"] == "info" and line["ecs"] == {"version": "9.4.0"} and "@timestamp" in line


# -- only a record's own exception is an error -------------------------------------------------------


def error_fields(fields: dict, schema: str) -> list[str]:
    """The fields (of :func:`fields_of`) that say the record is about an exception."""
    names = {"ecs": ("error",), "otel": (), "gcp": ("error", "stack_trace"), "flat": ("exc_type", "stack_trace")}
    return [name for name in fields if name in names[schema] or name.startswith("exception.")]


def stack_trace_of(fields: dict, schema: str) -> str:
    if schema == "ecs":
        return fields["error"]["stack_trace"]
    return fields["exception.stacktrace" if schema == "otel" else "stack_trace"]


@pytest.mark.parametrize("schema", SCHEMAS)
def test_a_dict_message_never_fills_the_error_fields(schema):
    """python-json-logger lets a dict message's ``exc_info`` stand in for the traceback; we do not."""
    formatter = JsonFormatter(schema=schema)
    dict_message = {"exc_info": FORGED, "stack_info": FORGED, "note": "a dict message"}
    fields = fields_of(json.loads(formatter.format(make_record(dict(dict_message)))), schema)
    assert error_fields(fields, schema) == []
    assert (fields["exc_info"], fields["stack_info"], fields["note"]) == (FORGED, FORGED, "a dict message")
    try:
        raise ValueError("the real error")
    except ValueError:
        failing = make_record(dict(dict_message), exc_info=sys.exc_info())
    fields = fields_of(json.loads(formatter.format(failing)), schema)
    stack = stack_trace_of(fields, schema)
    assert stack.startswith("Traceback") and stack.endswith("ValueError: the real error") and FORGED not in stack
    assert (fields["exc_info"], fields["stack_info"]) == (FORGED, FORGED)


def test_an_exc_info_that_is_no_exception_still_gives_a_line():
    line = json.loads(JsonFormatter(schema="ecs").format(make_record("odd exc_info", exc_info=(FORGED, "x", None))))
    assert line["message"] == "odd exc_info" and "error" not in line and "format_error" in line


# -- through a real gunicorn ---------------------------------------------------------------------------------

#: The extras of ``/dotted-extras`` each schema writes a field for: they must go under ``extra``.
COLLIDING = {
    "ecs": {"service.name", "trace.id", "http.request.id", "log.logger", "event.dataset", "ecs.version"},
    "otel": {"service.name", "code.file.path", "thread.name"},
    "gcp": {
        "httpRequest",
        "logging.googleapis.com/labels",
        "logging.googleapis.com/trace",
        "logging.googleapis.com/spanId",
        "stack_trace",
        "thread.name",  # a path into "thread"
    },
    "flat": {"service.name", "stack_trace", "thread.name"},
}


def app_fields(server, schema: str) -> list[dict]:
    """The fields of the app's records, and of the handler's last-resort line for one it could not format."""
    records = [fields_of(record, schema) for record in server.error_records()]
    return [fields for fields in records if logger_of(fields) == "tests.app"]


def logger_of(fields: dict) -> str | None:
    log = fields.get("log")
    return fields.get("scope") or (log.get("logger") if isinstance(log, dict) else None) or fields.get("logger")


def assert_the_real_fields_stand(fields: dict, schema: str) -> None:
    if schema == "ecs":
        assert fields["service"] == {"name": SERVICE} and fields["trace"] == {"id": TRACE}
        assert fields["http"] == {"request": {"id": REQUEST_ID}} and fields["ecs"] == {"version": "9.4.0"}
        assert fields["log"]["logger"] == fields["event"]["dataset"] == "tests.app"
    elif schema == "otel":
        assert fields["resource"]["service.name"] == SERVICE
        assert fields["code.file.path"].endswith("apps.py") and fields["thread.name"] != FORGED
    elif schema == "gcp":
        assert fields["logging.googleapis.com/trace"] == TRACE and fields["logging.googleapis.com/spanId"] == SPAN
    else:
        assert fields["service"] == SERVICE and fields["trace_id"] == TRACE


def assert_forgeries_kept_aside(fields: dict, schema: str) -> None:
    colliding = COLLIDING[schema]
    assert fields["extra"] == {key: FORGERIES[key] for key in colliding}
    assert all(fields.get(key) != FORGERIES[key] for key in colliding)
    assert all(fields[key] == FORGERIES[key] for key in FORGERIES if key not in colliding)  # beside ours: kept
    assert_the_real_fields_stand(fields, schema)


def start(gunicorn, schema: str, conf: str):
    env = {"GUNICORN_LOGGERS_SCHEMA": schema, "GUNICORN_LOGGERS_SERVICE_NAME": SERVICE}
    return gunicorn("-c", str(REPO / "conf" / conf), logger_class=None, env=env)


HEADERS = {"X-Request-ID": REQUEST_ID, "traceparent": f"00-{TRACE}-{SPAN}-01"}


@pytest.mark.parametrize("conf", ["json.py", "structlog.py"], ids=["stdlib-extra", "structlog-key-values"])
@pytest.mark.parametrize("schema", SCHEMAS)
def test_dotted_extras_naming_our_fields_go_under_extra_through_gunicorn(gunicorn, schema, conf):
    server = start(gunicorn, schema, conf)
    path = "/dotted-extras" if conf == "json.py" else "/dotted-structlog"
    assert server.request(path, headers=HEADERS)[0] == 200
    (dotted,) = server.wait_for(lambda: app_fields(server, schema))
    assert dotted["message"] == "dotted extras"
    assert_forgeries_kept_aside(dotted, schema)


@pytest.mark.parametrize("schema", SCHEMAS)
def test_odd_extras_through_gunicorn_keep_the_message_and_the_other_extras(gunicorn, schema):
    server = start(gunicorn, schema, "json.py")
    assert server.request("/odd-extras")[0] == 200
    bad_key, bad_items = server.wait_for(lambda: len(app_fields(server, schema)) >= 2 and app_fields(server, schema))
    assert bad_key["message"] == "case:badkey" and bad_key["kept"] == 1
    assert bad_key["unrenderable_extra_keys"] == [UNPRINTABLE] and "format_error" not in bad_key
    assert bad_items["message"] == "case:baditems" and bad_items["bad"] == {"a": 1} and bad_items["kept"] == 1
    assert "format_error" not in bad_items


@pytest.mark.parametrize("schema", SCHEMAS)
def test_a_dict_messages_exc_info_is_its_field_not_an_error_through_gunicorn(gunicorn, schema):
    server = start(gunicorn, schema, "json.py")
    assert server.request("/dict-message")[0] == 200
    (dict_message,) = server.wait_for(lambda: app_fields(server, schema))
    assert dict_message["note"] == "a dict message"
    assert dict_message["exc_info"] == dict_message["stack_info"] == FORGED
    assert error_fields(dict_message, schema) == []


@pytest.mark.parametrize("schema", SCHEMAS)
def test_a_structlog_events_stack_info_text_or_odd_exc_info_is_not_an_error_through_gunicorn(gunicorn, schema):
    server = start(gunicorn, schema, "structlog.py")
    assert server.request("/structlog-not-an-error")[0] == 200
    stack_info, exc_info = server.wait_for(lambda: len(app_fields(server, schema)) >= 2 and app_fields(server, schema))
    assert stack_info["message"] == "stack_info as a key-value" and stack_info["stack_info"] == FORGED
    assert exc_info["message"] == "exc_info that is no exception"
    assert error_fields(stack_info, schema) == error_fields(exc_info, schema) == []
    assert "Logging error" not in server.stderr_path.read_text()
