"""HttpLogger: a real gunicorn POSTing NDJSON, Loki pushes and _bulk requests to strict loopback collectors."""

from __future__ import annotations

import json
import time

import pytest

from gunicorn_loggers.frames import Frame
from tests.gunicorn_process import REPO
from tests.receivers import (
    Answer,
    HttpReceiver,
    NetworkGunicorn,
    make_certificates,
    server_tls,
    url_logger,
    wait_until,
)

LOGGER = "gunicorn_loggers.HttpLogger"


@pytest.fixture
def server(network_gunicorn):
    """Factory: ``server(receiver_or_url, *args, env=..., ...)`` starts a gunicorn with HttpLogger."""
    return url_logger(network_gunicorn, LOGGER, HttpReceiver, lambda r: {"GUNICORN_LOGGERS_HTTP_FORMAT": r.kind})


def worker_report(gunicorn: NetworkGunicorn) -> dict:
    return max((r["delivery"] for r in gunicorn.exit_reports()), key=lambda s: s["produced"])


@pytest.mark.parametrize("worker", ["sync", "gthread", "gevent"])
def test_ndjson_batches_arrive_and_every_record_is_accounted_for(server, worker):
    with HttpReceiver("ndjson") as receiver:
        gunicorn = server(receiver, "-k", worker, "--threads", "4", "--graceful-timeout", "5")
        for n in range(30):
            assert gunicorn.request(f"/item/{n}")[0] == 200
        gunicorn.request("/log")
        wait_until(lambda: len(receiver.access_paths()) >= 31, what="access records")
        assert sorted(receiver.access_paths()) == sorted([*(f"/item/{n}" for n in range(30)), "/log"])
        wait_until(lambda: "app says hello" in receiver.messages(), what="the app's record")
        assert gunicorn.stop() == 0
        reports = gunicorn.balanced_exit_stats()
        assert receiver.errors == []
        assert len(receiver.snapshot()) == sum(r["delivered"] for r in reports)
        assert all(r["dropped"] == 0 for r in reports)
        assert "Shutting down: Master" in receiver.messages()
        request = receiver.requests[-1]
        assert request["headers"]["user-agent"].startswith("gunicorn-loggers")
        assert len(receiver.requests) < len(receiver.snapshot())  # batched, not one POST per record


def test_loki_push_has_string_nanosecond_timestamps_few_labels_and_the_record_as_line(server):
    with HttpReceiver("loki") as receiver:
        gunicorn = server(receiver, env={"GUNICORN_LOGGERS_SERVICE_NAME": "shop"})
        gunicorn.request("/fine")
        gunicorn.request("/status/503")
        gunicorn.request("/log")
        wait_until(lambda: len(receiver.access_paths()) >= 3, what="three access records")
        wait_until(lambda: "app says hello" in receiver.messages(), what="the app's record")
        gunicorn.stop()
    assert receiver.errors == []
    entries = receiver.entries
    assert {tuple(sorted(e["labels"])) for e in entries} == {("kind", "level", "service_name")}
    streams = {(e["labels"]["kind"], e["labels"]["level"]) for e in entries}
    assert {("access", "info"), ("access", "error"), ("error", "info"), ("error", "warning")} <= streams
    assert {e["labels"]["service_name"] for e in entries} == {"shop"}
    for entry in entries:
        record = json.loads(entry["line"])
        seconds, _, fraction = record["@timestamp"].rstrip("Z").partition(".")
        expected = int(time.mktime(time.strptime(seconds, "%Y-%m-%dT%H:%M:%S")) - time.timezone) * 10**9
        assert entry["ts"] == expected + int(fraction.ljust(9, "0"))
    failed = [json.loads(e["line"]) for e in entries if e["labels"]["level"] == "error"]
    assert [r["url"]["path"] for r in failed] == ["/status/503"]
    gunicorn.balanced_exit_stats()


def test_bulk_sends_create_actions_retries_429_items_and_counts_the_refused_ones(server):
    with HttpReceiver("bulk") as receiver:
        failed_once = []

        def policy(number, body):  # the first request with two records or more has a partial failure
            if not failed_once and body.count(b"\n") >= 4:
                failed_once.append(number)
                receiver.bulk_failures = {0: 429, 1: 400}
            else:
                receiver.bulk_failures = {}

        receiver.policy = policy
        gunicorn = server(receiver)
        for n in range(5):
            gunicorn.request(f"/doc/{n}")
        wait_until(lambda: len(receiver.access_paths()) >= 4, what="access records")
        time.sleep(0.3)
        gunicorn.stop()
    assert receiver.errors == [] and failed_once
    assert all(r["path"] == "/logs-gunicorn-test/_bulk" for r in receiver.requests)
    reports = gunicorn.balanced_exit_stats()
    assert sum(r["dropped_rejected"] for r in reports) == 1  # the 400 item; the 429 one was sent again
    assert sum(r["dropped"] for r in reports) == 1
    assert len(receiver.snapshot()) == sum(r["produced"] for r in reports) - 1
    messages = " ".join(r["message"] for r in gunicorn.delivery_reports())
    assert "_bulk item 400 document_parsing_exception" in messages


