"""The ECS access line written from a template is, byte for byte, the dict path's line.

``EcsAccessLine`` is what the default logger writes with; ``encode_line(EcsSchema.access(facts))``
is what every other renderer and schema test sees. Any difference between the two,
on any input, is a bug in the template.
"""

import datetime
import json
import random

import pytest

from gunicorn_loggers import JsonLogger, StructlogLogger, load_settings
from gunicorn_loggers.access_policy import Kept
from gunicorn_loggers.correlation import TraceContext, parse_traceparent
from gunicorn_loggers.ecs_access_line import EcsAccessLine, ecs_access_line
from gunicorn_loggers.encoding import encode_line
from gunicorn_loggers.request_facts import AccessFacts, AccessFactsCollector
from gunicorn_loggers.schemas import build_schema
from gunicorn_loggers.schemas.ecs import EcsSchema

#: Text a client or an app can put in a record: JSON's own escapes, every control character,
#: non-ASCII, line separators, a lone surrogate (no UTF-8 encoder takes it), backslash escapes.
HOSTILE = [
    "",
    "plain",
    'x", "forged": true, "y": "',
    "back\\slash \\u0041 \\x00",
    "".join(chr(c) for c in range(32)) + "\x7f",
    "CR\r\nLF\ttab\b\f",
    "é ü ñ 中文 🎉 \u2028\u2029 \ufeff",
    "\udcff lone surrogate",
    "?page=1&token=abc",
    "/a?b?c",
    "A" * 8192,
]
TRACE = TraceContext("4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7", 1)


def schema_of(**env):
    settings = load_settings(env={"GUNICORN_LOGGERS_SERVICE_VERSION": "1.2.3", **env})
    return settings, build_schema(settings)


def make_facts(rng: random.Random | None = None, **fields) -> AccessFacts:
    """Facts with every field set; ``rng`` picks hostile or absent values for each."""

    def text(none_ok: bool = True):
        if rng is None:
            return "x"
        if none_ok and rng.random() < 0.2:
            return None
        return rng.choice(HOSTILE) + rng.choice(HOSTILE)[:40]

    def number(values):
        return values[0] if rng is None else rng.choice(values)

    facts = AccessFacts()
    path = text(none_ok=False)
    before_query = path.replace("?", "%3F")  # a target's first "?" starts its query
    query = text()
    facts.time_ns = number([1_764_000_000_123_456_789, 0, 4_102_444_800_999_999_999])
    facts.pid = number([4321, 1, 2**22])
    facts.method = text(none_ok=False)
    facts.path = number([before_query, path, "/other"])
    facts.query = query
    facts.target = before_query if query is None else f"{before_query}?{query}"
    facts.protocol = number(["HTTP/1.1", "HTTP/1.0", "HTTP/2", "weird"])
    facts.scheme = number(["https", "http", None, ""])
    facts.host = number(["example.com:8000", "[::1]:443", "Example.COM", None, "", 'h"ost'])
    facts.status = number([200, 204, 301, 404, 499, 500, 503, 999])
    facts.body_bytes = number([1234, 0, None, 2**40])
    facts.duration_ns = number([3_512_000, 0, None])
    facts.peer_address = number(["127.0.0.1", "2001:db8::1", "unix:/run/g.sock", None, ""])
    facts.peer_port = number([54321, None, 0])
    facts.client_address = number(["203.0.113.7", "::1", "not an ip", None, ""])
    facts.user_agent = text()
    facts.referer = text()
    facts.user_name = text()
    facts.request_id = text()
    trace = number([TRACE, None, "header"])
    if trace == "header":  # as the collector keeps a valid version-00 header: the tuple is built when read
        facts.trace = None
        facts.traceparent = f"00-{rng.getrandbits(128):032x}-{rng.getrandbits(64):016x}-{rng.choice(['00', '01'])}"
    else:
        facts.trace = trace
    facts.request_headers = None
    facts.response_headers = None
    facts.level = number(["error" if facts.status >= 500 else "info", "warning", "debug"])
    facts.kept = number([None, Kept(0.05, "sampled"), Kept(1.0, "server_error"), Kept(1e-05, "sampled")])
    facts.timed_out = number([False, False, True])
    if facts.timed_out and rng is not None and rng.random() < 0.5:
        facts.status = facts.body_bytes = None  # no response: the worker was aborted
    for name, value in fields.items():
        setattr(facts, name, value)
    return facts


