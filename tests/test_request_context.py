"""Every app log line written while a request is handled carries that request's ids."""

import concurrent.futures
import http.client
import socket
import uuid

import pytest

from gunicorn_loggers.request_context import new_request_id
from tests.gunicorn_process import REPO

CONF = ("-c", str(REPO / "conf" / "json.py"))
TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
TRACEPARENT = f"00-{TRACE}-00f067aa0ba902b7-01"

WORKERS = {
    "sync": (),
    "gthread": ("-k", "gthread", "--threads", "8"),
    "gevent": ("-k", "gevent", "--worker-connections", "50"),
}


def app_records(server, message="inside the request"):
    return [r for r in server.error_records() if r["message"] == message]


def get(server, path, headers):
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    try:
        connection.request("GET", path, headers=headers)
        response = connection.getresponse()
        response.read()
        return response.status, response.getheader("X-Request-ID")
    finally:
        connection.close()


@pytest.mark.parametrize("worker", list(WORKERS))
def test_concurrent_requests_never_share_ids(gunicorn, worker):
    server = gunicorn(*CONF, *WORKERS[worker], logger_class=None)
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda n: get(server, "/ctx", {"X-Request-ID": f"req-{n}"}), range(80)))
    assert answers == [(200, f"req-{n}") for n in range(80)]
    records = server.wait_for(lambda: len(app_records(server)) >= 80 and app_records(server), what="app records")
    assert len(records) == 80
    for record in records:
        assert record["http"]["request"]["id"] == record["sent_id"]
    access = server.wait_for_access(80)
    assert sorted(r["http"]["request"]["id"] for r in access) == sorted(f"req-{n}" for n in range(80))


def test_generated_ids_are_distinct_random_uuids():
    """Version 4, RFC 9562 variant, lower-case hex without dashes: what ``uuid.uuid4().hex`` gives."""
    ids = [new_request_id() for _ in range(20_000)]
    assert len(set(ids)) == len(ids)
    for request_id in ids:
        parsed = uuid.UUID(request_id)
        assert parsed.hex == request_id and parsed.version == 4 and parsed.variant == uuid.RFC_4122
    assert {request_id[16] for request_id in ids} == set("89ab")  # every variant digit occurs


@pytest.mark.parametrize("sent", [None, "has spaces, so it is refused"])
def test_generated_id_is_returned_and_shared_with_the_access_record(gunicorn, sent):
    server = gunicorn(*CONF, logger_class=None)
    headers = {"traceparent": TRACEPARENT} | ({"X-Request-ID": sent} if sent else {})
    status, returned = get(server, "/ctx", headers)
    assert status == 200 and uuid.UUID(returned).hex == returned and uuid.UUID(returned).version == 4
    (record,) = server.wait_for(lambda: app_records(server))
    (access,) = server.wait_for_access(1)
    assert record["http"]["request"]["id"] == returned == access["http"]["request"]["id"]
    assert record["trace"]["id"] == TRACE == access["trace"]["id"]


def test_streaming_body_lines_keep_the_context_and_nothing_leaks_after(gunicorn):
    server = gunicorn(*CONF, "-k", "gthread", "--threads", "1", logger_class=None)
    get(server, "/stream", {"X-Request-ID": "streamed"})
    get(server, "/log", {})  # same thread, no id sent: a new id, never "streamed"
    chunks = server.wait_for(
        lambda: len(app_records(server, "streaming chunk 2")) == 1 and app_records(server, "streaming chunk 2")
    )
    assert chunks[0]["http"]["request"]["id"] == "streamed"
    later = server.wait_for(lambda: app_records(server, "app says hello"))
    assert later[0]["http"]["request"]["id"] not in ("streamed", None)
    server.stop()
    exiting = [r for r in server.error_records() if r["message"].startswith("Worker exiting")]
    assert exiting and all("http" not in r for r in exiting)


def test_one_line_wrapper_without_the_conf_file(gunicorn):
    server = gunicorn(app="tests.apps:wrapped_app")
    get(server, "/ctx", {"X-Request-ID": "wrapped-1"})
    (record,) = server.wait_for(lambda: app_records(server))
    assert record["http"]["request"]["id"] == "wrapped-1"


def test_asgi_worker_gets_the_context_too(gunicorn):
    server = gunicorn(*CONF, "-k", "asgi", app="tests.apps:asgi_app", logger_class=None)
    status, returned = get(server, "/ctx", {})
    assert status == 200 and returned
    (record,) = server.wait_for(lambda: app_records(server))
    (access,) = server.wait_for_access(1)
    assert record["http"]["request"]["id"] == returned == access["http"]["request"]["id"]


