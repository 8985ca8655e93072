"""The delivery engine and the framers on their own, against real loopback sockets."""

from __future__ import annotations

import itertools
import json
import logging
import os
import re
import select
import socket
import threading
import time

import pytest

from gunicorn_loggers.delivery import LINGER, STALL_GIVE_UP, DeliveryEngine, Outcome, parse_endpoint
from gunicorn_loggers.frames import Frame
from gunicorn_loggers.framing.ndjson import TRUNCATED, fit_json_line
from gunicorn_loggers.framing.syslog import SyslogEncoder
from gunicorn_loggers.levels import canonical
from gunicorn_loggers.transports.http import HttpTransport
from gunicorn_loggers.transports.http_bodies import NdjsonFormat
from gunicorn_loggers.transports.http_target import parse_http_url
from gunicorn_loggers.transports.socket import SEND_BUFFER, SOCKET_TIMEOUT, SocketTransport
from tests.gunicorn_process import child_hung
from tests.receivers import NdjsonReceiver, free_port, wait_until


def line(n: int, pad: str = "") -> Frame:
    return Frame("error", "info", 0, json.dumps({"n": n, "pad": pad}).encode() + b"\n")


def syslog_frame(encoder: SyslogEncoder, line: bytes, level: str = "warning") -> bytes | None:
    frame = encoder.encode("error", level, 1_767_225_600_123_456_000, None, line)
    return None if frame is None else frame.data


def test_every_record_arrives_in_order_and_the_numbers_add_up():
    reports = []
    with NdjsonReceiver() as receiver:
        engine = DeliveryEngine(parse_endpoint(receiver.url), report=lambda *r: reports.append(r))
        for n in range(2000):
            assert engine.submit(line(n))
        wait_until(lambda: len(receiver.snapshot()) == 2000, what="2000 records")
        engine.close(2)
    assert [r["n"] for r in receiver.snapshot()] == list(range(2000))
    stats = engine.stats()
    assert (stats["produced"], stats["delivered"], stats["dropped"], stats["pending"]) == (2000, 2000, 0, 0)
    assert reports[-1][1].endswith("at exit: 2000 produced, 2000 delivered, 0 dropped, 0 pending")


class CountingSocketTransport(SocketTransport):
    """The real socket transport, counting its sends."""

    sends = 0

    def send(self, batch, timeout):
        self.sends += 1
        return super().send(batch, timeout)


def test_under_steady_load_the_sender_sends_once_per_linger_and_no_request_wakes_it():
    with NdjsonReceiver() as receiver:
        transport = CountingSocketTransport(parse_endpoint(receiver.url))
        engine = DeliveryEngine(transport)
        wakes = []
        set_wakeup = engine._wakeup.set
        engine._wakeup.set = lambda: (wakes.append(time.monotonic()), set_wakeup())
        started = time.monotonic()
        produced = 0
        while time.monotonic() - started < 0.5:  # about one record a millisecond, as a busy worker makes
            engine.submit(line(produced))
            produced += 1
            time.sleep(0.001)
        elapsed = time.monotonic() - started
        wait_until(lambda: len(receiver.snapshot()) == produced, what=f"{produced} records")
        woken_by_submit = len(wakes)
        engine.close(2)
    assert [r["n"] for r in receiver.snapshot()] == list(range(produced))
    # Before: a send, an empty queue, idle, and the next record woke it: ~2 sends and 1 wake per 5 ms.
    assert transport.sends <= elapsed / LINGER + 3, (transport.sends, produced)
    assert woken_by_submit <= 3, wakes  # the first record; a stall of the test process may add one


def test_a_full_buffer_drops_new_records_counts_them_and_never_blocks():
    engine = DeliveryEngine(parse_endpoint(f"tcp://127.0.0.1:{free_port()}"), max_records=10, report=None)
    started = time.monotonic()
    accepted = [engine.submit(line(n)) for n in range(25)]
    assert time.monotonic() - started < 0.5
    assert accepted == [True] * 10 + [False] * 15
    engine.close(0.5)  # nobody listens: one attempt, then the rest is dropped at exit
    stats = engine.stats()
    assert stats["dropped_buffer_full"] == 15 and stats["dropped_at_exit"] == 10
    assert stats["produced"] == stats["delivered"] + stats["dropped"] == 25


