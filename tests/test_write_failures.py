"""What the file and stream sinks do when a write cannot go through, against a real gunicorn.

A reader that falls behind (stdout in a container), a file that cannot grow (a full
disk, here ``RLIMIT_FSIZE``, which fails a write the way a full disk does: part of it
written, then an error) and a reader that went away (``gunicorn | head -1``).
Expected: every line that arrives is one JSON record, nothing is glued to a cut
record, the request never fails, and what was lost is counted and told in one line.
"""

from __future__ import annotations

import concurrent.futures
import http.client
import json
import re
import resource
import signal
import subprocess
import threading
import time

from tests.gunicorn_process import Gunicorn, child_hung, wait_until

LOST = re.compile(
    r"gunicorn-loggers: (\d+) records could not be written to (\S+?)(?: before exit)? \((\d+) since start\)"
)


def start_with_stdout_pipe(server: Gunicorn, preexec=None) -> subprocess.Popen:
    """Start ``server`` with its stdout a pipe the test reads (the access log is ``-``)."""
    server._stdout = server.stdout_path.open("wb")  # unused; stop() closes both
    server._stderr = server.stderr_path.open("wb")
    server.proc = subprocess.Popen(
        server.command, cwd=server.tmp_path, env=server.env, stdout=subprocess.PIPE, stderr=server._stderr,
        preexec_fn=preexec,
    )  # fmt: skip
    server._wait_accepting(time.monotonic() + 30)
    return server.proc


def get(server: Gunicorn, path: str, headers: dict[str, str] | None = None) -> int:
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=20)
    try:
        connection.request("GET", path, headers=headers or {})
        response = connection.getresponse()
        response.read()
        return response.status
    finally:
        connection.close()


def lost_reports(text: str) -> list[tuple[int, str, int]]:
    return [(int(count), target, int(total)) for count, target, total in LOST.findall(text)]


def test_records_over_pipe_buf_never_interleave_on_a_slow_stdout_pipe(tmp_path):
    """gthread, 8 threads, 6.8 KB records (a captured 6 KiB header) into a pipe read slowly:
    the kernel cuts such a write when the pipe is full, and another thread's record must not
    land between its pieces."""
    server = Gunicorn(
        tmp_path, "--worker-class", "gthread", "--threads", "8", "--access-logfile", "-",
        access_log=False, quiet=True, env={"GUNICORN_LOGGERS_REQUEST_HEADERS": "x-big"},
    )  # fmt: skip
    chunks: list[bytes] = []
    proc = start_with_stdout_pipe(server)
    done = threading.Event()

    def read_slowly() -> None:  # 16 KiB every 4 ms: slower than 40 clients write
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            chunk = proc.stdout.read1(16384)
            if not chunk:
                return
            chunks.append(chunk)
            if not done.is_set():
                time.sleep(0.004)

    reader = threading.Thread(target=read_slowly, daemon=True)
    reader.start()
    try:
        big = {"X-Big": "x" * 6144}
        with concurrent.futures.ThreadPoolExecutor(40) as pool:
            statuses = list(pool.map(lambda n: get(server, f"/big/{n}", big), range(400)))
        assert statuses == [200] * 400
    finally:
        done.set()
        server.stop()
        reader.join(30)
    lines = b"".join(chunks).splitlines()
    records = [json.loads(line) for line in lines]  # any interleaving fails here
    big_records = [r for r in records if r["url"]["path"].startswith("/big/")]
    assert len(big_records) == 400
    assert all(r["http"]["request"]["headers"]["x-big"] == ["x" * 6144] for r in big_records)


