"""SocketLogger: a real gunicorn sending NDJSON to a loopback receiver that parses it strictly."""

from __future__ import annotations

import json
import signal
import time

import pytest

from tests.gunicorn_process import REPO
from tests.receivers import NdjsonReceiver, NetworkGunicorn, free_port, url_logger, wait_until

LOGGER = "gunicorn_loggers.network_loggers.SocketLogger"


@pytest.fixture
def server(network_gunicorn):
    """Factory: ``server(receiver_or_url, *args, env=..., ...)`` starts a gunicorn with SocketLogger."""
    return url_logger(network_gunicorn, LOGGER, NdjsonReceiver)


@pytest.mark.parametrize("worker", ["sync", "gthread", "gevent"])
def test_access_and_error_records_arrive_as_ndjson_and_every_one_is_accounted_for(server, worker):
    with NdjsonReceiver() as receiver:
        gunicorn = server(receiver, "-k", worker, "--threads", "4", "--graceful-timeout", "5")
        for n in range(20):
            assert gunicorn.request(f"/item/{n}")[0] == 200
        gunicorn.request("/log")
        wait_until(lambda: len(receiver.access_paths()) >= 21, what="access records")
        assert sorted(receiver.access_paths()) == sorted([*(f"/item/{n}" for n in range(20)), "/log"])
        wait_until(lambda: "app says hello" in receiver.messages(), what="the app's record")
        assert gunicorn.stop() == 0
        reports = gunicorn.balanced_exit_stats(2)  # master and worker
        time.sleep(0.3)
        assert receiver.errors == []
        # what the receiver got is exactly what the processes say they delivered
        assert len(receiver.snapshot()) == sum(r["delivered"] for r in reports)
        assert all(r["dropped"] == 0 for r in reports)
        assert "Shutting down: Master" in receiver.messages()
        assert not gunicorn.access_path.exists()  # no --access-logfile: access records went to the network only


def test_access_logfile_still_gets_a_local_copy(server):
    with NdjsonReceiver() as receiver:
        gunicorn = server(receiver, access_log=True)
        gunicorn.request("/both")
        wait_until(lambda: "/both" in receiver.access_paths(), what="the network copy")
        assert [r["url"]["path"] for r in gunicorn.wait_for_access(1)] == ["/both"]


def test_receiver_absent_at_start_gunicorn_serves_reports_why_and_delivers_once_it_appears(server):
    port = free_port()
    gunicorn = server(f"tcp://127.0.0.1:{port}")
    started = time.monotonic()
    for n in range(5):
        assert gunicorn.request(f"/early/{n}")[0] == 200
    assert time.monotonic() - started < 2.0
    reports = gunicorn.wait_for(gunicorn.delivery_reports, what="a delivery report")
    assert "cannot connect: ConnectionRefusedError" in reports[0]["message"]
    # while the sink is down, the error log keeps a local copy
    assert any(r["message"].startswith("Booting worker") for r in gunicorn.error_records())
    with NdjsonReceiver(port=port) as receiver:
        wait_until(lambda: len(receiver.access_paths()) >= 5, timeout=15, what="buffered records")
        assert sorted(receiver.access_paths()) == [f"/early/{n}" for n in range(5)]
        gunicorn.stop()
    gunicorn.balanced_exit_stats(2)
    assert all(r["delivery"]["dropped"] == 0 for r in gunicorn.exit_reports())


def test_receiver_killed_mid_run_and_restarted_gets_every_record_within_the_buffer(server):
    receiver = NdjsonReceiver().start()
    try:
        gunicorn = server(receiver, "-w", "2")
        for n in range(5):
            gunicorn.request(f"/before/{n}")
        wait_until(lambda: len(receiver.access_paths()) >= 5, what="records before the outage")
        receiver.stop()
        for n in range(10):
            assert gunicorn.request(f"/during/{n}")[0] == 200
        gunicorn.wait_for(
            lambda: [r for r in gunicorn.delivery_reports() if "closed the connection" in r["message"]],
            what="the report of the lost connection",
        )
        receiver = NdjsonReceiver(port=receiver.port).start()
        gunicorn.receiver = receiver
        wait_until(lambda: len(receiver.access_paths()) >= 10, timeout=15, what="records buffered in the outage")
        assert sorted(receiver.access_paths()) == sorted(f"/during/{n}" for n in range(10))
        gunicorn.wait_for(
            lambda: [r for r in gunicorn.delivery_reports() if "delivering again" in r["message"]],
            what="the report of the restored connection",
        )
        gunicorn.stop()
        reports = gunicorn.balanced_exit_stats(3)
        assert all(r["dropped"] == 0 for r in reports)
    finally:
        receiver.stop()