def test_the_byte_bound_holds_as_well_as_the_record_bound():
    engine = DeliveryEngine(parse_endpoint(f"tcp://127.0.0.1:{free_port()}"), max_bytes=1024)
    accepted = sum(engine.submit(line(n, "x" * 90)) for n in range(50))
    assert accepted == 1024 // len(line(0, "x" * 90))
    engine.close(0.2)
    assert engine.stats()["produced"] == engine.stats()["dropped"] == 50


def test_a_receiver_that_never_reads_cannot_block_submit():
    with NdjsonReceiver(read=False) as receiver:
        engine = DeliveryEngine(parse_endpoint(receiver.url), max_bytes=256 * 1024)
        started = time.monotonic()
        for n in range(20000):
            engine.submit(line(n, "y" * 200))
        elapsed = time.monotonic() - started
        engine.close(0.5)
    assert elapsed < 2.0
    stats = engine.stats()
    assert stats["dropped_buffer_full"] > 0
    assert stats["delivered"] + stats["dropped"] == stats["produced"] == 20000


def test_a_receiver_that_never_reads_swallows_no_more_than_the_send_buffer():
    """Bytes the kernel took count as delivered: an autotuned TCP buffer took megabytes of records
    no one would ever read (and copied them in one burst on each reconnect)."""
    with NdjsonReceiver(read=False) as receiver:
        engine = DeliveryEngine(parse_endpoint(receiver.url))
        frame = line(0, "s" * 1000)
        for n in range(6000):
            engine.submit(line(n, "s" * 1000))
        # an engine that has not connected yet is not delivering either: wait for the first bytes taken too
        wait_until(
            lambda: engine.stats()["delivered"] > 0 and not engine.delivering,
            timeout=10,
            what="the sender stuck in a send after the kernel took the first bytes",
        )
        stats = engine.stats()
        engine.close(0.2, final_report=False)
    assert 0 < stats["delivered"] * len(frame) <= 2 * SEND_BUFFER, stats
    assert stats["pending"] == 6000 - stats["delivered"]


def test_records_wait_in_the_buffer_until_the_receiver_appears():
    port = free_port()
    reports = []
    engine = DeliveryEngine(parse_endpoint(f"tcp://127.0.0.1:{port}"), report=lambda *r: reports.append(r))
    for n in range(100):
        engine.submit(line(n))
    wait_until(lambda: reports, what="the first report")
    assert "cannot connect: ConnectionRefusedError" in reports[0][1]
    with NdjsonReceiver(port=port) as receiver:
        wait_until(lambda: len(receiver.snapshot()) == 100, timeout=10, what="buffered records")
        engine.close(1)
    assert [r["n"] for r in receiver.snapshot()] == list(range(100))
    assert any("delivering again" in message for _, message, _ in reports)


def test_closing_during_the_backoff_still_makes_one_attempt():
    port = free_port()
    engine = DeliveryEngine(parse_endpoint(f"tcp://127.0.0.1:{port}"))
    engine.submit(line(1))
    time.sleep(1.0)  # a few refused attempts: the sender now waits in a backoff of about a second
    with NdjsonReceiver(port=port) as receiver:
        engine.close(3)
        wait_until(lambda: receiver.snapshot(), timeout=3, what="the record flushed at close")
    assert engine.stats()["delivered"] == 1


def test_the_flush_gives_up_on_a_receiver_that_takes_nothing():
    """Accepted, never read: the flush ends about STALL_GIVE_UP after the receiver last took a byte."""
    reports = []
    with NdjsonReceiver(read=False) as receiver:
        engine = DeliveryEngine(parse_endpoint(receiver.url), report=lambda *r: reports.append(r))
        for n in range(3000):
            engine.submit(line(n, "s" * 1000))
        # an engine that has not connected yet is not delivering either: wait for the first bytes taken too
        wait_until(
            lambda: engine.stats()["delivered"] > 0 and not engine.delivering,
            timeout=10,
            what="the sender stuck in a send after the kernel took the first bytes",
        )
        started = time.monotonic()
        engine.close(30)
        elapsed = time.monotonic() - started
    # the send under way began before close(); SocketTransport.progress_at lets the flush give up on
    # it too, long before its own SOCKET_TIMEOUT
    assert STALL_GIVE_UP * 0.9 <= elapsed < STALL_GIVE_UP + 1.5 < SOCKET_TIMEOUT
    stats = engine.stats()
    assert stats["produced"] == stats["delivered"] + stats["dropped"] == 3000 and stats["pending"] == 0
    assert stats["dropped_at_exit"] > 0 and stats["delivered"] < 3000
    # the exit report; the stuck send may report its own failure after it, once the receiver is gone
    abandoned = r"at exit: flush abandoned: the receiver made no progress for \d+\.\d s; "
    assert any(re.search(abandoned, message) for _, message, _ in reports), reports


