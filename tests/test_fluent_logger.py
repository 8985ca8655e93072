"""FluentLogger: a real gunicorn speaking Fluentd's forward protocol to a receiver that decodes msgpack strictly."""

from __future__ import annotations

import json
import struct
import time

import msgpack
import pytest

from gunicorn_loggers.framing.fluent import entry_of
from gunicorn_loggers.timestamps import rfc3339_utc, rfc3339_utc_ns
from tests.gunicorn_process import REPO
from tests.receivers import ForwardReceiver, NetworkGunicorn, url_logger, wait_until

LOGGER = "gunicorn_loggers.FluentLogger"


@pytest.fixture
def server(network_gunicorn):
    """Factory: ``server(receiver_or_url, *args, env=..., ...)`` starts a gunicorn with FluentLogger."""
    return url_logger(network_gunicorn, LOGGER, ForwardReceiver)


def rfc3339_ns(stamp: str) -> int:
    seconds, _, fraction = stamp.rstrip("Z").partition(".")
    whole = int(time.mktime(time.strptime(seconds, "%Y-%m-%dT%H:%M:%S")) - time.timezone)
    return whole * 10**9 + int(fraction.ljust(9, "0"))


@pytest.mark.parametrize("worker", ["sync", "gevent"])
def test_packed_forward_batches_with_event_time_tags_and_acks(server, worker):
    with ForwardReceiver() as receiver:
        gunicorn = server(receiver, "-k", worker)
        for n in range(20):
            gunicorn.request(f"/fwd/{n}")
        gunicorn.request("/log")
        wait_until(lambda: len(receiver.access_paths()) >= 21, what="access records")
        wait_until(lambda: any(r.get("message") == "app says hello" for r in receiver.records()), what="app record")
        gunicorn.stop()
    assert receiver.errors == []
    events = receiver.snapshot()
    assert {e["mode"] for e in events} == {"packed"}
    assert {e["tag"] for e in events} == {"gunicorn.access", "gunicorn.error"}
    assert all("url" in e["record"] for e in events if e["tag"] == "gunicorn.access")
    assert all("url" not in e["record"] for e in events if e["tag"] == "gunicorn.error")
    for event in events:
        assert event["time_ns"] == rfc3339_ns(event["record"]["@timestamp"])  # EventTime keeps the nanoseconds
    assert len(receiver.chunks) < len(events)  # batched
    reports = gunicorn.balanced_exit_stats()
    assert sum(r["delivered"] for r in reports) == len(events)  # acknowledged means delivered, no more


def test_with_an_access_file_too_both_get_the_same_records(server):
    """Fluentd alone gets entries packed on the request path; with a file beside it, both get the JSON's."""
    with ForwardReceiver() as receiver:
        gunicorn = server(receiver, access_log=True)
        for n in range(5):
            gunicorn.request(f"/both/{n}?q=%C3%A9%FF")
        wait_until(lambda: len(receiver.access_paths()) >= 5, what="access records")
        gunicorn.stop()
    assert receiver.errors == []
    in_file = [json.loads(line) for line in gunicorn.access_path.read_bytes().splitlines()]
    shipped = receiver.records("gunicorn.access")
    assert len(in_file) == len(shipped) >= 5 and in_file == shipped
    assert [e["time_ns"] for e in receiver.snapshot() if e["tag"] == "gunicorn.access"] == [
        rfc3339_ns(r["@timestamp"]) for r in shipped
    ]


