"""The access-log policy with a real gunicorn: skip, sample, levels, and the requests of an aborted worker."""

from __future__ import annotations

import os
import re
import signal
import socket
import threading

import pytest

from gunicorn_loggers.access_policy import AccessPolicy, random_bits_of_trace, sampled_in
from tests.gunicorn_process import Gunicorn
from tests.receivers import HttpReceiver

SAMPLED_FLAG, UNSAMPLED_FLAG = "01", "00"


def paths(records: list[dict]) -> list[str]:
    return [r["url"]["path"] for r in records if r["url"]["path"] != "/__ready__"]


def exit_report(server: Gunicorn) -> list[dict]:
    return [r for r in server.error_records() if "access log at exit" in r["message"]]


def boots(server: Gunicorn) -> int:
    return sum(r["message"].startswith("Booting worker") for r in server.error_records())


# -- skip --------------------------------------------------------------------------------------------


def test_skipped_health_checks_are_not_written_but_counted_and_a_failing_one_is(gunicorn):
    skip = "/healthz,/status/2*,ua:kube-probe/*,ua:GoogleHC/1.0"
    server = gunicorn(env={"GUNICORN_LOGGERS_ACCESS_SKIP": skip})
    server.request("/healthz")  # skipped
    server.request("/healthz/deep")  # exact match only: written
    server.request("/status/204")  # prefix: skipped
    server.request("/status/503")  # a failing health check: written
    server.request("/status/404")  # >= 400: written
    server.request("/", headers={"User-Agent": "kube-probe/1.29"})  # skipped
    server.request("/ua", headers={"User-Agent": "GoogleHC/1.0"})  # skipped
    server.request("/ua2", headers={"User-Agent": "GoogleHC/1.1"})  # exact agent only: written
    server.request("/last")
    server.wait_for(lambda: "/last" in paths(server.access_records()), what="the last record")
    assert paths(server.access_records()) == ["/healthz/deep", "/status/503", "/status/404", "/ua2", "/last"]
    assert server.stop() == 0
    (report,) = exit_report(server)
    assert report["message"] == "gunicorn-loggers: access log at exit: 4 records skipped, 0 sampled out"
    assert report["access_policy"] == {"skipped": 4, "sampled_out": 0}
    assert report["log.level"] == "info"


def test_skipped_records_are_counted_in_statsd(gunicorn):
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as statsd:
        statsd.bind(("127.0.0.1", 0))
        statsd.settimeout(10)
        port = statsd.getsockname()[1]
        server = gunicorn("--statsd-host", f"127.0.0.1:{port}", env={"GUNICORN_LOGGERS_ACCESS_SKIP": "/healthz"})
        for _ in range(3):
            server.request("/healthz")
        packets: list[bytes] = []
        while sum(p.count(b"gunicorn_loggers.access.skipped:1|c") for p in packets) < 3:
            packets.append(statsd.recv(65536))
            assert len(packets) < 200, packets
    assert any(b"gunicorn.requests:1|c" in p for p in packets)  # gunicorn's own metrics still count them


# -- sample ------------------------------------------------------------------------------------------


def traceparent(trace_id: str, flag: str = UNSAMPLED_FLAG) -> str:
    return f"00-{trace_id}-00f067aa0ba902b7-{flag}"


