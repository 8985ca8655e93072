"""The record builder's parts on their own: options, trace context, redaction, encoding."""

import datetime
import json
import logging
from types import SimpleNamespace

import pytest

from gunicorn_loggers import ConfigError, JsonFormatter, load_settings
from gunicorn_loggers.correlation import clean_request_id, parse_traceparent
from gunicorn_loggers.encoding import encode_line
from gunicorn_loggers.redaction import QueryRedactor
from gunicorn_loggers.request_facts import IS_IP, AccessFactsCollector
from gunicorn_loggers.schemas import build_schema
from gunicorn_loggers.schemas.gcp import duration_string
from gunicorn_loggers.schemas.otlp_json import any_value
from gunicorn_loggers.text import wsgi_to_text
from gunicorn_loggers.timestamps import rfc3339_utc


def test_defaults():
    settings = load_settings(env={})
    assert settings.schema == "ecs" and settings.app_logs is True
    assert {"authorization", "cookie", "set-cookie", "proxy-authorization"} <= settings.redact_headers
    assert {"token", "access_token", "password", "secret", "api_key", "signature"} <= settings.redact_query


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"GUNICORN_LOGGERS_SCHEMA": "ECSX"}, "GUNICORN_LOGGERS_SCHEMA='ECSX' is not one of: ecs, otel, gcp, flat"),
        ({"GUNICORN_LOGGERS_REQUEST_ID_HEADER": "a,b"}, "GUNICORN_LOGGERS_REQUEST_ID_HEADER must name exactly one"),
        ({"GUNICORN_LOGGERS_REDACT_QUERY": "ok,bad name"}, "GUNICORN_LOGGERS_REDACT_QUERY: 'bad name' is not a valid"),
        ({"GUNICORN_LOGGERS_SERVICENAME": "x"}, "did you mean GUNICORN_LOGGERS_SERVICE_NAME?"),
    ],
)
def test_bad_options_name_the_option(env, message):
    with pytest.raises(ConfigError) as error:
        load_settings(env=env)
    assert message in str(error.value)
    assert "\n" not in str(error.value)


def test_schema_value_is_case_insensitive_and_default_expands():
    settings = load_settings(
        env={"GUNICORN_LOGGERS_SCHEMA": " GCP ", "GUNICORN_LOGGERS_REDACT_HEADERS": "default,x-api-key"}
    )
    assert settings.schema == "gcp"
    assert "x-api-key" in settings.redact_headers and "authorization" in settings.redact_headers


def test_otel_service_name_is_honoured():
    assert load_settings(env={"OTEL_SERVICE_NAME": "checkout"}).service_name == "checkout"
    assert load_settings(env={"OTEL_SERVICE_NAME": "a", "GUNICORN_LOGGERS_SERVICE_NAME": "b"}).service_name == "b"


def test_traceparent_flags_and_future_versions():
    context = parse_traceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00")
    assert context.sampled is False and context.parent_id == "00f067aa0ba902b7"
    assert parse_traceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01") is None
    assert parse_traceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0") is None
    assert parse_traceparent("cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-03-what").flags == 3
    # current_request().trace is public: a (trace_id, parent_id, flags as an int) tuple
    assert tuple(parse_traceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")) == (
        "4bf92f3577b34da6a3ce929d0e0e4736",
        "00f067aa0ba902b7",
        1,
    )
    assert parse_traceparent("cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-03what") is None
    valid = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    assert parse_traceparent(f" \t{valid}\t ").trace_id == "4bf92f3577b34da6a3ce929d0e0e4736"  # OWS around it
    assert parse_traceparent(valid + "-more") is None  # version 00 is exactly 55 characters
    assert parse_traceparent(valid.upper()) is None and parse_traceparent("ff" + valid[2:]) is None
    assert parse_traceparent("00-" + "0" * 32 + valid[35:]) is None