class ScriptedTransport:
    """A transport that answers each send with the next scripted outcome; for the engine's own rules."""

    name = "scripted://"
    batch_records = 100
    batch_bytes = 1 << 20

    def __init__(self, *outcomes) -> None:
        self.outcomes = list(outcomes)
        self.batches: list[list[bytes]] = []
        self.sent_at: list[float] = []

    def connect(self, timeout: float) -> None:
        pass

    def close(self) -> None:
        pass

    def send(self, batch, timeout):
        self.batches.append(list(batch))
        self.sent_at.append(time.monotonic())
        script = self.outcomes.pop(0) if self.outcomes else (lambda b: Outcome(delivered=len(b)))
        return script(batch)


def test_outcomes_count_rejected_retry_and_honour_retry_after():
    transport = ScriptedTransport(
        lambda b: Outcome(delivered=1, rejected=1, retry=b[2:], note="HTTP 400: bad record"),
        lambda b: Outcome(retry=b, error="the collector answered HTTP 429", retry_after=0.6),
    )
    reports = []
    engine = DeliveryEngine(transport, report=lambda *r: reports.append(r), report_interval=0.2)
    for n in range(4):
        engine.submit(line(n))
    wait_until(lambda: len(transport.batches) >= 3, timeout=5, what="three sends")
    engine.close(1)
    first, second, third = transport.batches[:3]
    assert len(first) == 4 and second == first[2:] and third == first[2:]
    assert transport.sent_at[2] - transport.sent_at[1] >= 0.55  # Retry-After, not the 0.1 s backoff
    stats = engine.stats()
    assert (stats["delivered"], stats["dropped_rejected"], stats["dropped"]) == (3, 1, 1)
    text = " ".join(message for _, message, _ in reports)
    assert "the collector rejected 1 records: HTTP 400: bad record" in text
    assert "asked to wait 0.6 s" in text


def test_a_batch_sent_again_takes_the_records_that_came_during_the_outage():
    """A Fluentd receiver without acks once held gunicorn's start-up: the retried chunk was its first line only."""
    failed = threading.Event()

    def fail_once(batch):  # as a missing ack does: longer than the linger, then nothing delivered
        failed.set()
        time.sleep(0.2)
        return Outcome(retry=batch, error="no ack within 0.2 s")

    transport = ScriptedTransport(fail_once)
    engine = DeliveryEngine(transport)
    engine.submit(line(0))
    failed.wait(5)
    for n in range(1, 4):
        engine.submit(line(n))
    wait_until(lambda: len(transport.batches) >= 2, timeout=5, what="the second send")
    engine.close(1)
    assert transport.batches[0] == [line(0)]
    assert transport.batches[1] == [line(n) for n in range(4)]  # in order, the retried one first
    assert engine.stats()["delivered"] == 4


def test_a_batch_full_by_bytes_is_sent_at_once_not_after_the_linger():
    """Big records (stack traces) fill a batch's bytes long before its count: waiting adds nothing to it."""

    class SmallBatches(ScriptedTransport):
        batch_bytes = 4096

    transport = SmallBatches()
    engine = DeliveryEngine(transport)
    started = time.monotonic()
    for n in range(100):
        engine.submit(line(n, "x" * 2000))
    wait_until(lambda: engine.stats()["delivered"] == 100, timeout=10, what="100 big records")
    elapsed = time.monotonic() - started
    engine.close(1)
    assert max(len(batch) for batch in transport.batches) <= 2 and len(transport.batches) >= 50
    # one linger per batch would take 50 x 100 ms = 5 s
    assert elapsed < 25 * LINGER, (elapsed, len(transport.batches))


class HangingTransport(ScriptedTransport):
    """Every send waits (its own 10 s, or the engine's timeout) and times out; it tells its progress."""

    progress_at = 0.0

    def __init__(self) -> None:
        super().__init__()
        self.release = threading.Event()

    def send(self, batch, timeout):
        self.batches.append(list(batch))
        self.release.wait(10.0 if timeout is None else timeout)
        return Outcome(retry=batch, error="sending failed: TimeoutError: timed out")