def test_bulk_url_without_a_data_stream_names_one_in_each_action(server):
    with HttpReceiver("bulk", path="/_bulk") as receiver:
        gunicorn = server(receiver, env={"GUNICORN_LOGGERS_BULK_INDEX": "logs-web-prod"})
        gunicorn.request("/indexed")
        wait_until(lambda: "/indexed" in receiver.access_paths(), what="the access record")
    assert receiver.errors == []


def test_gzip_tokens_from_the_environment_and_credentials_never_reach_a_log_line(server):
    token, password = "tok-5ecr3t-9f8e7d", "pa55-w0rd-1a2b"
    basic = "Basic " + __import__("base64").b64encode(f"shipper:{password}".encode()).decode()
    require = {"X-Api-Key": token, "Authorization": basic}
    with HttpReceiver("ndjson", require=require) as receiver:
        url = receiver.url.replace("http://", f"http://shipper:{password}@")
        env = {
            "GUNICORN_LOGGERS_HTTP_GZIP": "on",
            "GUNICORN_LOGGERS_HTTP_HEADERS": "X-Api-Key=${SHIP_TOKEN}",
            "SHIP_TOKEN": token,
        }
        gunicorn = server(url, env=env)
        gunicorn.receiver = receiver
        gunicorn.request("/secret-free")
        wait_until(lambda: "/secret-free" in receiver.access_paths(), what="the access record")
        assert receiver.requests[-1]["headers"]["content-encoding"] == "gzip"
        assert receiver.requests[-1]["raw_size"] < receiver.requests[-1]["size"]
        wrong = server(url.replace(password, "wrong-" + password), env=env)
        wrong.request("/refused")
        reports = wrong.wait_for(
            lambda: [r for r in wrong.delivery_reports() if "401" in r["message"]], what="the 401 report"
        )
        gunicorn.stop()
        wrong.stop()
    # the 401 itself (once per interval, every record counted) is in test_collector_faults.py
    assert "check the credentials" in reports[0]["message"]
    for process in (gunicorn, wrong):
        output = process.all_output() + process.stderr_path.read_text()
        assert "gunicorn-loggers: http://127.0.0.1" in output  # the endpoint is named ...
        for secret in (token, password, basic, basic.split()[1], "shipper:"):
            assert secret not in output  # ... but never its credentials
    assert not any(token in json.dumps(r) or password in json.dumps(r) for r in receiver.snapshot())


@pytest.mark.parametrize("worker", ["sync", "gevent"])
def test_https_with_a_custom_ca_file(server, tmp_path, worker):
    ca, cert, key = make_certificates(tmp_path / "tls")
    with HttpReceiver("ndjson", tls=server_tls(cert, key)) as receiver:
        trusted = server(receiver, "-k", worker, env={"GUNICORN_LOGGERS_CA_FILE": str(ca)})
        trusted.request("/over-tls")
        trusted.wait_for(lambda: "/over-tls" in receiver.access_paths(), what="the record over TLS")
        untrusted = server(receiver.url, env={"GUNICORN_LOGGERS_HTTP_FORMAT": "ndjson"})
        untrusted.request("/not-trusted")
        reports = untrusted.wait_for(untrusted.delivery_reports, what="a report")
        assert "CERTIFICATE_VERIFY_FAILED" in reports[0]["message"] or "certificate" in reports[0]["message"]
        assert "/not-trusted" not in receiver.access_paths()


def test_429_waits_for_retry_after_and_500_is_retried(server):
    with HttpReceiver("ndjson") as receiver:
        gunicorn = server(receiver)
        time.sleep(0.3)
        receiver.answers = [Answer(429, headers={"Retry-After": "2"}), Answer(500)]
        before = len(receiver.requests)
        gunicorn.request("/pushed-back")
        wait_until(lambda: "/pushed-back" in receiver.access_paths(), timeout=15, what="the retried record")
        gunicorn.stop()
    times = receiver.requests[before:]
    assert [r["status"] for r in times[:3]] == [429, 500, 200]
    assert receiver.access_paths().count("/pushed-back") == 1
    reports = " ".join(r["message"] for r in gunicorn.delivery_reports())
    assert "the collector answered HTTP 429" in reports and "asked to wait 2 s" in reports
    assert all(r["dropped"] == 0 for r in gunicorn.balanced_exit_stats())