def test_request_id_is_capped():
    assert clean_request_id("a" * 500) == "a" * 200
    assert clean_request_id("\x00bad") is None and clean_request_id("  ") is None
    assert clean_request_id(" abc-1\t") == "abc-1" and clean_request_id("a b") is None


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("a=1&b=2", "a=1&b=2"),
        ("TOKEN=x&a=1", "TOKEN=REDACTED&a=1"),
        ("acc%65ss_token=x", "acc%65ss_token=REDACTED"),
        ("api+key=x&api_key=y", "api+key=x&api_key=REDACTED"),
        ("token", "token"),
        ("token=", "token=REDACTED"),
        ("mytoken=x&tokens=y", "mytoken=x&tokens=y"),
        ("X-Amz-Signature=abc&X-Amz-Date=1", "X-Amz-Signature=REDACTED&X-Amz-Date=1"),
        ("q=token&page=password", "q=token&page=password"),  # a secret's name as a value is no secret
        ("a=1&b=2&c=3&PassWord=hunter2", "a=1&b=2&c=3&PassWord=REDACTED"),
        ("token[]=a&token[]=b&user[password]=c", "token[]=REDACTED&token[]=REDACTED&user[password]=REDACTED"),
        ("user%5Bpassword%5D=c&a[b]=1&sort[]=name", "user%5Bpassword%5D=REDACTED&a[b]=1&sort[]=name"),
    ],
)
def test_query_redaction(query, expected):
    assert QueryRedactor(load_settings(env={}).redact_query)(query) == expected


def test_query_redaction_decodes_the_longest_escaped_name_and_caches_no_long_names():
    redact = QueryRedactor(["x-amz-security-token"])
    escaped = "".join(f"%{byte:02x}" for byte in b"x-amz-security-token")  # three times as long
    assert redact(f"{escaped}=1&a=2") == f"{escaped}=REDACTED&a=2"
    redact.known.clear()
    assert redact(f"{'n' * 5000}=1&{escaped}x=2") == f"{'n' * 5000}=1&{escaped}x=2"
    assert len(redact.known) == 1  # a client cannot fill the cache with long names
    kelvin = "".join(f"%{byte:02x}" for byte in "x-amz-security-to\u212aen".encode())  # K lowers to k
    assert redact(f"{kelvin}=1") == f"{kelvin}=REDACTED"
    cyrillic = QueryRedactor(["пароль"])
    escaped = "".join(f"%{byte:02X}" for byte in "пароль".encode())  # six times as long
    assert cyrillic(f"{escaped}=hunter2&a=1") == f"{escaped}=REDACTED&a=1"
    assert cyrillic(f"{escaped * 40}=1") == f"{escaped * 40}=1"  # long, decoded uncached, not a secret
    assert redact(f"{'%41' * 400}=1") == f"{'%41' * 400}=1"


def test_query_redaction_cache_stays_bounded_and_later_names_are_still_checked():
    redact = QueryRedactor(["token"])
    flood = "&".join(f"n{number}=1" for number in range(QueryRedactor.CACHE_SIZE + 500))
    assert redact(flood) == flood
    assert len(redact.known) == QueryRedactor.CACHE_SIZE
    assert redact("a=1&ToKen=x&t%6Fken=y") == "a=1&ToKen=REDACTED&t%6Fken=REDACTED"  # new names, uncached
    assert len(redact.known) == QueryRedactor.CACHE_SIZE


def test_memos_of_client_values_stay_bounded_and_keep_answering():
    collector = AccessFactsCollector(load_settings(env={}))
    environ = {"REQUEST_METHOD": "GET", "RAW_URI": "/", "PATH_INFO": "/", "REMOTE_ADDR": "127.0.0.1"}
    ok = SimpleNamespace(status="200 OK", status_code=200, sent=0)
    one_ms = datetime.timedelta(milliseconds=1)
    limit = collector.client_addresses.limit
    for number in range(limit + 300):  # a trusted proxy relaying ever new clients
        environ["HTTP_X_FORWARDED_FOR"] = f"10.{number // 65536}.{number // 256 % 256}.{number % 256}"
        facts = collector.collect(ok, None, environ, one_ms)
        assert facts.client_address == environ["HTTP_X_FORWARDED_FOR"]
        assert len(collector.client_addresses) <= limit
    assert len(collector.client_addresses) == 300  # kept, then all dropped once when the memo was full
    environ["HTTP_X_FORWARDED_FOR"] = "not-an-address"  # ends the walk: the proxy is the client
    assert collector.collect(ok, None, environ, one_ms).client_address == "127.0.0.1"
    assert len(IS_IP) <= IS_IP.limit