def test_receiver_that_never_reads_does_not_slow_requests_and_drops_are_counted(server):
    pad = "x" * 4000
    with NdjsonReceiver(read=False) as receiver:
        gunicorn = server(
            receiver,
            "--graceful-timeout",
            "3",
            env={"GUNICORN_LOGGERS_REQUEST_HEADERS": "x-pad", "GUNICORN_LOGGERS_BUFFER_BYTES": "64k"},
            quiet=True,  # "Listening at" may sit unread in the receiver's socket: pick the port here
        )
        durations = []
        for n in range(600):
            started = time.monotonic()
            assert gunicorn.request(f"/stuck/{n}", headers={"X-Pad": pad})[0] == 200
            durations.append(time.monotonic() - started)
        durations.sort()
        assert durations[len(durations) // 2] < 0.05, durations[-10:]
        assert durations[-1] < 1.0, durations[-10:]
        reports = gunicorn.wait_for(
            lambda: [r for r in gunicorn.delivery_reports() if "records dropped" in r["message"]],
            what="a drop report",
        )
        assert reports[0]["delivery"]["dropped_buffer_full"] > 0
        started = time.monotonic()
        gunicorn.stop()
        assert time.monotonic() - started < 8.0  # the flush gave up within --graceful-timeout
        stats = gunicorn.balanced_exit_stats(2)
        worker = max(stats, key=lambda s: s["produced"])
        assert worker["produced"] >= 600 and worker["dropped"] > 0


def test_graceful_stop_right_after_a_burst_flushes_it(server):
    with NdjsonReceiver() as receiver:
        gunicorn = server(receiver, "-k", "gthread", "--threads", "8")
        for n in range(200):
            gunicorn.request(f"/burst/{n}")
        gunicorn.signal(signal.SIGTERM)
        gunicorn.proc.wait(15)
        gunicorn.stop()
        wait_until(lambda: len(receiver.access_paths()) >= 200, timeout=5, what="the burst")
        assert sorted(receiver.access_paths()) == sorted(f"/burst/{n}" for n in range(200))
        gunicorn.balanced_exit_stats(2)


def test_udp_sends_one_record_per_datagram_within_the_size_limit(server):
    with NdjsonReceiver("udp") as receiver:
        gunicorn = server(receiver, env={"GUNICORN_LOGGERS_MAX_DATAGRAM": "1200"})
        gunicorn.request("/short")
        gunicorn.request("/long/" + "a" * 2000)
        wait_until(lambda: len(receiver.access_paths()) >= 2, what="two datagrams")
        assert receiver.errors == []
        assert all(r["__datagram_size__"] <= 1200 for r in receiver.snapshot())
        short, long = sorted(receiver.access_paths(), key=len)
        assert short == "/short"
        assert long.startswith("/long/") and long.endswith("...[truncated]")


def test_sighup_and_sigusr1_during_an_outage_keep_serving_and_account_for_every_record(server):
    port = free_port()
    gunicorn = server(f"tcp://127.0.0.1:{port}", "-w", "2", "--graceful-timeout", "3")
    gunicorn.request("/before")
    gunicorn.signal(signal.SIGHUP)
    gunicorn.wait_for(
        lambda: sum(r["message"].startswith("Booting worker") for r in gunicorn.error_records()) >= 4,
        what="workers booted after the reload",
    )
    # the old workers exit during the outage: what they still held is counted, not waited for
    old_workers = gunicorn.wait_for(lambda: len(gunicorn.exit_reports()) >= 2 and gunicorn.exit_reports())
    assert sum(r["delivery"]["dropped_at_exit"] for r in old_workers) >= 1
    gunicorn.signal(signal.SIGUSR1)
    time.sleep(0.5)
    for n in range(3):
        assert gunicorn.request(f"/after/{n}")[0] == 200
    with NdjsonReceiver(port=port) as receiver:
        gunicorn.receiver = receiver
        wait_until(lambda: len(receiver.access_paths()) >= 3, timeout=15, what="records from the outage")
        time.sleep(0.5)
        assert sorted(receiver.access_paths()) == [f"/after/{n}" for n in range(3)]
        # the master's own engine reconnects on its own backoff, after the workers' may have
        wait_until(lambda: "Handling signal: usr1" in receiver.messages(), timeout=15, what="the master's usr1 line")
        # the master's start-up lines, held through the outage, went on in its reloaded engine
        wait_until(lambda: any(m.startswith("Listening at") for m in receiver.messages()), what="start-up lines")
        gunicorn.stop()
    reports = [r["delivery"] for r in gunicorn.exit_reports()]
    assert len(reports) == 5  # two old workers, two new ones, the master
    assert not [r for r in gunicorn.delivery_reports() if " on reload: " in r["message"]]  # nothing dropped
    for stats in reports:
        assert stats["delivered"] + stats["dropped"] == stats["produced"], stats


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({}, "GUNICORN_LOGGERS_URL is required by SocketLogger"),
        ({"GUNICORN_LOGGERS_URL": "http://127.0.0.1:1"}, "does not start with tcp://, udp:// or unix://"),
        ({"GUNICORN_LOGGERS_URL": "tcp://127.0.0.1"}, "has no port"),
        ({"GUNICORN_LOGGERS_URL": "tcp://127.0.0.1:1", "GUNICORN_LOGGERS_BUFFER_RECORDS": "lots"}, "BUFFER_RECORDS"),
        ({"GUNICORN_LOGGERS_URL": "tcp://127.0.0.1:1", "GUNICORN_LOGGERS_LOCAL_ERRORS": "x"}, "down, always, off"),
        ({"GUNICORN_LOGGERS_URL": "tcp://127.0.0.1:1", "GUNICORN_LOGGERS_BATCH_WAIT": "11"}, "BATCH_WAIT='11'"),
        ({"GUNICORN_LOGGERS_URL": "tcp://127.0.0.1:1", "GUNICORN_LOGGERS_BATCH_WAIT": "nan"}, "from 0 to 10"),
    ],
)
def test_bad_options_stop_gunicorn_with_one_line(tmp_path, env, expected):
    process = NetworkGunicorn(tmp_path, logger_class=LOGGER, env=env)
    assert expected in process.refusal()


