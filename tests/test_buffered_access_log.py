"""GUNICORN_LOGGERS_ACCESS_FLUSH_INTERVAL: records wait in memory, and still none is lost."""

import json
import os
import signal
import time

from gunicorn_loggers.sinks.buffered import BufferedSink
from gunicorn_loggers.sinks.stream import StreamSink

BUFFERED = {"GUNICORN_LOGGERS_ACCESS_FLUSH_INTERVAL": "0.3"}


def test_records_arrive_within_the_interval(gunicorn):
    server = gunicorn(env=BUFFERED)
    server.request("/one")
    started = time.monotonic()
    (record,) = server.wait_for_access(1, timeout=5)
    assert record["url"]["path"] == "/one"
    assert time.monotonic() - started < 2


def test_graceful_stop_writes_what_is_still_in_memory(gunicorn):
    server = gunicorn(
        "-k", "gthread", "--threads", "4", "-w", "2", env={"GUNICORN_LOGGERS_ACCESS_FLUSH_INTERVAL": "30"}
    )
    for n in range(200):
        server.request(f"/n/{n}")
    assert len(server.access_records()) < 200  # the rest waits in the workers' buffers (64 KiB each)
    assert server.stop() == 0
    assert sorted(r["url"]["path"] for r in server.access_records()) == sorted(f"/n/{n}" for n in range(200))


def test_rotation_with_a_buffer_loses_nothing(gunicorn):
    server = gunicorn(env=BUFFERED)
    for n in range(20):
        server.request(f"/before/{n}")
    server.wait_for_access(20)
    rotated = server.access_path.with_suffix(".log.1")
    server.access_path.rename(rotated)
    server.signal(signal.SIGUSR1)
    server.wait_for(lambda: server.access_path.exists(), what="reopened file")
    server.wait_for(lambda: not server.holders(rotated), what="every process reopened the access log")
    for n in range(20):
        server.request(f"/after/{n}")
    server.stop()
    paths = [r["url"]["path"] for r in server.access_records(rotated) + server.access_records()]
    assert sorted(paths) == sorted([f"/before/{n}" for n in range(20)] + [f"/after/{n}" for n in range(20)])
    assert all(p.startswith("/after/") for p in (r["url"]["path"] for r in server.access_records()))


def test_writers_sharing_a_pipe_never_split_a_line():
    """Two processes flush large buffers into one pipe; every line read back is whole JSON."""
    read_end, write_end = os.pipe()
    lines_per_writer, writers = 3000, 2
    pids = []
    for writer in range(writers):
        pid = os.fork()
        if pid == 0:  # child: write through a BufferedSink, then exit without running the parent's cleanup
            try:
                os.close(read_end)
                stream = os.fdopen(write_end, "w")
                sink = BufferedSink(StreamSink(stream), interval=60)
                for n in range(lines_per_writer):
                    sink.write(json.dumps({"writer": writer, "n": n, "pad": "x" * (n % 700)}).encode() + b"\n")
                sink.flush()
            finally:
                os._exit(0)
        pids.append(pid)
    os.close(write_end)
    data = b""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        chunk = os.read(read_end, 1 << 16)
        if not chunk:
            break
        data += chunk
    os.close(read_end)
    for pid in pids:
        assert os.waitpid(pid, 0)[1] == 0
    records = [json.loads(line) for line in data.splitlines()]
    assert len(records) == writers * lines_per_writer
    for writer in range(writers):
        assert [r["n"] for r in records if r["writer"] == writer] == list(range(lines_per_writer))


def test_a_bad_interval_is_one_line(tmp_path):
    from tests.gunicorn_process import Gunicorn

    server = Gunicorn(tmp_path, env={"GUNICORN_LOGGERS_ACCESS_FLUSH_INTERVAL": "soon"})
    assert server.run_to_exit() == 1
    lines = [line for line in server.stderr_path.read_text().splitlines() if line.strip()]
    assert lines == ["Error: GUNICORN_LOGGERS_ACCESS_FLUSH_INTERVAL='soon' is not a number of seconds from 0 to 60"]