def no_progress_seconds(message: str) -> float:
    """The seconds an exit report says the receiver made no progress for."""
    match = re.search(r"flush abandoned: the receiver made no progress for (\d+\.\d) s; ", message)
    assert match, message
    return float(match.group(1))


def test_a_send_begun_before_the_flush_is_given_up_on_when_the_transport_tells_its_progress():
    transport = HangingTransport()
    reports = []
    engine = DeliveryEngine(transport, report=lambda *r: reports.append(r))
    first = time.monotonic()
    for n in range(5):
        engine.submit(line(n))
    wait_until(lambda: transport.batches, what="the send under way")
    time.sleep(1.0)  # the send has hung for a while before the flush begins
    started = time.monotonic()
    engine.close(30)
    ended = time.monotonic()
    transport.release.set()
    assert STALL_GIVE_UP * 0.9 <= ended - started < STALL_GIVE_UP + 1.0  # not the send's own 10 s
    stats = engine.stats()
    assert (stats["produced"], stats["dropped_at_exit"], stats["pending"]) == (5, 5, 0)
    # measured since the receiver could first have taken something, not the stall limit: 3 s and more here
    assert started - first + STALL_GIVE_UP - 0.1 <= no_progress_seconds(reports[-1][1]) <= ended - first + 0.1


def test_a_slow_receiver_that_keeps_taking_batches_gets_the_whole_flush():
    """Each batch takes 0.4 s: the flush outlasts the stall limit, and nothing is given up."""
    transport = ScriptedTransport(*[lambda b: time.sleep(0.4) or Outcome(delivered=len(b))] * 10)
    transport.batch_records = 10
    reports = []
    engine = DeliveryEngine(transport, report=lambda *r: reports.append(r))
    for n in range(60):
        engine.submit(line(n))
    started = time.monotonic()
    engine.close(30)
    elapsed = time.monotonic() - started
    assert elapsed > STALL_GIVE_UP
    assert [json.loads(frame.data)["n"] for batch in transport.batches for frame in batch] == list(range(60))
    stats = engine.stats()
    assert (stats["produced"], stats["delivered"], stats["dropped"]) == (60, 60, 0)
    assert "abandoned" not in reports[-1][1]


def test_the_flush_keeps_the_backoff_between_attempts():
    """A collector failing every batch at exit (HTTP 503) gets a few attempts before the stall limit, not thousands."""
    transport = ScriptedTransport(*[lambda b: Outcome(retry=b, error="the collector answered HTTP 503")] * 10_000)
    reports = []
    engine = DeliveryEngine(transport, report=lambda *r: reports.append(r))
    first = time.monotonic()
    engine.submit(line(1))
    wait_until(lambda: transport.batches, what="the first attempt")
    before = len(transport.batches)
    started = time.monotonic()
    engine.close(30)
    ended = time.monotonic()
    assert STALL_GIVE_UP * 0.9 <= ended - started < STALL_GIVE_UP + 0.5
    assert 1 <= len(transport.batches) - before <= 10  # backoff from 0.05-0.1 s, doubling
    assert engine.stats()["dropped_at_exit"] == 1
    assert started - first + STALL_GIVE_UP - 0.1 <= no_progress_seconds(reports[-1][1]) <= ended - first + 0.1
    assert reports[-1][1].endswith("last error: the collector answered HTTP 503")


def test_drops_are_reported_at_the_interval_while_a_send_hangs():
    """The reporter thread tells the drops while the sender sits in one send: it used to tell nothing until it
    returned (0 reports in 14 s while a worker dropped thousands), and no two reports come within the interval."""
    transport = HangingTransport()
    reports = []
    engine = DeliveryEngine(
        transport, max_records=5, report=lambda *r: reports.append((time.monotonic(), *r)), report_interval=0.3
    )
    engine.submit(line(0))
    wait_until(lambda: transport.batches, what="the send under way")
    slowest = 0.0

    def dropped_and_told() -> bool:
        nonlocal slowest
        for n in range(20):  # about 2000 records a second, each but the first 4 dropped
            started = time.monotonic()
            engine.submit(line(n))
            slowest = max(slowest, time.monotonic() - started)
        told = [message for _, _, message, _ in reports if "records dropped" in message]
        return len(told) >= 3 and "the send under way has waited" in told[-1]  # past STALL_AFTER

    wait_until(dropped_and_told, timeout=5, what="drop reports while the send hangs, the last past STALL_AFTER")
    assert len(transport.batches) == 1  # all of it while the one send hung
    transport.release.set()
    engine.close(1, final_report=False)
    assert slowest < 0.05
    times = [at for at, _, message, _ in reports if " at exit: " not in message]
    assert all(b - a >= 0.3 * 0.9 for a, b in itertools.pairwise(times)), times
    stats = engine.stats()
    assert stats["produced"] == stats["delivered"] + stats["dropped"] and stats["dropped_buffer_full"] > 0


