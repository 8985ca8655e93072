"""OtlpLogger: a real gunicorn exporting OTLP/HTTP JSON to a collector that decodes it with opentelemetry-proto."""

from __future__ import annotations

import json
import time

import pytest

from tests.gunicorn_process import REPO
from tests.receivers import Answer, HttpReceiver, NetworkGunicorn, any_value, wait_until

LOGGER = "gunicorn_loggers.OtlpLogger"
TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
TRACEPARENT = f"00-{TRACE_ID}-00f067aa0ba902b7-01"


@pytest.fixture
def server(network_gunicorn):
    def start(receiver, *args, env=None, **kwargs) -> NetworkGunicorn:
        environment = dict(env or {})
        if receiver is not None and not any(k.endswith("_ENDPOINT") for k in environment):
            environment["OTEL_EXPORTER_OTLP_ENDPOINT"] = f"http://127.0.0.1:{receiver.port}"
        return network_gunicorn(*args, receiver=receiver, logger_class=LOGGER, env=environment, **kwargs)

    return start


def attributes_of(record) -> dict:
    return {kv.key: any_value(kv.value) for kv in record.attributes}


def test_records_decode_with_opentelemetry_proto_batched_by_scope_under_one_resource(server):
    env = {
        "OTEL_SERVICE_NAME": "shop",
        "OTEL_RESOURCE_ATTRIBUTES": "deployment.environment.name=prod,team=web%20core,service.name=ignored",
        "OTEL_EXPORTER_OTLP_HEADERS": "authorization=Bearer%20otlp-t0ken,x-tenant=acme",
    }
    with HttpReceiver("otlp", require={"Authorization": "Bearer otlp-t0ken", "X-Tenant": "acme"}) as receiver:
        gunicorn = server(receiver, "-k", "gthread", "--threads", "4", env=env)
        gunicorn.request("/traced", headers={"traceparent": TRACEPARENT, "User-Agent": "pytest"})
        gunicorn.request("/status/503")
        for n in range(20):
            gunicorn.request(f"/n/{n}")
        gunicorn.request("/log")
        wait_until(lambda: len(receiver.otlp_access_paths()) >= 23, what="access records")
        wait_until(lambda: "app says hello" in receiver.text(), what="the app's record")
        gunicorn.stop()
    assert receiver.errors == []
    entries = {e["record"].body.string_value: e for e in receiver.entries}
    traced = next(e for e in receiver.entries if attributes_of(e["record"]).get("url.path") == "/traced")
    record = traced["record"]
    assert traced["scope"] == "gunicorn.access"
    assert record.severity_number == 9 and record.severity_text == "INFO"
    assert record.trace_id == bytes.fromhex(TRACE_ID) and record.flags == 1
    assert record.time_unix_nano > 1.7e18
    attributes = attributes_of(record)
    assert attributes["http.request.method"] == "GET" and attributes["http.response.status_code"] == 200
    assert attributes["user_agent.original"] == "pytest"
    assert traced["resource"]["service.name"] == "shop"  # OTEL_SERVICE_NAME wins over the attribute
    assert traced["resource"]["deployment.environment.name"] == "prod"
    assert traced["resource"]["team"] == "web core"
    failed = next(e for e in receiver.entries if attributes_of(e["record"]).get("url.path") == "/status/503")
    assert failed["record"].severity_number == 17
    hello = entries["app says hello"]
    assert hello["scope"] == "tests.app" and hello["record"].severity_number == 13
    # batched: fewer requests than records, and within one request each scope appears once per resource
    assert len(receiver.requests) < len(receiver.entries)
    reports = gunicorn.balanced_exit_stats()
    assert all(r["dropped"] == 0 for r in reports)
    for secret in ("otlp-t0ken", "Bearer"):
        assert secret not in gunicorn.all_output() + gunicorn.stderr_path.read_text()


def test_one_request_merges_records_by_resource_and_scope():
    from gunicorn_loggers.framing.otlp import OtlpRecordEncoder
    from gunicorn_loggers.schemas.otlp_json import log_record, logs_request
    from gunicorn_loggers.transports.http_bodies import OtlpFormat

    resource = {"service.name": "shop", "process.pid": 7}
    encoder = OtlpRecordEncoder()
    frames = [
        encoder.encode(
            "error", "info", n, logs_request(resource, scope, [log_record(n, "info", f"m{n}", {"n": n})]), None
        )
        for n, scope in enumerate(["gunicorn.access", "gunicorn.error", "gunicorn.access", "app"])
    ]
    body = json.loads(OtlpFormat({"host.name": "h"}).body(frames))
    assert len(body["resourceLogs"]) == 1
    scopes = body["resourceLogs"][0]["scopeLogs"]
    assert [s["scope"]["name"] for s in scopes] == ["gunicorn.access", "gunicorn.error", "app"]
    assert [r["body"]["stringValue"] for r in scopes[0]["logRecords"]] == ["m0", "m2"]
    keys = [kv["key"] for kv in body["resourceLogs"][0]["resource"]["attributes"]]
    assert keys == ["service.name", "process.pid", "host.name"]
    assert scopes[0]["logRecords"][1]["timeUnixNano"] == "2"


