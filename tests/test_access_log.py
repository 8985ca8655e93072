"""Access records from a real gunicorn, on every worker type that calls access()."""

import base64
import concurrent.futures

import pytest

TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"

WORKERS = {
    "sync": ((), "tests.apps:app"),
    "gthread": (("-k", "gthread", "--threads", "4"), "tests.apps:app"),
    "gevent": (("-k", "gevent"), "tests.apps:app"),
    "gevent_pywsgi": (("-k", "gevent_pywsgi"), "tests.apps:app"),
    "asgi": (("-k", "asgi"), "tests.apps:asgi_app"),
}


@pytest.mark.parametrize("worker", list(WORKERS))
def test_every_worker_type_writes_ecs_access_records(gunicorn, worker):
    args, app = WORKERS[worker]
    server = gunicorn(*args, app=app)
    status, _ = server.request(
        "/items?page=2", headers={"User-Agent": "pytest", "X-Request-ID": "abc-123", "traceparent": TRACEPARENT}
    )
    assert status == 200
    (record,) = server.wait_for_access(1)
    assert record["log.level"] == "info"
    assert record["message"] == "GET /items?page=2 200"
    assert record["http"]["request"]["method"] == "GET"
    assert record["http"]["request"]["id"] == "abc-123"
    assert record["http"]["response"]["status_code"] == 200
    assert record["http"]["version"] == "1.1"
    assert record["url"] == {
        **record["url"],
        "original": "/items?page=2",
        "path": "/items",
        "query": "page=2",
    }
    assert record["user_agent"]["original"] == "pytest"
    assert record["trace"]["id"] == "4bf92f3577b34da6a3ce929d0e0e4736"
    assert record["source"]["ip"] == "127.0.0.1"
    assert isinstance(record["event"]["duration"], int) and record["event"]["duration"] > 0
    assert record["ecs"]["version"]
    assert list(record)[:3] == ["@timestamp", "log.level", "message"]


def test_asgi_status_is_an_int_and_duration_comes_without_total_seconds(gunicorn):
    server = gunicorn("-k", "asgi", app="tests.apps:asgi_app")
    assert server.request("/created")[0] == 201
    (record,) = server.wait_for_access(1)
    assert record["http"]["response"]["status_code"] == 201
    assert record["event"]["duration"] > 0
    assert record["url"]["scheme"] == "http"  # its environ lacks wsgi.url_scheme: read from the request


def test_gthread_concurrent_requests_each_get_one_whole_line(gunicorn):
    server = gunicorn("-k", "gthread", "--threads", "8")
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        statuses = list(pool.map(lambda i: server.request(f"/n/{i}", headers={"X-Request-ID": f"r{i}"})[0], range(200)))
    assert statuses == [200] * 200
    records = server.wait_for_access(200)
    assert len(records) == 200
    assert sorted(r["http"]["request"]["id"] for r in records) == sorted(f"r{i}" for i in range(200))
    assert all(r["url"]["path"] == "/n/" + r["http"]["request"]["id"][1:] for r in records)


def test_otel_schema_is_an_otlp_json_logs_request(gunicorn):
    server = gunicorn(env={"GUNICORN_LOGGERS_SCHEMA": "otel", "GUNICORN_LOGGERS_SERVICE_NAME": "shop"})
    server.request("/items?token=t0p", method="PURGE", headers={"traceparent": TRACEPARENT})
    (line,) = server.wait_for_access(1)
    (resource_logs,) = line["resourceLogs"]
    resource = {kv["key"]: kv["value"] for kv in resource_logs["resource"]["attributes"]}
    assert resource["service.name"] == {"stringValue": "shop"}
    assert "intValue" in resource["process.pid"]
    (scope_logs,) = resource_logs["scopeLogs"]
    assert scope_logs["scope"]["name"] == "gunicorn.access"
    (record,) = scope_logs["logRecords"]
    assert record["severityNumber"] == 9 and record["severityText"] == "INFO"
    assert record["traceId"] == "4bf92f3577b34da6a3ce929d0e0e4736" and record["flags"] == 1
    assert record["timeUnixNano"].isdigit()
    attributes = {kv["key"]: kv["value"] for kv in record["attributes"]}
    assert attributes["http.request.method"] == {"stringValue": "_OTHER"}
    assert attributes["http.request.method_original"] == {"stringValue": "PURGE"}
    assert attributes["http.response.status_code"] == {"intValue": "200"}
    assert attributes["url.path"] == {"stringValue": "/items"}
    assert attributes["url.query"] == {"stringValue": "token=REDACTED"}
    assert attributes["network.protocol.version"] == {"stringValue": "1.1"}
    assert attributes["client.address"] == {"stringValue": "127.0.0.1"}