def test_a_retired_engine_hands_over_at_once_and_its_heir_reports_the_process_totals():
    """retire() returns at once though a send hangs; what was queued goes on in the heir, the batch being sent
    follows when the collector fails it, a late record is passed on, and the heir's exit totals count it all."""
    hanging = HangingTransport()
    reports = []
    old = DeliveryEngine(hanging, report=lambda *r: reports.append(r), linger=0)
    for n in range(3):
        old.submit(line(n))
    wait_until(lambda: hanging.batches, what="the send under way")
    for n in range(3, 5):
        old.submit(line(n))
    heir_transport = ScriptedTransport()
    heir = DeliveryEngine(heir_transport, report=lambda *r: reports.append(r), linger=0)
    started = time.monotonic()
    old.retire(heir, hand_over=True)
    assert time.monotonic() - started < 0.1
    wait_until(lambda: heir.stats()["delivered"] == 2, what="the queued records delivered by the heir")
    assert old.submit(line(5))  # a request thread still held the old sink
    hanging.release.set()
    wait_until(lambda: heir.stats()["delivered"] == 6, what="the batch that was being sent, through the heir")
    heir.close(2)
    sent = sorted(json.loads(frame.data)["n"] for batch in heir_transport.batches for frame in batch)
    assert sent == list(range(6))
    stats = heir.stats()
    assert (stats["produced"], stats["delivered"], stats["dropped"], stats["pending"]) == (6, 6, 0, 0)
    assert stats["reloads"] == 1 and stats["handed_over"] == 6 and stats["scope"] == "process"
    assert old.own_stats()["handed_over"] == old.own_stats()["produced"] == 6  # the late one was queued there
    assert [message for _, message, _ in reports if "on reload" in message] == []  # the old one dropped nothing
    assert reports[-1][1].endswith(
        "at exit: 6 produced, 6 delivered, 0 dropped, 0 pending since the process started, across 1 reloads"
    ), reports[-1][1]


def test_the_heirs_exit_gives_up_on_a_retired_engine_stuck_in_a_send_and_counts_its_batch():
    hanging = HangingTransport()
    reports = []
    old = DeliveryEngine(hanging, report=lambda *r: reports.append(r), linger=0)
    for n in range(3):
        old.submit(line(n))
    wait_until(lambda: hanging.batches, what="the send under way")
    heir = DeliveryEngine(ScriptedTransport(), report=lambda *r: reports.append(r), linger=0)
    old.retire(heir, hand_over=True)
    heir.submit(line(3))
    started = time.monotonic()
    heir.close(30)
    elapsed = time.monotonic() - started
    hanging.release.set()
    assert elapsed < STALL_GIVE_UP + 1.0
    stats = heir.stats()
    assert (stats["produced"], stats["delivered"], stats["dropped_at_exit"], stats["pending"]) == (4, 1, 3, 0)
    replaced = [message for _, message, _ in reports if " replaced on reload: " in message]
    assert len(replaced) == 1 and "3 produced, 0 delivered, 3 dropped" in replaced[0], replaced
    assert "4 produced, 1 delivered, 3 dropped, 0 pending" in reports[-1][1]


def test_a_retired_engine_for_another_collector_flushes_on_its_own_and_its_drops_count_in_the_totals():
    port = free_port()
    reports = []
    old = DeliveryEngine(parse_endpoint(f"tcp://127.0.0.1:{port}"), report=lambda *r: reports.append(r))
    for n in range(4):
        old.submit(line(n))
    with NdjsonReceiver() as receiver:
        heir = DeliveryEngine(parse_endpoint(receiver.url), report=lambda *r: reports.append(r))
        started = time.monotonic()
        old.retire(heir, hand_over=False)
        assert time.monotonic() - started < 0.1
        heir.submit(line(4))
        wait_until(lambda: any(" replaced on reload: " in message for _, message, _ in reports), what="its end")
        wait_until(lambda: len(receiver.snapshot()) == 1, what="the heir's record")
        heir.close(2)
    stats = heir.stats()
    assert (stats["produced"], stats["delivered"], stats["dropped_at_exit"], stats["reloads"]) == (5, 1, 4, 1)
    assert stats["handed_over"] == 0