def test_sampling_keeps_what_the_trace_id_decides_and_every_interesting_request(gunicorn):
    rate = 0.3
    env = {"GUNICORN_LOGGERS_ACCESS_SAMPLE": str(rate), "GUNICORN_LOGGERS_ACCESS_SLOW": "0.4"}
    server = gunicorn(env=env)
    threshold = AccessPolicy(sample_rate=rate).threshold
    traces = [f"{n:016x}{os.urandom(8).hex()}" for n in range(1, 61)]
    expected_sampled = []
    for n, trace in enumerate(traces):
        server.request(f"/t/{n}", headers={"traceparent": traceparent(trace)})
        if sampled_in(random_bits_of_trace(trace), threshold):
            expected_sampled.append(f"/t/{n}")
    assert 0 < len(expected_sampled) < 60
    unlucky = next(t for t in traces if not sampled_in(random_bits_of_trace(t), threshold))
    server.request("/traced", headers={"traceparent": traceparent(unlucky, SAMPLED_FLAG)})
    server.request("/status/503", headers={"traceparent": traceparent(unlucky)})
    server.request("/status/404", headers={"traceparent": traceparent(unlucky)})
    server.request("/sleep/0.5", headers={"traceparent": traceparent(unlucky)})
    server.request("/last", headers={"traceparent": traceparent(unlucky, SAMPLED_FLAG)})
    server.wait_for(lambda: "/last" in paths(server.access_records()), what="the last record")
    records = [r for r in server.access_records() if r["url"]["path"] != "/__ready__"]
    expected = [*expected_sampled, "/traced", "/status/503", "/status/404", "/sleep/0.5", "/last"]
    assert paths(records) == expected
    kept = {r["url"]["path"]: r["gunicorn"]["access"] for r in records}
    assert all(kept[p] == {"sample_rate": rate, "kept": "sampled"} for p in expected_sampled)
    assert kept["/traced"] == {"sample_rate": 1.0, "kept": "traced"}
    assert kept["/status/503"] == {"sample_rate": 1.0, "kept": "server_error"}
    assert kept["/status/404"] == {"sample_rate": 1.0, "kept": "client_error"}
    assert kept["/sleep/0.5"] == {"sample_rate": 1.0, "kept": "slow"}
    assert server.stop() == 0
    (report,) = exit_report(server)
    probe = "__ready__" not in server.access_path.read_text()  # the harness's first request: no id, decided at random
    assert report["access_policy"] == {"skipped": 0, "sampled_out": 60 - len(expected_sampled) + probe}


def test_sampling_without_a_trace_decides_from_the_request_id_the_same_way_each_time(gunicorn):
    env = {"GUNICORN_LOGGERS_ACCESS_SAMPLE": "0.5", "GUNICORN_LOGGERS_ACCESS_KEEP_4XX": "off"}
    first, second = gunicorn(env=env), gunicorn(env=env)
    for server in (first, second):
        for n in range(40):
            server.request(f"/r/{n}", headers={"X-Request-ID": f"req-{n}"})
        for n in range(40):
            server.request(f"/status/404?n={n}", headers={"X-Request-ID": f"404-{n}"})
        server.request("/status/500")  # no id at all: kept, as an error
        server.wait_for(lambda s=server: "/status/500" in paths(s.access_records()), what="the last record")
    kept_first, kept_second = paths(first.access_records()), paths(second.access_records())
    assert kept_first == kept_second  # two processes, the same decisions
    assert 5 < sum(p.startswith("/r/") for p in kept_first) < 35
    assert 0 < sum(p == "/status/404" for p in kept_first) < 40  # 4xx sampled too when told


# -- levels ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("schema", ["ecs", "otel", "gcp", "flat"])
def test_levels_by_status_class_and_slowness(gunicorn, schema):
    env = {
        "GUNICORN_LOGGERS_SCHEMA": schema,
        "GUNICORN_LOGGERS_ACCESS_LEVELS": "4xx=warning,3xx=debug",
        "GUNICORN_LOGGERS_ACCESS_SLOW": "0.4",
    }
    server = gunicorn(env=env)
    for path in ("/ok", "/status/302", "/status/404", "/status/500", "/sleep/0.5"):
        server.request(path)
    lines = server.wait_for(lambda: len(server.access_records()) >= 5 and server.access_records())
    level = {"ecs": "log.level", "gcp": "severity", "flat": "level"}.get(schema)

    def level_of(record: dict) -> str:
        if schema == "otel":
            text = record["resourceLogs"][0]["scopeLogs"][0]["logRecords"][0]["severityText"]
            return {"WARN": "warning"}.get(text, text.lower())
        return record[level].lower()

    assert [level_of(r) for r in lines] == ["info", "debug", "warning", "error", "warning"]