def test_gcp_schema_has_http_request_latency_and_trace(gunicorn):
    server = gunicorn(env={"GUNICORN_LOGGERS_SCHEMA": "gcp", "GUNICORN_LOGGERS_GCP_PROJECT": "my-proj"})
    server.request("/status/503", headers={"traceparent": TRACEPARENT, "User-Agent": "ua"})
    (record,) = server.wait_for_access(1)
    assert record["severity"] == "ERROR"
    http = record["httpRequest"]
    assert http["status"] == 503 and http["requestMethod"] == "GET"
    assert http["requestUrl"] == f"http://127.0.0.1:{server.port}/status/503"
    assert http["latency"].endswith("s") and float(http["latency"][:-1]) > 0
    assert http["responseSize"] == "7" and http["protocol"] == "HTTP/1.1" and http["userAgent"] == "ua"
    assert record["logging.googleapis.com/trace"] == "projects/my-proj/traces/4bf92f3577b34da6a3ce929d0e0e4736"
    assert record["logging.googleapis.com/spanId"] == "00f067aa0ba902b7"
    assert record["logging.googleapis.com/trace_sampled"] is True


def test_flat_schema_uses_gunicorn_atom_meanings(gunicorn):
    server = gunicorn(env={"GUNICORN_LOGGERS_SCHEMA": "flat"})
    auth = base64.b64encode(b"alice:pw").decode()
    server.request("/a/b?x=1", headers={"Authorization": f"Basic {auth}", "Referer": "http://r/"})
    (record,) = server.wait_for_access(1)
    assert record["remote_addr"] == "127.0.0.1"
    assert record["request"] == "GET /a/b?x=1 HTTP/1.1"
    assert record["status"] == 200 and record["bytes"] == 6
    assert record["user"] == "alice" and record["referer"] == "http://r/"
    assert record["path"] == "/a/b" and record["query"] == "x=1" and record["method"] == "GET"
    assert isinstance(record["duration_us"], int)


def test_secrets_never_appear_in_clear(gunicorn):
    server = gunicorn(
        env={
            "GUNICORN_LOGGERS_REQUEST_HEADERS": "authorization,cookie,accept",
            "GUNICORN_LOGGERS_RESPONSE_HEADERS": "set-cookie",
        }
    )
    server.request(
        "/p?access_token=SECRET1&Password=SECRET2&keep=visible&api%5Fkey=SECRET3",
        headers={
            "Authorization": "Bearer SECRET4",
            "Proxy-Authorization": "Basic U0VDUkVUNQ==",
            "Cookie": "sid=SECRET6",
            "Accept": "text/plain",
            "Referer": "http://example.com/?token=SECRET7",
        },
    )
    server.wait_for_access(1)
    text = server.access_path.read_text() + server.error_path.read_text()
    for n in range(1, 8):
        assert f"SECRET{n}" not in text
    assert "supersecret" not in text  # the Set-Cookie the app sent
    (record,) = server.access_records()
    assert record["url"]["query"] == "access_token=REDACTED&Password=REDACTED&keep=visible&api%5Fkey=REDACTED"
    assert record["http"]["request"]["headers"] == {
        "authorization": ["REDACTED"],
        "cookie": ["REDACTED"],
        "accept": ["text/plain"],
    }
    assert record["http"]["response"]["headers"] == {"set-cookie": ["REDACTED"]}