def test_packed_entries_are_msgpacks_own_and_survive_what_msgpack_refuses():
    stamp = "2026-11-25T12:34:56.654321Z"
    record = {"time": stamp, "n": 1, "f": 0.5, "nested": {"list": ["a", 2]}, "text": "caf\u00e9"}
    time_ns = rfc3339_utc_ns(stamp)
    assert time_ns == rfc3339_ns(stamp) and rfc3339_utc(time_ns) == stamp
    event_time = msgpack.ExtType(0, struct.pack(">II", time_ns // 10**9, time_ns % 10**9))
    assert entry_of(record, time_ns) == msgpack.packb([event_time, record], use_bin_type=True)  # msgpack's own
    odd = {"time": stamp, "surrogate": "a\udc80b", "huge": 2**70, "set": {1}}
    decoded = msgpack.unpackb(entry_of(odd, time_ns), raw=False, ext_hook=lambda code, data: (code, data))
    assert decoded[1] == {"time": stamp, "surrogate": "a\\udc80b", "huge": str(2**70), "set": [1]}
    for other in (None, 1, "2026-11-25T12:34:56Z", "2026-11-25T12:34:56.65432xZ", "2026-11-25 12:34:56.654321Z"):
        assert rfc3339_utc_ns(other) is None


def test_without_ormsgpack_msgpack_packs_the_same_bytes(monkeypatch):
    """PyPy has no ormsgpack wheel: entries are then packed by msgpack, byte for byte the same."""
    import functools

    from gunicorn_loggers.framing import fluent

    record = {"@timestamp": "2026-11-25T12:34:56.654321Z", "n": -(2**40), "f": 1e-3, "l": [None, True, "é"]}
    fast = entry_of(record, 1_795_000_000_654_321_000)
    monkeypatch.setattr(fluent, "_packb", functools.partial(msgpack.packb, use_bin_type=True))
    assert entry_of(record, 1_795_000_000_654_321_000) == fast
    assert entry_of({"huge": 2**70}, 0)[11:] == msgpack.packb({"huge": str(2**70)}, use_bin_type=True)


def test_tag_prefix_is_configurable(server):
    with ForwardReceiver() as receiver:
        gunicorn = server(receiver, env={"GUNICORN_LOGGERS_FLUENT_TAG": "shop.web"})
        gunicorn.request("/tagged")
        wait_until(lambda: "/tagged" in receiver.access_paths(), what="the record")
    assert {e["tag"] for e in receiver.snapshot()} == {"shop.web.access", "shop.web.error"}


def test_no_ack_means_not_delivered_the_chunk_is_sent_again(server):
    with ForwardReceiver(ack=False) as receiver:
        gunicorn = server(receiver, env={"GUNICORN_LOGGERS_READ_TIMEOUT": "0.5"})
        gunicorn.request("/unacked")
        reports = gunicorn.wait_for(
            lambda: [r for r in gunicorn.delivery_reports() if "no ack within 0.5 s" in r["message"]],
            what="the missing-ack report",
        )
        assert reports[0]["delivery"]["delivered"] == 0
        sent_unacked = len(receiver.chunks)
        receiver.ack = True
        wait_until(lambda: "/unacked" in receiver.access_paths(), timeout=15, what="the record once acked")
        time.sleep(0.5)
        gunicorn.stop()
    reports = gunicorn.balanced_exit_stats()
    assert all(r["dropped"] == 0 for r in reports)
    assert sent_unacked >= 2  # each process's chunk went out and was sent again, unacknowledged
    # at least once: the receiver holds copies of what it never acknowledged, never fewer than delivered
    assert len(receiver.snapshot()) > sum(r["delivered"] for r in reports)


def test_the_receiver_agrees_with_the_fluent_logger_client():
    """Cross-check of the test receiver with PyPI's fluent-logger as an independent client."""
    from fluent import sender

    with ForwardReceiver() as receiver:
        for nanos in (False, True):
            client = sender.FluentSender("app", host="127.0.0.1", port=receiver.port, nanosecond_precision=nanos)
            stamp = 1_700_000_000.25 if nanos else 1_700_000_000  # a float without nanos: fluent-logger sends it as is
            assert client.emit_with_time("cross", stamp, {"n": 1, "nanos": nanos}), client.last_error
            client.close()
        wait_until(lambda: len(receiver.snapshot()) == 2, what="both events")
    assert receiver.errors == []
    plain, precise = sorted(receiver.snapshot(), key=lambda e: e["record"]["nanos"])  # two connections: any order
    assert (plain["tag"], plain["mode"], plain["record"]) == ("app.cross", "message", {"n": 1, "nanos": False})
    assert plain["time_ns"] == 1_700_000_000 * 10**9
    assert precise["time_ns"] == 1_700_000_000_250_000_000  # EventTime, as our sender uses it


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({}, "GUNICORN_LOGGERS_URL is required by FluentLogger"),
        ({"GUNICORN_LOGGERS_URL": "udp://127.0.0.1:24224"}, "does not start with tcp:// or unix://"),
        ({"GUNICORN_LOGGERS_URL": "tcp://h:24224", "GUNICORN_LOGGERS_FLUENT_TAG": "bad tag"}, "FLUENT_TAG"),
    ],
)
def test_bad_options_stop_gunicorn_with_one_line(tmp_path, env, expected):
    process = NetworkGunicorn(tmp_path, logger_class=LOGGER, env=env)
    assert expected in process.refusal()


def test_default_port_and_conf_fluent(network_gunicorn):
    with ForwardReceiver() as receiver:
        gunicorn = network_gunicorn(
            "-c",
            str(REPO / "conf" / "fluent.py"),
            receiver=receiver,
            logger_class=None,
            error_log=False,
            env={"GUNICORN_LOGGERS_URL": receiver.url},
            start=False,
        )
        with gunicorn:
            gunicorn.request("/from-conf")
            wait_until(lambda: "/from-conf" in receiver.access_paths(), what="the access record")
        assert "at exit: " in gunicorn.stderr_path.read_text()