def test_a_file_that_cannot_grow_loses_records_counted_once_and_glues_nothing(tmp_path):
    """The access log stops at 64 KiB mid-record (RLIMIT_FSIZE, as a full disk), then may grow again:
    the cut record stays alone on its line, the next ones are whole, the requests all succeed, and
    the loss is told in one line with its count instead of a traceback per record."""
    limit = 64 * 1024

    def limit_file_size() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # so the write fails with EFBIG instead
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, resource.RLIM_INFINITY))

    server = Gunicorn(tmp_path, quiet=True, error_log=False)
    server._stdout = server.stdout_path.open("wb")
    server._stderr = server.stderr_path.open("wb")
    server.proc = subprocess.Popen(
        server.command, cwd=server.tmp_path, env=server.env, stdout=server._stdout, stderr=server._stderr,
        preexec_fn=limit_file_size,
    )  # fmt: skip
    try:
        server._wait_accepting(time.monotonic() + 30)
        assert all(get(server, f"/before/{n}") == 200 for n in range(100))
        assert server.access_path.stat().st_size == limit  # full: the last write that fit was cut
        worker = int(re.findall(r"Booting worker with pid: (\d+)", server.all_output())[0])
        resource.prlimit(worker, resource.RLIMIT_FSIZE, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))
        assert all(get(server, f"/after/{n}") == 200 for n in range(20))
    finally:
        server.stop()
    lines = server.access_path.read_bytes().splitlines()
    parsed, cut = [], []
    for line in lines:
        try:
            parsed.append(json.loads(line))
        except ValueError:
            cut.append(line)
    assert len(cut) == 1 and cut[0].startswith(b"{") and b"/before/" in cut[0], cut  # alone on its line
    paths = [r["url"]["path"] for r in parsed]
    assert paths[-20:] == [f"/after/{n}" for n in range(20)]
    output = server.all_output()
    reports = [r for r in lost_reports(output) if r[1] == str(server.access_path)]
    assert reports, output[-3000:]
    assert len(reports) <= 2  # one within the 10 s interval, one at exit
    total_lost = reports[-1][2]
    assert sum(count for count, _, _ in reports) == total_lost
    assert len(parsed) + total_lost == 1 + 100 + 20, (paths, reports)  # /__ready__, before, after
    assert "Traceback" not in output and "Logging error" not in output
    assert "could not write an access record" not in output
    told = [r for r in map(json.loads, server.stderr_path.read_bytes().splitlines()) if LOST.search(r["message"])]
    assert [r["log.level"] for r in told] == ["error"] * len(reports)  # records of the error log's schema


def test_a_stdout_reader_that_went_away_is_reported_not_silent(tmp_path):
    """``gunicorn ... | head -1``: requests still succeed, and the error log says how many records were lost."""
    server = Gunicorn(tmp_path, "--access-logfile", "-", access_log=False, quiet=True)
    proc = start_with_stdout_pipe(server)
    proc.stdout.readline()  # the /__ready__ record
    proc.stdout.close()  # the reader goes away: every later write gets EPIPE
    try:
        assert all(get(server, f"/gone/{n}") == 200 for n in range(30))
    finally:
        server.stop()
    output = server.all_output()
    reports = lost_reports(output)
    wait_until(lambda: reports, 1, "a report")
    assert reports[-1][2] == 30, output[-3000:]
    assert "Traceback" not in output


def test_a_child_forked_while_another_thread_writes_to_a_pipe_can_write():
    """A master's sender or reporter writing a delivery report to stderr (a pipe) as gunicorn forks a worker: the
    worker inherited the sink's lock held by a thread it does not have, and its first error record waited for ever."""
    import os

    from gunicorn_loggers.sinks.stream import StreamSink

    read_end, write_end = os.pipe()
    with os.fdopen(write_end, "w") as stream:
        sink = StreamSink(stream)
        assert sink._lock is not None  # a pipe: writes are serialised
        holding, release = threading.Event(), threading.Event()

        def write_slowly() -> None:
            with sink._lock:  # as inside a write
                holding.set()
                release.wait(10)

        writer = threading.Thread(target=write_slowly, daemon=True)
        writer.start()
        assert holding.wait(5)
        pid = os.fork()
        if pid == 0:
            try:
                sink.write(b'{"from":"child"}\n')
            finally:
                os._exit(0)
        hung = child_hung(pid)
        release.set()
        writer.join(5)
    with os.fdopen(read_end, "rb") as pipe:
        written = pipe.read()
    assert not hung, "the forked child never finished its write"
    assert written == b'{"from":"child"}\n'