def test_a_process_is_not_delivering_until_the_collector_has_taken_a_record():
    """Connected is not enough: the error records a process logs while its first batch awaits the answer get
    their local copy, or a refusal (HTTP 401) drops them with no copy anywhere (the master's "Listening at")."""
    release = threading.Event()
    transport = ScriptedTransport(
        lambda b: release.wait(5) and Outcome(rejected=len(b), note="HTTP 401"),
        lambda b: Outcome(delivered=len(b)),
    )
    engine = DeliveryEngine(transport, linger=0)
    engine.submit(line(0))
    wait_until(lambda: transport.batches, what="the first send under way")
    assert not engine.delivering  # connected, nothing taken yet
    release.set()
    wait_until(lambda: engine.stats()["dropped_rejected"] == 1, what="the refusal")
    assert not engine.delivering
    engine.submit(line(1))
    wait_until(lambda: engine.stats()["delivered"] == 1, what="a batch taken")
    assert engine.delivering
    engine.close(1)


def test_a_transport_that_miscounts_cannot_break_the_accounting():
    transport = ScriptedTransport(lambda b: Outcome(delivered=99, retry=[]))
    engine = DeliveryEngine(transport)
    for n in range(3):
        engine.submit(line(n))
    wait_until(lambda: transport.batches, what="a send")
    engine.close(1)
    stats = engine.stats()
    assert stats["produced"] == stats["delivered"] + stats["dropped"] == 3


def test_reports_come_at_most_once_per_interval():
    reports = []
    engine = DeliveryEngine(
        parse_endpoint(f"tcp://127.0.0.1:{free_port()}"),
        max_records=5,
        report=lambda *r: reports.append(r),
        report_interval=0.5,
    )
    deadline = time.monotonic() + 2.2
    while time.monotonic() < deadline:
        engine.submit(line(0))
        time.sleep(0.002)
    engine.close(0.2, final_report=False)
    assert 2 <= len(reports) <= 6, [message for _, message, _ in reports]
    assert any("records dropped" in message for _, message, _ in reports)


def test_a_forked_child_starts_empty_and_sends_on_its_own():
    with NdjsonReceiver() as receiver:
        engine = DeliveryEngine(parse_endpoint(receiver.url))
        engine.submit(line(1, "parent"))
        wait_until(lambda: len(receiver.snapshot()) == 1, what="the parent's record")
        read_end, write_end = os.pipe()
        pid = os.fork()
        if pid == 0:  # the child: report its numbers through the pipe, skip the parent's atexit
            try:
                before = engine.stats()
                engine.submit(line(2, "child"))
                engine.close(2, final_report=False)
                os.write(write_end, json.dumps([before, engine.stats(), os.getpid()]).encode())
            finally:
                os._exit(0)
        os.close(write_end)
        with os.fdopen(read_end, "rb") as pipe:
            before, after, child_pid = json.loads(pipe.read())
        os.waitpid(pid, 0)
        wait_until(lambda: len(receiver.snapshot()) == 2, what="the child's record")
        engine.submit(line(3, "parent"))
        wait_until(lambda: len(receiver.snapshot()) == 3, what="the parent's second record")
        engine.close(1)
    assert before["produced"] == 0 and before["pending"] == 0
    assert (after["produced"], after["delivered"]) == (1, 1)
    assert [r["pad"] for r in receiver.snapshot()] == ["parent", "child", "parent"]
    assert engine.stats()["produced"] == 2
    assert child_pid != os.getpid()