@pytest.mark.parametrize("worker", list(WORKERS))
@pytest.mark.parametrize("sent", [None, "failed-1"])
def test_a_request_the_app_fails_keeps_its_ids_in_the_traceback_and_the_500(gunicorn, worker, sent):
    """gunicorn logs the traceback and the 500 after the middleware let go; both still name the request."""
    server = gunicorn(*CONF, *WORKERS[worker], logger_class=None)
    headers = {"traceparent": TRACEPARENT, "User-Agent": "probe/1"} | ({"X-Request-ID": sent} if sent else {})
    assert get(server, "/raise", headers)[0] == 500
    (access,) = server.wait_for_access(1)
    (error,) = server.wait_for(lambda: [r for r in server.error_records() if r.get("error")], what="the traceback")
    assert error["error"]["type"] == "ValueError" and error["message"].startswith("Error handling request")
    request_id = access["http"]["request"]["id"]
    assert request_id == error["http"]["request"]["id"] == (sent or request_id) and len(request_id) >= 8
    assert access["trace"]["id"] == error["trace"]["id"] == TRACE
    assert access["http"]["response"]["status_code"] == 500 and access["user_agent"]["original"] == "probe/1"
    get(server, "/log", {})  # the next request on the same worker gets ids of its own
    (later,) = server.wait_for(lambda: app_records(server, "app says hello"))
    assert later["http"]["request"]["id"] != request_id and "trace" not in later


def test_the_500_of_a_failing_app_keeps_the_request_headers_without_the_middleware(gunicorn):
    """gunicorn's own 500 is logged with an environ of method and target: the headers come from the request."""
    server = gunicorn(env={"GUNICORN_LOGGERS_REQUEST_HEADERS": "accept"})
    headers = {
        "X-Request-ID": "plain-1", "traceparent": TRACEPARENT, "User-Agent": "probe/2", "Accept": "a/b",
        "Referer": "https://shop.example/list?token=s3cret", "X-Forwarded-For": "203.0.113.9",
        "Host": "shop.example:8443", "Authorization": "Basic YWxpY2U6czNjcjN0",
    }  # fmt: skip
    assert get(server, "/raise?token=s3cret&page=2", headers)[0] == 500
    (access,) = server.wait_for_access(1)
    assert access["http"]["request"]["id"] == "plain-1" and access["trace"]["id"] == TRACE
    assert access["user_agent"]["original"] == "probe/2" and access["user"]["name"] == "alice"
    assert access["http"]["request"]["referrer"] == "https://shop.example/list?token=REDACTED"
    assert access["http"]["request"]["headers"] == {"accept": ["a/b"]}
    assert access["client"]["ip"] == "203.0.113.9"  # the peer is a trusted proxy (127.0.0.1)
    assert access["url"]["domain"] == "shop.example" and access["url"]["port"] == 8443
    assert access["url"]["query"] == "token=REDACTED&page=2" and access["url"]["path"] == "/raise"
    assert "s3cret" not in server.stdout_path.read_text() + server.stderr_path.read_text()


def test_a_request_gunicorn_refuses_after_its_headers_keeps_them_in_its_access_record(gunicorn):
    server = gunicorn()
    raw = b"GET /c HTTP/1.1\r\nHost: h.example\r\nUser-Agent: probe/3\r\nX-Request-ID: refused-1\r\n"
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as connection:
        connection.sendall(raw + b"Transfer-Encoding: gzip\r\n\r\n")  # gunicorn answers 400 itself
        assert connection.recv(100).startswith(b"HTTP/1.1 400")
    (access,) = server.wait_for_access(1)
    assert access["http"]["response"]["status_code"] == 400 and access["http"]["request"]["id"] == "refused-1"
    assert access["user_agent"]["original"] == "probe/3" and access["url"]["domain"] == "h.example"


@pytest.mark.parametrize("worker", ["uvicorn_worker.UvicornWorker", "asgi"])
def test_an_asgi_app_that_raises_keeps_its_ids_in_the_traceback_and_the_500(gunicorn, worker):
    server = gunicorn(*CONF, "-k", worker, app="tests.apps:asgi_app", logger_class=None)
    assert get(server, "/raise", {"X-Request-ID": "asgi-failed", "traceparent": TRACEPARENT})[0] == 500
    (access,) = server.wait_for_access(1)
    assert access["http"]["response"]["status_code"] == 500
    assert access["http"]["request"]["id"] == "asgi-failed" and access["trace"]["id"] == TRACE
    (error,) = server.wait_for(lambda: [r for r in server.error_records() if r.get("error")], what="the traceback")
    assert error["error"]["type"] == "ValueError" and error["http"]["request"]["id"] == "asgi-failed"