def test_records_are_merged_by_resource_and_scope_whatever_their_text_holds():
    """Messages that look like the request's own structure change nothing: the grouping is by the
    records' resource and scope objects, never by their bytes. A processor's copy of a resource
    (a new dict, the same attributes) lands in the same group as the original."""
    import copy

    from gunicorn_loggers.framing.otlp import OtlpRecordEncoder
    from gunicorn_loggers.schemas.otlp_json import log_record, logs_request
    from gunicorn_loggers.transports.http_bodies import OtlpFormat

    encoder = OtlpRecordEncoder()

    def frame(n, scope, pid, copied=False):
        record = log_record(n, "warning", f'm{n} ,"scopeLogs":[{{"scope": ]}}]}}]}}', {"n": n}, trace_id="ab" * 16)
        request = logs_request({"service.name": "shop", "process.pid": pid}, scope, [record])
        return encoder.encode("error", "warning", n, copy.deepcopy(request) if copied else request, None)

    first = [frame(n, s, p) for n, (s, p) in enumerate([("a", 1), ("b", 1), ("a", 2), ("a", 1)])]
    copies = [frame(n, s, p, copied=True) for n, (s, p) in enumerate([("a", 1), ("b", 1)])]
    for otlp in (OtlpFormat(), OtlpFormat({"host.name": "h"}, {"service.name": "over"})):
        merged = json.loads(otlp.body(first + copies))
        by_pid = {}
        for resource_logs in merged["resourceLogs"]:
            attributes = {kv["key"]: kv["value"] for kv in resource_logs["resource"]["attributes"]}
            by_pid[attributes["process.pid"]["intValue"]] = resource_logs
            assert attributes.get("host.name", {"stringValue": "h"}) == {"stringValue": "h"}
        assert sorted(by_pid) == ["1", "2"]
        scopes = {s["scope"]["name"]: s["logRecords"] for s in by_pid["1"]["scopeLogs"]}
        assert [r["timeUnixNano"] for r in scopes["a"]] == ["0", "3", "0"]
        assert [r["timeUnixNano"] for r in scopes["b"]] == ["1", "1"]
        assert scopes["a"][0]["body"]["stringValue"].startswith('m0 ,"scopeLogs"')


def test_logs_endpoint_is_used_as_it_is(server):
    with HttpReceiver("otlp", path="/custom/logs/path") as receiver:
        env = {"OTEL_EXPORTER_OTLP_LOGS_ENDPOINT": f"http://127.0.0.1:{receiver.port}/custom/logs/path"}
        gunicorn = server(receiver, env=env)
        gunicorn.request("/here")
        wait_until(lambda: "/here" in receiver.otlp_access_paths(), what="the record")
    assert receiver.errors == []


def test_partial_success_is_counted_rejected_and_never_sent_again(server):
    with HttpReceiver("otlp") as receiver:
        gunicorn = server(receiver)
        time.sleep(0.3)
        partial = {"partialSuccess": {"rejectedLogRecords": "1", "errorMessage": "record too old"}}
        receiver.answers = [Answer(200, json.dumps(partial).encode(), {"Content-Type": "application/json"})]
        before = len(receiver.requests)
        gunicorn.request("/half-taken")
        wait_until(lambda: len(receiver.requests) > before, what="the export")
        gunicorn.request("/after")
        wait_until(lambda: "/after" in receiver.otlp_access_paths(), what="the next export")
        gunicorn.stop()
    assert "/half-taken" not in receiver.otlp_access_paths()  # answered, not stored, by the receiver
    worker = max(gunicorn.balanced_exit_stats(), key=lambda s: s["produced"])
    assert worker["dropped_rejected"] == 1 and worker["dropped"] == 1
    assert any("OTLP partial success: record too old" in r["message"] for r in gunicorn.delivery_reports())


