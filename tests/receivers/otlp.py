"""OTLP as the HTTP collector decodes it: OTLP/JSON checked and made readable by ``json_format``, AnyValue as Python."""

from __future__ import annotations

import base64
import re as re_module

HEX = re_module.compile(r"^[0-9a-f]*$")


def _hex_to_base64(value: str, size: int, what: str) -> str:
    assert isinstance(value, str) and HEX.match(value) and len(value) == 2 * size, f"{what} is not {size} hex bytes"
    return base64.b64encode(bytes.fromhex(value)).decode("ascii")


def otlp_json_to_proto3_json(data: dict) -> dict:
    """OTLP/JSON to what ``json_format`` reads: hex ids become base64; everything else checked as is.

    Also enforces the OTLP/JSON rules json_format would let pass: enums as integers,
    64-bit integers as strings, ids as lowercase hex of the right length.
    """
    assert set(data) <= {"resourceLogs"}, data.keys()
    for resource_logs in data.get("resourceLogs", []):
        for scope_logs in resource_logs.get("scopeLogs", []):
            for record in scope_logs.get("logRecords", []):
                for key in ("timeUnixNano", "observedTimeUnixNano"):
                    if key in record:
                        assert isinstance(record[key], str) and record[key].isdigit(), f"{key}={record[key]!r}"
                if "severityNumber" in record:
                    assert isinstance(record["severityNumber"], int), "severityNumber must be an integer"
                if "traceId" in record:
                    record["traceId"] = _hex_to_base64(record["traceId"], 16, "traceId")
                if "spanId" in record:
                    record["spanId"] = _hex_to_base64(record["spanId"], 8, "spanId")
                _check_int_values(record.get("attributes", []))
        _check_int_values(resource_logs.get("resource", {}).get("attributes", []))
    return data


def _check_int_values(values) -> None:
    for kv in values:
        value = kv.get("value", {})
        if "intValue" in value:
            assert isinstance(value["intValue"], str), f"intValue of {kv['key']} must be a string"
        for inner in value.get("kvlistValue", {}).get("values", []):
            _check_int_values([inner])


def any_value(value):
    """A decoded protobuf AnyValue as a Python value."""
    kind = value.WhichOneof("value")
    if kind is None:
        return None
    if kind == "array_value":
        return [any_value(v) for v in value.array_value.values]
    if kind == "kvlist_value":
        return {kv.key: any_value(kv.value) for kv in value.kvlist_value.values}
    return getattr(value, kind)
