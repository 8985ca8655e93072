"""Issue 5's fault matrix for the collector sinks: HttpLogger (NDJSON, Loki, ``_bulk``), OtlpLogger and FluentLogger.

Each test runs a real gunicorn against a loopback receiver strict to the sink's wire
format, applies one fault, and checks what the README promises: requests do not wait
for the receiver, the local error log says what went wrong, and every record is
accounted for — each process's exit totals add up (``delivered + dropped ==
produced``) and the receivers hold exactly what was counted delivered (at least
that, for Fluentd forward, which is at-least-once). SyslogLogger and SocketLogger
have the same faults in test_socket_logger.py and test_network_faults.py.
"""

from __future__ import annotations

import json
import re
import signal
import time
from pathlib import Path
from typing import Any

import pytest

from gunicorn_loggers.delivery import STALL_GIVE_UP
from tests.receivers import (
    ForwardReceiver,
    HttpReceiver,
    NdjsonReceiver,
    NetworkGunicorn,
    ResettingProxy,
    free_port,
    wait_until,
)

BUFFER = "GUNICORN_LOGGERS_BUFFER_RECORDS"
#: What a sender reports when the receiver resets its connection, per protocol and moment.
RESET = re.compile(r"ConnectionResetError|BrokenPipeError|RemoteDisconnected|closed the connection")


# -- one adapter per sink ----------------------------------------------------------------------------


class HttpCollector:
    """HttpLogger with NDJSON bodies, to :class:`HttpReceiver`."""

    name = "http"
    logger = "gunicorn_loggers.HttpLogger"
    kind = "ndjson"
    url_path = "/logs"
    at_least_once = False
    wrong_credentials = {"GUNICORN_LOGGERS_HTTP_HEADERS": "Authorization=Bearer wrong-t0ken"}

    #: What the worker reports when the collector's answer does not come whole within READ_TIMEOUT.
    answer_timeout = "no whole answer within {} s"

    def receiver(
        self, port: int | None = None, delay: float = 0.0, require: dict | None = None, trickle: float = 0.0
    ) -> Any:
        return HttpReceiver(self.kind, port=port, delay=delay, require=require, trickle=trickle)

    def env(self, port: int) -> dict[str, str]:
        url = f"http://127.0.0.1:{port}{self.url_path}"
        return {"GUNICORN_LOGGERS_URL": url, "GUNICORN_LOGGERS_HTTP_FORMAT": self.kind}

    def paths(self, receiver: Any) -> list[str]:
        return receiver.access_paths()

    def count(self, receiver: Any) -> int:
        """Every record the receiver took, access and error log alike."""
        return len(receiver.snapshot())

    def count_from(self, receiver: Any, pid: int) -> int:
        """The records the receiver took from process ``pid``."""
        return sum((record.get("process") or {}).get("pid") == pid for record in receiver.snapshot())


class LokiCollector(HttpCollector):
    """HttpLogger with Loki push bodies; the receiver checks each stream and entry."""

    name = "loki"
    kind = "loki"
    url_path = "/loki/api/v1/push"


class BulkCollector(HttpCollector):
    """HttpLogger with ``_bulk`` bodies of ``create`` actions; the receiver answers per item."""

    name = "bulk"
    kind = "bulk"
    url_path = "/logs-gunicorn-test/_bulk"


class OtlpCollector(HttpCollector):
    """OtlpLogger, to :class:`HttpReceiver` decoding OTLP with opentelemetry-proto."""

    name = "otlp"
    logger = "gunicorn_loggers.OtlpLogger"
    kind = "otlp"
    wrong_credentials = {"OTEL_EXPORTER_OTLP_HEADERS": "authorization=Bearer%20wrong-t0ken"}

    def env(self, port: int) -> dict[str, str]:
        return {"OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{port}"}

    def paths(self, receiver: Any) -> list[str]:
        return receiver.otlp_access_paths()

    def count(self, receiver: Any) -> int:
        return len(receiver.entries)

    def count_from(self, receiver: Any, pid: int) -> int:
        return sum(entry["resource"].get("process.pid") == pid for entry in list(receiver.entries))