def test_redaction_lists_are_configurable(gunicorn):
    server = gunicorn(env={"GUNICORN_LOGGERS_REDACT_QUERY": "default,session"})
    server.request("/p?session=s1&token=t1&other=o1")
    (record,) = server.wait_for_access(1)
    assert record["url"]["query"] == "session=REDACTED&token=REDACTED&other=o1"


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (TRACEPARENT, "4bf92f3577b34da6a3ce929d0e0e4736"),
        ("00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01", None),  # upper case
        ("00-00000000000000000000000000000000-00f067aa0ba902b7-01", None),  # all-zero trace id
        ("ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", None),  # version ff
        ("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra", None),  # v00 with more
        ("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra", "4bf92f3577b34da6a3ce929d0e0e4736"),
        ("garbage", None),
    ],
)
def test_traceparent_is_taken_only_when_valid(gunicorn, header, expected):
    server = gunicorn()
    server.request("/", headers={"traceparent": header})
    (record,) = server.wait_for_access(1)
    assert record.get("trace", {}).get("id") == expected


def test_request_id_header_name_is_configurable(gunicorn):
    server = gunicorn(env={"GUNICORN_LOGGERS_REQUEST_ID_HEADER": "X-Correlation-ID"})
    server.request("/", headers={"X-Correlation-ID": "corr-1", "X-Request-ID": "not-this"})
    (record,) = server.wait_for_access(1)
    assert record["http"]["request"]["id"] == "corr-1"


def test_x_forwarded_for_is_believed_only_from_trusted_proxies(gunicorn):
    trusted = gunicorn()  # gunicorn trusts 127.0.0.1 by default
    trusted.request("/", headers={"X-Forwarded-For": "203.0.113.7, 127.0.0.1"})
    (record,) = trusted.wait_for_access(1)
    assert record["client"]["ip"] == "203.0.113.7"
    assert record["source"]["ip"] == "127.0.0.1"

    untrusted = gunicorn("--forwarded-allow-ips", "10.9.9.9")
    untrusted.request("/", headers={"X-Forwarded-For": "203.0.113.7"})
    (record,) = untrusted.wait_for_access(1)
    assert record["client"]["ip"] == "127.0.0.1"


@pytest.mark.parametrize(
    ("forwarded", "client"),
    [
        ("203.0.113.7:5000", "203.0.113.7"),  # Azure's front ends add the client's port
        ("[2001:db8::1]:443", "2001:db8::1"),
        ("[2001:db8::1]", "2001:db8::1"),
        ("198.51.100.1, 203.0.113.7:5000", "203.0.113.7"),
        ("client.example:80", "127.0.0.1"),  # not an address: the walk ends at the proxy
        ("203.0.113.7:http", "127.0.0.1"),
    ],
)
def test_x_forwarded_for_entries_with_a_port_count_as_their_address(gunicorn, forwarded, client):
    server = gunicorn()
    server.request("/", headers={"X-Forwarded-For": forwarded})
    (record,) = server.wait_for_access(1)
    assert record["client"]["address"] == client


def test_forged_hops_left_of_a_trusted_proxy_do_not_win(gunicorn):
    server = gunicorn()
    # The client forged "198.51.100.1"; the trusted proxy appended the real client 203.0.113.7.
    server.request("/", headers={"X-Forwarded-For": "198.51.100.1, 203.0.113.7"})
    (record,) = server.wait_for_access(1)
    assert record["client"]["ip"] == "203.0.113.7"


def test_no_access_logfile_means_no_access_records(gunicorn):
    server = gunicorn(access_log=False)
    server.request("/")
    server.request("/")
    assert not server.access_path.exists()
    assert all(r["log"]["logger"] != "gunicorn.access" for r in server.error_records())


def test_uvicorn_worker_access_lines_become_access_records(gunicorn):
    """uvicorn's worker never calls access(); its own access line is turned into the same schema."""
    server = gunicorn("-k", "uvicorn_worker.UvicornWorker", app="tests.framework_apps:starlette_app")
    server.request("/ctx?token=abc&x=1", headers={"X-Request-ID": "uv-1"})
    (record,) = server.wait_for_access(1)
    assert record["log"]["logger"] == "gunicorn.access" or record["event"]["dataset"] == "gunicorn.access"
    assert record["http"]["request"]["method"] == "GET"
    assert record["http"]["response"]["status_code"] == 200
    assert record["url"]["path"] == "/ctx" and record["url"]["query"] == "token=REDACTED&x=1"
    assert record["source"]["ip"] == "127.0.0.1" and isinstance(record["source"]["port"], int)
    assert record["http"]["version"] == "1.1"