@pytest.mark.parametrize(
    ("status", "retried"), [(429, True), (502, True), (503, True), (504, True), (500, False), (400, False)]
)
def test_only_429_502_503_504_are_retried(server, status, retried):
    with HttpReceiver("otlp") as receiver:
        answered = []

        def policy(number, body):  # the export carrying /once gets the status, once
            if b"/once" in body and not answered:
                answered.append(number)
                return Answer(status, b"{}", {"Content-Type": "application/json", "Retry-After": "0"})
            return None

        receiver.policy = policy
        gunicorn = server(receiver)
        gunicorn.request("/once")
        if retried:
            wait_until(lambda: "/once" in receiver.otlp_access_paths(), timeout=10, what="the retried record")
        else:
            wait_until(lambda: answered, what="the refused export")
            time.sleep(0.5)
        gunicorn.stop()
    assert ("/once" in receiver.otlp_access_paths()) == retried
    rejected = sum(r["dropped_rejected"] for r in gunicorn.balanced_exit_stats())
    assert rejected == 0 if retried else rejected >= 1  # the whole export, /once and what shared it


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_the_receiver_agrees_with_the_official_opentelemetry_exporter():
    """Cross-check of the test receiver: the OpenTelemetry SDK's own exporter (protobuf) decodes alike."""
    from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter

    try:
        from opentelemetry.sdk._logs import LoggerProvider
        from opentelemetry.sdk._logs.export import SimpleLogRecordProcessor
    except ImportError:  # pragma: no cover
        pytest.skip("opentelemetry-sdk without the logs API")
    from opentelemetry.sdk.resources import Resource

    with HttpReceiver("otlp") as receiver:
        provider = LoggerProvider(resource=Resource.create({"service.name": "oracle"}))
        provider.add_log_record_processor(SimpleLogRecordProcessor(OTLPLogExporter(endpoint=receiver.url)))
        import logging

        from opentelemetry.sdk._logs import LoggingHandler

        log = logging.getLogger("oracle.test")
        log.propagate = False
        handler = LoggingHandler(logger_provider=provider)
        log.addHandler(handler)
        log.setLevel(logging.INFO)
        log.info("from the official exporter", extra={"answer": 42})
        provider.shutdown()
        log.removeHandler(handler)
    assert receiver.errors == []
    assert receiver.requests[0]["headers"]["content-type"] == "application/x-protobuf"
    [entry] = receiver.entries
    assert entry["record"].body.string_value == "from the official exporter"
    assert entry["record"].severity_number == 9 and entry["record"].severity_text == "INFO"
    assert attributes_of(entry["record"])["answer"] == 42
    assert entry["resource"]["service.name"] == "oracle"
    assert entry["scope"] == "oracle.test"


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"GUNICORN_LOGGERS_SCHEMA": "ecs"}, "OtlpLogger sends the otel schema"),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "grpc://u:s3cr3t@h:4317"}, "does not start with http:// or https://"),
        ({"OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"}, "OtlpLogger speaks OTLP/HTTP"),
        ({"OTEL_EXPORTER_OTLP_COMPRESSION": "zstd"}, "is not one of: gzip, none"),
        ({"OTEL_EXPORTER_OTLP_HEADERS": "bad header=s3cr3t"}, "OTEL_EXPORTER_OTLP_HEADERS: item 1"),
    ],
)
def test_bad_settings_stop_gunicorn_with_one_line(tmp_path, env, expected):
    process = NetworkGunicorn(tmp_path, logger_class=LOGGER, env=env)
    output = process.refusal()
    assert expected in output and "s3cr3t" not in output


def test_conf_otlp_sends_everything_to_the_endpoint(tmp_path):
    with HttpReceiver("otlp") as receiver:
        gunicorn = NetworkGunicorn(
            tmp_path,
            "-c",
            str(REPO / "conf" / "otlp.py"),
            receiver=receiver,
            logger_class=None,
            access_log=False,
            error_log=False,
            env={"OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{receiver.port}/"},
        )
        with gunicorn:
            gunicorn.request("/from-conf")
            wait_until(lambda: "/from-conf" in receiver.otlp_access_paths(), what="the access record")
        assert receiver.errors == []


def test_an_environment_shared_with_an_http_logger_in_bulk_format_starts_and_warns(server):
    """HTTP_FORMAT and BULK_INDEX are HttpLogger's: OtlpLogger ignores them with one warning, as any logger
    ignores another's options, and sends OTLP as ever."""
    env = {"GUNICORN_LOGGERS_HTTP_FORMAT": "bulk", "GUNICORN_LOGGERS_BULK_INDEX": "logs-shop-default"}
    with HttpReceiver("otlp") as receiver:
        gunicorn = server(receiver, env=env)
        assert gunicorn.request("/shared")[0] == 200
        wait_until(lambda: "/shared" in receiver.otlp_access_paths(), what="the access record")
        wait_until(lambda: "is ignored by OtlpLogger" in receiver.text(), what="the warning")
        gunicorn.stop()
    (warning,) = [line for line in receiver.text().splitlines() if "is ignored by OtlpLogger" in line]
    assert warning == (
        "GUNICORN_LOGGERS_HTTP_FORMAT is ignored by OtlpLogger: it is an option of HttpLogger; "
        "GUNICORN_LOGGERS_BULK_INDEX is ignored by OtlpLogger: it is an option of HttpLogger"
    )
    assert receiver.errors == []