def test_memos_keep_no_long_values():
    """gunicorn joins a repeated header into one value: a client could send 100 KiB user agents."""
    settings = load_settings(env={})
    collector, schema = AccessFactsCollector(settings), build_schema(settings)
    environ = {"REQUEST_METHOD": "GET", "RAW_URI": "/", "PATH_INFO": "/", "REMOTE_ADDR": "127.0.0.1"}
    ok = SimpleNamespace(status="200 OK", status_code=200, sent=0)
    for number in range(50):
        long_agent = f"agent {number} " + "x" * 100_000
        environ.update(HTTP_USER_AGENT=long_agent, HTTP_REFERER="https://r/" + long_agent)
        environ["HTTP_X_FORWARDED_FOR"] = "10.0.0.1, " * 20_000 + "10.0.0.2"
        record = schema.access(collector.collect(ok, None, environ, datetime.timedelta(0)))
        assert record["user_agent"]["original"] == long_agent  # answered in full
        assert record["http"]["request"]["referrer"] == "https://r/" + long_agent
    kept = [*schema.user_agents, *collector.referers, *collector.client_addresses]
    assert kept == []
    environ.update(HTTP_USER_AGENT="curl/8", HTTP_REFERER="https://r/", HTTP_X_FORWARDED_FOR="10.0.0.2")
    schema.access(collector.collect(ok, None, environ, datetime.timedelta(0)))
    assert "curl/8" in schema.user_agents and "https://r/" in collector.referers and collector.client_addresses


def test_a_formatter_subclass_changing_records_in_place_changes_only_its_own():
    """python-json-logger's process_log_record hook gets the record; parts shared by records must be copies."""

    class Enriching(JsonFormatter):
        def process_log_record(self, log_record):
            log_record["service"]["name"] = "changed"
            log_record.get("client", {})["geo"] = "changed"
            return log_record

    settings = load_settings(env={})  # one settings object: both formatters share one record builder
    formatter = Enriching(settings=settings)
    first = json.loads(formatter.format(make_record("one")))
    assert first["service"]["name"] == "changed"
    uvicorn_line = ('%s - "%s %s HTTP/%s" %d', ("203.0.113.9:5000", "GET", "/a", "1.1", 200))
    access = logging.LogRecord("uvicorn.access", logging.INFO, __file__, 1, *uvicorn_line, None)
    assert json.loads(formatter.format(access))["client"]["geo"] == "changed"
    plain = JsonFormatter(settings=settings)
    assert "changed" not in plain.format(make_record("two")) + plain.format(access)


def test_wsgi_strings_are_decoded_losslessly():
    assert wsgi_to_text("caf\xc3\xa9") == "café"
    assert wsgi_to_text("\xff\xfe") == "\\xff\\xfe"
    assert wsgi_to_text("snow\u2603") == "snow\u2603"  # not latin-1: already text
    assert wsgi_to_text("lone\udcff") == "lone\\udcff"


def test_timestamps_and_durations():
    assert rfc3339_utc(1_700_000_000_123_456_789) == "2023-11-14T22:13:20.123456Z"
    assert rfc3339_utc(1_700_000_001_000_000_000) == "2023-11-14T22:13:21.000000Z"
    assert duration_string(12_345_678) == "0.012345s"
    assert duration_string(3_000_000_000) == "3.000000s"


class Unprintable:
    def __repr__(self):
        raise RuntimeError("no repr for you")


def test_encode_line_never_fails():
    cyclic: dict = {"a": 1}
    cyclic["self"] = cyclic
    record = {
        "set": {1},
        "bytes": b"\xff ok",
        "when": datetime.datetime(2026, 1, 1, tzinfo=datetime.timezone.utc),
        "obj": Unprintable(),
        "surrogate": "x\udcff",
        "huge": 2**80,
        "cyclic": cyclic,
        1: "int key",
    }
    line = encode_line(record)
    assert line.endswith(b"\n") and line.count(b"\n") == 1
    decoded = json.loads(line)
    assert decoded["set"] == [1] and decoded["bytes"] == "\\xff ok"
    assert decoded["obj"].startswith("<repr() of Unprintable failed")
    assert decoded["surrogate"] == "x\\udcff" and decoded["huge"] == str(2**80)
    assert decoded["cyclic"]["self"] == "<cycle>" and decoded["1"] == "int key"


def test_otlp_any_value_types():
    assert any_value(2**63) == {"stringValue": str(2**63)}
    assert any_value(5) == {"intValue": "5"} and any_value(True) == {"boolValue": True}
    assert any_value(float("nan")) == {"stringValue": "nan"}
    assert any_value({"k": [1, "a"]}) == {
        "kvlistValue": {
            "values": [{"key": "k", "value": {"arrayValue": {"values": [{"intValue": "1"}, {"stringValue": "a"}]}}}]
        }
    }
    assert any_value(b"\x00\x01") == {"bytesValue": "AAE="}