def test_a_child_forked_while_the_sender_awaits_an_http_answer_does_not_hang():
    """The after-fork reset closes the inherited connection without the reader's lock, which the parent's sender
    holds while it waits for the rest of an answer: a gunicorn worker forked then used to wait forever."""
    headers_sent, release = threading.Event(), threading.Event()
    with socket.create_server(("127.0.0.1", 0)) as server:

        def answer_late() -> None:
            connection, _ = server.accept()
            with connection:
                request = b""
                while b"\r\n\r\n" not in request:
                    request += connection.recv(65536)
                connection.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n")
                headers_sent.set()
                release.wait(10)
                connection.sendall(b"{}")

        threading.Thread(target=answer_late, daemon=True).start()
        target = parse_http_url(f"http://127.0.0.1:{server.getsockname()[1]}/logs")
        engine = DeliveryEngine(HttpTransport(target, NdjsonFormat()), linger=0)
        engine.submit(line(1))
        assert headers_sent.wait(5)
        time.sleep(0.2)  # the sender is in read(), waiting for the body
        pid = os.fork()
        if pid == 0:
            os._exit(0)  # the at-fork reset has returned
        hung = child_hung(pid)
        release.set()
        engine.close(2, final_report=False)
    assert not hung, "the forked child never returned from the after-fork reset"
    assert engine.stats()["delivered"] == 1


def test_a_child_forked_while_the_sender_awaits_a_status_line_does_not_keep_the_connection_open():
    """The answer's reader held the socket open after the child's after-fork close: a worker forked while the
    master waited for an answer kept the master's connection to the collector open for its whole life."""
    request_read, closed = threading.Event(), threading.Event()
    with socket.create_server(("127.0.0.1", 0)) as server:

        def answer_nothing() -> None:
            connection, _ = server.accept()
            with connection:
                connection.settimeout(10)
                request = b""
                while not request.endswith(b"}\n"):  # the body: one NDJSON line
                    request += connection.recv(65536)
                request_read.set()
                try:
                    if connection.recv(1) == b"":  # nothing is ever sent: this is the close
                        closed.set()
                except OSError:
                    pass

        threading.Thread(target=answer_nothing, daemon=True).start()
        target = parse_http_url(f"http://127.0.0.1:{server.getsockname()[1]}/logs")
        engine = DeliveryEngine(HttpTransport(target, NdjsonFormat(), read_timeout=1.0), linger=0)
        engine.submit(line(1))
        assert request_read.wait(5)
        time.sleep(0.2)  # the sender is in getresponse(), waiting for the status line
        read_end, write_end = os.pipe()
        pid = os.fork()
        if pid == 0:  # lives on, as a worker does, until the parent says so
            try:
                os.close(write_end)
                select.select([read_end], [], [], 10)
            finally:
                os._exit(0)
        os.close(read_end)
        try:
            # the parent's send times out after 1 s and closes its copy; the child's was closed at fork
            closed_while_the_child_lives = closed.wait(4)
        finally:
            os.close(write_end)
            os.waitpid(pid, 0)
        engine.close(0.5, final_report=False)
    assert closed_while_the_child_lives, "the collector saw no close while the forked child lived"


