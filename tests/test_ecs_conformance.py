"""Our ECS records checked field by field against the official ECS 9.4 definitions."""

import ipaddress
import re
from pathlib import Path

import pytest
import yaml

SPEC_DIR = Path(__file__).resolve().parent / "ecs_spec"

#: Our documented additions: header lists under http.request/response, extras of app records.
EXTENSIONS = re.compile(r"^http\.(request|response)\.headers\.")
RFC3339 = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,9})?Z$")


def load_definitions() -> tuple[dict[str, dict], dict[str, set[str]]]:
    assert len(list(SPEC_DIR.glob("*.yml"))) >= 20
    fields: dict[str, dict] = {}
    allowed: dict[str, set[str]] = {}
    for path in sorted(SPEC_DIR.glob("*.yml")):
        for fieldset in yaml.safe_load(path.read_text()) or ():
            prefix = "" if fieldset.get("root") else fieldset["name"] + "."
            for field in fieldset.get("fields", []):
                name = prefix + field["name"]
                fields[name] = field
                if "allowed_values" in field:
                    allowed[name] = {v["name"] for v in field["allowed_values"]}
    return fields, allowed


def leaves(record: dict, prefix: str = ""):
    for key, value in record.items():
        name = prefix + key
        if isinstance(value, dict) and value:
            yield from leaves(value, name + ".")
        else:
            yield name, value


def check_value(name: str, value, field: dict, allowed: dict[str, set[str]]) -> None:
    kind = field["type"]
    values = value if isinstance(value, list) else [value]
    if isinstance(value, list):
        assert "array" in field.get("normalize", []), f"{name} is a list but ECS does not normalise it to an array"
    for item in values:
        if kind in ("keyword", "wildcard", "match_only_text", "text", "constant_keyword"):
            assert isinstance(item, str), f"{name}={item!r} should be a string ({kind})"
        elif kind == "long":
            assert isinstance(item, int) and not isinstance(item, bool), f"{name}={item!r} should be an integer"
        elif kind == "ip":
            ipaddress.ip_address(item)
        elif kind == "date":
            assert RFC3339.match(item), f"{name}={item!r} is not an RFC 3339 UTC date"
        else:
            pytest.fail(f"{name}: type {kind} not checked by this test")
        if name in allowed:
            assert item in allowed[name], f"{name}={item!r} is not one of ECS's allowed values"


def assert_conforms(record: dict) -> None:
    fields, allowed = load_definitions()
    assert list(record)[:3] == ["@timestamp", "log.level", "message"]
    assert "ecs" in record and record["ecs"]["version"] == "9.4.0"
    for name, value in leaves(record):
        if EXTENSIONS.match(name):
            continue
        assert name in fields, f"{name} is not an ECS field"
        check_value(name, value, fields[name], allowed)


def test_access_records_conform(gunicorn):
    server = gunicorn(env={"GUNICORN_LOGGERS_SERVICE_VERSION": "1.2.3", "GUNICORN_LOGGERS_SERVICE_ENVIRONMENT": "prod"})
    server.request(
        "/x?y=1",
        headers={
            "User-Agent": "ua",
            "Referer": "http://ref/",
            "X-Request-ID": "rid",
            "Authorization": "Basic YWxpY2U6cHc=",
            "traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "X-Forwarded-For": "203.0.113.9",
        },
    )
    server.request("/status/500")
    for record in server.wait_for_access(2):
        assert_conforms(record)


def test_error_records_conform(gunicorn):
    server = gunicorn(env={"GUNICORN_LOGGERS_SERVICE_VERSION": "1.2.3"})
    server.request("/raise")
    server.wait_for_access(1)
    records = server.error_records()
    assert any("error" in r for r in records)
    for record in records:
        assert_conforms(record)