def assert_same_line(schema: EcsSchema, facts: AccessFacts) -> bytes:
    expected = encode_line(schema.access(facts))
    line = EcsAccessLine(schema).line(facts)
    assert line == expected
    assert isinstance(json.loads(line), dict)
    return line


def test_the_template_writes_the_dict_paths_bytes_on_random_hostile_facts():
    _, schema = schema_of()
    rng = random.Random(20261126)
    writer = EcsAccessLine(schema)  # one writer for all: its caches of escaped values are exercised too
    for _ in range(3000):
        facts = make_facts(rng)
        assert writer.line(facts) == encode_line(schema.access(facts))


#: Where each text field lands in the record (the host is split and lower-cased, so it is compared only as bytes).
FIELD_IN_RECORD = {
    "method": ("http", "request", "method"),
    "path": ("url", "path"),
    "target": ("url", "original"),
    "user_agent": ("user_agent", "original"),
    "referer": ("http", "request", "referrer"),
    "user_name": ("user", "name"),
    "request_id": ("http", "request", "id"),
    "scheme": ("url", "scheme"),
    "host": None,
}


@pytest.mark.parametrize("text", HOSTILE)
@pytest.mark.parametrize("field", FIELD_IN_RECORD)
def test_each_text_field_with_each_hostile_value(field, text):
    _, schema = schema_of()
    facts = make_facts(**{field: text})
    if field == "target":
        facts.query = None
        facts.target = text.replace("?", "%3F")
    record = json.loads(assert_same_line(schema, facts))
    keys = FIELD_IN_RECORD[field]
    if keys and text and "\udcff" not in text:  # a lone surrogate is written as the escape "\\udcff"
        for key in keys:
            record = record[key]
        assert record == getattr(facts, field)


@pytest.mark.parametrize(
    "fields",
    [
        {"body_bytes": 12.0},  # a size that is not an int: orjson's float, not Python's
        {"body_bytes": True},
        {"duration_ns": 1.5e16},
        {"request_headers": {"accept": ["*/*"]}},
        {"response_headers": {"content-type": ["text/html"]}},
        {"user_agent": "\udc80"},  # a lone surrogate: made safe by the dict path's encoder
        {"method": b"GET"},  # not text at all
        {"trace": None, "request_id": None, "referer": None, "user_agent": None, "user_name": None},
        {"peer_address": None, "client_address": None, "host": None, "scheme": None},
    ],
)
def test_values_the_template_cannot_write_take_the_dict_path(fields):
    _, schema = schema_of()
    assert_same_line(schema, make_facts(**fields))


def test_collected_from_hostile_requests():
    """Through the collector, as gunicorn hands requests over: WSGI strings, redaction, proxies."""
    settings, schema = schema_of(GUNICORN_LOGGERS_REQUEST_HEADERS="")
    collector = AccessFactsCollector(settings)
    response = type("Response", (), {"status": "200 OK", "sent": 10, "headers": []})()
    invalid_utf8 = b"/caf\xe9/\xff\xfe".decode("latin-1")
    environs = [
        {"PATH_INFO": "/", "RAW_URI": "/"},
        {"PATH_INFO": invalid_utf8, "RAW_URI": invalid_utf8 + "?q=%ff&password=hunter2", "QUERY_STRING": "q"},
        {"PATH_INFO": "/a b", "RAW_URI": "/a%20b?x=1"},
        {"PATH_INFO": "/x", "RAW_URI": "http://evil.example:81/x?token=t", "HTTP_HOST": "good.example"},
        {"PATH_INFO": "/app", "SCRIPT_NAME": "/mount", "RAW_URI": "/mount/app"},
        {
            "PATH_INFO": "/",
            "RAW_URI": "/",
            "HTTP_USER_AGENT": 'x", "forged": true',
            "HTTP_REFERER": "https://r.example/?access_token=z\r\n",
            "HTTP_X_REQUEST_ID": 'id"\\',
            "HTTP_TRACEPARENT": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "HTTP_AUTHORIZATION": "Basic YWxpY2U6czNjcjN0",
            "REMOTE_ADDR": "127.0.0.1",
            "REMOTE_PORT": "5000",
            "HTTP_X_FORWARDED_FOR": "203.0.113.7, 10.0.0.2",
            "wsgi.url_scheme": "https",
            "SERVER_PROTOCOL": "HTTP/1.1",
        },
        {"PATH_INFO": "/", "RAW_URI": "/", "HTTP_USER_AGENT": "U" * 8190, "HTTP_HOST": "h" * 300 + ":1"},
        {"PATH_INFO": "/x", "RAW_URI": "http://u:hunter2@evil.example/x?a=1#access_token=t", "HTTP_HOST": "good"},
        {"RAW_URI": "http://u:hunter2@evil.example/raise#id_token=t"},  # gunicorn's own 500: no PATH_INFO
        {"PATH_INFO": "/", "RAW_URI": "/#token=t&x=1", "HTTP_REFERER": "https://u:hunter2@r.example/#token=t"},
    ]
    for environ in environs:
        environ.setdefault("REQUEST_METHOD", "GET")
        facts = collector.collect(response, None, environ, datetime.timedelta(milliseconds=12))
        line = assert_same_line(schema, facts)
        assert b"hunter2" not in line and b"token=t" not in line