class FluentCollector:
    """FluentLogger, to :class:`ForwardReceiver`; ``delay`` holds back each ack."""

    name = "fluent"
    logger = "gunicorn_loggers.FluentLogger"
    at_least_once = True  # a chunk whose ack was lost is sent again
    answer_timeout = "no ack within {} s"

    def receiver(self, port: int | None = None, delay: float = 0.0, trickle: float = 0.0) -> Any:
        return ForwardReceiver(port=port, ack_delay=delay, ack_trickle=trickle)

    def env(self, port: int) -> dict[str, str]:
        return {"GUNICORN_LOGGERS_URL": f"tcp://127.0.0.1:{port}"}

    def paths(self, receiver: Any) -> list[str]:
        return receiver.access_paths()

    def count(self, receiver: Any) -> int:
        return len(receiver.snapshot())

    def count_from(self, receiver: Any, pid: int) -> int:
        """Distinct records: a chunk sent again after a lost ack repeats its records byte for byte."""
        records = [r for r in receiver.records() if (r.get("process") or {}).get("pid") == pid]
        return len({json.dumps(record, sort_keys=True) for record in records})


COLLECTORS = [HttpCollector(), OtlpCollector(), FluentCollector(), LokiCollector(), BulkCollector()]


@pytest.fixture(params=COLLECTORS, ids=lambda c: c.name)
def collector(request):
    return request.param


@pytest.fixture(params=[c for c in COLLECTORS if c.name != "fluent"], ids=lambda c: c.name)
def http_collector(request):
    return request.param


@pytest.fixture(params=[c for c in COLLECTORS if c.name in ("http", "fluent")], ids=lambda c: c.name)
def answering_collector(request):
    """One of each way of waiting for the collector: an HTTP answer, a Fluentd ack."""
    return request.param


class Lab:
    """The gunicorns and receivers of one test; all stopped at its end, gunicorn by PID."""

    def __init__(self, tmp_path: Path) -> None:
        self.tmp_path = tmp_path
        self.servers: list[NetworkGunicorn] = []
        self.receivers: list[Any] = []

    def start(self, receiver: Any) -> Any:
        self.receivers.append(receiver)
        return receiver.start()

    def receiver(self, collector: Any, port: int | None = None, **options: Any) -> Any:
        return self.start(collector.receiver(port, **options))

    def gunicorn(self, collector: Any, port: int, *args: str, env: dict | None = None) -> NetworkGunicorn:
        workdir = self.tmp_path / f"server{len(self.servers)}"
        workdir.mkdir()
        environment = {"GUNICORN_LOGGERS_REPORT_INTERVAL": "1", **collector.env(port), **(env or {})}
        server = NetworkGunicorn(
            workdir, *args, logger_class=collector.logger, env=environment, access_log=False, quiet=True
        )
        self.servers.append(server)
        return server.start()

    def stop(self) -> None:
        for server in self.servers:
            server.stop()
        for receiver in self.receivers:
            receiver.stop()


@pytest.fixture
def lab(tmp_path):
    started = Lab(tmp_path)
    yield started
    started.stop()


# -- what every test checks ----------------------------------------------------------------------------


def timed_requests(server: NetworkGunicorn, prefix: str, count: int, pause: float = 0.0) -> list[float]:
    """``count`` requests, each answered 200; their durations, sorted."""
    durations = []
    for n in range(count):
        started = time.monotonic()
        assert server.request(f"{prefix}/{n}")[0] == 200
        durations.append(time.monotonic() - started)
        time.sleep(pause)
    return sorted(durations)