def test_udp_sends_one_datagram_per_frame():
    with NdjsonReceiver("udp") as receiver:
        engine = DeliveryEngine(parse_endpoint(receiver.url))
        for n in range(50):
            engine.submit(line(n))
        wait_until(lambda: len(receiver.snapshot()) == 50, what="50 datagrams")
        engine.close(1)
    assert receiver.errors == []
    assert sorted(r["n"] for r in receiver.snapshot()) == list(range(50))


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("tcp://127.0.0.1:5170", "tcp://127.0.0.1:5170"),
        ("udp://LOCALHOST:514", "udp://localhost:514"),
        ("tcp://[::1]:6000", "tcp://[::1]:6000"),
        ("unix:///run/vector.sock", "unix:///run/vector.sock"),
        ("unix:///dev/log#dgram", "unix:///dev/log#dgram"),
    ],
)
def test_endpoints_parse_and_print_back(url, expected):
    assert str(parse_endpoint(url)) == expected


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("http://x:1", "does not start with tcp://"),
        ("tcp://x", "has no port"),
        ("tcp://x:http", "is not a port number"),
        ("tcp://x:70000", "is not a port number"),
        ("unix://", "is not unix:///PATH"),
    ],
)
def test_bad_endpoints_say_what_is_wrong(url, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        parse_endpoint(url)


def test_syslog_port_defaults_to_514():
    assert parse_endpoint("udp://127.0.0.1", default_port=514).port == 514


# -- framing ---------------------------------------------------------------------------------------

RECORD = b'{"@timestamp":"2026-01-01T00:00:00Z","log.level":"warning","message":"h\xc3\xa9llo \\"q\\""}\n'
HEADER = re.compile(
    rb"^<(\d{1,3})>1 (\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z) (\S{1,255}) (\S{1,48}) (\d+) (\S{1,32}) - "
)


def test_octet_counting_counts_bytes_not_characters():
    framed = syslog_frame(SyslogEncoder(facility=16, app_name="my app:1", msgid="error", hostname="web 1"), RECORD)
    length, _, message = framed.partition(b" ")
    assert int(length) == len(message)
    match = HEADER.match(message)
    assert match is not None, message
    assert int(match.group(1)) == 16 * 8 + 4  # local0.warning
    assert match.group(2) == b"2026-01-01T00:00:00.123456Z"  # the record's own time
    assert match.group(3, 4, 5, 6) == (b"web_1", b"my_app:1", str(os.getpid()).encode(), b"error")
    assert json.loads(message[match.end() :])["message"] == 'héllo "q"'
    assert b"\xef\xbb\xbf" not in framed


def test_lf_framing_and_bom_on_request():
    framed = syslog_frame(SyslogEncoder(1, "app", "access", transport="lf", bom=True), RECORD)
    assert framed.endswith(b"}\n") and framed.count(b"\n") == 1
    assert b" - \xef\xbb\xbf{" in framed


def test_datagrams_never_exceed_the_limit_and_stay_valid_json():
    big = json.dumps({"message": "é" * 3000, "url": {"path": "/" + "a" * 5000}, "n": 1}).encode() + b"\n"
    framer = SyslogEncoder(1, "app", "access", transport="datagram", max_datagram=1024)
    datagram = syslog_frame(framer, big)
    assert len(datagram) <= 1024
    record = json.loads(datagram[HEADER.match(datagram).end() :])
    assert record["n"] == 1
    assert record["url"]["path"].endswith(TRUNCATED) and record["message"].endswith(TRUNCATED)


def test_fit_json_line_gives_up_only_when_nothing_can_fit():
    assert fit_json_line(b'{"a":1}\n', 100) == b'{"a":1}\n'
    assert fit_json_line(json.dumps({"k" * 600: 1}).encode(), 500) is None
    many = json.dumps({"time": "2026-01-01T00:00:00Z", **{f"key{n}": "v" * 100 for n in range(20)}}).encode()
    fitted = fit_json_line(many, 1400)
    record = json.loads(fitted)
    assert len(fitted) <= 1400 and len(record) == 21 and record["time"] == "2026-01-01T00:00:00Z"
    assert len({value for key, value in record.items() if key != "time"}) == 1  # every long field kept alike


@pytest.mark.parametrize(
    ("level", "number", "severity"),
    [
        ("error", logging.ERROR, 3),
        ("debug", logging.DEBUG, 7),
        ("warning", logging.WARNING, 4),
        ("critical", logging.CRITICAL, 2),
        ("info", logging.INFO, 6),
        ("trace", 5, 7),  # a custom level below DEBUG
        ("notice", 25, 6),  # a custom level between INFO and WARNING
    ],
)
def test_severity_follows_the_level_of_the_records_facts(level, number, severity):
    encoder = SyslogEncoder(1, "app", "error")
    message = syslog_frame(encoder, b'{"message":"the bytes say nothing of the level"}\n', canonical(level, number))
    assert message.partition(b" ")[2].startswith(b"<%d>1 " % (8 + severity))  # after the octet count


def test_syslog_framer_over_a_real_udp_socket_keeps_one_message_per_datagram():
    receiver = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    receiver.bind(("127.0.0.1", 0))
    receiver.settimeout(5)
    try:
        url = f"udp://127.0.0.1:{receiver.getsockname()[1]}"
        engine = DeliveryEngine(parse_endpoint(url))
        framer = SyslogEncoder(1, "app", "access", transport="datagram", max_datagram=480)
        for n in range(3):
            engine.submit(
                framer.encode("access", "info", 0, None, json.dumps({"n": n, "message": "z" * 1000}).encode())
            )
        datagrams = [receiver.recv(65536) for _ in range(3)]
        engine.close(1)
    finally:
        receiver.close()
    assert all(len(d) <= 480 and HEADER.match(d) for d in datagrams)
    assert sorted(json.loads(d[HEADER.match(d).end() :])["n"] for d in datagrams) == [0, 1, 2]