def make_record(msg, args=(), **extra):
    record = logging.LogRecord("app", logging.INFO, __file__, 10, msg, args, None)
    record.__dict__.update(extra)
    return record


def test_formatter_survives_a_broken_message():
    formatter = JsonFormatter(schema="ecs")
    line = json.loads(formatter.format(make_record("%s and %s", ("only one",))))
    assert line["message"] == "'%s and %s' % ('only one',)"
    assert line["format_error"].startswith("TypeError")


def test_a_created_ns_that_is_not_an_integer_is_ignored():
    """Python 3.13 sets created_ns; before it, only an ``extra`` can, with any type."""
    record = make_record("odd clock", created_ns=1.7e18)
    line = json.loads(JsonFormatter(schema="ecs").format(record))
    assert line["message"] == "odd clock" and line["@timestamp"] == rfc3339_utc(int(record.created * 1e9))


def test_formatter_fixed_schema_and_extras():
    line = json.loads(JsonFormatter(schema="flat").format(make_record("hi %s", ("there",), user_id=7)))
    assert line["message"] == "hi there" and line["level"] == "info" and line["user_id"] == 7


def test_network_options_belong_to_network_loggers_only():
    from gunicorn_loggers import JsonLogger, SocketLogger

    env = {"GUNICORN_LOGGERS_URL": "tcp://127.0.0.1:9"}
    assert load_settings(env=env, logger=JsonLogger).ignored_options == ("URL",)
    assert load_settings(env=env, logger=SocketLogger).ignored_options == ()
    with pytest.raises(ConfigError, match=r"GUNICORN_LOGGERS_URLS is not an option.*did you mean .*_URL\?"):
        load_settings(env={"GUNICORN_LOGGERS_URLS": "tcp://127.0.0.1:9"}, logger=JsonLogger)


def spoil(value):
    """What a careless processor might do: change every dict and list in ``value`` in place."""
    children = list(value.values()) if isinstance(value, dict) else list(value)
    for child in children:
        if isinstance(child, (dict, list)):
            spoil(child)
    value.append("changed") if isinstance(value, list) else value.update(changed=True)


@pytest.mark.parametrize("schema", ["ecs", "otel", "gcp", "flat"])
def test_unshare_gives_a_record_private_copies_of_the_parts_every_record_shares(schema):
    from gunicorn_loggers.record_builder import RecordBuilder

    builder = RecordBuilder(load_settings(env={"GUNICORN_LOGGERS_SCHEMA": schema}))
    first = builder.schema.unshare(builder.log(make_record("one"), "one", None, {}))
    shared = (*builder.schema.shared_keys, *builder.schema.flat_shared_keys)
    assert schema in ("otel", "flat") or shared
    for part in (first[key] for key in shared if key in first):
        spoil(part)
    if schema == "otel":
        spoil(first["resourceLogs"][0]["resource"])
    second = builder.log(make_record("two"), "two", None, {})
    assert "changed" not in json.dumps(second)


@pytest.mark.parametrize("schema", ["ecs", "otel", "gcp", "flat"])
def test_unshare_covers_the_parts_access_records_share_too(schema):
    """ECS caches client, user_agent, user and process per value: a processor gets copies of those too."""
    from gunicorn_loggers.schemas import build_schema

    settings = load_settings(env={"GUNICORN_LOGGERS_SCHEMA": schema})
    collector, built = AccessFactsCollector(settings), build_schema(settings)
    environ = {
        "REQUEST_METHOD": "GET", "RAW_URI": "/a?b=c", "PATH_INFO": "/a", "SERVER_PROTOCOL": "HTTP/1.1",
        "wsgi.url_scheme": "http", "HTTP_HOST": "example.com", "REMOTE_ADDR": "127.0.0.1", "REMOTE_PORT": "5000",
        "HTTP_X_FORWARDED_FOR": "203.0.113.9", "HTTP_USER_AGENT": "curl/8", "HTTP_AUTHORIZATION": "Basic YTpi",
        "HTTP_TRACEPARENT": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
    }  # fmt: skip
    ok = SimpleNamespace(status="200 OK", status_code=200, sent=10, headers=[])
    first = built.unshare(built.access(collector.collect(ok, None, environ, datetime.timedelta(milliseconds=1))))
    before = json.dumps(built.access(collector.collect(ok, None, environ, datetime.timedelta(milliseconds=1))))
    spoil(first)
    second = json.dumps(built.access(collector.collect(ok, None, environ, datetime.timedelta(milliseconds=1))))
    assert "changed" not in second
    assert json.loads(second).keys() == json.loads(before).keys()