def test_a_bad_policy_value_stops_gunicorn_with_one_line(tmp_path):
    server = Gunicorn(tmp_path, env={"GUNICORN_LOGGERS_ACCESS_SAMPLE": "1.5"})
    assert server.run_to_exit() == 1
    lines = [line for line in server.all_output().splitlines() if line.strip()]
    assert lines == [
        "Error: GUNICORN_LOGGERS_ACCESS_SAMPLE='1.5' is not a fraction from 0 to 1 (0.05 keeps one record in 20)"
    ]


def test_a_bad_policy_at_sighup_keeps_the_previous_policy(gunicorn, tmp_path):
    conf = tmp_path / "gunicorn_conf.py"
    conf.write_text('raw_env = ["GUNICORN_LOGGERS_ACCESS_SKIP=/healthz"]\n')
    server = gunicorn("-c", str(conf))
    conf.write_text('raw_env = ["GUNICORN_LOGGERS_ACCESS_SKIP=ua:"]\n')
    booted = boots(server)
    server.signal(signal.SIGHUP)
    failure = server.wait_for(
        lambda: [r for r in server.error_records() if "keeping the previous one" in r["message"]], what="the refusal"
    )
    assert "'ua:' is not a user agent pattern" in failure[0]["message"]
    server.wait_for(lambda: boots(server) > booted, what="the workers of the reload")
    old = {
        int(m.group(1))
        for r in server.error_records()
        if (m := re.match(r"Booting worker with pid: (\d+)", r["message"]))
    }
    server.wait_for(
        lambda: len([r for r in server.error_records() if r["message"].startswith("Worker exiting")]) >= len(old) - 1,
        what="the old worker exiting",
    )
    server.request("/healthz")
    server.request("/after")
    server.wait_for(lambda: "/after" in paths(server.access_records()), what="the last record")
    assert "/healthz" not in paths(server.access_records())


# -- the requests of an aborted worker ---------------------------------------------------------------


@pytest.mark.parametrize("schema", ["ecs", "otel", "gcp", "flat"])
def test_a_sync_worker_timed_out_writes_the_requests_real_duration_and_reason(gunicorn, schema):
    server = gunicorn("--timeout", "1", env={"GUNICORN_LOGGERS_SCHEMA": schema})
    status, _ = server.request("/sleep/20", headers={"X-Request-ID": "slow-1", "traceparent": traceparent("ab" * 16)})
    assert status == 500  # gunicorn answers the request its worker was serving when aborted
    (record,) = server.wait_for(
        lambda: [r for r in server.access_records() if "/sleep/20" in str(r)], what="the aborted request's record"
    )
    if schema == "ecs":
        assert record["http"]["response"]["status_code"] == 500
        assert record["event"]["outcome"] == "failure" and record["event"]["reason"] == "worker timeout"
        assert record["event"]["duration"] >= 1_000_000_000  # not gunicorn's millisecond for its own 500
        assert record["http"]["request"]["id"] == "slow-1" and record["trace"]["id"] == "ab" * 16
        assert record["log.level"] == "error" and record["message"] == "GET /sleep/20 500 after a worker timeout"
    elif schema == "otel":
        log = record["resourceLogs"][0]["scopeLogs"][0]["logRecords"][0]
        attributes = {a["key"]: a["value"] for a in log["attributes"]}
        assert attributes["error.type"] == {"stringValue": "timeout"}
        assert attributes["http.server.request.duration"]["doubleValue"] >= 1.0
        assert log["severityText"] == "ERROR" and log["traceId"] == "ab" * 16
    elif schema == "gcp":
        assert record["timedOut"] is True and record["severity"] == "ERROR"
        assert float(record["httpRequest"]["latency"][:-1]) >= 1.0 and record["requestId"] == "slow-1"
    else:
        assert record["timed_out"] is True and record["duration_s"] >= 1.0 and record["status"] == 500


def _in_flight(server: Gunicorn, path: str, results: list) -> threading.Thread:
    def run() -> None:
        try:
            results.append(server.request(path, headers={"X-Request-ID": path.split("/")[2]}))
        except OSError as exc:  # the worker died with the connection open
            results.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def _worker_pid(server: Gunicorn) -> int:
    (pid,) = [
        int(m.group(1))
        for r in server.error_records()
        if (m := re.match(r"Booting worker with pid: (\d+)", r["message"]))
    ]
    return pid