def test_retry_after_is_honoured():
    """The wait after a 429 is at least its Retry-After, measured on the receiver's clock."""
    from gunicorn_loggers.delivery import DeliveryEngine
    from gunicorn_loggers.transports.http import HttpTransport
    from gunicorn_loggers.transports.http_bodies import NdjsonFormat
    from gunicorn_loggers.transports.http_target import parse_http_url

    with HttpReceiver("ndjson") as receiver:
        receiver.answers = [Answer(429, headers={"Retry-After": "1"})]
        engine = DeliveryEngine(HttpTransport(parse_http_url(receiver.url), NdjsonFormat()))
        engine.submit(Frame("error", "info", 0, b'{"message":"wait for me"}\n'))
        wait_until(lambda: receiver.messages() == ["wait for me"], timeout=10, what="the record")
        engine.close(1)
    first, second = receiver.requests[:2]
    assert (first["status"], second["status"]) == (429, 200)
    assert second["at"] - first["at"] >= 0.95
    assert engine.stats()["delivered"] == 1


@pytest.mark.parametrize(
    ("interval", "timeout", "body"),
    [(0.2, 1.0, b""), (0.02, 2.0, b'{"partialSuccess":{}}' * 4)],
    ids=["in-the-status-line", "in-the-body"],
)
def test_the_read_timeout_bounds_the_whole_answer(interval, timeout, body):
    """A collector sending its answer a byte at a time: the POST gives up once the read timeout has passed since
    it began, in the status line (38 bytes, 0.2 s each, against 1 s) or in the body (a head of 70 bytes at 0.02 s
    takes 1.4 s, the 84-byte body would end at 3.1 s, against 2 s). A timeout per read never fired."""
    from gunicorn_loggers.transports.http import HttpTransport
    from gunicorn_loggers.transports.http_bodies import NdjsonFormat
    from gunicorn_loggers.transports.http_target import parse_http_url

    with HttpReceiver("ndjson", trickle=interval) as receiver:
        receiver.answers = [Answer(200, body)]
        transport = HttpTransport(parse_http_url(receiver.url), NdjsonFormat(), read_timeout=timeout)
        transport.connect(5)
        started = time.monotonic()
        frame = Frame("error", "info", 0, b'{"message":"slow"}\n')
        outcome = transport.send([frame], None)
        elapsed = time.monotonic() - started
        transport.close()
        wait_until(lambda: receiver.hangups, what="the receiver seeing the hang-up")
    assert timeout * 0.95 <= elapsed < timeout + 0.5, elapsed
    assert outcome.retry == [frame] and outcome.delivered == 0
    assert outcome.error == f"sending failed: TimeoutError: no whole answer within {timeout:g} s", outcome.error
    assert receiver.hangups[0] < timeout + 0.5, receiver.hangups