def test_otel_attribute_keys_stay_unique_when_the_referer_and_request_id_headers_are_captured():
    """OTLP wants unique keys: a captured header of the same name gives its values once, in the same place."""
    from gunicorn_loggers.request_facts import AccessFacts
    from gunicorn_loggers.schemas.otel import OtelSchema

    settings = load_settings(env={"GUNICORN_LOGGERS_REQUEST_HEADERS": "referer,x-request-id,accept"})
    facts = AccessFacts()
    fields = dict(time_ns=1, pid=2, method="GET", target="/", path="/", query=None, protocol="HTTP/1.1",
                  scheme="http", host=None, status=200, body_bytes=None, duration_ns=None, peer_address=None,
                  peer_port=None, client_address=None, user_agent=None, referer="https://r/", user_name=None,
                  request_id="rid", trace=None, response_headers=None, level="info", kept=None, timed_out=False,
                  request_headers={"referer": ["https://r/"], "x-request-id": ["rid"], "accept": ["*/*"]})  # fmt: skip
    for name, value in fields.items():
        setattr(facts, name, value)
    attributes = OtelSchema(settings).access(facts)["resourceLogs"][0]["scopeLogs"][0]["logRecords"][0]["attributes"]
    keys = [kv["key"] for kv in attributes]
    assert len(keys) == len(set(keys)), keys
    headers = {kv["key"]: kv["value"] for kv in attributes if kv["key"].startswith("http.request.header.")}
    assert list(headers) == ["http.request.header.referer", "http.request.header.x-request-id",
                             "http.request.header.accept"]  # fmt: skip
    assert headers["http.request.header.accept"] == {"arrayValue": {"values": [{"stringValue": "*/*"}]}}


class FailingRepr:
    def __repr__(self):
        raise ValueError("no repr")

    __str__ = __repr__


def test_otel_records_of_odd_values_stay_valid_otlp_and_follow_the_bad_value_rules():
    """A lone surrogate used to send the whole record to the generic repair, which cut OTLP's nesting
    into bare strings where OTLP wants objects: a collector refused the line."""
    from google.protobuf import json_format
    from opentelemetry.proto.collector.logs.v1 import logs_service_pb2

    from tests.receivers import otlp_json_to_proto3_json

    cyclic: dict = {"name": "loop"}
    cyclic["self"] = cyclic
    extra = {
        "fname": "f\udcff",
        "deep": {"d": {"d": {"d": {"d": {"d": {"d": {"leaf": [1, {"x": "\udc80"}]}}}}}}},
        "when": datetime.datetime(2020, 1, 2, 3, 4, 5),
        "broken": FailingRepr(),
        "cyclic": cyclic,
        "\udcfekey": "value",
    }
    line = JsonFormatter(schema="otel").format(make_record("odd values", **extra))
    request = json_format.ParseDict(
        otlp_json_to_proto3_json(json.loads(line)), logs_service_pb2.ExportLogsServiceRequest()
    )
    (record,) = request.resource_logs[0].scope_logs[0].log_records
    attributes = {kv.key: kv.value for kv in record.attributes}
    assert attributes["fname"].string_value == "f\\udcff" and "\\udcfekey" in attributes
    assert attributes["when"].string_value == "2020-01-02T03:04:05"
    assert attributes["broken"].string_value == "<repr() of FailingRepr failed: ValueError>"
    assert "<cycle>" in json_format.MessageToJson(attributes["cyclic"])
    assert '"leaf"' in json_format.MessageToJson(attributes["deep"])  # six levels are kept, not cut


def test_a_message_whose_arguments_cannot_be_shown_keeps_its_template():
    line = json.loads(JsonFormatter(schema="ecs").format(make_record("template %s", (FailingRepr(),))))
    assert line["message"] == "'template %s' % <arguments whose repr() failed>"
    assert line["format_error"] == "ValueError: no repr"