def test_a_gthread_worker_aborted_writes_a_record_for_each_request_in_flight(gunicorn):
    """gunicorn aborts a gthread worker only when its main thread stops heartbeating (C code holding the GIL);
    the abort itself is the same SIGABRT, sent here by the test while two requests sleep."""
    server = gunicorn("-k", "gthread", "--threads", "4", "--graceful-timeout", "1")
    results: list = []
    threads = [_in_flight(server, "/a/first/sleep/20", results), _in_flight(server, "/b/second/sleep/20", results)]
    server.wait_for(lambda: len(sleeping(server.error_records())) == 2, what="two requests in flight")
    os.kill(_worker_pid(server), signal.SIGABRT)
    records = server.wait_for(lambda: len(server.access_records()) >= 2 and server.access_records(), what="records")
    aborted = sorted(records, key=lambda r: r["url"]["path"])
    assert [r["url"]["path"] for r in aborted] == ["/a/first/sleep/20", "/b/second/sleep/20"]
    for record, request_id in zip(aborted, ("first", "second"), strict=True):
        assert "response" not in record["http"]
        assert record["event"]["outcome"] == "failure" and record["event"]["reason"] == "worker timeout"
        assert record["http"]["request"]["id"] == request_id
        assert record["log.level"] == "error"
        assert record["message"] == f"GET {record['url']['path']} - no response: worker timeout"
        assert record["source"]["ip"] == "127.0.0.1" and record["event"]["duration"] > 0
    for thread in threads:
        thread.join(15)


def sleeping(records: list[dict]) -> list[dict]:
    """The app's "sleeping in PATH" records: each says a request is in flight."""
    return [r for r in records if str(r.get("message", "")).startswith("sleeping in ")]


def test_a_network_logger_delivers_the_records_of_an_aborted_worker(network_gunicorn):
    with HttpReceiver("ndjson") as receiver:
        server = network_gunicorn(
            "-k", "gthread", "--threads", "2", "--graceful-timeout", "1",
            receiver=receiver, logger_class="gunicorn_loggers.HttpLogger",
            env={"GUNICORN_LOGGERS_URL": receiver.url},
        )  # fmt: skip
        results: list = []
        _in_flight(server, "/n/netsleep/sleep/20", results)
        server.wait_for(lambda: sleeping(receiver.records), timeout=15, what="the request in flight")
        os.kill(_worker_pid(server), signal.SIGABRT)
        (record,) = server.wait_for(
            lambda: [r for r in receiver.records if r.get("url", {}).get("path") == "/n/netsleep/sleep/20"],
            timeout=15,
            what="the aborted request's record at the collector",
        )
    assert record["event"]["reason"] == "worker timeout" and "response" not in record["http"]


def test_uvicorn_worker_access_lines_follow_the_policy(gunicorn):
    """The uvicorn worker ends by re-raising gunicorn's SIGTERM (uvicorn's signal capture), so no exit hook runs
    there and no exit report is written: the records are what can be checked."""
    env = {"GUNICORN_LOGGERS_ACCESS_SKIP": "/ctx", "GUNICORN_LOGGERS_ACCESS_SAMPLE": "0"}
    server = gunicorn("-k", "uvicorn_worker.UvicornWorker", app="tests.framework_apps:starlette_app", env=env)
    server.request("/ctx", headers={"X-Request-ID": "uv-skipped"})  # 200: skipped
    server.request("/ctx?last=1", headers={"traceparent": traceparent("cd" * 16, SAMPLED_FLAG)})  # skipped too
    server.request("/other", headers={"X-Request-ID": "uv-404"})  # a 404 here: kept as a client error
    server.request("/other2", headers={"X-Request-ID": "uv-404-2"})
    records = server.wait_for(lambda: len(server.access_records()) >= 2 and server.access_records())
    assert [r["url"]["path"] for r in records] == ["/other", "/other2"]
    assert all(r["gunicorn"]["access"] == {"sample_rate": 1.0, "kept": "client_error"} for r in records)