def test_batch_wait_is_how_long_a_first_record_waits_for_company(server):
    """An idle sender, woken by a record, lets the batch fill for BATCH_WAIT before sending."""
    with NdjsonReceiver() as receiver:
        patient = server(receiver, env={"GUNICORN_LOGGERS_BATCH_WAIT": "1"})
        prompt = server(receiver, env={"GUNICORN_LOGGERS_BATCH_WAIT": "0"})
        ready = lambda: sum("GET /__ready__" in message for message in receiver.messages())  # noqa: E731
        wait_until(lambda: ready() == 2, timeout=10, what="both start-up probes")  # each worker's last record
        time.sleep(1.2)  # a wait after their last send: both senders are idle now
        took = {}
        for name, gunicorn in (("patient", patient), ("prompt", prompt)):
            started = time.monotonic()
            assert gunicorn.request(f"/{name}")[0] == 200
            wait_until(lambda name=name: f"/{name}" in receiver.access_paths(), timeout=10, what=f"/{name}")
            took[name] = time.monotonic() - started
    assert took["patient"] >= 0.95, took  # never sooner: nothing else cuts the wait short
    assert took["prompt"] < 0.8, took


def test_error_log_has_no_local_copy_while_delivering_unless_asked(server):
    with NdjsonReceiver() as receiver:
        quiet = server(receiver)
        loud = server(receiver, env={"GUNICORN_LOGGERS_LOCAL_ERRORS": "always"})
        for gunicorn in (quiet, loud):
            time.sleep(0.3)
            gunicorn.request("/log")
        wait_until(lambda: receiver.messages().count("app says hello") == 2, what="both app records")
        local = [json.dumps(r) for r in quiet.error_records()]
        assert not any("app says hello" in line for line in local)
        assert any(r["message"] == "app says hello" for r in loud.error_records()), loud.error_path.read_text()[-2500:]


def test_conf_socket_sends_everything_to_the_url(tmp_path):
    with NdjsonReceiver() as receiver:
        conf = str(REPO / "conf" / "socket.py")
        gunicorn = NetworkGunicorn(
            tmp_path,
            "-c",
            conf,
            receiver=receiver,
            logger_class=None,
            access_log=False,
            error_log=False,
            env={"GUNICORN_LOGGERS_URL": receiver.url},
        )
        with gunicorn:
            gunicorn.request("/from-conf")
            wait_until(lambda: "/from-conf" in receiver.access_paths(), what="the access record")
        assert "at exit: " in gunicorn.stderr_path.read_text()  # reports stay on the local stderr