def test_413_splits_the_batch_and_a_record_too_large_alone_is_rejected(server):
    with HttpReceiver("ndjson", max_body=6000) as receiver:
        env = {"GUNICORN_LOGGERS_REQUEST_HEADERS": "x-pad"}
        gunicorn = server(receiver, "-k", "gthread", "--threads", "8", "--graceful-timeout", "5", env=env)
        time.sleep(0.3)
        import concurrent.futures

        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            list(pool.map(lambda n: gunicorn.request(f"/many/{n}"), range(80)))
        gunicorn.request("/huge", headers={"X-Pad": "h" * 7000})
        wait_until(lambda: len(receiver.access_paths()) >= 80, timeout=15, what="every small record")
        time.sleep(0.3)
        gunicorn.stop()
    assert 413 in [r["status"] for r in receiver.requests]
    assert sorted(receiver.access_paths()) == sorted(f"/many/{n}" for n in range(80))
    stats = worker_report(gunicorn)
    assert stats["dropped_rejected"] == 1 and stats["dropped"] == 1
    assert any("HTTP 413: a single record" in r["message"] for r in gunicorn.delivery_reports())


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({}, "GUNICORN_LOGGERS_URL is required by HttpLogger"),
        ({"GUNICORN_LOGGERS_URL": "ftp://u:hunter22@host/x"}, "does not start with http:// or https://"),
        ({"GUNICORN_LOGGERS_URL": "http://u:hunter22@host:99999/x"}, "is not a valid URL"),
        ({"GUNICORN_LOGGERS_URL": "http://u:hunter22@/x"}, "has no host"),
        ({"GUNICORN_LOGGERS_URL": "http://h/x", "GUNICORN_LOGGERS_HTTP_FORMAT": "xml"}, "ndjson, loki, bulk"),
        ({"GUNICORN_LOGGERS_URL": "http://h/x", "GUNICORN_LOGGERS_HTTP_FORMAT": "bulk"}, "ends in /_bulk"),
        (
            {
                "GUNICORN_LOGGERS_URL": "http://u:hunter22@h/ds1/_bulk",
                "GUNICORN_LOGGERS_HTTP_FORMAT": "bulk",
                "GUNICORN_LOGGERS_BULK_INDEX": "myidx",
            },
            "BULK_INDEX='myidx' names a data stream and so does",
        ),
        ({"GUNICORN_LOGGERS_URL": "http://h/x", "GUNICORN_LOGGERS_HTTP_HEADERS": "Bad Name=hunter22"}, "item 1"),
        ({"GUNICORN_LOGGERS_URL": "http://h/x", "GUNICORN_LOGGERS_HTTP_HEADERS": "A=${NOPE}"}, "${NOPE}, which is"),
        ({"GUNICORN_LOGGERS_URL": "https://h/x", "GUNICORN_LOGGERS_CA_FILE": "/nonexistent.pem"}, "cannot load"),
    ],
)
def test_bad_options_stop_gunicorn_with_one_line_and_no_secret(tmp_path, env, expected):
    process = NetworkGunicorn(tmp_path, logger_class=LOGGER, env=env)
    output = process.refusal()
    assert expected in output and "hunter22" not in output


@pytest.mark.parametrize(("conf", "kind"), [("http.py", "ndjson"), ("loki.py", "loki"), ("elasticsearch.py", "bulk")])
def test_conf_files_send_everything_to_the_url(network_gunicorn, conf, kind):
    with HttpReceiver(kind) as receiver:
        gunicorn = network_gunicorn(
            "-c",
            str(REPO / "conf" / conf),
            receiver=receiver,
            logger_class=None,
            error_log=False,
            env={"GUNICORN_LOGGERS_URL": receiver.url},
            start=False,
        )
        with gunicorn:
            gunicorn.request("/from-conf")
            wait_until(lambda: "/from-conf" in receiver.access_paths(), what="the access record")
        assert receiver.errors == []
        assert "at exit: " in gunicorn.stderr_path.read_text()


def test_a_collector_quoting_the_bare_token_and_password_in_its_error_shows_neither(server):
    """Reports quote a collector's 400 answer: the token alone, without "Bearer", must be hidden too,
    and a short header value such as "c" must not garble the report."""
    token, password = "Zq9-t0ken-value", "S3cret-pw-77"
    quoted = json.dumps({"error": f"token {token} for user bob / password {password} rejected, see doc c"})
    with HttpReceiver("ndjson") as receiver:
        receiver.answers = [Answer(400, body=quoted.encode())] * 50
        url = receiver.url.replace("http://", f"http://bob:{password}@")
        env = {"GUNICORN_LOGGERS_HTTP_HEADERS": f"Authorization=Bearer {token},x-b=c"}
        gunicorn = server(url, env=env)
        gunicorn.request("/refused")
        reports = gunicorn.wait_for(
            lambda: [r for r in gunicorn.delivery_reports() if "HTTP 400" in r["message"]], what="the 400 report"
        )
        gunicorn.stop()
    assert "for user *** / password *** rejected, see doc c" in reports[0]["message"]
    assert "token *** for" in reports[0]["message"]
    output = gunicorn.all_output()
    assert token not in output and password not in output


def test_a_collector_that_comes_back_refusing_is_not_reported_as_delivering(server):
    """500 (an outage, retried), then 401 on everything: the reports say what happened, and the exit
    report names the refusal as the cause of the drops, not the 500 that came before it."""
    with HttpReceiver("ndjson") as receiver:
        receiver.answers = [Answer(500)] + [Answer(401)] * 200
        gunicorn = server(receiver)
        gunicorn.request("/refused")
        gunicorn.wait_for(
            lambda: [r for r in gunicorn.delivery_reports() if "answers again" in r["message"]], what="the report"
        )
        gunicorn.stop()
    messages = [r["message"] for r in gunicorn.delivery_reports()]
    assert not any("delivering again" in message for message in messages), messages
    exits = [message for message in messages if " at exit: " in message and "dropped" in message]
    assert exits and all("last error: the collector rejected records: HTTP 401" in m for m in exits), exits