@pytest.mark.parametrize(
    "header",
    [
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00",
        "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",  # upper case: invalid
        "00-00000000000000000000000000000000-00f067aa0ba902b7-01",  # all-zero trace id: invalid
        "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",  # all-zero parent id: invalid
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-x",  # version 00 takes no more fields
        "cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-03-future",  # a later version: its first fields
        " 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01\t",  # blanks around it (OWS)
        'x", "forged": "',
    ],
)
def test_the_trace_read_from_a_kept_header_is_what_parsing_it_gives(header):
    settings, schema = schema_of()
    collector = AccessFactsCollector(settings)
    response = type("Response", (), {"status": "200 OK", "status_code": 200, "sent": 5})()
    environ = {"REQUEST_METHOD": "GET", "PATH_INFO": "/", "RAW_URI": "/", "HTTP_TRACEPARENT": header}
    facts = collector.collect(response, None, environ, datetime.timedelta(milliseconds=1))
    expected = parse_traceparent(header)
    record = json.loads(assert_same_line(schema, facts))
    assert record.get("trace") == (None if expected is None else {"id": expected.trace_id})
    assert facts.trace == expected  # what every other schema reads
    facts.trace = TRACE  # set later, it wins over the header kept
    assert json.loads(assert_same_line(schema, facts))["trace"] == {"id": TRACE.trace_id}


def test_the_logger_writes_with_the_template_only_where_nothing_needs_the_dict(tmp_path):
    from gunicorn.config import Config

    cfg = Config()
    cfg.set("accesslog", str(tmp_path / "access.log"))
    cfg.set("errorlog", str(tmp_path / "error.log"))

    class OwnAccess(EcsSchema):
        def access(self, facts):
            return {"mine": True}

    settings, schema = schema_of()
    assert ecs_access_line(schema, encode_line) is not None
    assert ecs_access_line(OwnAccess(settings), encode_line) is None  # an override is never bypassed
    assert ecs_access_line(schema, lambda record: b"{}\n") is None
    assert ecs_access_line(build_schema(load_settings(env={"GUNICORN_LOGGERS_SCHEMA": "gcp"})), encode_line) is None
    logger = JsonLogger(cfg)
    assert getattr(logger._access_line, "__self__", None).__class__ is EcsAccessLine
    structlog_logger = StructlogLogger(cfg)
    assert getattr(structlog_logger._access_line, "__self__", None) is None


def test_the_template_escapes_every_code_point_as_orjson_does():
    import orjson

    from gunicorn_loggers.ecs_access_line import quoted

    code_points = [c for c in range(0x110000) if not 0xD800 <= c < 0xE000]  # surrogates: the dict path's
    for start in range(0, len(code_points), 4096):
        chunk = "".join(map(chr, code_points[start : start + 4096]))
        assert quoted(chunk) == orjson.dumps(chunk).decode()