def assert_not_slowed(durations: list[float]) -> None:
    assert durations[len(durations) // 2] < 0.05 and durations[-1] < 0.5, durations[-5:]


def arrived(collector: Any, *receivers: Any) -> list[str]:
    """Access paths in arrival order, each once; only Fluentd forward may have sent one twice."""
    paths = [path for receiver in receivers for path in collector.paths(receiver)]
    unique = list(dict.fromkeys(paths))
    if not collector.at_least_once:
        assert len(paths) == len(unique), paths
    return unique


def accounted(server: NetworkGunicorn, collector: Any, receivers: list, processes: int) -> dict[int, dict]:
    """Each process's totals add up, and the receivers hold what they count as delivered; exit totals by pid.

    An exit report gives its process's totals since start, reloads included; a report of an engine replaced
    on a reload gives that engine's own numbers, already in its process's exit totals.
    """
    exits = server.exit_reports()
    assert len(exits) == processes, server.all_output()[-3000:]
    for report in exits:
        stats = report["delivery"]
        assert stats["scope"] == "process", stats
        assert stats["delivered"] + stats["dropped"] == stats["produced"] and stats["pending"] == 0, stats
    for report in server.delivery_reports():
        if " on reload: " in report["message"]:
            stats = report["delivery"]
            assert stats["delivered"] + stats["dropped"] + stats["handed_over"] == stats["produced"], stats
    delivered = sum(r["delivery"]["delivered"] for r in exits)
    received = sum(collector.count(receiver) for receiver in receivers)
    if not (received >= delivered if collector.at_least_once else received == delivered):
        held = [getattr(receiver, "entries", None) or receiver.snapshot() for receiver in receivers]
        raise AssertionError(f"received {received}, delivered {delivered}; exits {exits}; receivers held {held}")
    return {r["process"]["pid"]: r["delivery"] for r in exits}


def reports_of(server: NetworkGunicorn, pid: int, text: str) -> list[dict]:
    return [r for r in server.delivery_reports() if r["process"]["pid"] == pid and text in r["message"]]


def ended_outages(server: NetworkGunicorn, pid: int, count: int) -> dict:
    """The report of ``pid`` that its ``count``-th outage is over: sent once the batch that ended it was settled."""
    ended = server.wait_for(
        lambda: (r := reports_of(server, pid, "delivering again")) and len(r) >= count and r,
        what=f"the end of outage {count}",
    )
    return ended[count - 1]


def worker_pid(server: NetworkGunicorn) -> int:
    """The one worker's pid, from the reports it has written so far."""
    assert server.proc is not None
    pids = {r["process"]["pid"] for r in server.delivery_reports()} - {server.proc.pid}
    assert len(pids) == 1, pids
    return pids.pop()


# -- the matrix -----------------------------------------------------------------------------------------


def test_absent_at_start_then_killed_and_restarted(lab, collector):
    """Boots and serves without a receiver; through an outage the buffer's 20 records wait, the rest are counted."""
    port = free_port()
    server = lab.gunicorn(collector, port, env={BUFFER: "20"})
    assert_not_slowed(timed_requests(server, "/early", 5))
    server.wait_for(
        lambda: len({r["process"]["pid"] for r in server.delivery_reports()}) == 2, what="both processes' reports"
    )
    worker = worker_pid(server)
    assert reports_of(server, worker, "cannot connect: ConnectionRefusedError")
    first = lab.receiver(collector, port)
    wait_until(lambda: len(collector.paths(first)) >= 5, timeout=15, what="the records kept while it was absent")
    # A receiver holds a batch before its answer (or ack) reaches the worker, and until then the batch
    # still fills the worker's buffer: a receiver stopped in between gets the batch again, and a record
    # made in between (the worker's "Worker exiting" as gunicorn stops) is dropped as the buffer is full.
    # The worker reports that it delivers again once it has the answer, with what it then holds.
    back = ended_outages(server, worker, 1)
    assert back["delivery"]["pending"] == 0, back  # all it kept went in that batch
    first.stop()
    assert_not_slowed(timed_requests(server, "/during", 30))
    server.wait_for(lambda: len(reports_of(server, worker, "keeping up to")) >= 2, what="the second outage")
    second = lab.receiver(collector, port)
    wait_until(lambda: len(collector.paths(second)) >= 20, timeout=15, what="the records kept through the outage")
    back = ended_outages(server, worker, 2)
    assert back["delivery"]["pending"] == 0, back
    assert re.search(r"delivering again after \S+ s; 10 dropped;", back["message"]), back
    server.stop()  # the worker's buffer is empty: its "Worker exiting" is delivered
    assert arrived(collector, first) == [f"/early/{n}" for n in range(5)]
    assert arrived(collector, second) == [f"/during/{n}" for n in range(20)]  # the oldest are kept
    stats = accounted(server, collector, [first, second], processes=2)[worker]
    assert stats["dropped_buffer_full"] == stats["dropped"] == 10


def test_a_receiver_that_accepts_and_never_reads(lab, collector):
    """No answer, no ack: requests never wait, and the stop takes seconds, not the 30 s graceful timeout."""
    receiver = lab.start(NdjsonReceiver(read=False))
    server = lab.gunicorn(collector, receiver.port, "--graceful-timeout", "30", env={BUFFER: "50"})
    assert_not_slowed(timed_requests(server, "/stalled", 100))
    started = time.monotonic()
    server.stop(timeout=40)
    took = time.monotonic() - started
    assert took < 8.0, took  # the worker's flush, then the master's, each about STALL_GIVE_UP
    assert receiver.connections >= 2
    totals = accounted(server, collector, [], processes=2)
    assert all(stats["delivered"] == 0 and stats["dropped_at_exit"] > 0 for stats in totals.values())
    assert max(stats["dropped_buffer_full"] for stats in totals.values()) > 0  # the worker's buffer was full
    for report in server.exit_reports():
        assert "flush abandoned: the receiver made no progress for " in report["message"]
    print(f"{collector.name}: graceful stop with a receiver that never reads took {took:.1f} s")


def test_a_receiver_that_resets_connections(lab, collector):
    """Connections reset mid-run and on every accept for a while: nothing is lost, requests never wait."""
    receiver = lab.receiver(collector)
    proxy = lab.start(ResettingProxy(receiver.port))
    server = lab.gunicorn(collector, proxy.port)
    assert_not_slowed(timed_requests(server, "/before", 5))
    wait_until(lambda: len(collector.paths(receiver)) >= 5, what="the records before the resets")
    time.sleep(0.3)  # the answer (or ack) travels back: a reset before it lands means sending again
    proxy.resetting = True
    proxy.reset_open()
    resets = proxy.resets
    assert_not_slowed(timed_requests(server, "/reset", 10))

    def reset_and_reported() -> bool:
        reports = [r for r in server.delivery_reports() if r["process"]["pid"] != server.proc.pid]
        return proxy.resets >= resets + 2 and any(RESET.search(r["message"]) for r in reports)

    server.wait_for(reset_and_reported, what="reconnects reset, and the worker's report of it")
    proxy.resetting = False
    wait_until(lambda: len(collector.paths(receiver)) >= 15, timeout=15, what="the records sent during the resets")
    server.stop()
    expected = [f"/before/{n}" for n in range(5)] + [f"/reset/{n}" for n in range(10)]
    assert arrived(collector, receiver) == expected
    totals = accounted(server, collector, [receiver], processes=2)
    assert all(stats["dropped"] == 0 for stats in totals.values())
    assert receiver.errors == []


def test_sighup_and_sigusr1_during_an_outage(lab, collector):
    """Reload and log reopening while the receiver is down: gunicorn keeps serving, every process accounts."""
    port = free_port()
    server = lab.gunicorn(collector, port, "-w", "2", "--graceful-timeout", "3")
    assert_not_slowed(timed_requests(server, "/before", 4))
    server.signal(signal.SIGHUP)
    server.wait_for(
        lambda: sum(r["message"].startswith("Booting worker") for r in server.error_records()) >= 4,
        what="workers booted after the reload",
    )
    server.wait_for(lambda: len(server.exit_reports()) >= 2, what="the old workers' exit reports")
    server.signal(signal.SIGUSR1)
    assert_not_slowed(timed_requests(server, "/after", 3))
    receiver = lab.receiver(collector, port)
    server.signal(signal.SIGUSR1)  # skips the backoff: the receiver is back
    wait_until(lambda: len(collector.paths(receiver)) >= 3, timeout=15, what="the records kept through the outage")
    # The master's records from before the reload went on in its new engine (nothing changed in the options).
    master = server.proc.pid
    wait_until(lambda: "Listening at" in receiver.text(master), timeout=15, what="the master's start-up records")
    server.stop()
    assert sorted(arrived(collector, receiver)) == [f"/after/{n}" for n in range(3)]
    old = server.exit_reports()[:2]
    assert all(r["delivery"]["delivered"] == 0 and r["delivery"]["dropped_at_exit"] > 0 for r in old)
    assert sum(r["delivery"]["produced"] for r in old) >= 4 + 2  # their requests and their boot records
    accounted(server, collector, [receiver], processes=5)  # two old workers, two new ones, the master
    assert not [
        r for r in server.delivery_reports() if r["process"]["pid"] == master and " on reload: " in r["message"]
    ]


def test_graceful_stop_with_a_full_buffer_flushes_what_it_holds(lab, collector):
    """A buffer of 10 filled during an outage; the receiver is back as the stop begins: flushed, the rest counted."""
    port = free_port()
    server = lab.gunicorn(collector, port, "--graceful-timeout", "5", env={BUFFER: "10"})
    assert_not_slowed(timed_requests(server, "/full", 30))
    receiver = lab.receiver(collector, port)
    started = time.monotonic()
    server.stop()
    assert time.monotonic() - started < 5.0
    paths = arrived(collector, receiver)
    assert 1 <= len(paths) <= 10 and paths == [f"/full/{n}" for n in range(len(paths))]  # the oldest are kept
    totals = accounted(server, collector, [receiver], processes=2)
    worker = max(totals.values(), key=lambda stats: stats["produced"])
    assert worker["dropped_at_exit"] == 0 and worker["dropped_buffer_full"] >= 30 - len(paths)
    assert worker["dropped"] == worker["dropped_buffer_full"]


def test_a_slow_collector_slows_no_request_and_the_stop_flushes_everything(lab, collector):
    """Each answer (or ack) takes 0.5 s: requests go at full speed, and the flush at stop keeps making progress."""
    receiver = lab.receiver(collector, delay=0.5)
    server = lab.gunicorn(collector, receiver.port, "--graceful-timeout", "10")
    assert_not_slowed(timed_requests(server, "/slow", 40))
    server.stop()  # at once: a batch on its way and more waiting
    assert sorted(arrived(collector, receiver)) == sorted(f"/slow/{n}" for n in range(40))
    totals = accounted(server, collector, [receiver], processes=2)
    assert all(stats["dropped"] == 0 for stats in totals.values())
    assert 0.5 < STALL_GIVE_UP  # each answer comes well within the stall limit


def test_wrong_credentials_are_reported_once_per_interval_and_counted(lab, http_collector):
    """401 on every batch: one report per interval per process, every record counted as rejected."""
    collector = http_collector
    receiver = lab.receiver(collector, require={"Authorization": "Bearer right-t0ken"})
    started = time.monotonic()
    server = lab.gunicorn(collector, receiver.port, env=collector.wrong_credentials)
    assert_not_slowed(timed_requests(server, "/refused", 25, pause=0.1))
    worker = worker_pid(server)
    server.wait_for(lambda: reports_of(server, worker, "HTTP 401"), what="the 401 report")
    server.stop()
    elapsed = time.monotonic() - started
    assert collector.count(receiver) == 0
    assert sum(r["status"] == 401 for r in receiver.requests) >= 3  # several batches refused ...
    # ... reported at most once per 1 s interval: int(elapsed) + 1 reports, since the first comes at
    # once; then at exit what the interval held back, and the totals that name the last error.
    for pid in (worker, server.proc.pid):
        refused = reports_of(server, pid, "HTTP 401 Unauthorized: check the credentials")
        assert 1 <= len(refused) <= int(elapsed) + 1 + 2, [(r["@timestamp"], r["message"][-160:]) for r in refused]
    totals = accounted(server, collector, [receiver], processes=2)
    assert totals[worker]["delivered"] == 0 and totals[worker]["dropped_rejected"] == totals[worker]["produced"] >= 25
    assert "wrong-t0ken" not in server.all_output()


# -- reloads, and a collector that answers a byte a second ----------------------------------------------

RELOADS = 4


def booted(collector: Any, receiver: Any) -> int:
    return receiver.text().count("Booting worker")


def test_the_masters_exit_report_gives_its_totals_since_start_across_reloads(lab, collector):
    """Each SIGHUP builds the master a new engine; its exit report used to count only the last one's records
    (10 reloads: 25 records received from the master, its report said 2 produced)."""
    receiver = lab.receiver(collector)
    server = lab.gunicorn(collector, receiver.port)
    master = server.proc.pid
    for n in range(RELOADS):
        before = booted(collector, receiver)
        assert server.request(f"/generation/{n}")[0] == 200
        server.signal(signal.SIGHUP)
        server.wait_for(lambda b=before: booted(collector, receiver) > b, timeout=15, what=f"reload {n + 1} booted")
    server.stop()
    (report,) = [r for r in server.exit_reports() if r["process"]["pid"] == master]
    stats = report["delivery"]
    received = collector.count_from(receiver, master)
    assert received == stats["delivered"], (received, stats)
    assert stats["delivered"] + stats["dropped"] == stats["produced"] and stats["pending"] == 0, stats
    assert stats["reloads"] == RELOADS and stats["dropped"] == 0, stats
    assert f"across {RELOADS} reloads" in report["message"]
    print(f"{collector.name}: master after {RELOADS} reloads: {received} received, {stats}")


def test_drops_are_reported_at_the_interval_while_a_send_waits_for_a_trickling_answer(lab, answering_collector):
    """The collector answers a byte a second (READ_TIMEOUT 30 s): the sender sits in one send while the worker
    drops records as its buffer is full, and the drops are reported each second meanwhile (there were none)."""
    collector = answering_collector
    receiver = lab.receiver(collector, trickle=1.0)
    env = {BUFFER: "20", "GUNICORN_LOGGERS_READ_TIMEOUT": "30"}
    server = lab.gunicorn(collector, receiver.port, env=env)
    wait_until(lambda: receiver.trickling >= 2, timeout=15, what="the answers to both processes trickling")
    trickling_since = time.monotonic()  # both processes had made their first record by then
    worker = None

    def told_while_waiting() -> list[dict]:
        nonlocal worker
        assert_not_slowed(timed_requests(server, "/dropped", 10))
        reports = [r for r in server.delivery_reports() if r["process"]["pid"] != server.proc.pid]
        worker = reports[0]["process"]["pid"] if reports else None
        return [r for r in reports if "records dropped" in r["message"]]

    told = server.wait_for(lambda: len(told_while_waiting()) >= 3, timeout=15, what="three drop reports")
    assert receiver.hangups == []  # the first answers are still under way
    told = [r for r in server.delivery_reports() if r["process"]["pid"] == worker and "records dropped" in r["message"]]
    assert any("the send under way has waited" in r["message"] for r in told), told
    waited = time.monotonic() - trickling_since
    server.stop()
    assert len(server.exit_reports()) == 2
    for report in server.exit_reports():
        stats = report["delivery"]
        assert stats["delivered"] + stats["dropped"] == stats["produced"] and stats["pending"] == 0, stats
        # how long the receiver really took nothing, not the 2 s stall limit: all the wait, then the flush's 2 s
        match = re.search(r"flush abandoned: the receiver made no progress for (\d+\.\d) s", report["message"])
        assert match and float(match.group(1)) >= waited + 1.0, (waited, report["message"])
    assert max(r["delivery"]["dropped_buffer_full"] for r in server.exit_reports()) > 0


def test_read_timeout_bounds_the_whole_answer_not_each_read(lab, answering_collector):
    """READ_TIMEOUT=2 against a collector that sends its answer (or ack) a byte a second: the sender hangs up
    after 2 s and retries, where a timeout per read kept one POST waiting 17 s and more."""
    collector = answering_collector
    receiver = lab.receiver(collector, trickle=1.0)
    server = lab.gunicorn(collector, receiver.port, env={"GUNICORN_LOGGERS_READ_TIMEOUT": "2"})
    assert server.request("/trickled")[0] == 200
    hangups = wait_until(lambda: len(receiver.hangups) >= 2 and list(receiver.hangups), timeout=10, what="hang-ups")
    assert all(seconds <= 2.0 + 0.5 for seconds in hangups), hangups
    expected = collector.answer_timeout.format(2)
    server.wait_for(lambda: any(expected in r["message"] for r in server.delivery_reports()), what=expected)
    server.stop()
    server.balanced_exit_stats(2)  # the receiver holds records whose answer never came whole: not delivered
    print(f"{collector.name}: hung up after {', '.join(f'{s:.2f}' for s in hangups)} s")


def test_a_reload_does_not_wait_for_a_stalled_collector(lab, answering_collector):
    """The master's SIGHUP used to wait up to the 2 s stall limit for its old engine's send, handling no signal
    and reaping no worker meanwhile; the new worker now boots at once, and the totals still add up."""
    collector = answering_collector
    receiver = lab.receiver(collector, trickle=1.0)
    server = lab.gunicorn(collector, receiver.port, env={"GUNICORN_LOGGERS_READ_TIMEOUT": "30"})
    wait_until(lambda: receiver.trickling >= 2, timeout=15, what="the answers to both processes trickling")
    boots = lambda: sum(r["message"].startswith("Booting worker") for r in server.error_records())  # noqa: E731
    before = boots()
    started = time.monotonic()
    server.signal(signal.SIGHUP)
    server.wait_for(lambda: boots() > before, what="the new worker booted")
    took = time.monotonic() - started
    assert took < STALL_GIVE_UP * 0.75, took
    server.stop()
    server.balanced_exit_stats(3)  # the master, the old worker, the new one
    master = server.proc.pid
    (report,) = [r for r in server.exit_reports() if r["process"]["pid"] == master]
    assert report["delivery"]["reloads"] == 1
    print(f"{collector.name}: the new worker booted {took:.2f} s after SIGHUP")
